// The broker's link side: events, lost daemons, READY's epoch rules, drain (docs/fleet.md
// §1, §3, §4, §5).

#include "broker_harness.hpp"
#include <gtest/gtest.h>

namespace planificador::testing {
namespace {

using protocol::TaskId;
namespace link = protocol::link;

constexpr unsigned char k_cancel = 0x02;
constexpr unsigned char k_report = 0x10;
constexpr auto k_heartbeat = static_cast<unsigned char>(link::Type::heartbeat);
constexpr auto k_unknown = static_cast<unsigned char>(link::Type::unknown);

std::int32_t exit_code(const std::vector<Event>& events) {
  return std::get<protocol::Exited>(events.back().message).exit_code;
}

// Keeps `routing` alive across `ms` milliseconds of the fake clock.
void beat_through(BrokerHarness& h, const std::string& routing, int ms) {
  for (int t = 0; t < ms; t += 50) {
    h.heartbeat(routing);
    h.advance(50);
  }
}

TEST(BrokerLink, EventsAreForwardedByteForByteAndEndWithExited) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  h.submit(task_id(1), "bash");
  h.started("A", task_id(1));
  const std::string out =
      protocol::encode(protocol::Append{task_id(1), protocol::Stream::out, "1\n"});
  h.link("A", out);
  h.exited("A", task_id(1), 3);
  h.out("A", task_id(1), "late");  // after EXITED: never forwarded
  h.exited("A", task_id(1), 0);    // nor a second EXITED
  const auto events = h.events();
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0].frame, out);
  EXPECT_EQ(exit_code(events), 3);
}

TEST(BrokerLink, EventsFromAnotherDaemonAreDropped) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  h.ready("B", "b", 1, 1, {"*"});
  h.submit(task_id(1), "bash");  // to A (tie, A first)
  h.out("B", task_id(1), "forged");
  h.exited("B", task_id(1), 0);
  EXPECT_TRUE(h.events().empty());
}

TEST(BrokerLink, MalformedLinkFramesAreDropped) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  h.submit(task_id(1), "bash");
  (void)h.sent();
  h.link("A", "");
  h.link("A", std::string(1, '\x42') + "short");                // STARTED too short
  h.link("A", std::string(1, '\x48') + std::string(17, '\0'));  // WELCOME from a daemon
  h.link("A", std::string(1, '\x03') + std::string(32, 'x'));   // EXITED too short
  std::string append = protocol::encode(protocol::Append{task_id(1), protocol::Stream::out, "ab"});
  append.pop_back();  // its length no longer matches
  h.link("A", append);
  h.link("A", std::string(1, '\x00') + std::string(60, 'x'));  // SUBMIT from a daemon
  EXPECT_TRUE(h.events().empty());
  EXPECT_TRUE(h.sent().empty());
  EXPECT_EQ(h.broker().view(h.now()).dispatched, 1U);
}

TEST(BrokerLink, AnUnknownPeerIsToldUnknownOnce) {
  BrokerHarness h;
  h.heartbeat("X");
  h.exited("X", task_id(1));
  h.heartbeat("X");
  auto sent = h.sent();
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(static_cast<unsigned char>(sent[0].frame.front()), k_unknown);
  EXPECT_EQ(std::get<link::Unknown>(*link::decode_from_broker(sent[0].frame)).epoch, 42U);
  EXPECT_TRUE(h.events().empty());
  h.advance(150);
  h.heartbeat("X");
  EXPECT_EQ(BrokerHarness::of_type(h.sent(), "X", k_unknown).size(), 1U);
}

TEST(BrokerLink, TheBrokerBeatsWhenItHasSentNothing) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  (void)h.sent();
  h.heartbeat("A");
  h.advance(50);
  EXPECT_TRUE(BrokerHarness::of_type(h.sent(), "A", k_heartbeat).empty());
  h.heartbeat("A");
  h.advance(60);
  EXPECT_EQ(BrokerHarness::of_type(h.sent(), "A", k_heartbeat).size(), 1U);
}

TEST(BrokerLink, ASilentDaemonIsLost) {
  BrokerHarness h;
  h.ready("A", "a", 2, 2, {"*"});
  h.ready("B", "b", 1, 1, {"*"});
  h.submit(task_id(1), "bash", "{}");  // A
  h.submit(task_id(2), "bash");        // B (tie, least recently used)
  h.submit(task_id(3), "bash");        // A
  h.started("A", task_id(1));
  h.started("B", task_id(2));
  (void)h.sent();
  beat_through(h, "B", 250);
  EXPECT_TRUE(h.events().empty());
  EXPECT_EQ(h.broker().view(h.now()).executors.size(), 2U);
  beat_through(h, "B", 100);
  const auto events = h.events();
  const auto lost = about(events, task_id(1));
  ASSERT_EQ(lost.size(), 3U);
  EXPECT_EQ(err_text(lost), "planificador: executor a lost\n");
  EXPECT_EQ(lost[1].type(), k_report);
  const auto& json = std::get<protocol::Report>(lost[1].message).json;
  EXPECT_NE(json.find("\"status\":\"error\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"executor\":\"a\""), std::string::npos) << json;
  EXPECT_EQ(exit_code(lost), 125);
  EXPECT_TRUE(about(events, task_id(3)).empty());  // not started: it runs elsewhere
  const auto view = h.broker().view(h.now());
  EXPECT_EQ(view.lost_total, 1U);
  ASSERT_EQ(view.executors.size(), 1U);
  h.exited("B", task_id(2));
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "B"), std::vector<TaskId>{task_id(3)});
}

