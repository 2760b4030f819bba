#pragma once
// The helper's own view of the system directories, which every sandbox binds from.
//
// bwrap's binds of /usr and /etc are mounts of the container's root file system, whose
// mount options (an overlay's lowerdir, upperdir and workdir) name the engine's layer
// directories on the host, and the engine binds its own files under /etc (hostname, hosts,
// resolv.conf) from its container directory: a task reading /proc/self/mountinfo would
// learn host paths and the container's id. So before anything else the helper moves into
// a user and mount namespace of its own (it has no capability in the container's; in one
// it creates it has them until its next execve) and there
//   - covers each system directory but /etc with a read-only overlay of itself
//     (lowerdir=/usr:<empty>), whose options name only paths of the container;
//   - replaces /etc with a copy on a tmpfs: the files the helper can read (a task can
//     read no more), their modes, directories and symlinks; the engine's child mounts
//     cannot be overlaid (they are locked in the new namespace) and do not appear.
// Nothing of this is visible outside the helper: the container's own mounts are untouched,
// and the helper's uid and gid are mapped to themselves, so every file keeps its owner.

#include <string>
#include <vector>

#include "planificador/sandbox/bwrap_plan.hpp"
#include "planificador/util/result.hpp"

namespace planificador::sandboxd {

// Enters the helper's namespaces and covers `entries` (sandbox::probe_system_entries()) as
// described above, staging under a directory made in `scratch` and removed again. Call
// while the process is single-threaded and before it starts any child.
[[nodiscard]] Result<void> cover_system_directories(
    const std::vector<sandbox::SystemEntry>& entries, const std::string& scratch);

}  // namespace planificador::sandboxd
