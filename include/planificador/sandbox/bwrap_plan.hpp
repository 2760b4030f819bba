#pragma once
// The Bubblewrap command line of a sandbox, built as data so it can be checked without
// privileges; planificador-sandboxd only runs what this returns.
//
// Inside the sandbox: read-only /usr and /etc (plus the /bin, /lib… entries the system
// has, as symlinks or read-only binds like the system's own), a fresh /proc, /dev and
// /dev/mqueue, and four writable directories from the helper's root: work/ → /work (the
// current directory), tmp/ → /tmp, shm/ → /dev/shm, vartmp/ → /var/tmp. Nothing else of
// the container (no /planificador, no /sandbox) is visible.
//
// The sandbox is started before its task arrives. Its PID 1 is the zygote (the helper's
// own binary, see sandboxd/zygote.hpp): it receives each program over k_zygote_fd, forks
// it, and reaps everything the program leaves. PID 1 of a namespace cannot be signalled
// from inside it, and its death takes the whole namespace down. Bubblewrap runs the
// zygote from a descriptor it inherits (k_stub_fd, as /proc/self/fd/4): the binary is not
// mounted in the sandbox, so no mount of the task's names where it lives on the host.

#include <string>
#include <vector>

#include "planificador/util/result.hpp"

namespace planificador::sandbox {

// The helper's per-task directories under its root, and where they appear inside.
inline constexpr const char* k_work_dir = "work";
inline constexpr const char* k_tmp_dir = "tmp";
inline constexpr const char* k_shm_dir = "shm";
inline constexpr const char* k_vartmp_dir = "vartmp";
inline constexpr const char* k_work_inside = "/work";

// The zygote's end of its connection to the helper, open inside the sandbox (0 and 1 are
// /dev/null, 2 is bwrap's error pipe).
inline constexpr int k_zygote_fd = 3;
// The helper's own binary (O_PATH), which bwrap executes as the zygote; the zygote closes
// it first thing.
inline constexpr int k_stub_fd = 4;

// A top-level system path to reproduce inside the sandbox.
struct SystemEntry {
  enum class Kind { directory, symlink };
  std::string path;  // absolute, e.g. "/lib64"
  Kind kind = Kind::directory;
  std::string target;  // the symlink's target, for Kind::symlink
  friend bool operator==(const SystemEntry&, const SystemEntry&) = default;
};

struct SandboxPlan {
  std::string root;                 // the helper's root holding work/, tmp/, shm/, vartmp/
  std::vector<SystemEntry> system;  // usually probe_system_entries()
  unsigned uid = 1000;
  unsigned gid = 1000;
};

// Returns what the sandbox shows of /usr, /bin, /sbin, /lib, /lib32, /lib64, /libx32 and
// /etc on this system: real directories as directories, symlinks with their targets;
// absent paths (and anything else) are left out.
[[nodiscard]] std::vector<SystemEntry> probe_system_entries();

// Returns bwrap's arguments (without the bwrap path itself) for `plan`, ending with the
// zygote's command line, or an Error for a relative root, or a system entry that
// is not absolute or would hide a sandbox directory.
[[nodiscard]] Result<std::vector<std::string>> bwrap_arguments(const SandboxPlan& plan);

// Returns the environment a program runs with: `env` ("KEY=VALUE", later entries win)
// preceded by PATH and HOME=/work when `env` does not set them, or an Error for an entry
// without `=` or with an empty name.
[[nodiscard]] Result<std::vector<std::string>> program_environment(
    const std::vector<std::string>& env);

}  // namespace planificador::sandbox
