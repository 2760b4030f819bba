#pragma once
// The Bubblewrap command line of one exec, built as data so it can be checked without
// privileges; planificador-sandboxd only runs what this returns.
//
// Inside the sandbox: read-only /usr and /etc (plus the /bin, /lib… entries the system
// has, as symlinks or read-only binds like the system's own), a fresh /proc and /dev, and
// four writable directories from the helper's root: work/ → /work (the current
// directory), tmp/ → /tmp, shm/ → /dev/shm, vartmp/ → /var/tmp. Nothing else of the
// container (no /planificador, no /sandbox) is visible. The program runs as a child of the
// stub (the helper's own binary at k_stub_path) under bwrap's own PID 1, so orphans are
// reaped and the whole PID namespace dies with it.

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
inline constexpr const char* k_stub_path = "/.planificador-stub";

// Descriptors the stub finds open inside the sandbox (0–2 are stdin, stdout and bwrap's
// own stderr; the stub moves k_stub_stderr_fd onto 2 before running the program).
inline constexpr int k_stub_status_fd = 3;
inline constexpr int k_stub_stderr_fd = 4;

// The stub's report on k_stub_status_fd: one k_stub_started byte when it starts, then the
// program's raw wait status as a native-endian int.
inline constexpr char k_stub_started = 'S';

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
  std::string stub;                 // the helper's own binary, bound at k_stub_path
  std::vector<SystemEntry> system;  // usually probe_system_entries()
  std::vector<std::string> argv;    // the program and its arguments
  std::vector<std::string> env;     // "KEY=VALUE", in order; later entries win
  unsigned uid = 1000;
  unsigned gid = 1000;
};

// Returns what the sandbox shows of /usr, /bin, /sbin, /lib, /lib32, /lib64, /libx32 and
// /etc on this system: real directories as directories, symlinks with their targets;
// absent paths (and anything else) are left out.
[[nodiscard]] std::vector<SystemEntry> probe_system_entries();

// Returns bwrap's arguments (without the bwrap path itself) for `plan`, or an Error for an
// empty argv, an env entry without `=` or with an empty name, a relative root or stub, or
// a system entry that is not absolute or would hide a sandbox directory.
[[nodiscard]] Result<std::vector<std::string>> bwrap_arguments(const SandboxPlan& plan);

}  // namespace planificador::sandbox
