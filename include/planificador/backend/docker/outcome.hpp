#pragma once
// How the facts of an exec (our own verdict, the OOM counter, the wait status) become a
// task's outcome. Pure: no I/O.

#include <optional>

#include "planificador/backend/backend.hpp"
#include "planificador/backend/docker/exec_session.hpp"
#include "planificador/config/config.hpp"

namespace planificador::backend::docker {

// Returns the outcome of the run step. Our own limit decisions come first, then an OOM
// kill seen in the cgroup (`oom_killed`), then the wait status. Figures (wall, CPU) are
// filled from `exec`; memory and output are the caller's.
[[nodiscard]] TaskResult run_outcome(const ExecResult& exec, bool oom_killed,
                                     const config::Limits& limits);

// Returns nullopt when the compile step succeeded (exit status 0); otherwise the task's
// outcome: a limit status, or compile_error with the compiler's exit code.
[[nodiscard]] std::optional<TaskResult> compile_outcome(const ExecResult& exec, bool oom_killed,
                                                        const config::Limits& limits);

// Returns a TaskResult with `status` (error or rejected), exit code 125 and `diagnostic`.
[[nodiscard]] TaskResult failed_outcome(protocol::Status status, std::string diagnostic);

}  // namespace planificador::backend::docker
