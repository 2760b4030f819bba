// Backend readiness: the state machine a backend's start(), run() and stop() go through
// (starting with the last reason, ready, stopped), with a scripted start attempt.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "wait.hpp"
#include <gtest/gtest.h>

#include "planificador/backend/backend.hpp"

namespace planificador::backend {
namespace {

using namespace std::chrono_literals;
using State = Readiness::State;
using testing::wait_until;

constexpr auto k_wait = 10s;

// A start attempt the test holds inside prepare until it says how the attempt ends.
class HeldAttempt {
 public:
  // The prepare function to give Readiness::attempt().
  std::function<Result<void>()> prepare() {
    return [this]() -> Result<void> {
      std::unique_lock lock(m_mutex);
      ++m_entered;
      ++m_inside;
      m_max_inside = std::max(m_max_inside, m_inside);
      m_changed.notify_all();
      m_changed.wait(lock, [this] { return m_released > 0; });
      --m_released;
      --m_inside;
      return m_outcome;
    };
  }
  // Waits until `count` attempts have entered prepare in all.
  bool wait_entered(int count) {
    std::unique_lock lock(m_mutex);
    return m_changed.wait_for(lock, k_wait, [&] { return m_entered >= count; });
  }
  // Lets one attempt inside (or the next to enter) end with `outcome`.
  void release(Result<void> outcome) {
    const std::scoped_lock lock(m_mutex);
    m_outcome = std::move(outcome);
    ++m_released;
    m_changed.notify_all();
  }
  int entered() {
    const std::scoped_lock lock(m_mutex);
    return m_entered;
  }
  int max_inside() {
    const std::scoped_lock lock(m_mutex);
    return m_max_inside;
  }

 private:
  std::mutex m_mutex;
  std::condition_variable m_changed;
  int m_entered = 0;
  int m_inside = 0;
  int m_max_inside = 0;
  int m_released = 0;
  Result<void> m_outcome;
};

// Returns a prepare function that ends at once with `outcome` and counts its calls.
std::function<Result<void>()> immediate(Result<void> outcome, int& calls) {
  return [outcome = std::move(outcome), &calls] {
    ++calls;
    return outcome;
  };
}

template <class T>
bool ready_within(const std::future<T>& future, std::chrono::milliseconds timeout) {
  return future.wait_for(timeout) == std::future_status::ready;
}

TEST(Readiness, BeforeAnyAttemptEndsATaskHearsItIsStarting) {
  const Readiness readiness;
  EXPECT_EQ(readiness.state(), State::starting);
  EXPECT_FALSE(readiness.stopping());
  EXPECT_EQ(readiness.not_ready(), "backend not ready: starting");
}

TEST(Readiness, TheLastFailedAttemptIsTheReasonUntilOneSucceeds) {
  Readiness readiness;
  int calls = 0;
  const auto absent = readiness.attempt(immediate(fail("engine unavailable: connect"), calls));
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().message, "engine unavailable: connect");
  EXPECT_EQ(readiness.state(), State::starting);
  EXPECT_EQ(readiness.not_ready(), "engine unavailable: connect");

  ASSERT_FALSE(readiness.attempt(immediate(fail("docker.runtime `x` is not known"), calls)));
  EXPECT_EQ(readiness.not_ready(), "docker.runtime `x` is not known");

  EXPECT_TRUE(readiness.attempt(immediate({}, calls)));
  EXPECT_EQ(readiness.state(), State::ready);
  EXPECT_EQ(readiness.not_ready(), std::nullopt);
  EXPECT_EQ(calls, 3);

