#pragma once
// What a process hands on to the programs it starts and any process of the same user may
// change through its pid (prlimit(2), setpriority(2), sched_setscheduler(2),
// sched_setaffinity(2), ioprio_set(2)): resource limits, nice value, scheduling policy,
// CPU affinity and I/O priority. The zygote records its own at its start; every program
// starts with exactly these, and a zygote whose own settings moved is not clean.

#include <array>
#include <sched.h>
#include <string>
#include <sys/resource.h>

#include "planificador/util/result.hpp"

namespace planificador::sandboxd {

struct ProcessBaseline {
  std::array<rlimit, RLIM_NLIMITS> limits{};
  int nice = 0;
  int policy = SCHED_OTHER;
  cpu_set_t affinity{};
  int io_priority = 0;
};

// Returns the calling process's settings, or an Error naming the call that failed.
[[nodiscard]] Result<ProcessBaseline> capture_baseline();

// Gives the calling process exactly `baseline`'s settings. Only lowers what the caller can
// lower: a limit above the caller's own hard limit fails. Returns 0, or -1 with errno set
// and `failed` naming the setting. Makes system calls only (no allocation).
int apply_baseline(const ProcessBaseline& baseline, const char*& failed) noexcept;

// Returns the settings where the calling process differs from `baseline`, space-separated
// ("RLIMIT_FSIZE nice"), or "" when it does not.
[[nodiscard]] std::string baseline_differences(const ProcessBaseline& baseline);

}  // namespace planificador::sandboxd
