#include <atomic>
#include <mutex>
#include <thread>

#include "fake_backend.hpp"
#include "wait.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "planificador/protocol/codec.hpp"
#include "planificador/sched/scheduler.hpp"

namespace planificador::sched {
namespace {

// spdlog makes its default logger on first use, inside libspdlog, which is not built with
// -fsanitize=thread: made by one worker and read by another, its publication is invisible
// to ThreadSanitizer, which then reports a race. Made here, on the main thread before any
// test (as the daemon's main() does through set_up_logging), it exists before every
// scheduler thread starts. Each test case is a process of its own (gtest_discover_tests).
[[maybe_unused]] const spdlog::logger* const k_default_logger = spdlog::default_logger_raw();

using namespace std::chrono_literals;
using testing::EventRecorder;
using testing::fake_config;
using testing::FakeBackend;
using testing::make_id;
using testing::wait_until;

constexpr auto k_wait = 10s;

// What the backend and the sink had seen of a task when on_start was called for it.
struct StartSeen {
  protocol::TaskId id;
  std::size_t backend_runs = 0;
  std::size_t events = 0;
};

struct Fixture {
  explicit Fixture(std::size_t workers = 2, std::size_t backlog = 8)
      : config(fake_config(workers, backlog)), scheduler(config, backend, sink, options()) {}
  SchedulerOptions options() {
    auto opts = scheduler_options(config);
    opts.on_room = [this] { ++rooms; };
    opts.on_start = [this](const protocol::TaskId& id) {
      const std::lock_guard lock(starts_mutex);
      starts.push_back({id, backend.started().size(), sink.of(id).size()});
    };
    return opts;
  }
  std::vector<StartSeen> seen_starts() {
    const std::lock_guard lock(starts_mutex);
    return starts;
  }
  void submit(const protocol::TaskId& id, const std::string& code,
              std::optional<std::string> options_json = std::nullopt) {
    scheduler.handle_frame(protocol::encode(protocol::Submit{id, "fake", code, options_json}),
                           false);
  }
  config::Config config;
  FakeBackend backend;
  EventRecorder sink;
  std::atomic<int> rooms{0};
  std::mutex starts_mutex;
  std::vector<StartSeen> starts;
  Scheduler scheduler;
};

std::string text_of(const std::vector<protocol::Outbound>& messages, protocol::Stream stream) {
  std::string text;
  for (const auto& message : messages) {
    if (const auto* append = std::get_if<protocol::Append>(&message);
        append && append->stream == stream) {
      text += append->text;
    }
  }
  return text;
}

std::int32_t exit_code_of(const std::vector<protocol::Outbound>& messages) {
  EXPECT_FALSE(messages.empty());
  const auto* exited = std::get_if<protocol::Exited>(&messages.back());
  EXPECT_NE(exited, nullptr) << "EXITED is not last";
  return exited == nullptr ? -1 : exited->exit_code;
}

TEST(Scheduler, RunsATaskAndAnswersOutputThenExited) {
  Fixture f;
  f.submit(make_id("a"), "print(1)\nerr oops\nexit 3\n");
  ASSERT_TRUE(f.sink.wait_exited(make_id("a"), k_wait));
  const auto messages = f.sink.of(make_id("a"));
  ASSERT_EQ(messages.size(), 3U);
  EXPECT_EQ(std::get<protocol::Append>(messages[0]),
            (protocol::Append{make_id("a"), protocol::Stream::out, "1\n"}));
  EXPECT_EQ(text_of(messages, protocol::Stream::err), "oops\n");
  EXPECT_EQ(exit_code_of(messages), 3);
}

TEST(Scheduler, RunsAtMostWorkersTasksAtOnce) {
  Fixture f(3, 50);
  for (std::size_t i = 0; i < 12; ++i) {
    f.submit(make_id("c", i), "sleep 50\n");
  }
  for (std::size_t i = 0; i < 12; ++i) {
    ASSERT_TRUE(f.sink.wait_exited(make_id("c", i), k_wait));
  }
  EXPECT_EQ(f.backend.max_concurrent(), 3U);
  EXPECT_EQ(f.sink.exited_count(), 12U);
}

TEST(Scheduler, BacklogFullMeansNoRoomUntilAWorkerTakesATask) {
  Fixture f(1, 2);
  EXPECT_TRUE(f.scheduler.has_room());
  f.submit(make_id("run"), "block\n");
  ASSERT_TRUE(f.backend.wait_running(1, k_wait));
  f.submit(make_id("q", 1), "print(1)\n");
  EXPECT_TRUE(f.scheduler.has_room());
  f.submit(make_id("q", 2), "print(2)\n");
  EXPECT_FALSE(f.scheduler.has_room());
  EXPECT_EQ(f.scheduler.queued(), 2U);
  EXPECT_EQ(f.scheduler.running(), 1U);
  // A SUBMIT beyond the backlog (the transport would not have read it) is still answered.
  f.submit(make_id("over"), "print(3)\n");
  ASSERT_TRUE(f.sink.wait_exited(make_id("over"), k_wait));
  EXPECT_EQ(exit_code_of(f.sink.of(make_id("over"))), 125);
  const int rooms_before = f.rooms.load();
  f.scheduler.cancel(make_id("run"));
  ASSERT_TRUE(f.sink.wait_exited(make_id("q", 2), k_wait));
  EXPECT_TRUE(f.scheduler.has_room());
  EXPECT_GT(f.rooms.load(), rooms_before);
}

TEST(Scheduler, CancelQueuedAnswers130WithoutRunning) {
  Fixture f(1, 8);
  f.submit(make_id("run"), "block\n");
  ASSERT_TRUE(f.backend.wait_running(1, k_wait));
  f.submit(make_id("queued"), "print(1)\n", "{}");
  f.scheduler.handle_frame(protocol::encode(protocol::Cancel{make_id("queued")}), true);
  ASSERT_TRUE(f.sink.wait_exited(make_id("queued"), k_wait));
  const auto messages = f.sink.of(make_id("queued"));
  ASSERT_EQ(messages.size(), 3U);
  EXPECT_EQ(std::get<protocol::Append>(messages[0]).text, "planificador: cancelled\n");
  const auto report = nlohmann::json::parse(std::get<protocol::Report>(messages[1]).json);
  EXPECT_EQ(report["status"], "cancelled");
  EXPECT_EQ(report["exit_code"], 130);
  EXPECT_EQ(exit_code_of(messages), 130);
  f.scheduler.cancel(make_id("run"));
  ASSERT_TRUE(f.sink.wait_exited(make_id("run"), k_wait));
  for (const auto& id : f.backend.started()) {
    EXPECT_NE(id, make_id("queued"));
  }
}

TEST(Scheduler, CancelRunningSignalsTheBackend) {
  Fixture f;
  f.submit(make_id("r"), "print(started)\nblock\n");
  ASSERT_TRUE(f.backend.wait_running(1, k_wait));
  f.scheduler.handle_frame(protocol::encode(protocol::Cancel{make_id("r")}), false);
  ASSERT_TRUE(f.sink.wait_exited(make_id("r"), k_wait));
  const auto messages = f.sink.of(make_id("r"));
  EXPECT_EQ(text_of(messages, protocol::Stream::out), "started\n");
  EXPECT_EQ(text_of(messages, protocol::Stream::err), "planificador: cancelled\n");
  EXPECT_EQ(exit_code_of(messages), 130);
  // Unknown and finished ids are ignored.
  f.scheduler.cancel(make_id("r"));
  f.scheduler.cancel(make_id("nobody"));
  EXPECT_EQ(f.sink.of(make_id("r")).size(), messages.size());
  EXPECT_TRUE(f.sink.of(make_id("nobody")).empty());
}

TEST(Scheduler, DuplicateIdOfALiveTaskIsDropped) {
  Fixture f;
  f.submit(make_id("dup"), "block\n");
  ASSERT_TRUE(f.backend.wait_running(1, k_wait));
  f.submit(make_id("dup"), "print(second)\n");
  f.submit(make_id("dup"), "print(x)\n", "{\"bad\":1}");  // even a rejection is dropped
  f.scheduler.cancel(make_id("dup"));
  ASSERT_TRUE(f.sink.wait_exited(make_id("dup"), k_wait));
  const auto messages = f.sink.of(make_id("dup"));
  EXPECT_EQ(exit_code_of(messages), 130);
  EXPECT_EQ(text_of(messages, protocol::Stream::out), "");
  EXPECT_EQ(f.sink.exited_count(), 1U);
  // Once finished (EXITED sent and the worker done with it), the id may be used again.
  EXPECT_TRUE(wait_until([&] { return f.scheduler.running() == 0; }, k_wait, 1ms));
  f.submit(make_id("dup"), "print(again)\n");
  ASSERT_TRUE(f.backend.wait_running(0, k_wait));
  EXPECT_TRUE(wait_until([&] { return f.sink.exited_count() >= 2; }, k_wait, 1ms));
  EXPECT_EQ(f.sink.exited_count(), 2U);
  EXPECT_EQ(text_of(f.sink.of(make_id("dup")), protocol::Stream::out), "again\n");
}

TEST(Scheduler, BackendExceptionBecomesAnErrorOutcome) {
  Fixture f;
  f.submit(make_id("boom"), "print(1)\nthrow\n", "{}");
  ASSERT_TRUE(f.sink.wait_exited(make_id("boom"), k_wait));
  const auto messages = f.sink.of(make_id("boom"));
  ASSERT_EQ(messages.size(), 4U);
  EXPECT_EQ(text_of(messages, protocol::Stream::err),
            "planificador: internal error: fake backend exploded\n");
  const auto report = nlohmann::json::parse(std::get<protocol::Report>(messages[2]).json);
  EXPECT_EQ(report["status"], "error");
  EXPECT_EQ(exit_code_of(messages), 125);
  // The worker survived.
  f.submit(make_id("after"), "print(ok)\n");
  ASSERT_TRUE(f.sink.wait_exited(make_id("after"), k_wait));
  EXPECT_EQ(exit_code_of(f.sink.of(make_id("after"))), 0);
}

TEST(Scheduler, OrderIsOutputDiagnosticReportExited) {
  Fixture f;
  f.submit(make_id("ord"), "print(a)\ndiag engine unreachable\n", R"({"limits":{"wall_ms":700}})");
  ASSERT_TRUE(f.sink.wait_exited(make_id("ord"), k_wait));
  const auto messages = f.sink.of(make_id("ord"));
  ASSERT_EQ(messages.size(), 4U);
  EXPECT_EQ(std::get<protocol::Append>(messages[0]).text, "a\n");
  EXPECT_EQ(std::get<protocol::Append>(messages[1]),
            (protocol::Append{make_id("ord"), protocol::Stream::err,
                              "planificador: engine unreachable\n"}));
  const auto report = nlohmann::json::parse(std::get<protocol::Report>(messages[2]).json);
  EXPECT_EQ(report["status"], "error");
  EXPECT_EQ(report["exit_code"], 125);
  EXPECT_EQ(report["executor"], "test-host");
  EXPECT_EQ(report["output_bytes"], 2);
  EXPECT_TRUE(report["queued_ms"].is_number());
  EXPECT_EQ(exit_code_of(messages), 125);
  EXPECT_EQ(f.backend.limits_of(make_id("ord")).wall_ms, 700U);
}

TEST(Scheduler, RejectionsAreAnsweredAndExtendedOnesGetAReport) {
  Fixture f;
  f.submit(make_id("plain"), "x");
  f.scheduler.handle_frame(protocol::encode(protocol::Submit{make_id("img"), "cobol", "x", {}}),
                           false);
  f.scheduler.handle_frame(
      protocol::encode(protocol::Submit{make_id("ext"), "cobol", "x", std::string("{}")}), false);
  ASSERT_TRUE(f.sink.wait_exited(make_id("ext"), k_wait));
  const auto plain = f.sink.of(make_id("img"));
  ASSERT_EQ(plain.size(), 2U);
  EXPECT_EQ(std::get<protocol::Append>(plain[0]).text,
            "planificador: no runner for image `cobol`\n");
  EXPECT_EQ(exit_code_of(plain), 125);
  const auto ext = f.sink.of(make_id("ext"));
  ASSERT_EQ(ext.size(), 3U);
  const auto report = nlohmann::json::parse(std::get<protocol::Report>(ext[1]).json);
  EXPECT_EQ(report["status"], "rejected");
  EXPECT_EQ(report["exit_code"], 125);
  // Nothing without a readable task id is answered (the running task is done first, so
  // its EXITED cannot land in between).
  ASSERT_TRUE(f.sink.wait_exited(make_id("plain"), k_wait));
  const auto before = f.sink.exited_count();
  f.scheduler.handle_frame(std::string(5, '\x00'), false);
  f.scheduler.handle_frame(std::string(40, '\x05'), false);
  EXPECT_EQ(f.sink.exited_count(), before);
}

TEST(Scheduler, DrainAnswersQueuedLetsRunningFinishAndCancelsAfterGrace) {
  Fixture f(2, 8);
  f.submit(make_id("short"), "sleep 100\nprint(done)\n");
  f.submit(make_id("long"), "block\n");
  ASSERT_TRUE(f.backend.wait_running(2, k_wait));
  f.submit(make_id("waiting"), "print(never)\n", "{}");
  const auto started = std::chrono::steady_clock::now();
  f.scheduler.drain(1500ms);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, 1400ms);
  EXPECT_LT(took, 8s);
  EXPECT_EQ(text_of(f.sink.of(make_id("short")), protocol::Stream::out), "done\n");
  EXPECT_EQ(exit_code_of(f.sink.of(make_id("short"))), 0);
  EXPECT_EQ(exit_code_of(f.sink.of(make_id("long"))), 130);
  const auto waiting = f.sink.of(make_id("waiting"));
  EXPECT_EQ(exit_code_of(waiting), 125);
  EXPECT_EQ(std::get<protocol::Append>(waiting[0]).text, "planificador: shutting down\n");
  EXPECT_EQ(f.backend.started().size(), 2U);
  EXPECT_FALSE(f.scheduler.has_room());
  // After the drain every SUBMIT is rejected.
  f.submit(make_id("late"), "print(1)\n");
  ASSERT_TRUE(f.sink.wait_exited(make_id("late"), k_wait));
  EXPECT_EQ(exit_code_of(f.sink.of(make_id("late"))), 125);
  EXPECT_EQ(f.sink.exited_count(), 4U);
}

TEST(Scheduler, OnStartComesBeforeTheBackendRunsAndBeforeAnyEvent) {
  Fixture f(1, 8);
  f.submit(make_id("s", 1), "print(1)\n");
  f.submit(make_id("s", 2), "print(2)\n", "{}");
  ASSERT_TRUE(f.sink.wait_exited(make_id("s", 2), k_wait));
  const auto starts = f.seen_starts();
  ASSERT_EQ(starts.size(), 2U);
  for (std::size_t i = 0; i < starts.size(); ++i) {
    EXPECT_EQ(starts[i].id, make_id("s", i + 1));
    EXPECT_EQ(starts[i].backend_runs, i) << "on_start must precede Backend::run";
    EXPECT_EQ(starts[i].events, 0U);
  }
  // A rejected or cancelled-while-queued task never starts.
  f.scheduler.handle_frame(protocol::encode(protocol::Submit{make_id("bad"), "cobol", "x", {}}),
                           false);
  ASSERT_TRUE(f.sink.wait_exited(make_id("bad"), k_wait));
  EXPECT_EQ(f.seen_starts().size(), 2U);
}

TEST(Scheduler, TakeBackRemovesQueuedTasksWithoutAnsweringThem) {
  Fixture f(1, 8);
  EXPECT_TRUE(f.scheduler.take_back().empty());
  f.submit(make_id("run"), "block\n");
  ASSERT_TRUE(f.backend.wait_running(1, k_wait));
  f.submit(make_id("q", 1), "print(1)\n");
  f.submit(make_id("q", 2), "print(2)\n", "{}");
  const int rooms_before = f.rooms.load();
  EXPECT_EQ(f.scheduler.take_back(),
            (std::vector<protocol::TaskId>{make_id("q", 1), make_id("q", 2)}));
  EXPECT_EQ(f.scheduler.queued(), 0U);
  EXPECT_EQ(f.scheduler.running(), 1U);
  EXPECT_GT(f.rooms.load(), rooms_before);
  EXPECT_TRUE(f.sink.of(make_id("q", 1)).empty());
  EXPECT_TRUE(f.sink.of(make_id("q", 2)).empty());
  // A CANCEL for a task given back is one for an unknown task; its id is free again.
  f.scheduler.cancel(make_id("q", 1));
  EXPECT_TRUE(f.sink.of(make_id("q", 1)).empty());
  f.submit(make_id("q", 2), "print(again)\n");
  EXPECT_EQ(f.scheduler.queued(), 1U);
  f.scheduler.cancel(make_id("run"));
  ASSERT_TRUE(f.sink.wait_exited(make_id("q", 2), k_wait));
  EXPECT_EQ(text_of(f.sink.of(make_id("q", 2)), protocol::Stream::out), "again\n");
  // The running task was untouched by the take-back; drain answers nothing twice.
  EXPECT_EQ(exit_code_of(f.sink.of(make_id("run"))), 130);
  f.scheduler.drain(0ms);
  EXPECT_EQ(f.sink.exited_count(), 2U);
  EXPECT_EQ(f.backend.started().size(), 2U);
}

}  // namespace
}  // namespace planificador::sched
