// planificador: the daemon's command line (SPEC §6).

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "daemon.hpp"

#include "planificador/config/config.hpp"
#include "planificador/program/command_line.hpp"

namespace {

using planificador::program::k_usage_error;

int check_config(const std::string& path) {
  auto config = planificador::config::load(path);
  if (!config) {
    std::cerr << config.error().message << '\n';
    return k_usage_error;
  }
  // The key files are part of the configuration an operator checks.
  if (auto keys = planificador::daemon::load_keys(*config, path); !keys) {
    std::cerr << keys.error().message << '\n';
    return k_usage_error;
  }
  std::cout << path << ": ok\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  namespace program = planificador::program;
  program::ServerProgram daemon{
      "planificador",
      "runs untrusted code in sandboxes, fed over ZeroMQ",
      PLANIFICADOR_VERSION,
      "config.toml",
      check_config,
      [](const std::string& path, const std::string& log_level) {
        auto config = planificador::config::load(path);
        if (!config) {
          std::cerr << config.error().message << '\n';
          return program::k_usage_error;
        }
        auto keys = planificador::daemon::load_keys(*config, path);
        if (!keys) {
          std::cerr << keys.error().message << '\n';
          return program::k_usage_error;
        }
        program::set_up_logging("planificador", log_level.empty() ? config->log.level : log_level);
        return planificador::daemon::run(*config, *keys);
      }};
  return program::serve_main(daemon, argc, argv);
}
