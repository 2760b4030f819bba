#pragma once
// One exec: bwrap started in its own session with the task's descriptors, the stub's
// status pipe and bwrap's own error pipe, and what is learnt about it until it is reaped.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "planificador/os/fd.hpp"
#include "planificador/util/result.hpp"

namespace planificador::sandboxd {

struct LaunchSpec {
  std::string bwrap;                     // absolute path of the bwrap binary
  std::vector<std::string> arguments;    // sandbox::bwrap_arguments()
  std::array<int, 3> stdio{-1, -1, -1};  // the task's stdin, stdout, stderr
  std::optional<std::uint64_t> rlimit_cpu_s;
};

class Task {
 public:
  // Forks bwrap: new session, oom_score_adj 1000, RLIMIT_CORE 0, RLIMIT_CPU when asked,
  // a bounded RLIMIT_NOFILE, fds 0/1 the task's stdin/stdout, 2 bwrap's error pipe, 3 the
  // stub's status pipe, 4 the task's stderr, nothing else. Holds no copy of the task's fds
  // (the caller closes its own). Returns the Task or an Error naming the failed call.
  [[nodiscard]] static Result<Task> start(const LaunchSpec& spec);

  [[nodiscard]] pid_t pid() const noexcept { return m_pid; }
  // Returns the status pipe to poll, or -1 once it is at EOF.
  [[nodiscard]] int status_fd() const noexcept { return m_status.get(); }

  // Reads whatever the stub has written so far, without blocking.
  void read_status();
  // Returns true once the stub has reported the program's wait status.
  [[nodiscard]] bool has_status() const noexcept;
  // Records bwrap's own wait status (it has been reaped).
  void set_reaped(int wait_status) noexcept { m_bwrap_status = wait_status; }
  [[nodiscard]] bool reaped() const noexcept { return m_bwrap_status.has_value(); }

  // SIGKILLs bwrap and its process group (a no-op once bwrap is reaped).
  void kill() const noexcept;

  // Returns the "exited" event: the stub's status; a SIGKILL status if the tree was
  // `killed` or the stub died before reporting; else the setup failure, with bwrap's
  // status and its error message. Call once everything is reaped.
  [[nodiscard]] nlohmann::json exited_event(bool killed);

 private:
  Task(pid_t pid, os::Fd status, os::Fd errors)
      : m_pid(pid), m_status(std::move(status)), m_errors(std::move(errors)) {}

  [[nodiscard]] std::string setup_failure();

  pid_t m_pid = -1;
  os::Fd m_status;
  os::Fd m_errors;
  std::string m_report;  // bytes read from the status pipe
  std::optional<int> m_bwrap_status;
};

}  // namespace planificador::sandboxd
