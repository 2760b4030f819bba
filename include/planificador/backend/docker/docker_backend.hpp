#pragma once
// The production Backend: each task runs in a Docker container (created per task, or
// taken warm from a pool) whose PID 1 is planificador-sandboxd, under Bubblewrap.

#include <memory>
#include <string>

#include "planificador/backend/backend.hpp"
#include "planificador/config/config.hpp"

namespace planificador::backend::docker {

// Returns a Backend serving `config`'s runners. `instance` names this daemon in container
// labels (org.planificador.instance) so a restart can reap what a crashed run left.
// `config` must outlive the backend. Does nothing that can fail: start() stages the
// sandbox helper, loads the seccomp profile and contacts the engine, and says which failed.
[[nodiscard]] std::unique_ptr<Backend> make_docker_backend(const config::Config& config,
                                                           std::string instance);

}  // namespace planificador::backend::docker
