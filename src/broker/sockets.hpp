#pragma once
// The broker's sockets: SPEC §1's intake, events and control towards clients, the worker
// ROUTER towards daemons, the admin REP and the ZAP handler, all in one context and served
// by one thread. Internal to the broker module.

#include <memory>
#include <optional>
#include <string>

#include "security.hpp"
#include <zmq.hpp>

#include "planificador/config/broker_config.hpp"

namespace planificador::broker {

struct Sockets {
  zmq::context_t context{1};
  std::unique_ptr<ZapHandler> zap;  // bound first: CURVE sockets ask it about every peer
  zmq::socket_t intake{context, zmq::socket_type::pull};
  zmq::socket_t events{context, zmq::socket_type::push};
  zmq::socket_t workers{context, zmq::socket_type::router};
  std::optional<zmq::socket_t> control;
  std::optional<zmq::socket_t> admin;
};

// Creates, secures and binds every socket `config` names. Returns an Error naming the
// endpoint that could not be bound, or the option that was refused.
[[nodiscard]] Result<std::unique_ptr<Sockets>> open_sockets(const config::BrokerConfig& config,
                                                            const Security& security);

}  // namespace planificador::broker
