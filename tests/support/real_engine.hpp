#pragma once
// Shared by the tests that talk to the real Docker engine: where it is, whether it can
// serve a test, and a guard that removes the containers a test created.

#include <string>
#include <string_view>

#include "skip.hpp"

#include "planificador/backend/docker/engine_client.hpp"

namespace planificador::test {

// The engine's socket: $PLANIFICADOR_DOCKER_SOCKET, else /var/run/docker.sock.
[[nodiscard]] std::string engine_socket();

// Returns why the engine cannot run a test with `image` (engine not answering, image not
// built), or an empty string when it can.
[[nodiscard]] std::string engine_unavailable(const backend::docker::EngineClient& client,
                                             std::string_view image);

// Removes the container (force, with its volumes) when destroyed.
class ContainerGuard {
 public:
  ContainerGuard(const backend::docker::EngineClient& client, std::string id)
      : m_client(&client), m_id(std::move(id)) {}
  ~ContainerGuard() { (void)m_client->remove(m_id); }
  ContainerGuard(const ContainerGuard&) = delete;
  ContainerGuard& operator=(const ContainerGuard&) = delete;

 private:
  const backend::docker::EngineClient* m_client;
  std::string m_id;
};

}  // namespace planificador::test
