// The broker's client endpoint (docs/protocol.md): each connection receives the events of
// its own tasks only, cancels only its own, and one that is gone or stops reading has its
// tasks cancelled.

#include "broker_harness.hpp"
#include <gtest/gtest.h>

namespace planificador::testing {
namespace {

using protocol::TaskId;

constexpr unsigned char k_exited = 0x03;
constexpr unsigned char k_cancel = 0x02;

std::string submit_frame(const TaskId& id, std::optional<std::string> options = std::nullopt) {
  return protocol::encode(protocol::Submit{id, "bash", "x", std::move(options)});
}

TEST(BrokerClients, EachConnectionGetsItsOwnTasksEventsOnly) {
  BrokerHarness h;
  h.ready("A", "a", 2, 2, {"*"});
  h.client("first", submit_frame(task_id(1)));
  h.client("second", submit_frame(task_id(2), "{}"));
  h.submit(task_id(3), "bash");  // SPEC's intake
  h.started("A", task_id(1));
  h.started("A", task_id(2));
  h.out("A", task_id(1), "one");
  h.out("A", task_id(2), "two");
  h.exited("A", task_id(1), 0);
  h.exited("A", task_id(2), 4);
  const auto sent = h.client_events();
  ASSERT_EQ(sent.size(), 4U);
  for (const auto& [peer, event] : sent) {
    EXPECT_EQ(peer, event.id() == task_id(1) ? "first" : "second");
  }
  EXPECT_EQ(sent[1].second.type(), k_exited);
  EXPECT_TRUE(h.events().empty()) << "a client connection's events reached SPEC's events socket";
  // The intake task's events go to the events socket, as before.
  h.started("A", task_id(3));
  h.exited("A", task_id(3), 0);
  EXPECT_EQ(h.events().size(), 1U);
  EXPECT_TRUE(h.client_events().empty());
  EXPECT_EQ(h.broker().clients().connections(), 0U) << "connections outlived their tasks";
}

TEST(BrokerClients, ACancelEndsOnlyTheConnectionsOwnTaskAndIdsAreNotTaken) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  h.client("owner", submit_frame(task_id(1)));
  (void)h.sent();
  h.client("other", protocol::encode(protocol::Cancel{task_id(1)}));
  h.client("other", submit_frame(task_id(1)));  // the same id: dropped, nothing answered
  EXPECT_TRUE(BrokerHarness::of_type(h.sent(), "A", k_cancel).empty());
  EXPECT_TRUE(h.client_events().empty());
  h.client("owner", protocol::encode(protocol::Cancel{task_id(1)}));
  EXPECT_EQ(BrokerHarness::of_type(h.sent(), "A", k_cancel).size(), 1U);
  // A task still queued in the broker is answered at once, to its connection.
  h.client("owner", submit_frame(task_id(2)));
  h.client("owner", protocol::encode(protocol::Cancel{task_id(2)}));
  const auto sent = h.client_events();
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.back().first, "owner");
  EXPECT_EQ(std::get<protocol::Exited>(sent.back().second.message).exit_code, 130);
}

TEST(BrokerClients, UnservedAndMalformedSubmitsAreAnsweredToTheirConnection) {
  BrokerHarness h;  // no daemon serves anything
  h.client("asker", submit_frame(task_id(1)));
  auto bad = submit_frame(task_id(2));
  bad.resize(bad.size() - 1);
  h.client("asker", bad);
  h.client("asker", "\x20runners request without an answer here");
  h.advance(1100);  // the first waited for a daemon for broker.unserved_ms
  const auto sent = h.client_events();
  ASSERT_EQ(sent.size(), 4U);  // APPEND_ERR and EXITED 125 for each of the two SUBMITs
  for (const auto& [peer, event] : sent) {
    EXPECT_EQ(peer, "asker");
  }
  EXPECT_EQ(std::get<protocol::Exited>(sent[1].second.message).exit_code, 125);
  EXPECT_EQ(std::get<protocol::Exited>(sent[3].second.message).exit_code, 125);
  EXPECT_TRUE(h.events().empty());
}

TEST(BrokerClients, AGoneConnectionsTasksAreCancelledOnTheirDaemon) {
  BrokerHarness h;
  h.ready("A", "a", 1, 1, {"*"});
  h.client("leaving", submit_frame(task_id(1)));
  h.started("A", task_id(1));
  h.out("A", task_id(1), "unread");
  (void)h.sent();
  EXPECT_TRUE(h.client_events({"leaving"}).empty());
  EXPECT_EQ(BrokerHarness::of_type(h.sent(), "A", k_cancel).size(), 1U);
  h.exited("A", task_id(1), 130);  // discarded: nobody to give it to
  EXPECT_TRUE(h.client_events().empty());
  EXPECT_TRUE(h.events().empty());
  EXPECT_EQ(h.broker().clients().connections(), 0U);
}

TEST(BrokerClients, AConnectionThatStopsReadingIsCutOffAndOthersGoOn) {
  auto settings = BrokerHarness::test_settings();
  settings.client_cut_off = 8;
  BrokerHarness h(settings);
  h.ready("A", "a", 2, 2, {"*"});
  h.client("stuck", submit_frame(task_id(1)));
  h.client("reader", submit_frame(task_id(2)));
  h.started("A", task_id(1));
  h.started("A", task_id(2));
  (void)h.sent();
  for (int i = 0; i < 8; ++i) {
    h.out("A", task_id(1), "chunk");
    EXPECT_TRUE(h.client_events({}, {"stuck"}).empty());
  }
  EXPECT_TRUE(BrokerHarness::of_type(h.sent(), "A", k_cancel).empty()) << "not yet over";
  h.out("A", task_id(1), "one too many");
  h.out("A", task_id(2), "for the reader");
  const auto sent = h.client_events({}, {"stuck"});
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(sent[0].first, "reader");
  const auto cancels = BrokerHarness::of_type(h.sent(), "A", k_cancel);
  ASSERT_EQ(cancels.size(), 1U);
  const TaskId stuck = task_id(1);
  EXPECT_EQ(cancels[0].substr(1, 32), std::string(stuck.bytes.begin(), stuck.bytes.end()));
  EXPECT_TRUE(h.broker().reading_link()) << "one stuck client must not stop the link";
}

}  // namespace
}  // namespace planificador::testing
