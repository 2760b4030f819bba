#pragma once
// One started sandbox: Bubblewrap in its own session with the zygote as PID 1 of its
// namespaces, and the helper's connection to that zygote.

#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "planificador/os/fd.hpp"
#include "planificador/util/result.hpp"

namespace planificador::sandboxd {

struct LaunchSpec {
  std::string bwrap;                   // absolute path of the bwrap binary
  std::vector<std::string> arguments;  // sandbox::bwrap_arguments()
  int stub = -1;                       // the helper's binary, placed on sandbox::k_stub_fd
};

class Sandbox {
 public:
  // Forks bwrap (new session, oom_score_adj 1000, RLIMIT_CORE 0, a bounded RLIMIT_NOFILE;
  // fds 0 and 1 /dev/null, 2 bwrap's error pipe, 3 the zygote's end of the connection,
  // 4 the zygote's binary, nothing else) and waits up to `timeout` for the zygote's "ready".
  // Returns the Sandbox, or an Error "sandbox setup failed: …" with bwrap's status and its own
  // message (bwrap is reaped then).
  [[nodiscard]] static Result<Sandbox> start(const LaunchSpec& spec,
                                             std::chrono::milliseconds timeout);
  // The first half of start(): forks bwrap and returns at once. The zygote's "ready" is
  // then read by await_ready(), when control() turns readable or when the sandbox is needed.
  [[nodiscard]] static Result<Sandbox> launch(const LaunchSpec& spec);
  // Waits up to `timeout` for the zygote's "ready" (at once when it came already). On
  // failure bwrap is killed and reaped, and the Error says why as start() does.
  [[nodiscard]] Result<void> await_ready(std::chrono::milliseconds timeout);
  [[nodiscard]] bool ready() const noexcept { return m_ready; }

  // Returns bwrap's pid (the helper's child).
  [[nodiscard]] pid_t pid() const noexcept { return m_pid; }
  // Returns the connection to the zygote.
  [[nodiscard]] int control() const noexcept { return m_control.get(); }

  // SIGKILLs bwrap and its process group; the zygote dies with bwrap (--die-with-parent)
  // and every process of the namespace with the zygote.
  void kill() const noexcept;

  // A Sandbox still unreaped is killed, and reaped when bwrap is gone already; one that is
  // still exiting is reaped by the helper's SIGCHLD loop (waitpid(-1), as the container's
  // PID 1 or a subreaper), which never blocks on a slow exit here.
  ~Sandbox();
  Sandbox(Sandbox&& other) noexcept;
  Sandbox& operator=(Sandbox&& other) noexcept;
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

 private:
  Sandbox(pid_t pid, os::Fd control, os::Fd errors)
      : m_pid(pid), m_control(std::move(control)), m_errors(std::move(errors)) {}

  void end() noexcept;

  pid_t m_pid = -1;
  os::Fd m_control;
  os::Fd m_errors;  // bwrap's stderr, read when it fails to start
  bool m_ready = false;
};

}  // namespace planificador::sandboxd
