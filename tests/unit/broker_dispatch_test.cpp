// The broker's client side and dispatch (docs/fleet.md §2, §6; SPEC §3 at the broker).

#include "broker_harness.hpp"
#include <gtest/gtest.h>

namespace planificador::testing {
namespace {

using protocol::TaskId;
namespace link = protocol::link;

constexpr unsigned char k_append_err = 0x02;
constexpr unsigned char k_exited = 0x03;
constexpr unsigned char k_report = 0x10;

std::int32_t exit_code(const std::vector<Event>& events) {
  return std::get<protocol::Exited>(events.back().message).exit_code;
}

TEST(BrokerDispatch, ReadyIsWelcomedWithEpochAndHeartbeat) {
  BrokerHarness h;
  h.ready("A", "host-a", 2, 2, {"bash"});
  const auto sent = h.sent();
  ASSERT_EQ(sent.size(), 1U);
  const auto welcome = link::decode_from_broker(sent[0].frame);
  ASSERT_TRUE(welcome);
  EXPECT_EQ(std::get<link::Welcome>(*welcome), (link::Welcome{1, 42, 100, 3}));
}

TEST(BrokerDispatch, SubmitIsForwardedByteForByte) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"python"});
  (void)h.sent();
  const std::string frame =
      protocol::encode(protocol::Submit{task_id(1), "python", "print(1)\n", "{}"});
  h.intake(frame);
  const auto sent = h.sent();
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(sent[0].routing, "A");
  EXPECT_EQ(sent[0].frame, frame);
  EXPECT_EQ(sent[0].submit, task_id(1));
  EXPECT_TRUE(h.events().empty());
}

TEST(BrokerDispatch, SendsOnlyAgainstCredit) {
  BrokerHarness h;
  h.ready("A", "a", 2, 1, {"*"});
  (void)h.sent();
  h.submit(task_id(1), "bash");
  h.submit(task_id(2), "bash");
  h.submit(task_id(3), "bash");
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "A"), std::vector<TaskId>{task_id(1)});
  h.exited("A", task_id(1));
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "A"), std::vector<TaskId>{task_id(2)});
  h.returned("A", task_id(2));  // given back: credit returns, the task goes out again
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "A"), (std::vector<TaskId>{task_id(2)}));
}

TEST(BrokerDispatch, PrefersMostCreditThenLeastRecentlyUsed) {
  BrokerHarness h;
  h.ready("A", "a", 4, 4, {"*"});
  h.ready("B", "b", 2, 2, {"*"});
  (void)h.sent();
  for (int i = 1; i <= 4; ++i) {
    h.submit(task_id(i), "bash");
  }
  const auto sent = h.sent();
  // A 4→3, A 3→2, then a tie at 2: B never got one, so B; then A (3 of A's vs 1 of B's).
  EXPECT_EQ(BrokerHarness::submits(sent, "A"),
            (std::vector<TaskId>{task_id(1), task_id(2), task_id(4)}));
  EXPECT_EQ(BrokerHarness::submits(sent, "B"), std::vector<TaskId>{task_id(3)});
}

TEST(BrokerDispatch, RoutesByPattern) {
  BrokerHarness h;
  h.ready("A", "a", 4, 4, {"python", "python3*"});
  h.ready("B", "b", 4, 4, {"c", "cpp"});
  (void)h.sent();
  h.submit(task_id(1), "cpp");
  h.submit(task_id(2), "python3.11");
  h.submit(task_id(3), "c");
  const auto sent = h.sent();
  EXPECT_EQ(BrokerHarness::submits(sent, "A"), std::vector<TaskId>{task_id(2)});
  EXPECT_EQ(BrokerHarness::submits(sent, "B"), (std::vector<TaskId>{task_id(1), task_id(3)}));
}

TEST(BrokerDispatch, NoHeadOfLineBlocking) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"python"});
  h.ready("B", "b", 1, 1, {"c"});
  (void)h.sent();
  h.submit(task_id(1), "python");  // A's only slot
  h.submit(task_id(2), "python");  // waits for A
  h.submit(task_id(3), "c");       // must not wait behind it
  const auto sent = h.sent();
  EXPECT_EQ(BrokerHarness::submits(sent, "A"), std::vector<TaskId>{task_id(1)});
  EXPECT_EQ(BrokerHarness::submits(sent, "B"), std::vector<TaskId>{task_id(3)});
  h.exited("A", task_id(1));
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "A"), std::vector<TaskId>{task_id(2)});
}

