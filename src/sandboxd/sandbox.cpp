#include "sandbox.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

#include "signals.hpp"

#include "planificador/os/descriptors.hpp"
#include "planificador/os/pipe.hpp"
#include "planificador/sandbox/bwrap_plan.hpp"
#include "planificador/sandbox/messages.hpp"
#include "planificador/sandbox/wire.hpp"

namespace planificador::sandboxd {
namespace {

constexpr rlim_t k_task_nofile = 4096;
constexpr std::size_t k_max_error_bytes = 4096;
constexpr int k_first_free_fd = 5;  // 0–4 are set up for bwrap and the zygote

// In the forked child, on the way to exec: says what failed on fd 2 (bwrap's error pipe by
// then, or the helper's stderr before), which the helper reports as a setup failure.
[[noreturn]] void die(const char* what) {
  const int err = errno;
  const std::string message = std::string("sandboxd: ") + what + ": " + std::strerror(err) + "\n";
  (void)!::write(STDERR_FILENO, message.data(), message.size());
  ::_exit(125);
}

// Puts `sources[i]` on descriptor i, then closes everything above.
void arrange_fds(const std::array<int, k_first_free_fd>& sources) {
  if (const char* failed =
          os::arrange_descriptors(sources.data(), sources.size(), 0, k_first_free_fd, false)) {
    die(failed);
  }
}

void set_limit(int resource, rlim_t soft, rlim_t hard, const char* what) {
  const rlimit limit{soft, hard};
  if (::setrlimit(resource, &limit) != 0) {
    die(what);
  }
}

void apply_limits() {
  // The OOM killer must pick the sandbox, never the helper (oom_score_adj may only go up
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
}

[[noreturn]] void exec_bwrap(const LaunchSpec& spec, std::array<int, k_first_free_fd> fds,
                             const std::vector<char*>& argv) {
  reset_signals();
  if (::setsid() < 0) {
    die("setsid");
  }
  arrange_fds(fds);
  apply_limits();
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

// Ends a sandbox that did not become ready and says why: bwrap's status and what it wrote.
Error setup_failure(pid_t pid, const os::Fd& errors, const std::string& what) {
  (void)::kill(-pid, SIGKILL);
  (void)::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
  }
  std::string message = "sandbox setup failed: " + describe_status(status);
  if (!what.empty()) {
    message += " (" + what + ")";
  }
  std::string text(k_max_error_bytes, '\0');
  const ssize_t got = ::read(errors.get(), text.data(), text.size());
  text.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  std::replace(text.begin(), text.end(), '\n', ' ');
  if (!text.empty()) {
    message += ": " + text;
  }
  return Error{std::move(message), 0};
}

// Waits for the zygote's first message; returns "" when it is "ready", else what went wrong.
std::string wait_ready(int control, std::chrono::milliseconds timeout) {
  pollfd fd{control, POLLIN, 0};
  int ready = 0;
  do {
    ready = ::poll(&fd, 1, static_cast<int>(timeout.count()));
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) {
    return "no answer from the sandbox within " + std::to_string(timeout.count()) + " ms";
  }
  auto message = sandbox::receive_message(control);
  if (!message) {
    return sandbox::connection_closed(message.error()) ? "" : message.error().message;
  }
  if (!sandbox::decode<sandbox::Ready>(*message)) {
    return "unexpected first message " + sandbox::describe(*message);
  }
  return "ready";
}

}  // namespace

Result<Sandbox> Sandbox::start(const LaunchSpec& spec, std::chrono::milliseconds timeout) {
  auto sandbox = launch(spec);
  if (!sandbox) {
    return sandbox;
  }
  PLAN_TRY(sandbox->await_ready(timeout));
  return sandbox;
}

Result<void> Sandbox::await_ready(std::chrono::milliseconds timeout) {
  if (m_ready) {
    return {};
  }
  const std::string answer = wait_ready(m_control.get(), timeout);
  if (answer != "ready") {
    return tl::unexpected(setup_failure(m_pid, m_errors, answer));
  }
  m_ready = true;
  m_errors.reset();
  return {};
}

Result<Sandbox> Sandbox::launch(const LaunchSpec& spec) {
  if (spec.stub < 0) {
    return fail("sandbox setup failed: no descriptor of the zygote's binary");
  }
  auto errors = os::make_pipe();
  PLAN_TRY(errors);
  std::array<int, 2> pair{-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair.data()) != 0) {
    return fail_errno("socketpair");
  }
  os::Fd control(pair[0]);
  os::Fd zygote_end(pair[1]);
  os::Fd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null) {
    return fail_errno("open /dev/null");
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
    exec_bwrap(spec, {null.get(), null.get(), errors->write.get(), zygote_end.get(), spec.stub},
               argv);
  }
  // The other ends live only in bwrap and the zygote now, so the reads reach EOF with them.
  zygote_end.reset();
  errors->write.reset();
  (void)os::set_nonblocking(errors->read.get());
  return Sandbox(pid, std::move(control), std::move(errors->read));
}

void Sandbox::kill() const noexcept {
  if (m_pid <= 0) {  // moved from: kill(-1) would reach every process
    return;
  }
  ::kill(-m_pid, SIGKILL);
  ::kill(m_pid, SIGKILL);
}

Sandbox::~Sandbox() { end(); }

Sandbox::Sandbox(Sandbox&& other) noexcept
    : m_pid(std::exchange(other.m_pid, -1)),
      m_control(std::move(other.m_control)),
      m_errors(std::move(other.m_errors)),
      m_ready(other.m_ready) {}

Sandbox& Sandbox::operator=(Sandbox&& other) noexcept {
  if (this != &other) {
    end();
    m_pid = std::exchange(other.m_pid, -1);
    m_control = std::move(other.m_control);
    m_errors = std::move(other.m_errors);
    m_ready = other.m_ready;
  }
  return *this;
}

void Sandbox::end() noexcept {
  if (m_pid <= 0) {
    return;
  }
  // Only this thread reaps, so a pid that is still our child (running or a zombie) is still
  // bwrap's, and so is its process group; once reaped (ECHILD) it may be anyone's.
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0) {
    kill();
    int status = 0;
    (void)::waitpid(m_pid, &status, WNOHANG | __WALL);
  }
  m_pid = -1;
}

}  // namespace planificador::sandboxd
