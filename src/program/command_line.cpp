#include "planificador/program/command_line.hpp"

#include <exception>
#include <iostream>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace planificador::program {

void raise_file_limit() {
  struct rlimit files {};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &files);
  }
}

int serve_main(const ServerProgram& program, int argc, char** argv) {
  CLI::App app{program.name + ": " + program.description};
  std::string config_path;
  std::string check_path;
  std::string log_level;
  bool version = false;
  app.add_option("-c,--config", config_path, "run with this " + program.config_file);
  app.add_option("--check-config", check_path,
                 "validate this " + program.config_file + " (and its key files) and exit");
  app.add_option("--log-level", log_level,
                 "trace, debug, info, warn, error, critical or off (overrides [log] level)");
  app.add_flag("--version", version, "print the version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    (void)app.exit(error);
    return k_usage_error;
  }
  if (version) {
    std::cout << program.name << ' ' << program.version << '\n';
    return 0;
  }
  if (!check_path.empty()) {
    return program.check(check_path);
  }
  if (config_path.empty()) {
    std::cerr << program.name << ": --config FILE is required (see --help)\n";
    return k_usage_error;
  }
  raise_file_limit();
  try {
    return program.run(config_path, log_level);
  } catch (const std::exception& error) {
    spdlog::critical("{}: {}", program.name, error.what());
    return 1;
  }
}

void set_up_logging(const std::string& logger_name, const std::string& level_name) {
  auto logger = spdlog::stderr_logger_mt(logger_name);
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  const auto level = spdlog::level::from_str(level_name);
  // from_str answers "off" for names it does not know; only honour "off" when asked.
  if (level == spdlog::level::off && level_name != "off") {
    spdlog::warn("unknown log level `{}`; using info", level_name);
    spdlog::set_level(spdlog::level::info);
  } else {
    spdlog::set_level(level);
  }
  spdlog::flush_on(spdlog::level::trace);
}

}  // namespace planificador::program
