#pragma once
// Waiting in tests: on a predicate, never on the clock alone. A test that sleeps "long
// enough" for something to happen is slow when the machine is idle and flaky when it is
// loaded; wait_until() returns as soon as the condition holds and gives a loaded machine
// the whole (generous) deadline.

#include <chrono>
#include <functional>
#include <thread>

namespace planificador::testing {

// Calls `pred` every `step` until it returns true or `timeout` has passed. Returns the
// predicate's last value, checked once more at the deadline, so a condition that became
// true during the final step is not reported as a timeout.
inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds step = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(step);
  }
  return pred();
}

// A bounded pause before a negative assertion ("nothing else arrived") where nothing in the
// protocol orders the event that must not happen before one the test can wait for, so no
// sentinel can stand in for it. Every caller says why; prefer a sentinel wherever the
// protocol gives an order.
inline void settle(std::chrono::milliseconds window) { std::this_thread::sleep_for(window); }

}  // namespace planificador::testing
