#pragma once
// The sandbox's /etc/hostname, bound into each container in place of the engine's own. The
// engine's file is /var/lib/docker/containers/ID/hostname on the host's disk, and a bind
// mount shows its source's path in the mount table a task can read (/proc/self/mountinfo):
// the engine's data root and the container's id. This one lives on a tmpfs of its own, so
// the task's mount table names only "/hostname" of a tmpfs.

#include <string>

#include "planificador/util/result.hpp"

namespace planificador::backend::docker {

// The hostname every sandbox has (also Bubblewrap's --hostname and the container's).
inline constexpr const char* k_sandbox_hostname = "sandbox";

// Makes `directory`/hostname holding k_sandbox_hostname, first as a plain file, then again
// on a tmpfs mounted over `directory` (one left by an earlier run is replaced), and returns
// its path. The plain file beneath is what an engine finds that does not see the daemon's
// mounts (a daemon in a container whose state directory is not a shared mount). Without
// the privilege to mount, the plain file is used, with a warning: a task then sees its path.
[[nodiscard]] Result<std::string> stage_hostname_file(const std::string& directory);

// Unmounts and removes what stage_hostname_file() made for `path`.
void remove_hostname_file(const std::string& path);

}  // namespace planificador::backend::docker
