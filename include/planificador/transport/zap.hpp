#pragma once
// CURVE servers and their ZAP handler (RFC 27): which client keys each socket accepts. The
// daemon's bound sockets and the broker's use the same code; each socket names its ZAP
// domain, and each domain has an allow-list of its own.

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "planificador/transport/curve_keys.hpp"
#include "planificador/util/result.hpp"

namespace planificador::transport::curve {

// The keys one ZAP domain accepts, and the words a refusal is logged with.
struct ZapDomain {
  std::string name;               // ZMQ_ZAP_DOMAIN of its sockets
  std::set<std::string> allowed;  // 32-byte binary public keys
  std::string peer;               // who is refused, e.g. "a client"
  std::string setting;            // the list that lacks the key, e.g. "curve.clients_allow"
};

// Returns the binary keys of an allow-list file (load_public_keys), or its Error.
[[nodiscard]] Result<std::set<std::string>> load_allow_list(const std::string& path);

// Makes `socket` a CURVE server with `keys`, in ZAP domain `domain`. Call before bind().
void make_server(zmq::socket_t& socket, const KeyPair& keys, std::string_view domain);

// Answers ZAP requests on inproc://zeromq.zap.01 of one context. Served by the thread
// that polls socket(); a refused key is logged in Z85, once a minute per key.
class ZapHandler {
 public:
  // Binds the handler; it must exist before any CURVE socket of `context` is bound.
  // Returns an Error when the endpoint cannot be bound.
  [[nodiscard]] static Result<std::unique_ptr<ZapHandler>> open(zmq::context_t& context,
                                                                std::vector<ZapDomain> domains);

  // Returns the REP socket, for the owner's poll.
  [[nodiscard]] zmq::socket_t& socket() noexcept { return m_socket; }
  // Answers every request waiting, without blocking.
  void serve();

 private:
  ZapHandler(zmq::context_t& context, std::vector<ZapDomain> domains);
  void answer(const std::vector<zmq::message_t>& request);

  zmq::socket_t m_socket;
  std::vector<ZapDomain> m_domains;
};

}  // namespace planificador::transport::curve
