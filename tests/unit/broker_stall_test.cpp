// A broker that did not run for a while (stopped, or its host stalled): that time is not the
// daemons' silence (docs/fleet.md §3), so waking up it loses none of them, and a daemon that
// is really gone is still lost once it has been silent on the link clock.

#include "broker_harness.hpp"
#include <gtest/gtest.h>

namespace planificador::testing {
namespace {

using protocol::TaskId;

std::int32_t exit_code(const std::vector<Event>& events) {
  return std::get<protocol::Exited>(events.back().message).exit_code;
}

TEST(BrokerStall, TheBrokersOwnStallIsNotSilenceOfTheDaemons) {
  BrokerHarness h;  // heartbeat 100 ms x 3
  h.ready("A", "a", 1, 1, {"*"});
  h.submit(task_id(1), "bash");
  h.started("A", task_id(1));
  h.advance(50);
  // The broker did not run for two seconds; the first tick after it comes next.
  h.broker().on_stalled(broker::Time{2000}, h.now() + broker::Time{2000});
  h.advance(2000);
  EXPECT_EQ(h.broker().view(h.now()).executors.size(), 1U);
  EXPECT_EQ(h.broker().view(h.now()).lost_total, 0U);
  EXPECT_TRUE(h.events().empty());
  // What A sends on waking is read, and the task ends as A says.
  h.heartbeat("A");
  h.advance(200);
  h.exited("A", task_id(1), 0);
  auto events = h.events();
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(exit_code(events), 0);
}

TEST(BrokerStall, ADaemonSilentAfterTheStallIsStillLost) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  h.submit(task_id(1), "bash");
  h.started("A", task_id(1));
  h.advance(50);
  h.broker().on_stalled(broker::Time{2000}, h.now() + broker::Time{2000});
  h.advance(2000);
  h.advance(200);  // 250 ms of link time since A was heard
  EXPECT_EQ(h.broker().view(h.now()).executors.size(), 1U);
  h.advance(100);
  EXPECT_TRUE(h.broker().view(h.now()).executors.empty());
  const auto events = h.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(exit_code(events), 125);
  EXPECT_EQ(err_text(events), "planificador: executor a lost\n");
}

TEST(BrokerStall, WithoutTheNoteTheSameGapLosesTheDaemon) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  h.submit(task_id(1), "bash");
  h.started("A", task_id(1));
  h.advance(2050);
  EXPECT_TRUE(h.broker().view(h.now()).executors.empty());
  EXPECT_EQ(exit_code(h.events()), 125);
}

TEST(BrokerStall, AStallWhileTheLinkIsNotReadIsNotCountedTwice) {
  auto settings = BrokerHarness::test_settings();
  settings.events_capacity = 2;
  BrokerHarness h(settings);
  h.ready("A", "a", 1, 1, {"python"});
  h.submit(task_id(1), "ruby");  // two events: the queue is full, the link clock stands still
  ASSERT_FALSE(h.broker().reading_link());
  h.broker().on_stalled(broker::Time{1000}, h.now() + broker::Time{1000});
  h.advance(1000);
  EXPECT_EQ(h.events().size(), 2U);  // taken: the link clock runs again
  h.advance(250);
  EXPECT_EQ(h.broker().view(h.now()).executors.size(), 1U);
  h.advance(100);
  EXPECT_TRUE(h.broker().view(h.now()).executors.empty());
}

}  // namespace
}  // namespace planificador::testing
