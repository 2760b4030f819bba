#include "task.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "signals.hpp"

#include "planificador/os/pipe.hpp"
#include "planificador/sandbox/bwrap_plan.hpp"

namespace planificador::sandboxd {
namespace {

constexpr rlim_t k_task_nofile = 4096;
constexpr std::uint64_t k_max_cpu_s = 1'000'000'000;  // keeps seconds + 1 from wrapping
constexpr std::size_t k_max_error_bytes = 4096;
constexpr int k_first_free_fd = 5;  // 0–4 are set up for bwrap and the stub

// In the forked child, on the way to exec: says what failed on fd 2 (bwrap's error pipe by
// then, or the helper's stderr before), which the helper reports as a setup failure.
[[noreturn]] void die(const char* what) {
  const int err = errno;
  const std::string message = std::string("sandboxd: ") + what + ": " + std::strerror(err) + "\n";
  (void)!::write(STDERR_FILENO, message.data(), message.size());
  ::_exit(125);
}

// Puts `sources[i]` on descriptor i, then closes everything above. Sources are first moved
// out of the way so that no dup2() overwrites one still to be placed.
void arrange_fds(const std::array<int, k_first_free_fd>& sources) {
  std::array<int, k_first_free_fd> moved{};
  for (std::size_t i = 0; i < sources.size(); ++i) {
    moved[i] = ::fcntl(sources[i], F_DUPFD_CLOEXEC, 16);
    if (moved[i] < 0) {
      die("move a descriptor");
    }
  }
  for (std::size_t i = 0; i < moved.size(); ++i) {
    if (::dup2(moved[i], static_cast<int>(i)) < 0) {
      die("dup2");
    }
  }
  if (::close_range(k_first_free_fd, ~0U, 0) != 0) {
    for (int fd = k_first_free_fd; fd < 65536; ++fd) {
      ::close(fd);
    }
  }
}

void set_limit(int resource, rlim_t soft, rlim_t hard, const char* what) {
  const rlimit limit{soft, hard};
  if (::setrlimit(resource, &limit) != 0) {
    die(what);
  }
}

void apply_limits(const LaunchSpec& spec) {
  // The OOM killer must pick the task, never the helper (oom_score_adj may only go up
  // without privileges, which is the direction wanted).
  const int oom = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom < 0 || ::write(oom, "1000", 4) != 4) {
    die("write /proc/self/oom_score_adj");
  }
  ::close(oom);
  set_limit(RLIMIT_CORE, 0, 0, "setrlimit RLIMIT_CORE");
  rlimit files{};
  (void)::getrlimit(RLIMIT_NOFILE, &files);
  const rlim_t nofile = std::min(files.rlim_max, k_task_nofile);
  set_limit(RLIMIT_NOFILE, nofile, nofile, "setrlimit RLIMIT_NOFILE");
  if (spec.rlimit_cpu_s) {
    // SIGXCPU at the soft limit, SIGKILL a second later if it is caught.
    const auto seconds = static_cast<rlim_t>(std::min(*spec.rlimit_cpu_s, k_max_cpu_s));
    set_limit(RLIMIT_CPU, seconds, seconds + 1, "setrlimit RLIMIT_CPU");
  }
}

[[noreturn]] void exec_bwrap(const LaunchSpec& spec, std::array<int, k_first_free_fd> fds,
                             const std::vector<char*>& argv) {
  reset_signals();
  if (::setsid() < 0) {
    die("setsid");
  }
  arrange_fds(fds);
  apply_limits(spec);
  char* const no_environment[] = {nullptr};
  ::execve(spec.bwrap.c_str(), argv.data(), no_environment);
  die("execve bwrap");
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) {
    return "bwrap exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return "bwrap was killed by signal " + std::to_string(WTERMSIG(status));
  }
  return "bwrap ended with wait status " + std::to_string(status);
}

}  // namespace

Result<Task> Task::start(const LaunchSpec& spec) {
  auto status = os::make_pipe();
  if (!status) {
    return tl::unexpected(status.error());
  }
  auto errors = os::make_pipe();
  if (!errors) {
    return tl::unexpected(errors.error());
  }
  std::vector<std::string> strings;
  strings.reserve(spec.arguments.size() + 1);
  strings.push_back(spec.bwrap);
  strings.insert(strings.end(), spec.arguments.begin(), spec.arguments.end());
  std::vector<char*> argv;
  argv.reserve(strings.size() + 1);
  for (auto& value : strings) {
    argv.push_back(value.data());
  }
  argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) {
    return fail_errno("fork");
  }
  if (pid == 0) {
    exec_bwrap(
        spec,
        {spec.stdio[0], spec.stdio[1], errors->write.get(), status->write.get(), spec.stdio[2]},
        argv);
  }
  // The write ends live only in bwrap and the stub now, so the reads reach EOF with them.
  status->write.reset();
  errors->write.reset();
  (void)os::set_nonblocking(status->read.get());
  (void)os::set_nonblocking(errors->read.get());
  return Task(pid, std::move(status->read), std::move(errors->read));
}

void Task::read_status() {
  while (m_status && m_report.size() < 1 + sizeof(int)) {
    char buffer[1 + sizeof(int)];
    const ssize_t got = ::read(m_status.get(), buffer, sizeof buffer - m_report.size());
    if (got > 0) {
      m_report.append(buffer, static_cast<std::size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      if (got == 0) {
        m_status.reset();  // EOF: nothing more will come, stop polling it
      }
      return;
    }
  }
}

bool Task::has_status() const noexcept {
  return m_report.size() == 1 + sizeof(int) && m_report[0] == sandbox::k_stub_started;
}

void Task::kill() const noexcept {
  if (m_bwrap_status) {
    return;
  }
  // bwrap's own session and group hold bwrap and its init in the PID namespace; the init's
  // death (also by --die-with-parent) makes the kernel kill the rest of the namespace.
  ::kill(-m_pid, SIGKILL);
  ::kill(m_pid, SIGKILL);
}

std::string Task::setup_failure() {
  std::string message = "sandbox setup failed: ";
  message += m_bwrap_status ? describe_status(*m_bwrap_status) : "bwrap did not start the stub";
  std::string text(k_max_error_bytes, '\0');
  const ssize_t got = m_errors ? ::read(m_errors.get(), text.data(), text.size()) : -1;
  text.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  std::replace(text.begin(), text.end(), '\n', ' ');
  if (!text.empty()) {
    message += ": " + text;
  }
  return message;
}

nlohmann::json Task::exited_event(bool killed) {
  read_status();
  if (has_status()) {
    int status = 0;
    std::memcpy(&status, m_report.data() + 1, sizeof status);
    return {{"event", "exited"}, {"wait_status", status}};
  }
  const bool stub_started = !m_report.empty() && m_report[0] == sandbox::k_stub_started;
  if (killed || stub_started) {
    return {{"event", "exited"}, {"wait_status", SIGKILL}};
  }
  return {{"event", "exited"}, {"error", setup_failure()}};
}

}  // namespace planificador::sandboxd
