#include "signals.hpp"

#include <csignal>

namespace planificador::sandboxd {

Result<os::SignalFd> open_signal_fd() {
  // The daemon's end of the socket may go away mid-write; that is an error, not a death.
  PLAN_TRY(os::ignore_sigpipe());
  return os::SignalFd::block_and_open({SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT});
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
