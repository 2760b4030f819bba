#include "planificador/os/signal_fd.hpp"

#include <cerrno>
#include <csignal>
#include <poll.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace planificador::os {
namespace {

sigset_t set_of(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (const int signal : signals) {
    sigaddset(&set, signal);
  }
  return set;
}

}  // namespace

Result<void> block_signals(std::initializer_list<int> signals) {
  const sigset_t set = set_of(signals);
  if (const int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); err != 0) {
    return fail_errno("pthread_sigmask", err);
  }
  return {};
}

Result<void> ignore_sigpipe() {
  if (std::signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
    return fail_errno("ignore SIGPIPE");
  }
  return {};
}

Result<SignalFd> SignalFd::open(std::initializer_list<int> signals) {
  const sigset_t set = set_of(signals);
  Fd fd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd) {
    return fail_errno("signalfd");
  }
  return SignalFd(std::move(fd));
}

Result<SignalFd> SignalFd::block_and_open(std::initializer_list<int> signals) {
  PLAN_TRY(block_signals(signals));
  return open(signals);
}

int SignalFd::take() const noexcept {
  signalfd_siginfo info{};
  ssize_t got = 0;
  do {
    got = ::read(m_fd.get(), &info, sizeof info);
  } while (got < 0 && errno == EINTR);
  return got == static_cast<ssize_t>(sizeof info) ? static_cast<int>(info.ssi_signo) : 0;
}

int SignalFd::wait(std::chrono::milliseconds timeout) const noexcept {
  pollfd pfd{m_fd.get(), POLLIN, 0};
  if (::poll(&pfd, 1, timeout.count() < 0 ? -1 : static_cast<int>(timeout.count())) != 1) {
    return 0;
  }
  return take();
}

}  // namespace planificador::os
