#pragma once
// What every scenario of fleet_bench shares: statistics over samples, what /proc says about
// a process (RSS, CPU time, its busiest thread), the list of targets with their verdicts,
// and the interruption flag (SIGINT/SIGTERM), so a run stopped by hand still unwinds and
// every process and container it started is cleaned up by its owner's destructor.

#include <chrono>
#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <sys/types.h>
#include <vector>

namespace planificador::bench {

using Clock = std::chrono::steady_clock;

// Returns the seconds between `from` and `to`.
[[nodiscard]] inline double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// Returns the `p`-th percentile (nearest rank, p in 0..100) of `values`; 0 when empty.
[[nodiscard]] double percentile(std::vector<double> values, double p);
// Returns the median of `values` (the mean of the middle two for an even count); 0 when empty.
[[nodiscard]] double median(std::vector<double> values);

// CPU time of a process from /proc/PID/stat and /proc/PID/task/*/stat.
struct CpuTimes {
  double total = 0;                 // seconds, user + system, every thread
  std::map<pid_t, double> threads;  // seconds, by thread id
};
// Returns the process's CPU times (empty when it is gone).
[[nodiscard]] CpuTimes cpu_times(pid_t pid);
// Returns the most CPU seconds one thread used between `before` and `after`.
[[nodiscard]] double busiest_thread(const CpuTimes& before, const CpuTimes& after);
// Returns the process's resident set size in KiB (VmRSS), 0 when unknown.
[[nodiscard]] std::size_t rss_kib(pid_t pid);
// Returns this process's CPU seconds (user + system, every thread).
[[nodiscard]] double own_cpu_seconds();

// Stated targets and how the run fared against each; printed once more at the end.
class Targets {
 public:
  // Records a figure against its target and prints the verdict line.
  void check(const std::string& what, const std::string& figure, const std::string& target,
             bool met);
  // Prints every verdict; returns the number of targets missed.
  std::size_t summarize() const;
  // Returns the number of targets checked.
  [[nodiscard]] std::size_t size() const noexcept { return m_verdicts.size(); }

 private:
  struct Verdict {
    std::string what;
    std::string figure;
    std::string target;
    bool met;
  };
  std::vector<Verdict> m_verdicts;
};

// Thrown out of any wait once SIGINT or SIGTERM came.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

// Installs the SIGINT/SIGTERM handler (a flag; no work in the handler).
void install_interrupt_handler();
// Returns true once SIGINT or SIGTERM came.
[[nodiscard]] bool interrupted();
// Throws Interrupted once SIGINT or SIGTERM came.
void check_interrupted();

// Returns printf's text for `pattern` and the arguments.
[[nodiscard]] std::string format(const char* pattern, ...) __attribute__((format(printf, 1, 2)));

}  // namespace planificador::bench
