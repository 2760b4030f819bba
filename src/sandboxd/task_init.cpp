#include "task_init.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/capability.h>
#include <csignal>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "planificador/os/pipe.hpp"

namespace planificador::sandboxd {
namespace {

constexpr int k_setup_failed = 125;
// The status pipe's place in the task init, above the program's three descriptors.
constexpr int k_status_fd = 3;
constexpr unsigned long k_proc_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;

void write_text(const char* text) { (void)!::write(STDERR_FILENO, text, std::strlen(text)); }

void report_status(int wait_status) {
  (void)!::write(k_status_fd, &wait_status, sizeof wait_status);
}

// Says on the program's stderr what failed, as the program's own start would (spawn.hpp),
// and ends the task with status 125.
[[noreturn]] void setup_failed(const char* what) {
  const int err = errno;
  write_text("planificador: task setup: ");
  write_text(what);
  write_text(": ");
  write_text(strerrordesc_np(err) != nullptr ? strerrordesc_np(err) : "error");
  write_text("\n");
  report_status(W_EXITCODE(k_setup_failed, 0));
  ::_exit(k_setup_failed);
}

// Puts the program's descriptors on 0–2 and the status pipe on 3, and closes the rest:
// the zygote's connection to the helper and its signalfd stay out of the task.
void arrange_descriptors(const std::array<int, 3>& program, int status) {
  std::array<int, 4> moved{};
  const std::array<int, 4> sources{program[0], program[1], program[2], status};
  for (std::size_t i = 0; i < sources.size(); ++i) {
    moved[i] = ::fcntl(sources[i], F_DUPFD_CLOEXEC, 16);
    if (moved[i] < 0) {
      ::_exit(k_setup_failed);  // no stderr to say it on yet
    }
  }
  for (std::size_t i = 0; i < moved.size(); ++i) {
    if (::dup2(moved[i], static_cast<int>(i)) < 0) {
      ::_exit(k_setup_failed);
    }
  }
  // The status pipe must not reach the program (spawn closes everything above 2 anyway).
  (void)::fcntl(k_status_fd, F_SETFD, FD_CLOEXEC);
  if (::close_range(k_status_fd + 1, ~0U, 0) != 0) {
    for (int fd = k_status_fd + 1; fd < 65536; ++fd) {
      ::close(fd);
    }
  }
}

// A /proc and a /dev/mqueue of the task's own namespaces, on top of the sandbox's in a
// mount namespace of the task's own (none of the sandbox's mounts is shared, so nothing
// propagates back). The proc flags match the sandbox's proc mount, which the kernel
// requires of a new one (mount_too_revealing, fs/namespace.c).
void mount_task_filesystems() {
  if (::mount("proc", "/proc", "proc", k_proc_flags, nullptr) != 0) {
    setup_failed("mount /proc");
  }
  if (::mount("mqueue", "/dev/mqueue", "mqueue", k_proc_flags, nullptr) != 0) {
    setup_failed("mount /dev/mqueue");
  }
}

// Gives up the zygote's capabilities for good: the bounding set (CAP_SETPCAP allows that),
// then the ambient, permitted, effective and inheritable sets.
void drop_capabilities() {
  for (int capability = 0; capability <= CAP_LAST_CAP; ++capability) {
    if (::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 && errno != EINVAL) {
      setup_failed("drop the capability bounding set");
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    setup_failed("clear the ambient capabilities");
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> none{};
  if (::syscall(SYS_capset, &header, none.data()) != 0) {
    setup_failed("drop the capabilities");
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

// PID 1 of the task's namespaces: sets the task up, starts the program and reaps every
// process until the program itself has ended.
[[noreturn]] void task_init(SpawnRequest request, const ProcessBaseline& baseline, int status) {
  arrange_descriptors(request.fds, status);
  mount_task_filesystems();
  drop_capabilities();
  const char* failed = nullptr;
  if (apply_baseline(baseline, failed) != 0) {
    setup_failed(failed);
  }
  request.fds = {0, 1, 2};
  const auto program = spawn_program(request);
  if (!program) {
    errno = program.error().code;
    setup_failed("start the program");
  }
  // The program's descriptors are its own now: the task init holds no pipe open.
  for (int fd = 0; fd < 3; ++fd) {
    ::close(fd);
  }
  int program_status = 0;
  while (true) {
    int wait_status = 0;
    const pid_t pid = ::waitpid(-1, &wait_status, __WALL);
    if (pid == *program) {
      program_status = wait_status;
      break;
    }
    if (pid < 0 && errno != EINTR) {
      ::_exit(k_setup_failed);
    }
  }
  end_the_rest();
  // Only now, with no process of the task left, the status; the namespaces are torn down
  // after it, while the zygote goes on.
  report_status(program_status);
  ::_exit(0);
}

}  // namespace

Result<TaskProcess> start_task(const SpawnRequest& request, const ProcessBaseline& baseline) {
  auto status = os::make_pipe();
  if (!status) {
    return tl::unexpected(status.error());
  }
  // A fork, not a vfork: the task init lives as long as the task. The zygote is one small
  // single-threaded process, so the child may use everything it copied.
  const long pid = ::syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | SIGCHLD,
                             nullptr, nullptr, nullptr, nullptr);
  if (pid < 0) {
    return fail_errno("clone the task init");
  }
  if (pid == 0) {
    status->read.reset();
    task_init(request, baseline, status->write.get());
  }
  return TaskProcess{static_cast<pid_t>(pid), std::move(status->read)};
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
  const std::string how =
      reaped < 0                ? "ended"
      : WIFSIGNALED(init_status) ? "was killed by signal " + std::to_string(WTERMSIG(init_status))
                                 : "exited with status " + std::to_string(WEXITSTATUS(init_status));
  return fail("the task's init " + how + " without a status of its program");
}

}  // namespace planificador::sandboxd
