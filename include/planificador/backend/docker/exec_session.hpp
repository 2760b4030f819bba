#pragma once
// One exec through planificador-sandboxd (compile or run): the pipes, and the poll loop
// that streams output, feeds stdin and reads the cgroup, carrying out what the exec's
// ExecPolicy (exec_policy.hpp) decides: when output goes out, which limit was crossed,
// the kill.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "planificador/backend/backend.hpp"
#include "planificador/backend/docker/exec_policy.hpp"
#include "planificador/os/cgroup.hpp"
#include "planificador/os/event.hpp"
#include "planificador/sandbox/messages.hpp"
#include "planificador/util/result.hpp"

namespace planificador::backend::docker {

// What one exec runs, with what, and within which limits.
struct ExecRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=value"
  std::string_view stdin_data;
  bool merge_output = false;  // stdout and stderr into one pipe, delivered as Stream::err
  std::uint64_t wall_ms = 0;
  std::uint64_t cpu_ms = 0;
  std::vector<sandbox::File> files;  // written before the program starts (none: empty)
};

// How one exec ended.
struct ExecResult {
  Verdict verdict = Verdict::none;
  std::optional<int> wait_status;  // the program's raw wait status, when it ran and ended
  std::string error;               // why there is no wait status (sandbox failure, helper lost)
  bool rejected = false;           // the helper refused a file: the task's input is at fault
  std::uint64_t wall_ms = 0;
  std::uint64_t cpu_ns = 0;  // the container cgroup's CPU time during the exec
};

// What an exec runs against: the helper connection, the container's cgroup, where output
// goes, the task's cancel flag, and the last resort when the helper does not answer.
struct ExecEnvironment {
  int socket = -1;
  const os::Cgroup* cgroup = nullptr;
  OutputSink* sink = nullptr;
  const os::Event* cancel = nullptr;
  std::function<void()> kill_container;
};

// Returns the RLIMIT_CPU (seconds) the helper sets as a backstop behind the cgroup watch.
[[nodiscard]] std::uint64_t rlimit_cpu_seconds(std::uint64_t cpu_ms);

// Runs `request` to its end and returns how it ended, after every output byte was
// delivered. Returns an error only when the exec could not be handed to the helper.
[[nodiscard]] Result<ExecResult> run_exec(const ExecEnvironment& environment,
                                          const ExecRequest& request, OutputBudget& budget);

}  // namespace planificador::backend::docker
