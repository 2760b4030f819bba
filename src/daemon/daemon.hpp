#pragma once
// The daemon's top-level flow: wire config → backend → scheduler → transport, serve until
// SIGTERM/SIGINT, then drain.

#include <optional>
#include <string>
#include <string_view>

#include "planificador/config/config.hpp"
#include "planificador/transport/worker_link.hpp"
#include "planificador/util/result.hpp"

namespace planificador::daemon {

// Returns a stable instance name for container labels: server.executor plus a short hash
// of the intake endpoint and the state directory, so two daemons on one host never reap
// each other's containers (even when both bind an ephemeral port such as `tcp://…:0`),
// while a restart with the same config reaps what the previous run left.
[[nodiscard]] std::string instance_name(const config::Config& config);

// Returns the worker link's CURVE keys from the files [link] names: nullopt without a
// server.broker or with link.plaintext; an Error "<source>:<line>: link.key: <why>" (or
// link.broker_key) when a file does not load.
[[nodiscard]] Result<std::optional<transport::LinkCurve>> link_curve(const config::Config& config,
                                                                     std::string_view source);

// Runs the daemon until SIGTERM or SIGINT and drains it: serving intake, events and control
// itself, or as a member of server.broker's fleet with `curve` (nullopt: plaintext).
// `config` is as config::load() returns it (server.executor set: its name everywhere).
// Returns the process exit status: 0 after a clean drain, 1 when the sockets cannot be set
// up.
[[nodiscard]] int run(const config::Config& config,
                      const std::optional<transport::LinkCurve>& curve = std::nullopt);

}  // namespace planificador::daemon
