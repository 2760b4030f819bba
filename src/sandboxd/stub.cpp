#include "stub.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include "signals.hpp"

#include "planificador/sandbox/bwrap_plan.hpp"

namespace planificador::sandboxd {
namespace {

bool write_all(int fd, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd, bytes, size);
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    bytes += written;
    size -= static_cast<std::size_t>(written);
  }
  return true;
}

[[noreturn]] void exec_program(char** argv) {
  reset_signals();
  ::execvp(argv[0], argv);
  const int err = errno;
  const std::string message =
      std::string("cannot execute `") + argv[0] + "`: " + std::strerror(err) + "\n";
  (void)write_all(STDERR_FILENO, message.data(), message.size());
  ::_exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

}  // namespace

int run_stub(int status_fd, int stderr_fd, char** argv) {
  // The program must not inherit the status pipe: it could forge a status.
  if (::fcntl(status_fd, F_SETFD, FD_CLOEXEC) != 0) {
    return 125;
  }
  // "Started" goes out before the program exists: once it runs it may kill the stub
  // (`kill -9 -1` inside the sandbox), and the helper must still know setup succeeded.
  if (!write_all(status_fd, &sandbox::k_stub_started, 1)) {
    return 125;
  }
  const pid_t child = ::fork();
  if (child < 0) {
    const std::string message = std::string("planificador: fork: ") + std::strerror(errno) + "\n";
    (void)write_all(stderr_fd >= 0 ? stderr_fd : STDERR_FILENO, message.data(), message.size());
    const int status = 125 << 8;  // reported as the program exiting 125
    return write_all(status_fd, &status, sizeof status) ? 0 : 125;
  }
  if (child == 0) {
    if (stderr_fd >= 0 && ::dup2(stderr_fd, STDERR_FILENO) < 0) {
      ::_exit(125);
    }
    if (stderr_fd >= 0) {
      ::close(stderr_fd);
    }
    exec_program(argv);
  }
  // Only the program holds the task's pipes from here on.
  ::close(STDIN_FILENO);
  ::close(STDOUT_FILENO);
  if (stderr_fd >= 0) {
    ::close(stderr_fd);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) {
      return 125;
    }
  }
  return write_all(status_fd, &status, sizeof status) ? 0 : 125;
}

}  // namespace planificador::sandboxd
