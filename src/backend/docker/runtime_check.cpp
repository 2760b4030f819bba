#include "planificador/backend/docker/runtime_check.hpp"

#include <string>

namespace planificador::backend::docker {
namespace {

bool is_gvisor(std::string_view path) {
  const auto slash = path.find_last_of('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  return name.starts_with("runsc");
}

std::string known(const EngineRuntimes& runtimes) {
  std::string names;
  for (const auto& entry : runtimes.paths) {
    names += (names.empty() ? "" : ", ") + entry.first;
  }
  return names.empty() ? "none" : names;
}

}  // namespace

Result<void> check_runtime(std::string_view configured, const EngineRuntimes& runtimes) {
  const bool chosen = !configured.empty();
  const std::string name(chosen ? configured : std::string_view(runtimes.default_name));
  // An engine that lists no runtimes (old, or a stand-in) is trusted with its default.
  if (name.empty() || (!chosen && runtimes.paths.empty())) {
    return {};
  }
  const std::string what =
      chosen ? "docker.runtime `" + name + "`" : "the engine's default runtime `" + name + "`";
  const auto found = runtimes.paths.find(name);
  if (found == runtimes.paths.end()) {
    return fail(what + " is not one of the engine's runtimes (" + known(runtimes) + ")");
  }
  if (is_gvisor(found->second) || is_gvisor(name)) {
    return fail(what + " is gVisor, under which the sandbox cannot start (Bubblewrap cannot " +
                "make its namespaces, and the helper's socket is not reachable from the " +
                "host); set docker.runtime to runc");
  }
  return {};
}

}  // namespace planificador::backend::docker
