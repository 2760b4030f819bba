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

// How an engine lays out its containers' cgroups (Docker's GET /info: CgroupDriver,
// CgroupVersion) and where, by default, it puts them.
struct CgroupLayout {
  std::string driver = "cgroupfs";  // "cgroupfs" or "systemd"
  CgroupVersion version = CgroupVersion::v1;
};

// Returns the accounting directories of container `id` under `root` when the engine made
// it with `layout` and the container's CgroupParent `parent` (empty: the engine's default,
// "docker" for cgroupfs, "system.slice" for systemd): for cgroupfs <parent>/<id>, for
// systemd <parent>/docker-<id>.scope. `cpu` is the cpuacct hierarchy on v1 ("cpuacct", or
// the combined "cpu,cpuacct" when `root` has that instead). Pure but for that one check.
[[nodiscard]] CgroupPaths container_cgroup_paths(std::string_view id, std::string_view parent,
                                                 const CgroupLayout& layout,
                                                 std::string_view root = "/sys/fs/cgroup");

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
  // Returns the cgroup of container `id` whose PID 1 the engine reports as `pid`: from
  // /proc/<pid>/cgroup when that names the container (the caller sees the host's PIDs),
  // else from the engine's layout (a daemon in a container of its own, without the host's
  // PID namespace). An Error when neither leads to an existing directory.
  [[nodiscard]] static Result<Cgroup> of_container(std::string_view id, pid_t pid,
                                                   std::string_view parent,
                                                   const CgroupLayout& layout,
                                                   std::string_view root = "/sys/fs/cgroup");

  // Returns the CPU time every process of the cgroup used so far, in nanoseconds.
  [[nodiscard]] Result<std::uint64_t> cpu_usage_ns() const;
  // Returns how many processes the kernel's OOM killer killed in the cgroup so far.
  [[nodiscard]] Result<std::uint64_t> oom_kills() const;
  // Starts a new memory peak measurement at the current usage, and notes how much of that
  // usage is page cache (of files earlier tasks of the container read).
  [[nodiscard]] Result<void> reset_memory_peak();
  // Returns the highest memory usage since reset_memory_peak() (or since creation), less
  // the page cache that was there at the reset and still is: the kernel resets a peak to
  // the current usage, earlier tasks' cache included, which is not the task's memory. On
  // v1 with socket accounting, at least the highest memory + socket usage a check of
  // over_memory_limit() saw (the kernel keeps no peak of their sum).
  [[nodiscard]] Result<std::uint64_t> memory_peak_bytes() const;
  // Returns the page cache charged to the cgroup now (memory.stat: v1 `cache`, v2 `file`).
  [[nodiscard]] Result<std::uint64_t> page_cache_bytes() const;

  // cgroup v1 charges TCP socket buffers to a counter of their own, which only a limit of
  // its own activates (memory.kmem.tcp.limit_in_bytes, cgroup-v1/memory.rst 2.7.1);
  // without it they are bounded only by the host-wide tcp_mem. Sets that limit to
  // `bytes`, the cgroup's memory limit; sockets made afterwards are charged. v2 charges
  // socket memory to memory.current already: nothing to do there.
  [[nodiscard]] Result<void> limit_socket_memory(std::uint64_t bytes);
  // Returns true when memory and socket buffers together are above the limit given to
  // limit_socket_memory(), or the socket buffers alone reached it since the last
  // reset_memory_peak(): on v1 the kernel then refuses socket memory instead of killing,
  // so the caller has to. Always false without socket accounting (v2: the OOM kill).
  [[nodiscard]] Result<bool> over_memory_limit() const;

  // Returns how often the cgroup's memory usage ran into its limit so far (v1
  // memory.failcnt, v2 the `max` line of memory.events): each time the kernel had to
  // reclaim before it could charge.
  [[nodiscard]] Result<std::uint64_t> memory_limit_hits() const;
  // Returns true when the cgroup's memory is pinned at its limit: usage now, or its peak
  // since reset_memory_peak(), within 1/16 of it (v1 memory.usage_in_bytes and
  // memory.max_usage_in_bytes against memory.limit_in_bytes, v2 memory.current and
  // memory.peak against memory.max). A program there that runs out of time is thrashing
  // on the little it can still reclaim, and the memory limit is what ended it.
  [[nodiscard]] Result<bool> memory_pinned_at_limit() const;

  // Opens the kept descriptors now rather than at the first read, so that a container
  // holds the same descriptors from its start to its end (after limit_socket_memory(),
  // which decides whether the socket files are read). Errors are left to the reads.
  void open_files();

  [[nodiscard]] const CgroupPaths& paths() const { return m_paths; }

 private:
  // The peak usage since reset_memory_peak(), page cache included.
  [[nodiscard]] Result<std::uint64_t> raw_memory_peak() const;
  CgroupPaths m_paths;
  // Opened on first use and kept (the container's cgroup is read a few times per task).
  mutable Fd m_cpu;   // cpuacct.usage (v1), cpu.stat (v2)
  mutable Fd m_oom;   // memory.oom_control (v1), memory.events (v2)
  mutable Fd m_peak;  // v1 memory.max_usage_in_bytes; v2 memory.peak, whose reset is local
                      // to the descriptor it was written through
  // v1 socket accounting: the limit set (0: none), the usage files, the highest memory +
  // socket usage seen since the last reset.
  std::uint64_t m_socket_limit = 0;
  mutable Fd m_usage;         // memory.usage_in_bytes
  mutable Fd m_socket_usage;  // memory.kmem.tcp.usage_in_bytes
  mutable Fd m_socket_peak;   // memory.kmem.tcp.max_usage_in_bytes
  mutable std::uint64_t m_seen_peak = 0;
  mutable Fd m_stat;                   // memory.stat
  mutable Fd m_hits;                   // v1 memory.failcnt, v2 memory.events
  mutable Fd m_limit;                  // v1 memory.limit_in_bytes, v2 memory.max
  std::uint64_t m_cache_at_reset = 0;  // page cache when the peak was last reset
};

}  // namespace planificador::os
