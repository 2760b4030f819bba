#pragma once
// The broker's CURVE (RFC 26) keys and the ZAP domains (RFC 27) of its sockets: which
// sockets are CURVE servers, and which client keys each accepts. Internal to the broker
// module; the handler itself is transport's (curve::ZapHandler).

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "planificador/config/broker_config.hpp"
#include "planificador/transport/curve_keys.hpp"
#include "planificador/transport/zap.hpp"
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

// Returns the ZAP domains of the broker's CURVE sockets: the workers' and the clients'
// (curve::ZapHandler), each with its allow-list.
[[nodiscard]] std::vector<transport::curve::ZapDomain> zap_domains(const Security& security);

}  // namespace planificador::broker
