#include "spawn.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <string_view>
#include <sys/resource.h>
#include <unistd.h>

#include "task_filter.hpp"

#include "planificador/os/descriptors.hpp"

namespace planificador::sandboxd {
namespace {

constexpr std::uint64_t k_max_cpu_s = 1'000'000'000;  // keeps seconds + 1 from wrapping
constexpr std::size_t k_child_stack_bytes = std::size_t{64} * 1024;
constexpr std::string_view k_default_path = "/bin:/usr/bin";

// Everything the child reads, prepared by the parent: pointers into strings the parent
// keeps alive (it is suspended until the child has exec'd or exited).
struct ChildPlan {
  std::vector<char*> argv;
  std::vector<char*> env;
  std::vector<const char*> candidates;
  std::vector<char*> shell_argv;  // for a candidate without a #! line (ENOEXEC)
  std::optional<rlimit> cpu;
  std::array<int, 3> fds{};
  const sock_fprog* filter = nullptr;  // the task filter, when this architecture has one
};

// The child runs on a stack of its own inside the parent's memory until it execs: no
// AddressSanitizer bookkeeping there (it would take that stack for a corrupted one).
#define PLANIFICADOR_CHILD_CODE __attribute__((no_sanitize_address))

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (auto& value : strings) {
    result.push_back(value.data());
  }
  result.push_back(nullptr);
  return result;
}

PLANIFICADOR_CHILD_CODE void write_text(const char* text) {
  (void)!::write(STDERR_FILENO, text, std::strlen(text));
}

[[noreturn]] PLANIFICADOR_CHILD_CODE void child_failed(const char* what) {
  const int err = errno;
  write_text("planificador: ");
  write_text(what);
  write_text(": ");
  write_text(strerrordesc_np(err) != nullptr ? strerrordesc_np(err) : "error");
  write_text("\n");
  ::_exit(125);
}

[[noreturn]] PLANIFICADOR_CHILD_CODE void exec_failed(const char* program, int err) {
  write_text("cannot execute `");
  write_text(program);
  write_text("`: ");
  write_text(strerrordesc_np(err) != nullptr ? strerrordesc_np(err) : "error");
  write_text("\n");
  ::_exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

// execvp's search, with the plan's candidates and environment: a candidate that is not
// there is skipped, one without permission is remembered, anything else ends the search.
[[noreturn]] PLANIFICADOR_CHILD_CODE void exec_program(ChildPlan& plan) {
  int failure = ENOENT;
  bool denied = false;
  for (const char* candidate : plan.candidates) {
    ::execve(candidate, plan.argv.data(), plan.env.data());
    const int err = errno;
    if (err == ENOEXEC) {
      plan.shell_argv[1] = const_cast<char*>(candidate);
      ::execve("/bin/sh", plan.shell_argv.data(), plan.env.data());
      exec_failed(plan.argv[0], errno);
    }
    if (err == EACCES) {
      denied = true;
      continue;
    }
    if (err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV || err == ETIMEDOUT) {
      continue;
    }
    failure = err;
    break;
  }
  exec_failed(plan.argv[0], denied && failure == ENOENT ? EACCES : failure);
}

PLANIFICADOR_CHILD_CODE int child_main(void* argument) {
  auto& plan = *static_cast<ChildPlan*>(argument);
  sigset_t none;
  sigemptyset(&none);
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) != 0) {
    child_failed("sigprocmask");
  }
  if (::setsid() < 0) {
    child_failed("setsid");
  }
  if (const char* failed = os::arrange_descriptors(plan.fds.data(), plan.fds.size(), 0, 3, false)) {
    child_failed(failed);
  }
  if (plan.cpu && ::setrlimit(RLIMIT_CPU, &*plan.cpu) != 0) {
    child_failed("setrlimit RLIMIT_CPU");
  }
  // Last before exec: nothing above needs what the filter refuses, and exec must be allowed.
  if (plan.filter != nullptr && install_task_filter(*plan.filter) != 0) {
    child_failed("install the task's seccomp filter");
  }
  exec_program(plan);
}

}  // namespace

std::vector<std::string> exec_candidates(const std::string& program,
                                         const std::vector<std::string>& env) {
  if (program.find('/') != std::string::npos) {
    return {program};
  }
  std::string_view path = k_default_path;
  for (const auto& entry : env) {
    if (entry.starts_with("PATH=")) {
      path = std::string_view(entry).substr(5);
    }
  }
  std::vector<std::string> candidates;
  while (true) {
    const auto end = path.find(':');
    const std::string_view directory = path.substr(0, end);
    candidates.push_back(directory.empty() ? program : std::string(directory) + "/" + program);
    if (end == std::string_view::npos) {
      break;
    }
    path.remove_prefix(end + 1);
  }
  return candidates;
}

Result<pid_t> spawn_program(const SpawnRequest& request) {
  if (request.argv.empty() || request.argv.front().empty()) {
    return fail("argv is empty");
  }
  auto argv = request.argv;
  auto env = request.env;
  const auto candidates = exec_candidates(argv.front(), env);
  std::string shell = "/bin/sh";
  std::vector<std::string> shell_argv{shell, std::string()};
  shell_argv.insert(shell_argv.end(), argv.begin() + 1, argv.end());

  ChildPlan plan;
  plan.argv = pointers(argv);
  plan.env = pointers(env);
  for (const auto& candidate : candidates) {
    plan.candidates.push_back(candidate.c_str());
  }
  plan.shell_argv = pointers(shell_argv);
  if (request.rlimit_cpu_s) {
    // SIGXCPU at the soft limit, SIGKILL a second later if it is caught.
    const auto seconds = static_cast<rlim_t>(std::min(*request.rlimit_cpu_s, k_max_cpu_s));
    plan.cpu = rlimit{seconds, seconds + 1};
  }
  plan.fds = request.fds;
  // Built once per zygote: every program of the sandbox gets the same one.
  static const std::vector<sock_filter> k_filter = task_filter();
  const sock_fprog filter{static_cast<unsigned short>(k_filter.size()),
                          const_cast<sock_filter*>(k_filter.data())};
  if (!k_filter.empty()) {
    plan.filter = &filter;
  }

  std::vector<char> stack(k_child_stack_bytes);
  // The stack grows down on every architecture the helper is built for.
  char* top = stack.data() + stack.size();
  const pid_t pid = ::clone(child_main, top, CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
  if (pid < 0) {
    return fail_errno("clone");
  }
  return pid;
}

}  // namespace planificador::sandboxd