TEST(BrokerDispatch, QueuedTasksGoInArrivalOrder) {
  BrokerHarness h;
  h.ready("A", "a", 1, 0, {"*"});
  (void)h.sent();
  for (int i = 1; i <= 5; ++i) {
    h.submit(task_id(i), i % 2 == 0 ? "python" : "bash");
  }
  EXPECT_TRUE(h.sent().empty());
  for (int i = 1; i <= 5; ++i) {
    if (i > 1) {
      h.exited("A", task_id(i - 1));
    } else {
      h.ready("A", "a", 1, 1, {"*"});
    }
    EXPECT_EQ(BrokerHarness::submits(h.sent(), "A"), std::vector<TaskId>{task_id(i)}) << i;
  }
}

TEST(BrokerDispatch, UnservedImageIsAnsweredAtOnce) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"python"});
  h.submit(task_id(1), "ruby");
  h.submit(task_id(2), "ruby", "{}");
  const auto events = h.events();
  const auto first = about(events, task_id(1));
  ASSERT_EQ(first.size(), 2U);
  EXPECT_EQ(err_text(first), "planificador: no executor of the fleet serves image `ruby`\n");
  EXPECT_EQ(exit_code(first), 125);
  const auto second = about(events, task_id(2));
  ASSERT_EQ(second.size(), 3U);
  EXPECT_EQ(second[1].type(), k_report);
  EXPECT_NE(std::get<protocol::Report>(second[1].message).json.find("\"status\":\"rejected\""),
            std::string::npos);
  EXPECT_EQ(exit_code(second), 125);
}

TEST(BrokerDispatch, WaitsWhileNoExecutorIsConnected) {
  BrokerHarness h;
  h.submit(task_id(1), "bash");
  h.advance(500);
  EXPECT_TRUE(h.events().empty());
  EXPECT_FALSE(h.broker().view(h.now()).waiting == 0);
  h.ready("A", "a", 1, 1, {"bash"});
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "A"), std::vector<TaskId>{task_id(1)});
}

TEST(BrokerDispatch, WaitingEndsAfterUnservedMs) {
  BrokerHarness h;
  h.submit(task_id(1), "bash");
  h.advance(999);
  EXPECT_TRUE(h.events().empty());
  h.advance(2);
  const auto events = h.events();
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(err_text(events), "planificador: no executor of the fleet serves image `bash`\n");
  EXPECT_EQ(exit_code(events), 125);
  EXPECT_EQ(h.broker().view(h.now()).queued, 0U);
}

TEST(BrokerDispatch, ADrainingExecutorsImageWaitsInsteadOfBeingUnserved) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"python"});
  h.ready("B", "b", 1, 1, {"c"});
  h.link("B", link::encode(link::Draining{}));
  h.submit(task_id(1), "c");
  EXPECT_TRUE(h.events().empty());  // B will be back after its restart
  h.ready("C", "c", 1, 1, {"c"});
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "C"), std::vector<TaskId>{task_id(1)});
}

TEST(BrokerDispatch, CancelOfAQueuedTaskIsAnswered130) {
  BrokerHarness h;
  h.submit(task_id(1), "bash");
  h.submit(task_id(2), "bash", "{}");
  h.cancel(task_id(1));
  h.control(protocol::encode(protocol::Cancel{task_id(2)}));
  const auto events = h.events();
  const auto first = about(events, task_id(1));
  ASSERT_EQ(first.size(), 2U);
  EXPECT_EQ(err_text(first), "planificador: cancelled\n");
  EXPECT_EQ(exit_code(first), 130);
  const auto second = about(events, task_id(2));
  ASSERT_EQ(second.size(), 3U);
  EXPECT_NE(std::get<protocol::Report>(second[1].message).json.find("\"status\":\"cancelled\""),
            std::string::npos);
  EXPECT_EQ(exit_code(second), 130);
  h.ready("A", "a", 2, 2, {"*"});
  EXPECT_TRUE(BrokerHarness::submits(h.sent(), "A").empty());
}

TEST(BrokerDispatch, CancelOfADispatchedTaskGoesToItsDaemonOnly) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  h.ready("B", "b", 1, 1, {"*"});
  h.submit(task_id(1), "bash");
  (void)h.sent();
  const std::string cancel = protocol::encode(protocol::Cancel{task_id(1)});
  h.control(cancel);
  const auto sent = h.sent();
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(sent[0].routing, "A");
  EXPECT_EQ(sent[0].frame, cancel);
  EXPECT_TRUE(h.events().empty());
  h.cancel(task_id(99));  // unknown: ignored
  EXPECT_TRUE(h.sent().empty());
  EXPECT_TRUE(h.events().empty());
}

