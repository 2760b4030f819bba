#include "real_engine.hpp"

#include <cstdlib>

namespace planificador::test {

std::string engine_socket() {
  const char* socket = std::getenv("PLANIFICADOR_DOCKER_SOCKET");
  return socket != nullptr && *socket != '\0' ? socket : "/var/run/docker.sock";
}

std::string engine_unavailable(const backend::docker::EngineClient& client,
                               std::string_view image) {
  if (auto ping = client.ping(); !ping) {
    return "Docker engine unavailable: " + ping.error().message +
           " (start it with scripts/engine.sh)";
  }
  auto exists = client.image_exists(image);
  if (!exists) {
    return "cannot look up image " + std::string(image) + ": " + exists.error().message;
  }
  if (!*exists) {
    return "image " + std::string(image) + " is not built (run scripts/images.sh)";
  }
  return {};
}

}  // namespace planificador::test
