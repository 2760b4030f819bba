#pragma once
// The accounting of a process's cgroup, read from the host: CPU time, OOM kills and the
// memory peak. Supports cgroup v1 (one hierarchy per controller) and v2 (unified).

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "planificador/os/fd.hpp"
#include "planificador/util/result.hpp"

namespace planificador::os {

enum class CgroupVersion { v1, v2 };

// The directories holding a cgroup's accounting files.
struct CgroupPaths {
  CgroupVersion version = CgroupVersion::v1;
  std::string memory;  // v1: the memory controller's directory; v2: the unified directory
  std::string cpu;     // v1: the cpuacct controller's directory; v2: the same as memory
  friend bool operator==(const CgroupPaths&, const CgroupPaths&) = default;
};

// Parses the text of /proc/<pid>/cgroup. Returns the directories under `root`
// (normally /sys/fs/cgroup): v1 when a memory hierarchy is listed, else v2 from the
// "0::" line; an error when neither is there.
[[nodiscard]] Result<CgroupPaths> parse_proc_cgroup(std::string_view text,
                                                    std::string_view root = "/sys/fs/cgroup");

// Returns the value of the line "`key` <number>" in flat-keyed text (memory.oom_control,
// memory.events, cpu.stat), or an error when the key is missing or not a number.
[[nodiscard]] Result<std::uint64_t> parse_keyed_value(std::string_view text, std::string_view key);

// Returns the single unsigned number `text` holds (trailing newline allowed).
[[nodiscard]] Result<std::uint64_t> parse_number(std::string_view text);

// One cgroup's accounting files.
class Cgroup {
 public:
  Cgroup() = default;
  explicit Cgroup(CgroupPaths paths) : m_paths(std::move(paths)) {}

  // Returns the cgroup of process `pid` (from /proc/<pid>/cgroup), under `root`.
  [[nodiscard]] static Result<Cgroup> of_process(pid_t pid,
                                                 std::string_view root = "/sys/fs/cgroup");

  // Returns the CPU time every process of the cgroup used so far, in nanoseconds.
  [[nodiscard]] Result<std::uint64_t> cpu_usage_ns() const;
  // Returns how many processes the kernel's OOM killer killed in the cgroup so far.
  [[nodiscard]] Result<std::uint64_t> oom_kills() const;
  // Starts a new memory peak measurement at the current usage.
  [[nodiscard]] Result<void> reset_memory_peak();
  // Returns the highest memory usage since reset_memory_peak() (or since creation).
  [[nodiscard]] Result<std::uint64_t> memory_peak_bytes() const;

  // Opens the kept descriptors now rather than at the first read, so that a container
  // holds the same descriptors from its start to its end. Errors are left to the reads.
  void open_files();

  [[nodiscard]] const CgroupPaths& paths() const { return m_paths; }

 private:
  CgroupPaths m_paths;
  // Opened on first use and kept (the container's cgroup is read a few times per task).
  mutable Fd m_cpu;   // cpuacct.usage (v1), cpu.stat (v2)
  mutable Fd m_oom;   // memory.oom_control (v1), memory.events (v2)
  mutable Fd m_peak;  // v1 memory.max_usage_in_bytes; v2 memory.peak, whose reset is local
                      // to the descriptor it was written through
};

}  // namespace planificador::os
