#include "task_init.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task_setup.hpp"

#include "planificador/os/descriptors.hpp"
#include "planificador/os/pipe.hpp"

namespace planificador::sandboxd {
namespace {

constexpr int k_setup_failed = 125;
// The task init's own descriptors, above the program's three.
constexpr int k_control_fd = 3;
constexpr int k_status_fd = 4;

void write_text(const char* text) { (void)!::write(STDERR_FILENO, text, std::strlen(text)); }

void report_status(int wait_status) {
  (void)!::write(k_status_fd, &wait_status, sizeof wait_status);
}

// Says on the program's stderr what failed, as the program's own start would (spawn.hpp),
// and ends the task with status 125.
[[noreturn]] void setup_failed(const char* what, int err) {
  write_text("planificador: task setup: ");
  write_text(what);
  write_text(": ");
  write_text(strerrordesc_np(err) != nullptr ? strerrordesc_np(err) : "error");
  write_text("\n");
  report_status(W_EXITCODE(k_setup_failed, 0));
  ::_exit(k_setup_failed);
}

// Says on the program's stderr why its exec message was refused and ends the task with
// status 125, as a failed setup does.
[[noreturn]] void exec_refused(const std::string& why) {
  write_text("planificador: task init: ");
  write_text(why.c_str());
  write_text("\n");
  report_status(W_EXITCODE(k_setup_failed, 0));
  ::_exit(k_setup_failed);
}

// Moves `sources[i]` to descriptor `first + i` and closes everything from `last_kept + 1`
// up: the zygote's connection to the helper and its signalfd stay out of the task.
void place_descriptors(const int* sources, std::size_t count, int first, int last_kept) {
  if (os::arrange_descriptors(sources, count, first, last_kept + 1, true) != nullptr) {
    ::_exit(k_setup_failed);
  }
}

// Kills every other process of the task's PID namespace (kill(2) with pid -1 from its init
// reaches all of them) and reaps them all: ECHILD means none is left, since orphans come
// to the init.
void end_the_rest() {
  (void)::kill(-1, SIGKILL);
  while (true) {
    int wait_status = 0;
    const pid_t pid = ::waitpid(-1, &wait_status, WNOHANG | __WALL);
    if (pid > 0 || (pid < 0 && errno == EINTR)) {
      continue;
    }
    if (pid < 0) {
      return;
    }
    // Still dying, or forked while the kill went round: again, and look soon.
    (void)::kill(-1, SIGKILL);
    ::usleep(200);
  }
}

// Runs the program to its end, reaping every orphan meanwhile; returns its wait status.
int run_program(SpawnRequest& request) {
  request.fds = {0, 1, 2};
  const auto program = spawn_program(request);
  if (!program) {
    setup_failed("start the program", program.error().code);
  }
  // The program's descriptors are its own now: the task init holds no pipe open.
  for (int fd = 0; fd < 3; ++fd) {
    ::close(fd);
  }
  while (true) {
    int wait_status = 0;
    const pid_t pid = ::waitpid(-1, &wait_status, __WALL);
    if (pid == *program) {
      return wait_status;
    }
    if (pid < 0 && errno != EINTR) {
      ::_exit(k_setup_failed);
    }
  }
}

// PID 1 of the task's namespaces: sets the task up, waits for its program, runs it, and
// reports its status once no other process of the task is left.
[[noreturn]] void task_init(int control, int status, const ProcessBaseline& baseline) {
  const std::array<int, 2> own{control, status};
  place_descriptors(own.data(), own.size(), k_control_fd, k_status_fd);
  const char* failed = set_up_task(baseline);
  const int setup_errno = errno;
  auto message = sandbox::receive_message(k_control_fd);
  if (!message && !sandbox::in_step(message.error())) {
    ::_exit(k_setup_failed);  // the zygote went away: no task to report to
  }
  auto exec = message ? sandbox::decode<sandbox::ProgramExec>(*message)
                      : Result<sandbox::ProgramExec>(tl::unexpected(message.error()));
  if (message && message->fds.size() == sandbox::k_exec_fds) {
    const std::array<int, 3> stdio{message->fds[0].get(), message->fds[1].get(),
                                   message->fds[2].get()};
    place_descriptors(stdio.data(), stdio.size(), 0, k_status_fd);
  }
  ::close(k_control_fd);
  if (!exec) {
    // Without the program's three descriptors its stderr is the zygote's, closed by now:
    // only the status tells.
    if (message && message->fds.size() == sandbox::k_exec_fds) {
      exec_refused(exec.error().message);
    }
    report_status(W_EXITCODE(k_setup_failed, 0));
    ::_exit(k_setup_failed);
  }
  if (failed != nullptr) {
    setup_failed(failed, setup_errno);
  }
  SpawnRequest request{std::move(exec->argv), std::move(exec->env), exec->rlimit_cpu_s, {}};
  const int program_status = run_program(request);
  end_the_rest();
  // Only now, with no process of the task left, the status; the namespaces are torn down
  // after it, while the zygote goes on.
  report_status(program_status);
  ::_exit(0);
}

}  // namespace

Result<PreparedTask> prepare_task(const ProcessBaseline& baseline) {
  auto status = os::make_pipe();
  PLAN_TRY(status);
  std::array<int, 2> pair{-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair.data()) != 0) {
    return fail_errno("socketpair for the task init");
  }
  os::Fd control(pair[0]);
  os::Fd init_end(pair[1]);
  // A fork, not a vfork: the task init lives as long as the task. The zygote is one small
  // single-threaded process, so the child may use everything it copied.
  const long pid =
      ::syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | SIGCHLD,
                nullptr, nullptr, nullptr, nullptr);
  if (pid < 0) {
    return fail_errno("clone the task init");
  }
  if (pid == 0) {
    task_init(init_end.get(), status->write.get(), baseline);
  }
  return PreparedTask{static_cast<pid_t>(pid), std::move(control), std::move(status->read)};
}

Result<void> launch_task(PreparedTask& task, const sandbox::ProgramExec& program,
                         const std::array<int, 3>& stdio) {
  auto sent = sandbox::send(task.control.get(), program, stdio);
  task.control.reset();
  if (!sent) {
    return fail("hand the program to the task init: " + sent.error().message);
  }
  return {};
}

Result<int> task_status(const os::Fd& status, pid_t init) {
  int wait_status = 0;
  ssize_t got = 0;
  do {
    got = ::read(status.get(), &wait_status, sizeof wait_status);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof wait_status)) {
    return wait_status;
  }
  // It closed the pipe without a status: it died, and is reaped here to say how.
  int init_status = 0;
  pid_t reaped = -1;
  do {
    reaped = ::waitpid(init, &init_status, __WALL);
  } while (reaped < 0 && errno == EINTR);
  const std::string how = reaped < 0 ? "ended"
                          : WIFSIGNALED(init_status)
                              ? "was killed by signal " + std::to_string(WTERMSIG(init_status))
                              : "exited with status " + std::to_string(WEXITSTATUS(init_status));
  return fail("the task's init " + how + " without a status of its program");
}

}  // namespace planificador::sandboxd
