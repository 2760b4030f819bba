#pragma once
// SignalFd: signals read as data from a descriptor (signalfd(2)), so a loop that polls takes
// them next to its sockets and no work happens in a signal handler.

#include <chrono>
#include <initializer_list>

#include "planificador/os/fd.hpp"
#include "planificador/util/result.hpp"

namespace planificador::os {

// Blocks `signals` in the calling thread; threads it starts afterwards inherit the mask.
// A signalfd reads only blocked signals: block them before any thread starts, or one of
// those threads takes them the default way.
[[nodiscard]] Result<void> block_signals(std::initializer_list<int> signals);

// Sets SIGPIPE's disposition to ignored: a peer gone mid-write is an EPIPE, not a death.
[[nodiscard]] Result<void> ignore_sigpipe();

class SignalFd {
 public:
  // Opens a non-blocking, close-on-exec signalfd for `signals`, which the caller has
  // blocked (block_signals).
  [[nodiscard]] static Result<SignalFd> open(std::initializer_list<int> signals);
  // block_signals(signals), then open(signals).
  [[nodiscard]] static Result<SignalFd> block_and_open(std::initializer_list<int> signals);

  // Returns the number of the next pending signal, or 0 when none is pending.
  [[nodiscard]] int take() const noexcept;
  // Waits up to `timeout` (negative: without a bound) for a signal and returns its number;
  // 0 when none came.
  [[nodiscard]] int wait(std::chrono::milliseconds timeout) const noexcept;
  // Returns a descriptor that polls readable while a signal is pending.
  [[nodiscard]] int fd() const noexcept { return m_fd.get(); }

 private:
  explicit SignalFd(Fd fd) : m_fd(std::move(fd)) {}

  Fd m_fd;
};

}  // namespace planificador::os
