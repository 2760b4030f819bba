#pragma once
// Signal handling of the helper. As PID 1 of a container it gets no default actions, so
// every signal it cares about is blocked and read from a signalfd in the main loop.

#include "planificador/os/signal_fd.hpp"
#include "planificador/util/result.hpp"

namespace planificador::sandboxd {

// Ignores SIGPIPE, blocks SIGCHLD, SIGTERM, SIGINT, SIGHUP and SIGQUIT, and returns a
// non-blocking, close-on-exec signalfd that reads them.
[[nodiscard]] Result<os::SignalFd> open_signal_fd();

// Restores the default action of every signal and unblocks them all; for a child about to
// exec, which must not inherit the helper's settings (ignored dispositions survive exec).
void reset_signals() noexcept;

}  // namespace planificador::sandboxd
