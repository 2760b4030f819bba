#pragma once
// The broker's sockets: SPEC §1's intake, events and control and the client endpoint
// towards clients, the worker
// ROUTER towards daemons, the admin REP and the ZAP handler, all in one context and served
// by one thread. Internal to the broker module.

#include <memory>
#include <optional>
#include <string>

#include "security.hpp"
#include <zmq.hpp>

#include "planificador/broker/frame.hpp"
#include "planificador/config/broker_config.hpp"

namespace planificador::broker {

struct Sockets {
  zmq::context_t context{1};
  std::unique_ptr<transport::curve::ZapHandler>
      zap;  // bound first: CURVE sockets ask it about every peer
  zmq::socket_t intake{context, zmq::socket_type::pull};
  zmq::socket_t events{context, zmq::socket_type::push};
  zmq::socket_t workers{context, zmq::socket_type::router};
  std::optional<zmq::socket_t> control;
  std::optional<zmq::socket_t> admin;
  std::optional<zmq::socket_t> clients;  // the client endpoint's ROUTER
};

// Returns the bytes of a message read from one of the broker's sockets as a Frame that owns
// them, leaving `message` empty. ZeroMQ hands over a frame that fits in its receive batch
// as a slice of the batch's buffer (about 18 KiB), freed only once every frame of it is
// closed (libzmq issue #2830). The broker keeps frames: up to `backlog` queued SUBMITs and
// `events_capacity` events, so with many peers each kept 40-byte frame could pin a buffer
// of its own. Such a frame is copied; a larger one has an allocation of its own and is moved.
[[nodiscard]] Frame take_frame(zmq::message_t& message);

// Creates, secures and binds every socket `config` names. Returns an Error naming the
// endpoint that could not be bound, or the option that was refused.
[[nodiscard]] Result<std::unique_ptr<Sockets>> open_sockets(const config::BrokerConfig& config,
                                                            const Security& security);

}  // namespace planificador::broker
