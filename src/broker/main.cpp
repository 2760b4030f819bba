// planificador-broker: the fleet broker's command line (docs/fleet.md).

#include <array>
#include <csignal>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <unistd.h>

#include "security.hpp"
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "planificador/broker/server.hpp"
#include "planificador/config/broker_config.hpp"

namespace {

constexpr int k_usage_error = 2;
constexpr int k_start_error = 1;

int check_config(const std::string& path) {
  auto config = planificador::config::load_broker(path);
  if (!config) {
    std::cerr << config.error().message << '\n';
    return k_usage_error;
  }
  // The key files are part of what must be right before the broker can start.
  if (auto security = planificador::broker::load_security(config->curve); !security) {
    std::cerr << path << ": " << security.error().message << '\n';
    return k_usage_error;
  }
  std::cout << path << ": ok\n";
  return 0;
}

void set_up_logging(const std::string& level_name) {
  auto logger = spdlog::stderr_logger_mt("planificador-broker");
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

// SIGTERM and SIGINT are read from a signalfd by the loop; blocked before ZeroMQ starts its
// threads, so no thread of the process takes them the default way.
bool block_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // A vanished peer must be an error return, never a process kill.
  (void)std::signal(SIGPIPE, SIG_IGN);
  return pthread_sigmask(SIG_BLOCK, &signals, nullptr) == 0;
}

// WELCOME's epoch: random, so a daemon can tell this broker from the one before it.
std::uint64_t draw_epoch() {
  std::random_device device;
  std::uint64_t epoch = 0;
  while (epoch == 0) {
    epoch = (std::uint64_t{device()} << 32U) | device();
  }
  return epoch;
}

std::string broker_name() {
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0 || host[0] == '\0') {
    return "broker";
  }
  return std::string("broker@") + host.data();
}

int run(const std::string& path, const std::string& log_level) {
  auto config = planificador::config::load_broker(path);
  if (!config) {
    std::cerr << config.error().message << '\n';
    return k_usage_error;
  }
  set_up_logging(log_level.empty() ? config->log.level : log_level);
  if (!block_signals()) {
    spdlog::critical("pthread_sigmask failed");
    return k_start_error;
  }
  namespace broker = planificador::broker;
  auto served = broker::serve(*config, broker::settings_for(*config, draw_epoch(), broker_name()));
  if (!served) {
    spdlog::critical("{}", served.error().message);
    return k_start_error;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "planificador-broker: one front (SPEC's intake, events, control) for a fleet of "
      "planificador daemons"};
  std::string config_path;
  std::string check_path;
  std::string log_level;
  bool version = false;
  app.add_option("-c,--config", config_path, "run the broker with this broker.toml");
  app.add_option("--check-config", check_path, "validate this broker.toml and its key files");
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
    std::cout << "planificador-broker " << PLANIFICADOR_VERSION << '\n';
    return 0;
  }
  if (!check_path.empty()) {
    return check_config(check_path);
  }
  if (config_path.empty()) {
    std::cerr << "planificador-broker: --config FILE is required (see --help)\n";
    return k_usage_error;
  }
  try {
    return run(config_path, log_level);
  } catch (const std::exception& error) {
    spdlog::critical("planificador-broker: {}", error.what());
    return k_start_error;
  }
}
