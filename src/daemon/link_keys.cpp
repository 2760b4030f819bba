// The CURVE keys of the worker link and of the bound sockets, loaded where the daemon
// starts: the config module only checks that the files are named (it knows nothing of
// CURVE or ZeroMQ), so the messages here keep its form, file:line: key: what is wrong.

#include <string>

#include "daemon.hpp"

#include "planificador/transport/curve_keys.hpp"
#include "planificador/transport/zap.hpp"

namespace planificador::daemon {
namespace {

std::string where(std::string_view source, std::size_t line, std::string_view key) {
  return std::string(source) + ":" + std::to_string(line) + ": " + std::string(key) + ": ";
}

Result<std::optional<transport::LinkCurve>> link_curve(const config::Config& config,
                                                       std::string_view source) {
  if (config.server.broker.empty() || config.link.plaintext) {
    return std::optional<transport::LinkCurve>();
  }
  auto pair = transport::curve::load_key_pair(config.link.key);
  if (!pair) {
    return fail(where(source, config.link.key_line, "link.key") + pair.error().message,
                pair.error().code);
  }
  auto broker = transport::curve::load_public_key(config.link.broker_key);
  if (!broker) {
    return fail(
        where(source, config.link.broker_key_line, "link.broker_key") + broker.error().message,
        broker.error().code);
  }
  return transport::LinkCurve{pair->public_key, pair->secret_key, *broker};
}

Result<std::optional<transport::ServerCurve>> socket_curve(const config::Config& config,
                                                           std::string_view source) {
  const auto& curve = config.curve;
  if (curve.clients_allow.empty()) {
    return std::optional<transport::ServerCurve>();
  }
  auto pair = transport::curve::load_key_pair(curve.key);
  if (!pair) {
    return fail(where(source, curve.key_line, "curve.key") + pair.error().message,
                pair.error().code);
  }
  auto allowed = transport::curve::load_allow_list(curve.clients_allow);
  if (!allowed) {
    return fail(
        where(source, curve.clients_allow_line, "curve.clients_allow") + allowed.error().message,
        allowed.error().code);
  }
  return transport::ServerCurve{std::move(*pair), std::move(*allowed)};
}

}  // namespace

Result<Keys> load_keys(const config::Config& config, std::string_view source) {
  auto link = link_curve(config, source);
  PLAN_TRY(link);
  auto sockets = socket_curve(config, source);
  PLAN_TRY(sockets);
  return Keys{std::move(*link), std::move(*sockets)};
}

}  // namespace planificador::daemon
