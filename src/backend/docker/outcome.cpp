#include "planificador/backend/docker/outcome.hpp"

#include <csignal>
#include <string>
#include <sys/wait.h>

namespace planificador::backend::docker {
namespace {

TaskResult with_status(protocol::Status status, std::string diagnostic) {
  TaskResult result;
  result.status = status;
  result.exit_code = protocol::exit_code_for(status, 0, 0);
  result.diagnostic = std::move(diagnostic);
  return result;
}

// The outcomes that do not depend on the program's own status. nullopt: none applies.
std::optional<TaskResult> limit_outcome(const ExecResult& exec, bool oom_killed,
                                        const config::Limits& limits) {
  using protocol::Status;
  switch (exec.verdict) {
    case Verdict::time_limit:
      return with_status(Status::time_limit,
                         "time limit of " + std::to_string(limits.wall_ms) + " ms exceeded");
    case Verdict::cpu_limit:
      return with_status(Status::cpu_limit,
                         "CPU time limit of " + std::to_string(limits.cpu_ms) + " ms exceeded");
    case Verdict::output_limit:
      return with_status(
          Status::output_limit,
          "output limit of " + std::to_string(limits.output_bytes) + " bytes exceeded");
    case Verdict::frame_limit:
      return with_status(Status::output_limit, "output limit of " +
                                                   std::to_string(k_default_max_frames) +
                                                   " chunks exceeded (write larger pieces)");
    case Verdict::cancelled:
      return with_status(Status::cancelled, "cancelled");
    case Verdict::memory_limit:
    case Verdict::none:
      break;
  }
  if (oom_killed || exec.verdict == Verdict::memory_limit) {
    return with_status(
        Status::memory_limit,
        "memory limit of " + std::to_string(limits.memory_bytes) + " bytes exceeded");
  }
  // RLIMIT_CPU is the helper's backstop behind our cgroup watch: SIGXCPU at the soft
  // limit, SIGKILL at the hard one (man 2 setrlimit).
  if (exec.wait_status && WIFSIGNALED(*exec.wait_status)) {
    const int signal = WTERMSIG(*exec.wait_status);
    if ((signal == SIGXCPU || signal == SIGKILL) && exec.cpu_ns >= limits.cpu_ms * 1000000) {
      return with_status(Status::cpu_limit,
                         "CPU time limit of " + std::to_string(limits.cpu_ms) + " ms exceeded");
    }
  }
  if (!exec.wait_status) {
    return failed_outcome(Status::error, exec.error.empty() ? "sandbox failed" : exec.error);
  }
  return std::nullopt;
}

void add_figures(TaskResult& result, const ExecResult& exec) {
  result.wall_ms = exec.wall_ms;
  result.cpu_ms = exec.cpu_ns / 1000000;
}

}  // namespace

TaskResult failed_outcome(protocol::Status status, std::string diagnostic) {
  TaskResult result;
  result.status = status;
  result.exit_code = 125;
  result.diagnostic = std::move(diagnostic);
  return result;
}

TaskResult run_outcome(const ExecResult& exec, bool oom_killed, const config::Limits& limits) {
  auto limited = limit_outcome(exec, oom_killed, limits);
  TaskResult result;
  if (limited) {
    result = std::move(*limited);
  } else if (WIFSIGNALED(*exec.wait_status)) {
    const int signal = WTERMSIG(*exec.wait_status);
    result.status = protocol::Status::signaled;
    result.exit_code = protocol::exit_code_for(protocol::Status::signaled, 0, signal);
    result.signal = signal;
  } else {
    result.status = protocol::Status::exited;
    result.exit_code = WEXITSTATUS(*exec.wait_status);
  }
  add_figures(result, exec);
  return result;
}

std::optional<TaskResult> compile_outcome(const ExecResult& exec, bool oom_killed,
                                          const config::Limits& limits) {
  auto limited = limit_outcome(exec, oom_killed, limits);
  if (!limited && WIFEXITED(*exec.wait_status) && WEXITSTATUS(*exec.wait_status) == 0) {
    return std::nullopt;
  }
  TaskResult result;
  if (limited) {
    result = std::move(*limited);
  } else if (WIFSIGNALED(*exec.wait_status)) {
    const int signal = WTERMSIG(*exec.wait_status);
    result.status = protocol::Status::compile_error;
    result.exit_code = 128 + signal;
    result.diagnostic = "compilation failed: killed by signal " + std::to_string(signal);
  } else {
    const int code = WEXITSTATUS(*exec.wait_status);
    result.status = protocol::Status::compile_error;
    result.exit_code = code;
    result.diagnostic = "compilation failed with exit code " + std::to_string(code);
  }
  add_figures(result, exec);
  return result;
}

}  // namespace planificador::backend::docker
