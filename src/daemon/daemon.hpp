#pragma once
// The daemon's top-level flow: wire config → backend → scheduler → transport, serve until
// SIGTERM/SIGINT, then drain.

#include <string>

#include "planificador/config/config.hpp"

namespace planificador::daemon {

// Returns a stable instance name for container labels: the executor name plus a short hash
// of the intake endpoint and the state directory, so two daemons on one host never reap
// each other's containers (even when both bind an ephemeral port such as `tcp://…:0`),
// while a restart with the same config reaps what the previous run left.
[[nodiscard]] std::string instance_name(const config::Config& config, const std::string& executor);

// Returns the host name, or "planificador" if the kernel will not say.
[[nodiscard]] std::string host_name();

// Runs the daemon until SIGTERM or SIGINT and drains it. Returns the process exit status:
// 0 after a clean drain, 1 when the sockets cannot be set up.
[[nodiscard]] int run(const config::Config& config);

}  // namespace planificador::daemon
