#pragma once
// Watches a daemon's footprint from outside, for the fault and load tests: a process's
// memory and descriptors from /proc, processes by command line or by container cgroup,
// and the containers a daemon instance makes (and what they leave once gone).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace planificador::testing {

// Returns a field of /proc/`pid`/status in KiB ("VmRSS", "VmHWM"), or nullopt when the
// process or the field is not there.
[[nodiscard]] std::optional<std::uint64_t> proc_status_kb(pid_t pid, std::string_view field);

// Returns how many descriptors `pid` has open (entries of /proc/`pid`/fd), or nullopt.
[[nodiscard]] std::optional<std::size_t> open_fd_count(pid_t pid);
// Returns what `pid`'s open descriptors refer to, counted: a path, or a kind such as
// "socket", "pipe" or "anon_inode" (for a failed check's message).
[[nodiscard]] std::map<std::string, std::size_t> open_fd_targets(pid_t pid);

// Returns the pids whose command line (arguments joined by spaces) contains `needle`.
[[nodiscard]] std::vector<pid_t> pids_with_cmdline(std::string_view needle);

// Returns the pids in the cgroup of any of the containers `ids` (full ids).
[[nodiscard]] std::vector<pid_t> pids_in_containers(const std::set<std::string>& ids);

// Returns the mount points of this mount namespace (/proc/self/mountinfo, field 5).
[[nodiscard]] std::set<std::string> mount_points();

// Returns `docker` argv with `-H docker_host` when that is not empty, then `args`.
[[nodiscard]] std::vector<std::string> docker_argv(const std::string& docker_host,
                                                   std::vector<std::string> args);

// Samples VmRSS of a process every `interval` on a thread of its own, keeping the
// largest value seen, until stop() or destruction.
class RssSampler {
 public:
  RssSampler(pid_t pid, std::chrono::milliseconds interval);
  ~RssSampler();
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;

  void stop();
  // Returns the largest VmRSS sampled so far, in KiB.
  [[nodiscard]] std::uint64_t peak_kb() const { return m_peak.load(); }
  // Returns the number of samples taken.
  [[nodiscard]] std::size_t samples() const { return m_samples.load(); }

 private:
  pid_t m_pid;
  std::chrono::milliseconds m_interval;
  std::atomic<bool> m_stop{false};
  std::atomic<std::uint64_t> m_peak{0};
  std::atomic<std::size_t> m_samples{0};
  std::thread m_thread;
};

// One container as it was seen, with the host paths the engine mounted for it.
struct WatchedContainer {
  std::string id;
  std::string merged_dir;   // its overlay root file system (GraphDriver.Data.MergedDir)
  std::string sandbox_key;  // its network namespace mount (NetworkSettings.SandboxKey)
};

// Lists the containers of one daemon instance every `interval` and records each new one
// with its mounts, so that once the daemon is gone leftovers() can prove nothing of them
// survived: no container, no mount, no process.
class ContainerWatch {
 public:
  // `docker_host`: `docker -H` value, "" for the main engine.
  ContainerWatch(std::string instance, std::string docker_host,
                 std::chrono::milliseconds interval = std::chrono::milliseconds(500));
  ~ContainerWatch();
  ContainerWatch(const ContainerWatch&) = delete;
  ContainerWatch& operator=(const ContainerWatch&) = delete;

  // Stops watching, after one last look.
  void stop();
  // Returns every container seen so far.
  [[nodiscard]] std::vector<WatchedContainer> seen() const;
  // Returns one line for each thing left of the containers seen: a container that still
  // exists, a mount of theirs still mounted, a process still in their cgroups.
  [[nodiscard]] std::vector<std::string> leftovers() const;

 private:
  void look();

  std::string m_instance;
  std::string m_host;
  std::chrono::milliseconds m_interval;
  mutable std::mutex m_mutex;
  std::map<std::string, WatchedContainer> m_seen;
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

}  // namespace planificador::testing
