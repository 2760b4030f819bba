#pragma once
// The daemon's top-level flow: wire config → backend → scheduler → transport, serve until
// SIGTERM/SIGINT, then drain.

#include <optional>
#include <string>
#include <string_view>

#include "planificador/config/config.hpp"
#include "planificador/transport/transport.hpp"
#include "planificador/transport/worker_link.hpp"
#include "planificador/util/result.hpp"

namespace planificador::daemon {

// Returns a stable instance name for container labels: server.executor plus a short hash
// of the intake endpoint and the state directory, so two daemons on one host never reap
// each other's containers (even when both bind an ephemeral port such as `tcp://…:0`),
// while a restart with the same config reaps what the previous run left.
[[nodiscard]] std::string instance_name(const config::Config& config);

// The CURVE keys the daemon runs with, loaded from the files the config names.
struct Keys {
  std::optional<transport::LinkCurve> link;       // the worker link's; nullopt: plaintext
  std::optional<transport::ServerCurve> sockets;  // [curve]'s; nullopt: no CURVE
};

// Returns the keys of [link] and [curve]: the link's only with a server.broker and without
// link.plaintext, the sockets' only with curve.clients_allow. An Error reads
// "<source>:<line>: link.key: <why>" (or link.broker_key, curve.key, curve.clients_allow)
// when a file does not load.
[[nodiscard]] Result<Keys> load_keys(const config::Config& config, std::string_view source);

// Runs the daemon until SIGTERM or SIGINT and drains it: serving intake, events, control
// and the client endpoint itself, or as a member of server.broker's fleet. `config` is as
// config::load() returns it (server.executor set: its name everywhere).
// Returns the process exit status: 0 after a clean drain, 1 when the sockets cannot be set
// up.
[[nodiscard]] int run(const config::Config& config, const Keys& keys = {});

}  // namespace planificador::daemon
