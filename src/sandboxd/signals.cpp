#include "signals.hpp"

#include <csignal>
#include <sys/signalfd.h>

namespace planificador::sandboxd {

Result<os::Fd> open_signal_fd() {
  // The daemon's end of the socket may go away mid-write; that is an error, not a death.
  if (std::signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
    return fail_errno("ignore SIGPIPE");
  }
  sigset_t set;
  sigemptyset(&set);
  for (const int signal : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) {
    sigaddset(&set, signal);
  }
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    return fail_errno("sigprocmask");
  }
  os::Fd fd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd) {
    return fail_errno("signalfd");
  }
  return fd;
}

void reset_signals() noexcept {
  for (int signal = 1; signal < NSIG; ++signal) {
    (void)std::signal(signal, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
}

}  // namespace planificador::sandboxd
