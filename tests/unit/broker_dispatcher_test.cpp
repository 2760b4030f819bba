// The dispatcher: routes of executors serving an image, ranking by credit, arrival order,
// waiting tasks and their expiry (docs/fleet.md §2).

#include "broker_harness.hpp"
#include <gtest/gtest.h>

#include "planificador/broker/dispatcher.hpp"

namespace planificador::broker {
namespace {

using testing::task_id;

constexpr Time k_now{1000};

std::vector<std::pair<int, ExecutorId>> drain(Dispatcher& dispatcher,
                                              const std::vector<protocol::TaskId>& ids) {
  std::vector<std::pair<int, ExecutorId>> order;
  while (const auto next = dispatcher.next(k_now)) {
    const auto at = std::find(ids.begin(), ids.end(), next->task);
    order.emplace_back(static_cast<int>(at - ids.begin()), next->executor);
  }
  return order;
}

TEST(Dispatcher, RanksByCreditThenLeastRecentlyUsedThenId) {
  Dispatcher d;
  d.upsert(2, {"*"}, true);
  d.upsert(1, {"*"}, true);
  d.set_credit(1, 1);
  d.set_credit(2, 2);
  std::vector<protocol::TaskId> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(task_id(i));
    ASSERT_EQ(d.offer(ids.back(), static_cast<std::uint64_t>(i) + 1, "bash", false, k_now),
              Placement::queued);
  }
  // 2 has more; then 1 and 2 tie at 1 and 1 was never used; then 2.
  EXPECT_EQ(drain(d, ids), (std::vector<std::pair<int, ExecutorId>>{{0, 2}, {1, 1}, {2, 2}}));
  EXPECT_EQ(d.credit(1), 0U);
  EXPECT_EQ(d.credit(2), 0U);
}

TEST(Dispatcher, TheOldestRunnableTaskGoesFirst) {
  Dispatcher d;
  d.upsert(1, {"python"}, true);
  d.upsert(2, {"c"}, true);
  const std::vector<protocol::TaskId> ids{task_id(0), task_id(1), task_id(2), task_id(3)};
  (void)d.offer(ids[0], 1, "python", false, k_now);
  (void)d.offer(ids[1], 2, "c", false, k_now);
  (void)d.offer(ids[2], 3, "python", false, k_now);
  (void)d.offer(ids[3], 4, "c", false, k_now);
  EXPECT_FALSE(d.next(k_now));
  d.set_credit(2, 1);
  EXPECT_EQ(drain(d, ids), (std::vector<std::pair<int, ExecutorId>>{{1, 2}}));
  d.set_credit(1, 5);
  d.set_credit(2, 5);
  EXPECT_EQ(drain(d, ids), (std::vector<std::pair<int, ExecutorId>>{{0, 1}, {2, 1}, {3, 2}}));
}

TEST(Dispatcher, ARequeuedTaskKeepsItsPlaceInArrivalOrder) {
  Dispatcher d;
  d.upsert(1, {"*"}, true);
  const std::vector<protocol::TaskId> ids{task_id(0), task_id(1), task_id(2)};
  (void)d.offer(ids[1], 2, "bash", false, k_now);
  (void)d.offer(ids[2], 3, "bash", false, k_now);
  (void)d.offer(ids[0], 1, "bash", true, k_now);  // given back: it came first
  d.set_credit(1, 3);
  EXPECT_EQ(drain(d, ids), (std::vector<std::pair<int, ExecutorId>>{{0, 1}, {1, 1}, {2, 1}}));
}

TEST(Dispatcher, WithdrawnTasksAreSkippedAndDoNotPileUp) {
  Dispatcher d;
  d.upsert(1, {"*"}, true);
  for (int i = 0; i < 10000; ++i) {
    (void)d.offer(task_id(i), static_cast<std::uint64_t>(i) + 1, "bash", false, k_now);
    EXPECT_TRUE(d.withdraw(task_id(i)));
  }
  EXPECT_FALSE(d.withdraw(task_id(1)));
  EXPECT_EQ(d.size(), 0U);
  (void)d.offer(task_id(5), 20000, "bash", false, k_now);
  d.set_credit(1, 1);
  const auto next = d.next(k_now);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->task, task_id(5));
}

TEST(Dispatcher, PlacementFollowsWhoIsConnected) {
  Dispatcher d;
  EXPECT_EQ(d.offer(task_id(0), 1, "bash", false, k_now), Placement::waiting);  // nobody yet
  d.upsert(1, {"python"}, true);
  EXPECT_EQ(d.offer(task_id(1), 2, "bash", false, k_now), Placement::unserved);
  EXPECT_EQ(d.offer(task_id(2), 3, "bash", true, k_now), Placement::waiting);  // accepted
  EXPECT_EQ(d.offer(task_id(3), 4, "python", false, k_now), Placement::queued);
  d.upsert(2, {"bash"}, false);  // draining or blocked: it may take bash again later
  EXPECT_EQ(d.offer(task_id(4), 5, "bash", false, k_now), Placement::waiting);
  EXPECT_EQ(d.waiting(), 3U);
  EXPECT_EQ(d.size(), 4U);
  d.set_eligible(2, true);
  d.set_credit(2, 10);
  std::vector<protocol::TaskId> ids{task_id(0), task_id(1), task_id(2), task_id(3), task_id(4)};
  EXPECT_EQ(drain(d, ids), (std::vector<std::pair<int, ExecutorId>>{{0, 2}, {2, 2}, {4, 2}}));
  EXPECT_EQ(d.waiting(), 0U);
}

TEST(Dispatcher, WaitingTasksExpireByTheirWaitNotTheirArrival) {
  Dispatcher d;
  d.upsert(1, {"*"}, true);
  (void)d.offer(task_id(0), 1, "bash", false, Time{0});  // queued at 0
  d.remove(1);
  EXPECT_TRUE(d.expire(Time{-1}, Time{500}).empty());  // it waits from here on
  (void)d.offer(task_id(1), 2, "bash", false, Time{600});
  EXPECT_TRUE(d.expire(Time{499}, Time{600}).empty());
  EXPECT_EQ(d.expire(Time{550}, Time{1550}), std::vector<protocol::TaskId>{task_id(0)});
  EXPECT_EQ(d.expire(Time{600}, Time{1600}), std::vector<protocol::TaskId>{task_id(1)});
  EXPECT_EQ(d.size(), 0U);
}

TEST(Dispatcher, TakeAllReturnsArrivalOrder) {
  Dispatcher d;
  d.upsert(1, {"python"}, true);
  (void)d.offer(task_id(2), 3, "python", false, k_now);
  (void)d.offer(task_id(0), 1, "python", false, k_now);
  d.remove(1);
  (void)d.offer(task_id(1), 2, "c", false, k_now);
  EXPECT_EQ(d.take_all(), (std::vector<protocol::TaskId>{task_id(0), task_id(1), task_id(2)}));
  EXPECT_EQ(d.size(), 0U);
  EXPECT_FALSE(d.next(k_now));
}

TEST(Dispatcher, ManyImagesShareOneRoute) {
  Dispatcher d;
  d.upsert(1, {"*"}, true);
  for (int i = 0; i < 5000; ++i) {
    (void)d.offer(task_id(i), static_cast<std::uint64_t>(i) + 1, "image-" + std::to_string(i),
                  false, k_now);
  }
  d.set_credit(1, 5000);
  int taken = 0;
  while (const auto next = d.next(k_now)) {
    EXPECT_EQ(next->task, task_id(taken));
    ++taken;
  }
  EXPECT_EQ(taken, 5000);
}

}  // namespace
}  // namespace planificador::broker
