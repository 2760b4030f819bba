#pragma once
// Whether the engine can run task containers with the configured OCI runtime: it must
// know the runtime, and the runtime must let the sandbox work. gVisor (runsc) does not:
// Bubblewrap cannot build its namespaces under it, and a unix socket the helper listens
// on inside it cannot be reached from the host, so every task would fail its start.

#include <string_view>

#include "planificador/backend/docker/engine_client.hpp"
#include "planificador/util/result.hpp"

namespace planificador::backend::docker {

// Returns success when `configured` (docker.runtime; empty = the engine's default) names
// a runtime of `runtimes` that can run the sandbox, else an Error saying which and why.
[[nodiscard]] Result<void> check_runtime(std::string_view configured,
                                         const EngineRuntimes& runtimes);

}  // namespace planificador::backend::docker