TEST(BrokerDispatch, ADuplicateIdIsDropped) {
  BrokerHarness h;
  h.ready("A", "a", 2, 2, {"*"});
  (void)h.sent();
  h.submit(task_id(1), "bash");
  h.submit(task_id(1), "bash");
  // Malformed, but its id is running: answering it would put a second EXITED on the task.
  std::string bad = protocol::encode(protocol::Submit{task_id(1), "bash", "x", std::nullopt});
  bad.push_back('!');
  h.intake(bad);
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "A"), std::vector<TaskId>{task_id(1)});
  EXPECT_TRUE(h.events().empty());
  h.exited("A", task_id(1), 0);
  EXPECT_EQ(h.events().size(), 1U);
  h.submit(task_id(1), "bash");  // finished: the id may be used again
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "A"), std::vector<TaskId>{task_id(1)});
}

TEST(BrokerDispatch, MalformedFramesAreDroppedOrRejected) {
  BrokerHarness h;
  h.ready("A", "a", 2, 2, {"*"});
  (void)h.sent();
  h.intake(std::string(10, '\0'));                                 // too short
  h.intake(std::string(1, '\x07') + std::string(40, 'a'));         // unknown type
  h.intake(protocol::encode(protocol::Cancel{task_id(5)}) + "x");  // CANCEL of 34 bytes
  h.control(protocol::encode(protocol::Submit{task_id(6), "bash", "x", std::nullopt}));
  EXPECT_TRUE(h.events().empty());
  EXPECT_TRUE(h.sent().empty());

  std::string bad = protocol::encode(protocol::Submit{task_id(1), "bash", "x", std::nullopt});
  bad.pop_back();  // lengths no longer add up
  h.intake(bad);
  std::string bad_ext = protocol::encode(protocol::Submit{task_id(2), "bash", "x", "{}"});
  bad_ext += "zz";
  h.intake(bad_ext);
  h.submit(task_id(3), "", std::nullopt);                     // empty image
  h.submit(task_id(4), "bash", std::string("[1]"));           // options not an object
  h.submit(task_id(7), std::string(256, 'i'), std::nullopt);  // image too long
  const auto events = h.events();
  for (int i : {1, 3, 4, 7}) {
    const auto answer = about(events, task_id(i));
    ASSERT_FALSE(answer.empty()) << i;
    EXPECT_EQ(answer.front().type(), k_append_err) << i;
    EXPECT_EQ(err_text(answer).rfind("planificador: ", 0), 0U) << i;
    EXPECT_EQ(answer.back().type(), k_exited) << i;
    EXPECT_EQ(exit_code(answer), 125) << i;
  }
  const auto ext = about(events, task_id(2));
  ASSERT_EQ(ext.size(), 3U);
  EXPECT_EQ(ext[1].type(), k_report);
  EXPECT_TRUE(h.sent().empty());
}

TEST(BrokerDispatch, CodeLimitComesFromTheSettings) {
  auto settings = BrokerHarness::test_settings();
  settings.limits.max_code_bytes = 4;
  BrokerHarness h(settings);
  h.ready("A", "a", 2, 2, {"*"});
  (void)h.sent();
  h.submit(task_id(1), "bash", std::nullopt, "12345");
  h.submit(task_id(2), "bash", std::nullopt, "1234");
  EXPECT_EQ(exit_code(about(h.events(), task_id(1))), 125);
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "A"), std::vector<TaskId>{task_id(2)});
}

TEST(BrokerDispatch, IntakeIsReadOnlyWhileTheBacklogHasRoom) {
  auto settings = BrokerHarness::test_settings();
  settings.backlog = 2;
  BrokerHarness h(settings);
  h.submit(task_id(1), "bash");
  EXPECT_TRUE(h.broker().accepting_intake());
  h.submit(task_id(2), "bash");
  EXPECT_FALSE(h.broker().accepting_intake());
  h.ready("A", "a", 1, 1, {"*"});
  EXPECT_TRUE(h.broker().accepting_intake());
}

TEST(BrokerDispatch, AFullEventsQueueStopsIntakeAndTheLink) {
  auto settings = BrokerHarness::test_settings();
  settings.events_capacity = 4;
  BrokerHarness h(settings);
  h.ready("A", "a", 1, 1, {"python"});
  h.submit(task_id(1), "ruby");
  EXPECT_TRUE(h.broker().reading_link());
  h.submit(task_id(2), "ruby");
  EXPECT_FALSE(h.broker().reading_link());
  EXPECT_FALSE(h.broker().accepting_intake());
  EXPECT_TRUE(h.broker().view(h.now()).link_paused);
  EXPECT_EQ(h.events().size(), 4U);
  EXPECT_TRUE(h.broker().reading_link());
  EXPECT_TRUE(h.broker().accepting_intake());
}

