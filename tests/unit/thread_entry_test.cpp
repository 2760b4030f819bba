#include "planificador/util/thread_entry.hpp"

#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace planificador::util {
namespace {

struct Failure {
  std::string thread;
  std::string what;
  int calls = 0;
};

class ThreadEntry : public ::testing::Test {
 protected:
  void SetUp() override {
    set_thread_failure_handler([this](std::string_view thread, std::string_view what) {
      m_failure.thread = thread;
      m_failure.what = what;
      ++m_failure.calls;
    });
  }
  void TearDown() override { set_thread_failure_handler(nullptr); }

  Failure m_failure;
};

TEST_F(ThreadEntry, ABodyThatReturnsReportsNothing) {
  int ran = 0;
  std::thread thread([&] { guarded("quiet", [&] { ++ran; }); });
  thread.join();
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(m_failure.calls, 0);
}

TEST_F(ThreadEntry, AnEscapingExceptionGoesToTheHandlerWithTheThreadsName) {
  std::thread thread([] { guarded("pool filler", [] { throw std::runtime_error("disk full"); }); });
  thread.join();  // not std::terminate
  EXPECT_EQ(m_failure.calls, 1);
  EXPECT_EQ(m_failure.thread, "pool filler");
  EXPECT_EQ(m_failure.what, "disk full");
}

TEST_F(ThreadEntry, AnythingThrownIsCaught) {
  std::thread thread([] { guarded("transport", [] { throw 42; }); });
  thread.join();
  EXPECT_EQ(m_failure.calls, 1);
  EXPECT_EQ(m_failure.thread, "transport");
  EXPECT_EQ(m_failure.what, "an exception that is not a std::exception");
}

TEST(ThreadEntryDeath, WithoutAHandlerTheProcessEndsWithItsStatusAndSaysWhy) {
  EXPECT_EXIT(
      {
        set_thread_failure_handler(nullptr);
        std::thread thread([] { guarded("worker", [] { throw std::logic_error("no task"); }); });
        thread.join();
      },
      ::testing::ExitedWithCode(k_thread_failure_status), "thread `worker` failed: no task");
}

TEST(ThreadEntryDeath, AHandlerThatThrowsFallsBackToTheLastResort) {
  EXPECT_EXIT(
      {
        set_thread_failure_handler(
            [](std::string_view, std::string_view) { throw std::runtime_error("handler"); });
        guarded("starter", [] { throw std::runtime_error("engine"); });
      },
      ::testing::ExitedWithCode(k_thread_failure_status), "thread `starter` failed: engine");
}

}  // namespace
}  // namespace planificador::util
