#pragma once
// The body of every thread the programs start. An exception that escapes a thread's
// function is std::terminate: no unwinding, no word of what happened, and whatever the
// process held (containers, sockets) left as it was. guarded() catches it at the thread's
// entry and hands it to the process's failure handler instead: the daemon's logs it and
// asks itself to drain and stop (exit status 70), so the containers are removed and the
// clients hear what can still be sent.

#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace planificador::util {

// Status of a process that stopped because one of its threads failed (sysexits.h'
// EX_SOFTWARE).
inline constexpr int k_thread_failure_status = 70;

// Called with the thread's name and what escaped it, on the failed thread, which ends
// when it returns.
using ThreadFailureHandler = std::function<void(std::string_view thread, std::string_view what)>;

// Replaces the process's handler (for the daemon: before it starts any thread). Without
// one, a failure is written to stderr and the process ends at once with
// k_thread_failure_status.
void set_thread_failure_handler(ThreadFailureHandler handler);

// Reports that `thread` failed with `what` to the handler. Never throws.
void thread_failed(std::string_view thread, std::string_view what) noexcept;

// Runs `body`; whatever it throws goes to thread_failed(`thread`, …) instead of
// std::terminate.
template <class Body>
void guarded(std::string_view thread, Body&& body) noexcept {
  try {
    std::forward<Body>(body)();
  } catch (const std::exception& error) {
    thread_failed(thread, error.what());
  } catch (...) {
    thread_failed(thread, "an exception that is not a std::exception");
  }
}

}  // namespace planificador::util
