// The worker link's CURVE keys, loaded where the daemon starts: the config module only
// checks that the files are named (it knows nothing of CURVE or ZeroMQ), so the messages
// here keep its form, file:line: key: what is wrong.

#include <string>

#include "daemon.hpp"

#include "planificador/transport/curve_keys.hpp"

namespace planificador::daemon {

Result<std::optional<transport::LinkCurve>> link_curve(const config::Config& config,
                                                       std::string_view source) {
  if (config.server.broker.empty() || config.link.plaintext) {
    return std::optional<transport::LinkCurve>();
  }
  const auto where = [&](std::size_t line, std::string_view key) {
    return std::string(source) + ":" + std::to_string(line) + ": link." + std::string(key) + ": ";
  };
  auto pair = transport::curve::load_key_pair(config.link.key);
  if (!pair) {
    return fail(where(config.link.key_line, "key") + pair.error().message, pair.error().code);
  }
  auto broker = transport::curve::load_public_key(config.link.broker_key);
  if (!broker) {
    return fail(where(config.link.broker_key_line, "broker_key") + broker.error().message,
                broker.error().code);
  }
  return transport::LinkCurve{pair->public_key, pair->secret_key, *broker};
}

}  // namespace planificador::daemon
