#include "security.hpp"

namespace planificador::broker {

namespace curve = transport::curve;

Result<Security> load_security(const config::CurveSection& settings) {
  Security security;
  security.workers_curve = !settings.plaintext;
  security.clients_curve = !settings.clients_allow.empty();
  if (!security.workers_curve && !security.clients_curve) {
    return security;
  }
  if (settings.key.empty()) {
    return fail(security.workers_curve
                    ? "curve.key: the worker link needs the broker's key pair unless "
                      "curve.plaintext = true"
                    : "curve.key: curve.clients_allow needs the broker's key pair");
  }
  auto keys = curve::load_key_pair(settings.key);
  if (!keys) {
    return fail("curve.key: " + keys.error().message, keys.error().code);
  }
  security.keys = std::move(*keys);
  if (security.workers_curve) {
    auto allowed = curve::load_allow_list(settings.workers_allow);
    if (!allowed) {
      return fail("curve.workers_allow: " + allowed.error().message, allowed.error().code);
    }
    security.workers_allow = std::move(*allowed);
  }
  if (security.clients_curve) {
    auto allowed = curve::load_allow_list(settings.clients_allow);
    if (!allowed) {
      return fail("curve.clients_allow: " + allowed.error().message, allowed.error().code);
    }
    security.clients_allow = std::move(*allowed);
  }
  return security;
}

std::vector<curve::ZapDomain> zap_domains(const Security& security) {
  return {
      {std::string(k_workers_domain), security.workers_allow, "a daemon", "curve.workers_allow"},
      {std::string(k_clients_domain), security.clients_allow, "a client", "curve.clients_allow"},
  };
}

}  // namespace planificador::broker
