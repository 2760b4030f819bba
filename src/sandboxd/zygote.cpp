#include "zygote.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <optional>
#include <poll.h>
#include <sstream>
#include <string>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "baseline.hpp"
#include "signals.hpp"
#include "spawn.hpp"
#include "task_init.hpp"

#include "planificador/sandbox/bwrap_plan.hpp"
#include "planificador/sandbox/messages.hpp"
#include "planificador/sandbox/wire.hpp"

namespace planificador::sandboxd {
namespace {

constexpr const char* k_mqueue_dir = "/dev/mqueue";

// Kills every process of the namespace but the zygote (kill(2): pid -1 from init reaches
// all others) and reaps them all; ECHILD means none is left, since orphans come to init.
void kill_and_reap_all() {
  (void)::kill(-1, SIGKILL);
  while (true) {
    int wait_status = 0;
    const pid_t pid = ::waitpid(-1, &wait_status, WNOHANG | __WALL);
    if (pid > 0) {
      continue;
    }
    if (pid < 0 && errno != EINTR) {
      return;
    }
    if (pid == 0) {
      // Still dying, or forked while the first kill went round: kill again and look soon.
      (void)::kill(-1, SIGKILL);
      ::usleep(200);
    }
  }
}

// Removes the System V IPC objects of the sandbox's IPC namespace, listed in
// /proc/sysvipc/* (the id is the second column), which outlive the processes that made them.
std::string remove_sysv_ipc() {
  std::string failures;
  for (const char* kind : {"shm", "msg", "sem"}) {
    std::ifstream list(std::string("/proc/sysvipc/") + kind);
    std::string line;
    std::getline(list, line);  // the header
    while (std::getline(list, line)) {
      std::istringstream fields(line);
      long long key = 0;
      int id = -1;
      if (!(fields >> key >> id)) {
        continue;
      }
      const int removed = kind[1] == 'h'   ? ::shmctl(id, IPC_RMID, nullptr)
                          : kind[1] == 's' ? ::msgctl(id, IPC_RMID, nullptr)
                                           : ::semctl(id, 0, IPC_RMID);
      if (removed != 0 && errno != EINVAL && errno != EIDRM) {
        failures +=
            std::string(" ") + kind + " " + std::to_string(id) + ": " + std::strerror(errno) + ";";
      }
    }
  }
  return failures;
}

std::string remove_message_queues() {
  std::string failures;
  DIR* dir = ::opendir(k_mqueue_dir);
  if (dir == nullptr) {
    return std::string(" open ") + k_mqueue_dir + ": " + std::strerror(errno) + ";";
  }
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") {
      continue;
    }
    if (::unlinkat(::dirfd(dir), name.c_str(), 0) != 0 && errno != ENOENT) {
      failures += " mqueue " + name + ": " + std::strerror(errno) + ";";
    }
  }
  ::closedir(dir);
  return failures;
}

// Returns the processes /proc shows besides the zygote itself.
std::string other_processes() {
  std::string others;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) {
    return std::string(" open /proc: ") + std::strerror(errno);
  }
  while (const dirent* entry = ::readdir(proc)) {
    const std::string name = entry->d_name;
    if (name.find_first_not_of("0123456789") == std::string::npos && name != "1") {
      others += " " + name;
    }
  }
  ::closedir(proc);
  return others;
}

class Zygote {
 public:
  Zygote(int control, os::SignalFd signals, ProcessBaseline baseline)
      : m_control(control), m_signals(std::move(signals)), m_baseline(baseline) {}

