#pragma once
// The broker's socket loop: one thread owns every socket (zmq_poll), feeds what it reads
// to the Broker state machine and sends what the state machine has for clients and
// daemons.

#include "planificador/broker/broker.hpp"
#include "planificador/config/broker_config.hpp"
#include "planificador/util/result.hpp"

namespace planificador::broker {

// Loads the CURVE keys `config` names, binds its sockets and serves them with `settings`
// until SIGTERM or SIGINT has been received and the shutdown is done (dispatched tasks
// answered, events handed to ZeroMQ). The caller blocks both signals in every thread
// first (they are read from a signalfd). Returns an Error when a key file or an endpoint
// fails at start.
[[nodiscard]] Result<void> serve(const config::BrokerConfig& config, Settings settings);

// Returns the Settings `config` implies; `epoch` and `name` are the caller's.
[[nodiscard]] Settings settings_for(const config::BrokerConfig& config, std::uint64_t epoch,
                                    std::string name);

}  // namespace planificador::broker