  // Once ready, a start() is answered at once and prepares nothing again.
  EXPECT_TRUE(readiness.attempt(immediate(fail("never asked"), calls)));
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(readiness.not_ready(), std::nullopt);
}

TEST(Readiness, ATaskNeverWaitsBehindAnAttemptInFlight) {
  Readiness readiness;
  int calls = 0;
  ASSERT_FALSE(readiness.attempt(immediate(fail("engine unavailable: stalled"), calls)));
  HeldAttempt held;
  auto attempt = std::async(std::launch::async, [&] { return readiness.attempt(held.prepare()); });
  ASSERT_TRUE(held.wait_entered(1));
  // The attempt is still held inside prepare: the answer is the last reason, at once.
  auto asked = std::async(std::launch::async, [&] { return readiness.not_ready(); });
  ASSERT_TRUE(ready_within(asked, k_wait));
  EXPECT_EQ(asked.get(), "engine unavailable: stalled");
  EXPECT_EQ(readiness.state(), State::starting);

  held.release({});
  ASSERT_TRUE(ready_within(attempt, k_wait));
  EXPECT_TRUE(attempt.get());
  EXPECT_EQ(readiness.not_ready(), std::nullopt);
}

TEST(Readiness, AttemptsRunOneAtATimeAndASuccessEndsTheOthers) {
  Readiness readiness;
  HeldAttempt held;
  auto first = std::async(std::launch::async, [&] { return readiness.attempt(held.prepare()); });
  ASSERT_TRUE(held.wait_entered(1));
  auto second = std::async(std::launch::async, [&] { return readiness.attempt(held.prepare()); });
  EXPECT_FALSE(ready_within(second, 100ms)) << "the second start() did not wait for the first";
  EXPECT_EQ(held.entered(), 1);

  held.release({});
  ASSERT_TRUE(ready_within(first, k_wait));
  ASSERT_TRUE(ready_within(second, k_wait));
  EXPECT_TRUE(first.get());
  EXPECT_TRUE(second.get());
  EXPECT_EQ(held.entered(), 1) << "the backend was prepared again after it got ready";
  EXPECT_EQ(held.max_inside(), 1);
}

TEST(Readiness, AnAttemptWaitingBehindAFailedOneMakesItsOwn) {
  Readiness readiness;
  HeldAttempt held;
  auto first = std::async(std::launch::async, [&] { return readiness.attempt(held.prepare()); });
  ASSERT_TRUE(held.wait_entered(1));
  auto second = std::async(std::launch::async, [&] { return readiness.attempt(held.prepare()); });
  held.release(fail("engine unavailable: down"));
  ASSERT_TRUE(ready_within(first, k_wait));
  EXPECT_FALSE(first.get());
  ASSERT_TRUE(held.wait_entered(2));
  EXPECT_EQ(readiness.not_ready(), "engine unavailable: down");
  held.release({});
  ASSERT_TRUE(ready_within(second, k_wait));
  EXPECT_TRUE(second.get());
  EXPECT_EQ(held.max_inside(), 1);
  EXPECT_EQ(readiness.state(), State::ready);
}

TEST(Readiness, StopWaitsForTheAttemptInFlightAndDiscardsItsSuccess) {
  Readiness readiness;
  HeldAttempt held;
  auto attempt = std::async(std::launch::async, [&] { return readiness.attempt(held.prepare()); });
  ASSERT_TRUE(held.wait_entered(1));
  auto stopped = std::async(std::launch::async, [&] { readiness.stop(); });
  // The attempt sees the stop between its steps, and tasks hear it at once...
  EXPECT_TRUE(wait_until([&] { return readiness.stopping(); }, k_wait, 1ms));
  EXPECT_EQ(readiness.not_ready(), "shutting down");
  // ...but stop() returns only once nothing an attempt makes can still appear.
  EXPECT_FALSE(ready_within(stopped, 100ms)) << "stop() returned with an attempt in flight";

  held.release({});
  ASSERT_TRUE(ready_within(stopped, k_wait));
  ASSERT_TRUE(ready_within(attempt, k_wait));
  const auto outcome = attempt.get();
  ASSERT_FALSE(outcome) << "a start() that ended after stop() began made the backend ready";
  EXPECT_EQ(outcome.error().message, "shutting down");
  EXPECT_EQ(readiness.state(), State::stopped);
  EXPECT_EQ(readiness.not_ready(), "shutting down");
}

TEST(Readiness, AnAttemptWaitingWhenStopComesNeverRuns) {
  Readiness readiness;
  HeldAttempt held;
  auto first = std::async(std::launch::async, [&] { return readiness.attempt(held.prepare()); });
  ASSERT_TRUE(held.wait_entered(1));
  auto second = std::async(std::launch::async, [&] { return readiness.attempt(held.prepare()); });
  auto stopped = std::async(std::launch::async, [&] { readiness.stop(); });
  ASSERT_TRUE(ready_within(second, k_wait)) << "a waiting start() did not give up at stop()";
  const auto second_outcome = second.get();
  ASSERT_FALSE(second_outcome);
  EXPECT_EQ(second_outcome.error().message, "shutting down");
  held.release(fail("engine unavailable: down"));
  ASSERT_TRUE(ready_within(stopped, k_wait));
  ASSERT_TRUE(ready_within(first, k_wait));
  EXPECT_FALSE(first.get());
  EXPECT_EQ(held.entered(), 1);
  EXPECT_EQ(readiness.not_ready(), "shutting down");
}

TEST(Readiness, NoAttemptRunsAfterStopAndStopIsIdempotent) {
  Readiness readiness;
  readiness.stop();
  int calls = 0;
  const auto outcome = readiness.attempt(immediate({}, calls));
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().message, "shutting down");
  EXPECT_EQ(calls, 0);
  readiness.stop();
  EXPECT_EQ(readiness.state(), State::stopped);
  EXPECT_EQ(readiness.not_ready(), "shutting down");
}

TEST(Readiness, StopAfterReadyIsFinal) {
  Readiness readiness;
  int calls = 0;
  ASSERT_TRUE(readiness.attempt(immediate({}, calls)));
  readiness.stop();
  EXPECT_EQ(readiness.state(), State::stopped);
  EXPECT_EQ(readiness.not_ready(), "shutting down");
  EXPECT_FALSE(readiness.attempt(immediate({}, calls)));
  EXPECT_EQ(calls, 1);
}

TEST(Readiness, AThrowingAttemptLeavesItsReasonAndBlocksNothing) {
  Readiness readiness;
  EXPECT_THROW((void)readiness.attempt([]() -> Result<void> { throw std::runtime_error("boom"); }),
               std::runtime_error);
  EXPECT_EQ(readiness.state(), State::starting);
  EXPECT_EQ(readiness.not_ready(), "start failed: boom");
  int calls = 0;
  EXPECT_TRUE(readiness.attempt(immediate({}, calls)));
  EXPECT_EQ(calls, 1);
  auto stopped = std::async(std::launch::async, [&] { readiness.stop(); });
  EXPECT_TRUE(ready_within(stopped, k_wait));
}

}  // namespace
}  // namespace planificador::backend