  int run() {
    if (!send(sandbox::Ready{})) {
      return 1;
    }
    prepare_next();
    while (true) {
      std::array<pollfd, 3> fds{pollfd{m_control, POLLIN, 0}, pollfd{m_signals.fd(), POLLIN, 0},
                                pollfd{m_status.get(), POLLIN, 0}};
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) {
          continue;
        }
        return 1;
      }
      if (fds[1].revents != 0) {
        reap_children();
      }
      if (fds[2].revents != 0 && !on_task_status()) {
        return 1;
      }
      if (fds[0].revents != 0) {
        auto message = sandbox::receive_message(m_control);
        if (!message && !sandbox::in_step(message.error())) {
          return sandbox::connection_closed(message.error()) ? 0 : 1;
        }
        const bool answered = message ? on_message(std::move(*message))
                                      : send(sandbox::Reply{false, false, message.error().message});
        if (!answered) {
          return 1;
        }
      }
    }
  }

 private:
  template <class T>
  bool send(const T& message) {
    return static_cast<bool>(sandbox::send(m_control, message));
  }

  // Serves one request; false when the helper can no longer be answered.
  bool on_message(sandbox::Message message) {
    auto request = sandbox::decode_zygote_request(message);
    if (!request) {
      // The helper waits for an exec's "exited", whatever was wrong with it.
      if (sandbox::is_exec(message)) {
        return send(sandbox::Exited{std::nullopt, request.error().message});
      }
      return send(sandbox::Reply{false, false, request.error().message});
    }
    if (m_program) {
      return send(sandbox::Reply{false, false, "a program is running"});
    }
    if (const auto* program = std::get_if<sandbox::ProgramExec>(&*request)) {
      return start(*program, message);
    }
    return clean();
  }

  // Has a task init waiting for the next program, unless one is already (a failure is
  // left to start(), which tries again and reports it).
  void prepare_next() {
    if (!m_next) {
      if (auto prepared = prepare_task(m_baseline)) {
        m_next = std::move(*prepared);
      }
    }
  }

  bool start(const sandbox::ProgramExec& program, sandbox::Message& message) {
    if (!m_next) {
      auto prepared = prepare_task(m_baseline);
      if (!prepared) {
        message.fds.clear();
        return send(sandbox::Exited{std::nullopt, prepared.error().message});
      }
      m_next = std::move(*prepared);
    }
    PreparedTask task = std::move(*m_next);
    m_next.reset();
    const std::array<int, 3> stdio{message.fds[0].get(), message.fds[1].get(),
                                   message.fds[2].get()};
    auto launched = launch_task(task, program, stdio);
    // Only the task holds the task's pipes from here on.
    message.fds.clear();
    if (!launched) {
      (void)::kill(task.init, SIGKILL);
      return send(sandbox::Exited{std::nullopt, launched.error().message});
    }
    m_program = task.init;
    m_status = std::move(task.status);
    return send(sandbox::Started{task.init});
  }

  // Reaps the task inits that have ended (their status came through the pipe before).
  void reap_children() {
    while (m_signals.take() != 0) {
    }
    int wait_status = 0;
    while (::waitpid(-1, &wait_status, WNOHANG | __WALL) > 0) {
    }
  }

  // The task init writes the program's status once no other process of its task is left,
  // then exits; its namespaces are torn down meanwhile, off the task's path.
  bool on_task_status() {
    const auto program_status = task_status(m_status, *m_program);
    m_program.reset();
    m_status.reset();
    if (!program_status) {
      return send(sandbox::Exited{std::nullopt, program_status.error().message});
    }
    return send(sandbox::Exited{*program_status, ""});
  }

  bool clean() {
    // The waiting task init goes too: the check below must find no process but the
    // zygote, and the next task gets one made after the clean.
    m_next.reset();
    kill_and_reap_all();
    std::string problems = remove_sysv_ipc() + remove_message_queues();
    if (const std::string others = other_processes(); !others.empty()) {
      problems += " processes left:" + others;
    }
    if (const std::string moved = baseline_differences(m_baseline); !moved.empty()) {
      problems += " settings of the zygote changed: " + moved;
    }
    if (!problems.empty()) {
      return send(sandbox::Reply{false, false, "sandbox not clean:" + problems});
    }
    const bool sent = send(sandbox::Reply{});
    prepare_next();
    return sent;
  }

  int m_control;
  os::SignalFd m_signals;
  ProcessBaseline m_baseline;          // what every program starts with
  std::optional<PreparedTask> m_next;  // waiting for the next program
  std::optional<pid_t> m_program;      // the running task's init
  os::Fd m_status;                     // where that task init leaves the program's status
};

}  // namespace

int run_zygote(int control) {
  // Bubblewrap ran this binary from that descriptor; nothing of the task needs it.
  (void)::close(sandbox::k_stub_fd);
  // Not dumpable: a program running as the same user may not read or write the zygote's
  // memory through /proc/1/mem, nor take its descriptors (man 2 prctl, PR_SET_DUMPABLE).
  if (::prctl(PR_SET_DUMPABLE, 0) != 0 || ::fcntl(control, F_SETFD, FD_CLOEXEC) != 0) {
    return 125;
  }
  // Default dispositions (an ignored SIGPIPE of the helper survived Bubblewrap's exec and
  // would survive the program's), so a program starts with none of them changed.
  reset_signals();
  // Only SIGCHLD is blocked: as init, any other signal a program sends it is dropped by
  // the kernel because it has no handler; a blocked one would be queued instead.
  auto signals = os::SignalFd::block_and_open({SIGCHLD});
  if (!signals) {
    return 125;
  }
  // As Bubblewrap and the helper left them: no program can change the zygote's own
  // (task_init.hpp), and every program gets exactly these.
  auto baseline = capture_baseline();
  if (!baseline) {
    return 125;
  }
  Zygote zygote(control, std::move(*signals), *baseline);
  return zygote.run();
}

}  // namespace planificador::sandboxd