TEST(BrokerDispatch, ShutdownAnswersQueuedTasksAndLetsDispatchedOnesFinish) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  h.submit(task_id(1), "bash");
  h.submit(task_id(2), "bash", "{}");
  (void)h.sent();
  h.broker().shut_down(h.now());
  EXPECT_FALSE(h.broker().accepting_intake());
  auto events = h.events();
  const auto queued = about(events, task_id(2));
  ASSERT_EQ(queued.size(), 3U);
  EXPECT_EQ(err_text(queued), "planificador: shutting down\n");
  EXPECT_EQ(exit_code(queued), 125);
  EXPECT_FALSE(h.broker().finished());
  h.out("A", task_id(1), "hi\n");
  h.exited("A", task_id(1), 0);
  events = h.events();
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(exit_code(events), 0);
  EXPECT_TRUE(h.broker().finished());
}

TEST(BrokerDispatch, ShutdownCancelsWhatDidNotFinishWithinTheGrace) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  h.submit(task_id(1), "bash");
  h.started("A", task_id(1));
  (void)h.sent();
  h.broker().shut_down(h.now());
  for (int ms = 0; ms < 990; ms += 90) {  // A stays alive meanwhile
    h.heartbeat("A");
    h.advance(90);
  }
  EXPECT_FALSE(h.broker().finished());
  h.heartbeat("A");
  h.advance(20);
  const auto sent = h.sent();
  EXPECT_EQ(BrokerHarness::of_type(sent, "A", 0x02).size(), 1U);  // CANCEL to its daemon
  const auto events = h.events();
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(exit_code(events), 130);
  EXPECT_TRUE(h.broker().finished());
  h.exited("A", task_id(1), 130);  // the daemon's own answer comes too late: dropped
  EXPECT_TRUE(h.events().empty());
}

TEST(BrokerDispatch, AnUndeliverableSubmitGoesElsewhere) {
  BrokerHarness h;
  h.ready("A", "a", 4, 4, {"*"});
  h.ready("B", "b", 1, 1, {"*"});
  (void)h.sent();
  h.submit(task_id(1), "bash");
  auto sent = h.sent();
  ASSERT_EQ(BrokerHarness::submits(sent, "A"), std::vector<TaskId>{task_id(1)});
  broker::LinkMessage refused{"A", broker::Frame(sent[0].frame), task_id(1)};
  h.broker().on_undeliverable(refused, h.now());
  sent = h.sent();
  EXPECT_EQ(BrokerHarness::submits(sent, "B"), std::vector<TaskId>{task_id(1)});
  h.submit(task_id(2), "bash");  // A is blocked until heard from
  EXPECT_TRUE(h.sent().empty());
  h.heartbeat("A");
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "A"), std::vector<TaskId>{task_id(2)});
}

TEST(BrokerDispatch, ViewCountsTasksAndExecutors) {
  BrokerHarness h;
  h.ready("A", "a", 2, 2, {"bash"});
  h.submit(task_id(1), "bash");
  h.submit(task_id(2), "bash");
  h.submit(task_id(3), "bash");
  h.started("A", task_id(1));
  const auto view = h.broker().view(h.now());
  EXPECT_EQ(view.epoch, 42U);
  EXPECT_EQ(view.queued, 1U);
  EXPECT_EQ(view.dispatched, 1U);
  EXPECT_EQ(view.running, 1U);
  ASSERT_EQ(view.executors.size(), 1U);
  EXPECT_EQ(view.executors[0].name, "a");
  EXPECT_EQ(view.executors[0].slots, 2U);
  EXPECT_EQ(view.executors[0].free, 0U);
  EXPECT_EQ(view.executors[0].running, 1U);
  EXPECT_EQ(view.executors[0].held, 2U);
  EXPECT_EQ(view.executors[0].patterns, std::vector<std::string>{"bash"});
  const auto round_trip = broker::from_json(broker::to_json(view));
  ASSERT_TRUE(round_trip) << round_trip.error().message;
  EXPECT_EQ(round_trip->executors[0].name, "a");
  EXPECT_EQ(round_trip->queued, 1U);
}

}  // namespace
}  // namespace planificador::testing
