#pragma once
// What the daemon and the broker share at their start: one command line (SPEC §6:
// --config/-c, --check-config, --version, and --log-level) and one log format.

#include <functional>
#include <string>

namespace planificador::program {

// Exit status for a bad command line or configuration (SPEC §6: --check-config exits 2).
inline constexpr int k_usage_error = 2;

struct ServerProgram {
  std::string name;         // "planificador", "planificador-broker"
  std::string description;  // one line for --help
  std::string version;      // printed by --version after the name
  std::string config_file;  // what the configuration is called in help texts ("config.toml")
  // Validates the file at the path: prints "PATH: ok" and returns 0, or prints the
  // problem and returns k_usage_error.
  std::function<int(const std::string& path)> check;
  // Runs the program with the file at the path and the --log-level given (empty: the
  // file's own). Returns the exit status.
  std::function<int(const std::string& path, const std::string& log_level)> run;
};

// Raises the soft limit on open descriptors to the hard one: a daemon keeps a few per
// warm container and a broker one per daemon, well past the 1024 a shell hands down.
void raise_file_limit();

// Parses argv and does what it asks: prints the version, checks a configuration, or runs
// the program (raise_file_limit() first). Returns the process exit status; an exception escaping
// `run` is logged and ends in status 1.
[[nodiscard]] int serve_main(const ServerProgram& program, int argc, char** argv);

// Sends spdlog's output to stderr as "<time> <level> <message>" at `level_name` (info, with
// a warning, when the name is not a level), each line flushed at once.
void set_up_logging(const std::string& logger_name, const std::string& level_name);

}  // namespace planificador::program
