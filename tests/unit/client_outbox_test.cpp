// ClientOutbox: per-connection queues of the client endpoint, their bound, and what
// happens to a connection found gone.

#include "planificador/transport/client_outbox.hpp"

#include <atomic>
#include <thread>

#include "fake_backend.hpp"
#include "wait.hpp"
#include <gtest/gtest.h>

namespace planificador::transport {
namespace {

using namespace std::chrono_literals;
using testing::make_id;
using testing::wait_until;

// Sends every frame, recording (peer, frame) in order.
struct Recorder {
  std::vector<std::pair<std::string, std::string>> sent;
  std::set<std::string> busy;
  std::set<std::string> gone;

  std::vector<protocol::TaskId> drain(ClientOutbox& outbox) {
    return outbox.send_pending([this](const std::string& peer, const std::string& frame) {
      if (gone.contains(peer)) {
        return PeerSend::gone;
      }
      if (busy.contains(peer)) {
        return PeerSend::busy;
      }
      sent.emplace_back(peer, frame);
      return PeerSend::sent;
    });
  }
};

TEST(ClientOutbox, EventsGoToTheOwnerInOrderAndEndWithExited) {
  ClientOutbox outbox(8);
  const auto id = make_id("task");
  EXPECT_FALSE(outbox.push(id, "unowned", false, false)) << "nobody claimed it";
  ASSERT_TRUE(outbox.claim(id, "peer-a"));
  EXPECT_FALSE(outbox.claim(id, "peer-b")) << "an id has one owner";
  EXPECT_EQ(outbox.owner(id), "peer-a");
  EXPECT_TRUE(outbox.push(id, "one", true, false));
  EXPECT_TRUE(outbox.push(id, "two", true, true));
  EXPECT_FALSE(outbox.owner(id)) << "EXITED ends the ownership";
  Recorder recorder;
  EXPECT_TRUE(recorder.drain(outbox).empty());
  ASSERT_EQ(recorder.sent.size(), 2U);
  EXPECT_EQ(recorder.sent[0], (std::pair<std::string, std::string>("peer-a", "one")));
  EXPECT_EQ(recorder.sent[1], (std::pair<std::string, std::string>("peer-a", "two")));
  EXPECT_EQ(outbox.connections(), 0U);
  EXPECT_FALSE(outbox.has_pending());
}

TEST(ClientOutbox, AFullQueueBlocksOnlyItsOwnConnectionsPushes) {
  ClientOutbox outbox(2);
  const auto slow = make_id("slow");
  const auto fast = make_id("fast");
  ASSERT_TRUE(outbox.claim(slow, "slow"));
  ASSERT_TRUE(outbox.claim(fast, "fast"));
  outbox.push(slow, "s1", true, false);
  outbox.push(slow, "s2", true, false);
  std::atomic<bool> pushed{false};
  std::thread worker([&] {
    outbox.push(slow, "s3", true, false);
    pushed = true;
  });
  outbox.push(fast, "f1", true, true);  // another connection's queue has room
  Recorder recorder;
  recorder.busy.insert("slow");
  (void)recorder.drain(outbox);
  ASSERT_EQ(recorder.sent.size(), 1U);
  EXPECT_EQ(recorder.sent[0].second, "f1");
  EXPECT_FALSE(pushed.load()) << "the slow connection's push must wait";
  recorder.busy.clear();
  (void)recorder.drain(outbox);
  ASSERT_TRUE(wait_until([&] { return pushed.load(); }, 5s));
  worker.join();
  (void)recorder.drain(outbox);
  ASSERT_EQ(recorder.sent.size(), 4U);
  EXPECT_EQ(recorder.sent[3].second, "s3");
  // A push that may not wait (the transport thread's) goes beyond the bound.
  outbox.push(slow, "n1", false, false);
  outbox.push(slow, "n2", false, false);
  outbox.push(slow, "n3", false, false);
  EXPECT_EQ(outbox.size(), 3U);
}

TEST(ClientOutbox, AGoneConnectionsTasksAreHandedBackAndItsEventsDiscarded) {
  ClientOutbox outbox(2);
  const auto first = make_id("first");
  const auto second = make_id("second");
  ASSERT_TRUE(outbox.claim(first, "gone"));
  ASSERT_TRUE(outbox.claim(second, "gone"));
  outbox.push(first, "f1", true, false);
  outbox.push(first, "f2", true, false);
  std::thread blocked([&] { outbox.push(first, "f3", true, false); });
  Recorder recorder;
  recorder.gone.insert("gone");
  auto orphans = recorder.drain(outbox);
  std::sort(orphans.begin(), orphans.end());
  std::vector<protocol::TaskId> expected{first, second};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(orphans, expected);
  blocked.join();  // the waiting push gives up: its connection is gone
  EXPECT_TRUE(recorder.sent.empty());
  // The cancelled tasks' last events are discarded, and then the connection is forgotten.
  outbox.push(first, "exit", true, true);
  outbox.push(second, "exit", true, true);
  EXPECT_EQ(outbox.discarded(), 5U);
  EXPECT_EQ(outbox.connections(), 0U);
  EXPECT_FALSE(outbox.has_pending());
}

TEST(ClientOutbox, ReleaseForgetsASubmissionThatCameToNothing) {
  ClientOutbox outbox(2);
  const auto id = make_id("nothing");
  ASSERT_TRUE(outbox.claim(id, "peer"));
  EXPECT_EQ(outbox.connections(), 1U);
  outbox.release(id);
  EXPECT_FALSE(outbox.owner(id));
  EXPECT_EQ(outbox.connections(), 0U);
  EXPECT_TRUE(outbox.claim(id, "another")) << "the id is free again";
}

TEST(ClientOutbox, CloseDiscardsAndWakesEveryWaitingPush) {
  ClientOutbox outbox(1);
  const auto id = make_id("closing");
  ASSERT_TRUE(outbox.claim(id, "peer"));
  outbox.push(id, "kept", true, false);
  std::thread blocked([&] { outbox.push(id, "waiting", true, false); });
  outbox.close();
  blocked.join();
  outbox.push_to("peer", "answer");
  EXPECT_EQ(outbox.discarded(), 2U);
  EXPECT_EQ(outbox.size(), 1U);
}

TEST(ClientOutbox, AnswersGoToTheConnectionThatAsked) {
  ClientOutbox outbox(1);
  outbox.push_to("asker", "runners");
  outbox.push_to("asker", "again");  // never blocks, even beyond the bound
  Recorder recorder;
  (void)recorder.drain(outbox);
  ASSERT_EQ(recorder.sent.size(), 2U);
  EXPECT_EQ(recorder.sent[0], (std::pair<std::string, std::string>("asker", "runners")));
  EXPECT_EQ(outbox.connections(), 0U);
}

}  // namespace
}  // namespace planificador::transport