TEST(BrokerLink, LateEventsOfALostDaemonAreDroppedAndItsHeldTasksCancelled) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  h.submit(task_id(1), "bash");
  h.started("A", task_id(1));
  h.advance(400);
  ASSERT_EQ(h.events().size(), 2U);  // answered: lost
  (void)h.sent();
  h.out("A", task_id(1), "late\n");  // from a peer the broker no longer knows
  EXPECT_EQ(BrokerHarness::of_type(h.sent(), "A", k_unknown).size(), 1U);
  // It comes back under this broker's epoch, still holding the task.
  h.ready("A", "a", 1, 0, {"*"}, {link::HeldTask{task_id(1), false, true}}, 42);
  const auto sent = h.sent();
  const auto cancels = BrokerHarness::of_type(sent, "A", k_cancel);
  ASSERT_EQ(cancels.size(), 1U);
  EXPECT_EQ(cancels[0], protocol::encode(protocol::Cancel{task_id(1)}));
  h.out("A", task_id(1), "more\n");
  h.exited("A", task_id(1), 130);
  EXPECT_TRUE(h.events().empty());
  h.submit(task_id(2), "bash");  // its EXITED freed the slot
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "A"), std::vector<TaskId>{task_id(2)});
}

TEST(BrokerLink, UnstartedTasksAreDispatchedAtMostDispatchAttemptsTimes) {
  auto settings = BrokerHarness::test_settings();
  settings.dispatch_attempts = 2;
  BrokerHarness h(settings);
  h.ready("A", "a", 1, 1, {"*"});
  h.submit(task_id(1), "bash");
  h.advance(400);  // A lost: attempt 1 of 2 over
  EXPECT_TRUE(h.events().empty());
  h.ready("B", "b", 1, 1, {"*"});
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "B"), std::vector<TaskId>{task_id(1)});
  h.advance(400);  // B lost: attempt 2 of 2 over
  const auto events = h.events();
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(err_text(events), "planificador: executor b lost\n");
  EXPECT_EQ(exit_code(events), 125);
}

TEST(BrokerLink, ATaskThatShowedOutputIsNeverRunTwice) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  h.ready("B", "b", 1, 1, {"*"});
  h.submit(task_id(1), "bash");  // A; no STARTED seen, but output
  h.out("A", task_id(1), "partial");
  (void)h.sent();
  beat_through(h, "B", 400);
  const auto events = h.events();
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(exit_code(events), 125);
  EXPECT_TRUE(BrokerHarness::submits(h.sent(), "B").empty());
}

TEST(BrokerLink, TimeNotReadingTheLinkDoesNotCountAsSilence) {
  auto settings = BrokerHarness::test_settings();
  settings.events_capacity = 2;
  BrokerHarness h(settings);
  h.ready("A", "a", 1, 1, {"python"});
  h.submit(task_id(1), "ruby");  // two events: the queue is full
  ASSERT_FALSE(h.broker().reading_link());
  h.advance(10'000);  // the loop would not read A's beats meanwhile
  EXPECT_EQ(h.broker().view(h.now()).executors.size(), 1U);
  EXPECT_EQ(h.events().size(), 2U);
  h.advance(250);
  EXPECT_EQ(h.broker().view(h.now()).executors.size(), 1U);
  h.advance(100);
  EXPECT_TRUE(h.broker().view(h.now()).executors.empty());
}

TEST(BrokerLink, AKnownLinksReadyKeepsListedTasksAndReleasesTheRest) {
  BrokerHarness h;
  h.ready("A", "a", 3, 3, {"*"});
  h.submit(task_id(1), "bash");
  h.submit(task_id(2), "bash", "{}");
  h.submit(task_id(3), "bash");
  h.started("A", task_id(1));
  h.started("A", task_id(2));
  (void)h.sent();
  // A heard nothing from the broker and says READY again: it lists only task 1.
  h.ready("A", "a", 3, 2, {"*"}, {link::HeldTask{task_id(1), false, true}}, 42);
  const auto events = h.events();
  EXPECT_TRUE(about(events, task_id(1)).empty());
  const auto lost = about(events, task_id(2));  // started, gone from its list
  ASSERT_EQ(lost.size(), 3U);
  EXPECT_EQ(exit_code(lost), 125);
  EXPECT_TRUE(about(events, task_id(3)).empty());
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "A"), std::vector<TaskId>{task_id(3)});
  h.exited("A", task_id(1), 0);
  EXPECT_EQ(exit_code(h.events()), 0);
}

