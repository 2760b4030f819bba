#include "baseline.hpp"

#include <cerrno>
#include <cstring>
#include <sys/syscall.h>
#include <unistd.h>

namespace planificador::sandboxd {
namespace {

// linux/ioprio.h: the target of ioprio_get/ioprio_set is one process.
constexpr int k_ioprio_who_process = 1;

constexpr std::array<const char*, RLIM_NLIMITS> k_limit_names = {
    "RLIMIT_CPU",      "RLIMIT_FSIZE", "RLIMIT_DATA",   "RLIMIT_STACK",
    "RLIMIT_CORE",     "RLIMIT_RSS",   "RLIMIT_NPROC",  "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",  "RLIMIT_AS",    "RLIMIT_LOCKS",  "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE", "RLIMIT_NICE",  "RLIMIT_RTPRIO", "RLIMIT_RTTIME"};

int current_nice() {
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, 0);
  return errno == 0 ? nice : -1000;
}

int current_io_priority() {
  return static_cast<int>(::syscall(SYS_ioprio_get, k_ioprio_who_process, 0));
}

}  // namespace

Result<ProcessBaseline> capture_baseline() {
  ProcessBaseline baseline;
  for (int resource = 0; resource < RLIM_NLIMITS; ++resource) {
    if (::getrlimit(resource, &baseline.limits[static_cast<std::size_t>(resource)]) != 0) {
      return fail_errno(std::string("getrlimit ") +
                        k_limit_names[static_cast<std::size_t>(resource)]);
    }
  }
  baseline.nice = current_nice();
  if (baseline.nice == -1000) {
    return fail_errno("getpriority");
  }
  baseline.policy = ::sched_getscheduler(0);
  if (baseline.policy < 0) {
    return fail_errno("sched_getscheduler");
  }
  if (::sched_getaffinity(0, sizeof baseline.affinity, &baseline.affinity) != 0) {
    return fail_errno("sched_getaffinity");
  }
  baseline.io_priority = current_io_priority();
  if (baseline.io_priority < 0) {
    return fail_errno("ioprio_get");
  }
  return baseline;
}

int apply_baseline(const ProcessBaseline& baseline, const char*& failed) noexcept {
  for (int resource = 0; resource < RLIM_NLIMITS; ++resource) {
    const auto index = static_cast<std::size_t>(resource);
    if (::setrlimit(resource, &baseline.limits[index]) != 0) {
      failed = k_limit_names[index];
      return -1;
    }
  }
  // The policy first: setpriority sets the nice value of the normal policies only.
  const sched_param param{};
  if (::sched_setscheduler(0, baseline.policy, &param) != 0) {
    failed = "sched_setscheduler";
    return -1;
  }
  if (::setpriority(PRIO_PROCESS, 0, baseline.nice) != 0) {
    failed = "setpriority";
    return -1;
  }
  if (::sched_setaffinity(0, sizeof baseline.affinity, &baseline.affinity) != 0) {
    failed = "sched_setaffinity";
    return -1;
  }
  if (::syscall(SYS_ioprio_set, k_ioprio_who_process, 0, baseline.io_priority) != 0) {
    failed = "ioprio_set";
    return -1;
  }
  return 0;
}

std::string baseline_differences(const ProcessBaseline& baseline) {
  std::string differences;
  const auto note = [&differences](const char* name) {
    differences += differences.empty() ? "" : " ";
    differences += name;
  };
  for (int resource = 0; resource < RLIM_NLIMITS; ++resource) {
    const auto index = static_cast<std::size_t>(resource);
    rlimit now{};
    if (::getrlimit(resource, &now) != 0 || now.rlim_cur != baseline.limits[index].rlim_cur ||
        now.rlim_max != baseline.limits[index].rlim_max) {
      note(k_limit_names[index]);
    }
  }
  if (current_nice() != baseline.nice) {
    note("nice");
  }
  if (::sched_getscheduler(0) != baseline.policy) {
    note("policy");
  }
  cpu_set_t affinity{};
  if (::sched_getaffinity(0, sizeof affinity, &affinity) != 0 ||
      !CPU_EQUAL(&affinity, &baseline.affinity)) {
    note("affinity");
  }
  if (current_io_priority() != baseline.io_priority) {
    note("io-priority");
  }
  return differences;
}

}  // namespace planificador::sandboxd
