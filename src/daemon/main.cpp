// planificador: the daemon's command line (SPEC §6).

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "daemon.hpp"
#include "planificador/config/config.hpp"

namespace {

constexpr int k_usage_error = 2;

int check_config(const std::string& path) {
  auto config = planificador::config::load(path);
  if (!config) {
    std::cerr << config.error().message << '\n';
    return k_usage_error;
  }
  // The link's key files are part of the configuration an operator checks.
  if (auto curve = planificador::daemon::link_curve(*config, path); !curve) {
    std::cerr << curve.error().message << '\n';
    return k_usage_error;
  }
  std::cout << path << ": ok\n";
  return 0;
}

void set_up_logging(const std::string& level_name) {
  auto logger = spdlog::stderr_logger_mt("planificador");
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"planificador: runs untrusted code in sandboxes, fed over ZeroMQ"};
  std::string config_path;
  std::string check_path;
  std::string log_level;
  bool version = false;
  app.add_option("-c,--config", config_path, "run the daemon with this config.toml");
  app.add_option("--check-config", check_path, "validate this config.toml and exit");
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
    std::cout << "planificador " << PLANIFICADOR_VERSION << '\n';
    return 0;
  }
  if (!check_path.empty()) {
    return check_config(check_path);
  }
  if (config_path.empty()) {
    std::cerr << "planificador: --config FILE is required (see --help)\n";
    return k_usage_error;
  }
  auto config = planificador::config::load(config_path);
  if (!config) {
    std::cerr << config.error().message << '\n';
    return k_usage_error;
  }
  auto curve = planificador::daemon::link_curve(*config, config_path);
  if (!curve) {
    std::cerr << curve.error().message << '\n';
    return k_usage_error;
  }
  set_up_logging(log_level.empty() ? config->log.level : log_level);
  return planificador::daemon::run(*config, *curve);
}