TEST(BrokerLink, ADaemonBackOnANewConnectionKeepsItsTasks) {
  BrokerHarness h;
  h.ready("A1", "a", 1, 1, {"*"});
  h.submit(task_id(1), "bash");
  h.started("A1", task_id(1));
  h.ready("A2", "a", 1, 0, {"*"}, {link::HeldTask{task_id(1), false, true}}, 42);
  h.exited("A2", task_id(1), 7);
  const auto events = h.events();
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(exit_code(events), 7);
}

TEST(BrokerLink, AfterARestartHeldTasksAreAdopted) {
  BrokerHarness h;  // a new broker: epoch 42, the daemon was welcomed by epoch 7
  h.ready("A", "a", 2, 0, {"*"},
          {link::HeldTask{task_id(1), true, true}, link::HeldTask{task_id(2), false, false}}, 7);
  EXPECT_TRUE(BrokerHarness::of_type(h.sent(), "A", k_cancel).empty());
  h.out("A", task_id(1), "still here\n");
  h.exited("A", task_id(1), 0);
  auto events = h.events();
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(exit_code(events), 0);
  h.submit(task_id(1), "bash");  // answered: the id is free again
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "A"), std::vector<TaskId>{task_id(1)});
  // Lost later: the adopted task 2 cannot run elsewhere (its SUBMIT is gone).
  h.ready("B", "b", 1, 1, {"*"});
  (void)h.sent();
  beat_through(h, "B", 400);
  events = h.events();
  EXPECT_EQ(exit_code(about(events, task_id(2))), 125);
  EXPECT_EQ(err_text(about(events, task_id(2))), "planificador: executor a lost\n");
  EXPECT_TRUE(about(events, task_id(1)).empty());  // a SUBMIT of this broker's: runs on B
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "B"), std::vector<TaskId>{task_id(1)});
}

TEST(BrokerLink, AdoptedExtendedTasksGetTheirReportWhenLost) {
  BrokerHarness h;
  h.ready("A", "a", 1, 0, {"*"}, {link::HeldTask{task_id(1), true, true}}, 0);
  h.advance(400);
  const auto events = h.events();
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(events[1].type(), k_report);
}

TEST(BrokerLink, HeldTasksAnotherDaemonHoldsAreCancelled) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  h.submit(task_id(1), "bash");
  h.ready("B", "b", 1, 0, {"*"}, {link::HeldTask{task_id(1), false, true}}, 7);
  EXPECT_EQ(BrokerHarness::of_type(h.sent(), "B", k_cancel).size(), 1U);
  h.exited("B", task_id(1), 130);
  EXPECT_TRUE(h.events().empty());
  h.exited("A", task_id(1), 0);
  EXPECT_EQ(exit_code(h.events()), 0);
}

TEST(BrokerLink, DrainReturnsTasksElsewhereAndByeRemovesTheDaemon) {
  BrokerHarness h;
  h.ready("A", "a", 2, 2, {"*"});
  h.submit(task_id(1), "bash");
  h.submit(task_id(2), "bash");
  h.started("A", task_id(1));
  (void)h.sent();
  h.link("A", link::encode(link::Draining{}));
  h.submit(task_id(3), "bash");  // never to A now; it waits (A serves it, A will be back)
  h.returned("A", task_id(2));
  EXPECT_TRUE(h.sent().empty());
  EXPECT_TRUE(h.events().empty());
  h.ready("B", "b", 1, 1, {"*"});
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "B"), std::vector<TaskId>{task_id(2)});
  h.out("A", task_id(1), "done\n");
  h.exited("A", task_id(1), 0);
  h.link("A", link::encode(link::Bye{}));
  const auto events = h.events();
  ASSERT_EQ(events.size(), 2U);
  const auto view = h.broker().view(h.now());
  ASSERT_EQ(view.executors.size(), 1U);
  EXPECT_EQ(view.executors[0].name, "b");
  EXPECT_EQ(view.lost_total, 0U);
  h.exited("B", task_id(2), 0);
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "B"), std::vector<TaskId>{task_id(3)});
}

TEST(BrokerLink, ReturnedTasksCostNoAttempt) {
  auto settings = BrokerHarness::test_settings();
  settings.dispatch_attempts = 1;
  BrokerHarness h(settings);
  h.ready("A", "a", 1, 1, {"*"});
  h.submit(task_id(1), "bash");
  h.returned("A", task_id(1));  // back to A at once (it is not draining)
  EXPECT_EQ(BrokerHarness::submits(h.sent(), "A").size(), 2U);
  h.exited("A", task_id(1), 0);
  EXPECT_EQ(exit_code(h.events()), 0);
}

}  // namespace
}  // namespace planificador::testing
