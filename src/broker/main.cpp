// planificador-broker: the fleet broker's command line (docs/fleet.md).

#include <array>
#include <csignal>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <unistd.h>

#include "security.hpp"
#include <spdlog/spdlog.h>

#include "planificador/broker/server.hpp"
#include "planificador/config/broker_config.hpp"
#include "planificador/os/signal_fd.hpp"
#include "planificador/program/command_line.hpp"

namespace {

using planificador::program::k_usage_error;
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

// SIGTERM and SIGINT are read from a signalfd by the loop; blocked before ZeroMQ starts its
// threads, so no thread of the process takes them the default way. A vanished peer must be
// an error return, never a process kill.
planificador::Result<void> block_signals() {
  PLAN_TRY(planificador::os::ignore_sigpipe());
  return planificador::os::block_signals({SIGTERM, SIGINT});
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
  planificador::program::set_up_logging("planificador-broker",
                                        log_level.empty() ? config->log.level : log_level);
  if (auto blocked = block_signals(); !blocked) {
    spdlog::critical("{}", blocked.error().message);
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
  const planificador::program::ServerProgram broker{
      "planificador-broker",
      "one front (SPEC's intake, events, control) for a fleet of planificador daemons",
      PLANIFICADOR_VERSION,
      "broker.toml",
      check_config,
      run};
  return planificador::program::serve_main(broker, argc, argv);
}
