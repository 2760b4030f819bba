#pragma once
// The broker's CURVE (RFC 26) keys and its ZAP handler (RFC 27): which sockets are CURVE
// servers, and which client keys each accepts. Internal to the broker module.

#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "planificador/config/broker_config.hpp"
#include "planificador/transport/curve_keys.hpp"
#include "planificador/util/result.hpp"

namespace planificador::broker {

// ZMQ_ZAP_DOMAIN of the worker ROUTER and of the client sockets: the handler tells them
// apart by it, each having its own allow-list.
inline constexpr std::string_view k_workers_domain = "planificador-workers";
inline constexpr std::string_view k_clients_domain = "planificador-clients";

struct Security {
  std::optional<transport::curve::KeyPair> keys;  // the broker's, when any socket is CURVE
  bool workers_curve = false;
  bool clients_curve = false;
  std::set<std::string> workers_allow;  // 32-byte binary public keys
  std::set<std::string> clients_allow;
};

// Loads the key pair and allow-lists `curve` names. Returns an Error naming the file (and
// line) that is missing or wrong, or naming the key that a CURVE socket needs.
[[nodiscard]] Result<Security> load_security(const config::CurveSection& curve);

// Makes `socket` a CURVE server with the broker's keys, in ZAP domain `domain`.
void make_curve_server(zmq::socket_t& socket, const transport::curve::KeyPair& keys,
                       std::string_view domain);

// Answers ZAP requests on inproc://zeromq.zap.01 of the broker's context. Served on the
// broker's loop thread; a refused key is logged in Z85.
class ZapHandler {
 public:
  // Binds the handler; it must exist before any CURVE socket is bound. Returns an Error
  // when the endpoint cannot be bound.
  [[nodiscard]] static Result<std::unique_ptr<ZapHandler>> open(zmq::context_t& context,
                                                                const Security& security);

  // Returns the REP socket, for the loop's poll.
  [[nodiscard]] zmq::socket_t& socket() noexcept { return m_socket; }
  // Answers every request waiting, without blocking.
  void serve();

 private:
  ZapHandler(zmq::context_t& context, const Security& security);
  void answer(const std::vector<zmq::message_t>& request);

  zmq::socket_t m_socket;
  const Security& m_security;
};

}  // namespace planificador::broker
