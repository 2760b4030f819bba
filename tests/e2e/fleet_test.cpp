// The fleet against the real thing: the planificador-broker binary and three planificador
// daemons (workers 1, 1 and 2; only the first has the node runner) on 127.0.0.1, real
// containers behind them. One cluster serves the whole suite: how tasks spread by slots, a
// busy daemon never holding quick tasks back, routing by runner, CANCEL through the broker,
// and a fourth daemon joining under load. Every test checks that each of its tasks got
// exactly one EXITED and no event after it.

#include <algorithm>
#include <future>
#include <map>
#include <set>
#include <signal.h>
#include <thread>

#include "daemon_process.hpp"
#include "e2e_common.hpp"
#include "fleet_cluster.hpp"
#include "fleet_traffic.hpp"
#include <gtest/gtest.h>

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;
using protocol::TaskId;

constexpr auto k_task_wait = 180s;

const std::string k_a = "e2e-a";  // workers 1, bash and node
const std::string k_b = "e2e-b";  // workers 1, bash
const std::string k_c = "e2e-c";  // workers 2, bash
const std::string k_d = "e2e-d";  // workers 1, bash: joins under load

long long ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

class FleetTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    if (!s_cluster) {
      return;
    }
    // The collector stays connected while the daemons drain: what they send last counts.
    const std::string left = s_cluster->tear_down();
    EXPECT_EQ(left, "") << "tear-down";
    EXPECT_EQ(s_traffic->violations(0ms), "") << "over the whole suite";
    s_traffic.reset();
    s_cluster.reset();
  }

  void SetUp() override {
    PLANIFICADOR_REQUIRE_E2E();
    if (!s_cluster && s_error.empty()) {
      auto settings =
          fleet_settings({fleet_daemon(k_a, 1, {"planificador/bash", "planificador/node"}),
                          fleet_daemon(k_b, 1), fleet_daemon(k_c, 2)});
      s_cluster = FleetCluster::start(settings, s_error);
      if (s_cluster) {
        s_traffic = std::make_unique<FleetTraffic>(*s_cluster);
      }
    }
    ASSERT_NE(s_cluster, nullptr) << s_error;
  }

  void TearDown() override {
    if (!s_traffic) {
      return;
    }
    // Each test's own tasks (and no stray event): checked here, after a quiet moment.
    EXPECT_EQ(s_traffic->violations(), "");
  }

  static FleetCluster& cluster() { return *s_cluster; }
  static FleetTraffic& traffic() { return *s_traffic; }
  static EventCollector& events() { return s_traffic->events(); }

  // The daemon that ran `id`, from its REPORT.
  static std::string executor_of(const TaskId& id) {
    return report_field(events().task(id).report, "executor");
  }

  static std::string context() { return s_cluster->broker_log().substr(0, 6000); }

  static inline std::unique_ptr<FleetCluster> s_cluster;
  static inline std::unique_ptr<FleetTraffic> s_traffic;
  static inline std::string s_error;
};

// 1. Tasks spread by slots: with every daemon kept busy, each runs its share of the work.
TEST_F(FleetTest, TasksSpreadInProportionToSlots) {
  constexpr std::size_t k_tasks = 200;
  std::vector<TaskId> ids;
  for (std::size_t i = 0; i < k_tasks; ++i) {
    ids.push_back(fleet_id("share", i));
    ASSERT_TRUE(traffic().submit(ids.back(), "bash",
                                 "sleep 0.3\necho share " + std::to_string(i) + "\n", "{}"));
  }
  ASSERT_TRUE(events().wait_exited(ids, k_task_wait)) << events().exited() << " answered";
  std::map<std::string, std::size_t> ran;
  for (std::size_t i = 0; i < k_tasks; ++i) {
    const auto task = events().task(ids[i]);
    EXPECT_EQ(task.exit_code, 0) << i << ": " << task.err;
    EXPECT_EQ(task.out, "share " + std::to_string(i) + "\n");
    EXPECT_EQ(report_field(task.report, "status"), "exited") << i;
    ++ran[executor_of(ids[i])];
  }
  const std::map<std::string, double> slots{{k_a, 1}, {k_b, 1}, {k_c, 2}};
  for (const auto& [name, count] : ran) {
    print_figure("share of " + (name.empty() ? std::string("(no report)") : name),
                 std::to_string(count) + " of " + std::to_string(k_tasks));
  }
  EXPECT_EQ(ran.size(), slots.size());
  for (const auto& [name, slot_count] : slots) {
    const double expected = slot_count / 4.0;
    const double share = static_cast<double>(ran[name]) / static_cast<double>(k_tasks);
    EXPECT_NEAR(share, expected, 0.15 * expected) << name << " ran " << ran[name];
  }
}

// 2. A daemon busy with a long task gets nothing more; the quick tasks sent next run on the
// free slots elsewhere and never wait behind it.
TEST_F(FleetTest, QuickTasksNeverWaitBehindABusyDaemon) {
  constexpr auto k_long = 8s;
  const TaskId long_id = fleet_id("long", 0);
  ASSERT_TRUE(
      traffic().submit(long_id, image_on("bash", k_a), "echo up\nsleep 8\necho done\n", "{}"));
  ASSERT_TRUE(traffic().printed(long_id, "up\n", 60s)) << context();
  const auto long_started = Clock::now();

  constexpr std::size_t k_quick = 12;
  std::vector<TaskId> quick;
  for (std::size_t i = 0; i < k_quick; ++i) {
    quick.push_back(fleet_id("quick", i));
    ASSERT_TRUE(
        traffic().submit(quick.back(), "bash", "echo quick " + std::to_string(i) + "\n", "{}"));
  }
  ASSERT_TRUE(events().wait_exited(quick, 60s)) << context();
  const auto quick_done = Clock::now();
  ASSERT_TRUE(events().wait_exited({long_id}, 60s));
  const auto long_task = events().task(long_id);
  EXPECT_EQ(long_task.exit_code, 0);
  EXPECT_EQ(long_task.out, "up\ndone\n");
  EXPECT_EQ(executor_of(long_id), k_a);

  long long slowest = 0;
  for (std::size_t i = 0; i < k_quick; ++i) {
    const auto task = events().task(quick[i]);
    EXPECT_EQ(task.exit_code, 0) << i;
    EXPECT_EQ(task.out, "quick " + std::to_string(i) + "\n");
    EXPECT_NE(executor_of(quick[i]), k_a) << i << " ran on the busy daemon";
    EXPECT_LT(task.exit_at, long_task.exit_at) << i << " waited behind the long task";
    slowest = std::max(slowest, ms_between(traffic().sent_at(quick[i]), task.exit_at));
  }
  print_figure("quick task latency beside a busy daemon, slowest ms", std::to_string(slowest));
  // Far below the long task: each came within a quarter of its duration.
  EXPECT_LT(slowest, std::chrono::duration_cast<std::chrono::milliseconds>(k_long).count() / 4);
  EXPECT_LT(quick_done - long_started, k_long / 2);
}

// 3. Routing by runner: node tasks only reach the daemon that has the node runner; an image
// no daemon serves is answered at once.
TEST_F(FleetTest, TasksGoOnlyToDaemonsWithTheirRunner) {
  const auto view = cluster().view();
  ASSERT_TRUE(view);
  for (const auto& name : {k_a, k_b, k_c}) {
    const auto entry = FleetCluster::executor(*view, name);
    ASSERT_TRUE(entry) << name;
    const bool has_node =
        std::find(entry->patterns.begin(), entry->patterns.end(), "node") != entry->patterns.end();
    EXPECT_EQ(has_node, name == k_a) << name;
  }
  constexpr std::size_t k_node = 6;
  std::vector<TaskId> ids;
  for (std::size_t i = 0; i < k_node; ++i) {
    ids.push_back(fleet_id("node", i));
    ASSERT_TRUE(traffic().submit(ids.back(), "node",
                                 "console.log('node " + std::to_string(i) + "');\n",
                                 i % 2 == 0 ? std::optional<std::string>("{}") : std::nullopt));
  }
  // Bash tasks beside them: the fleet routes both kinds at once, and the daemons without
  // node keep the most free slots throughout, which alone would draw the node tasks there.
  for (std::size_t i = 0; i < 6; ++i) {
    ids.push_back(fleet_id("beside-node", i));
    ASSERT_TRUE(traffic().submit(ids.back(), "bash", "echo beside\n", "{}"));
  }
  const TaskId cobol = fleet_id("cobol", 0);
  const TaskId cobol_plain = fleet_id("cobol", 1);
  ASSERT_TRUE(traffic().submit(cobol, "cobol", "DISPLAY 'HI'.", "{}"));
  ASSERT_TRUE(traffic().submit(cobol_plain, "cobol", "DISPLAY 'HI'."));
  ASSERT_TRUE(events().wait_exited({cobol, cobol_plain}, 10s));
  ASSERT_TRUE(events().wait_exited(ids, k_task_wait)) << context();
  for (std::size_t i = 0; i < k_node; ++i) {
    const auto task = events().task(ids[i]);
    EXPECT_EQ(task.exit_code, 0) << i << ": " << task.err;
    EXPECT_EQ(task.out, "node " + std::to_string(i) + "\n");
    if (i % 2 == 0) {
      EXPECT_EQ(executor_of(ids[i]), k_a) << i;
    } else {
      EXPECT_FALSE(task.report.has_value());
    }
  }
  for (std::size_t i = k_node; i < ids.size(); ++i) {
    EXPECT_EQ(events().task(ids[i]).exit_code, 0);
  }
  for (const auto& id : {cobol, cobol_plain}) {
    const auto task = events().task(id);
    EXPECT_EQ(task.exit_code, 125);
    EXPECT_EQ(task.err, "planificador: no executor of the fleet serves image `cobol`\n");
    EXPECT_TRUE(task.out.empty());
  }
  EXPECT_EQ(report_field(events().task(cobol).report, "status"), "rejected");
  EXPECT_FALSE(events().task(cobol_plain).report.has_value());
}

// 10. CANCEL through the broker: to the owner of a running task from intake and from
// control, and at once for a task still waiting in the broker.
TEST_F(FleetTest, CancelReachesTheOwnerAndEndsAQueuedTaskAtOnce) {
  // Every slot busy, each task on the daemon its image names.
  const std::vector<std::pair<TaskId, std::string>> running{{fleet_id("cancel-run", 0), k_a},
                                                            {fleet_id("cancel-run", 1), k_b},
                                                            {fleet_id("cancel-run", 2), k_c},
                                                            {fleet_id("cancel-run", 3), k_c}};
  for (const auto& [id, daemon] : running) {
    ASSERT_TRUE(traffic().submit(id, image_on("bash", daemon), "echo up\nsleep 60\n", "{}"));
  }
  for (const auto& [id, daemon] : running) {
    ASSERT_TRUE(traffic().printed(id, "up\n", 60s)) << daemon << "\n" << context();
  }
  const TaskId queued = fleet_id("cancel-queued", 0);
  ASSERT_TRUE(traffic().submit(queued, "bash", "echo never\n", "{}"));
  ASSERT_TRUE(
      cluster().wait_view([](const broker::FleetView& view) { return view.queued == 1; }, 10s));

  const auto queued_cancel = Clock::now();
  ASSERT_TRUE(traffic().cancel(queued));
  ASSERT_TRUE(events().wait_exited({queued}, 5s));
  const auto waiting = events().task(queued);
  EXPECT_EQ(waiting.exit_code, 130);
  EXPECT_EQ(waiting.err, "planificador: cancelled\n");
  EXPECT_TRUE(waiting.out.empty());
  EXPECT_EQ(report_field(waiting.report, "status"), "cancelled");
  const auto queued_ms = ms_between(queued_cancel, waiting.exit_at);
  print_figure("cancel of a task queued in the broker, ms", std::to_string(queued_ms));
  EXPECT_LT(queued_ms, 500);

  // Two from intake, two from control, alternately.
  for (std::size_t i = 0; i < running.size(); ++i) {
    const auto& id = running[i].first;
    const auto asked = Clock::now();
    if (i % 2 == 0) {
      ASSERT_TRUE(traffic().cancel(id));
    } else {
      traffic().cancel_on_control(id);
    }
    ASSERT_TRUE(events().wait_exited({id}, 10s)) << i << "\n" << context();
    const auto task = events().task(id);
    const auto took = ms_between(asked, task.exit_at);
    print_figure(std::string("cancel of a running task from ") +
                     (i % 2 == 0 ? "intake" : "control") + " on " + running[i].second + ", ms",
                 std::to_string(took));
    EXPECT_EQ(task.exit_code, 130) << i;
    EXPECT_EQ(task.out, "up\n") << i;
    EXPECT_TRUE(task.err.ends_with("planificador: cancelled\n")) << task.err;
    EXPECT_EQ(report_field(task.report, "status"), "cancelled") << i;
    EXPECT_EQ(executor_of(id), running[i].second) << "answered by its owner";
    EXPECT_LT(took, 2000) << i;
  }
  // A CANCEL for a task that is over is ignored.
  ASSERT_TRUE(traffic().cancel(running[0].first));
  ASSERT_TRUE(traffic().cancel(queued));
}

// 7. A daemon that joins while tasks wait in the broker gets some at once.
TEST_F(FleetTest, ADaemonJoiningUnderLoadGetsWorkAtOnce) {
  constexpr std::size_t k_tasks = 60;
  std::vector<TaskId> ids;
  for (std::size_t i = 0; i < k_tasks; ++i) {
    ids.push_back(fleet_id("join", i));
    ASSERT_TRUE(traffic().submit(ids.back(), "bash",
                                 "echo join " + std::to_string(i) + "\nsleep 0.5\n", "{}"));
  }
  ASSERT_TRUE(
      cluster().wait_view([](const broker::FleetView& view) { return view.running == 4; }, 60s));
  std::string error;
  const auto d = cluster().add_daemon(fleet_daemon(k_d, 1), error, false);
  ASSERT_TRUE(d) << error;
  // Watch the broker's view closely: the first one listing d is when its READY was taken.
  std::optional<Clock::time_point> joined;
  std::optional<Clock::time_point> working;
  std::size_t queued_at_join = 0;
  const auto deadline = Clock::now() + 60s;
  while (!working && Clock::now() < deadline) {
    const auto view = cluster().view();
    const auto now = Clock::now();
    if (!view) {
      continue;
    }
    if (const auto entry = FleetCluster::executor(*view, k_d)) {
      if (!joined) {
        joined = now;
        queued_at_join = view->queued;
      }
      if (entry->held > 0) {
        working = now;
      }
    }
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(joined) << cluster().daemon_log(*d);
  ASSERT_TRUE(working);
  EXPECT_GT(queued_at_join, 0U) << "the fleet was not under load when d joined";
  const auto wait_ms = ms_between(*joined, *working);
  print_figure("joined under load: first task after READY, ms", std::to_string(wait_ms));
  EXPECT_LT(wait_ms, 1000);

  ASSERT_TRUE(events().wait_exited(ids, k_task_wait)) << context();
  std::size_t on_d = 0;
  for (std::size_t i = 0; i < k_tasks; ++i) {
    const auto task = events().task(ids[i]);
    EXPECT_EQ(task.exit_code, 0) << i;
    EXPECT_EQ(task.out, "join " + std::to_string(i) + "\n");
    on_d += executor_of(ids[i]) == k_d ? 1 : 0;
  }
  std::optional<Clock::time_point> first_output;
  for (const auto& id : ids) {
    const auto task = events().task(id);
    if (executor_of(id) == k_d && (!first_output || task.first_at < *first_output)) {
      first_output = task.first_at;
    }
  }
  print_figure("tasks run by the daemon that joined", std::to_string(on_d));
  ASSERT_GT(on_d, 0U);
  print_figure("joined under load: first output of its first task after READY, ms",
               std::to_string(ms_between(*joined, *first_output)));
  // It leaves as it came: drained, and the broker no longer lists it.
  EXPECT_EQ(cluster().terminate(*d, 60s), 0) << cluster().daemon_log(*d);
  EXPECT_TRUE(containers_of(cluster().instance(*d)).empty());
  EXPECT_TRUE(cluster().wait_view(
      [](const broker::FleetView& view) { return !FleetCluster::executor(view, k_d); }, 10s));
}

// 6. planctl's default, the client endpoint, works against the broker as against a lone
// daemon: concurrent runs each print exactly their own task's output, which never reaches
// SPEC's events socket.
TEST_F(FleetTest, PlanctlRunsThroughTheBrokersClientEndpoint) {
  constexpr int k_runs = 6;
  std::vector<std::future<CommandResult>> runs;
  for (int run = 0; run < k_runs; ++run) {
    runs.push_back(std::async(std::launch::async, [run] {
      const std::string tag = "fleet run " + std::to_string(run);
      return run_command({test_binary_dir() + "/planctl", "run", "--image", "bash", "--endpoint",
                          cluster().clients(), "--report", "-"},
                         "echo '" + tag + " one'; sleep 0.1; echo '" + tag + " two'\nexit " +
                             std::to_string(run) + "\n",
                         k_task_wait);
    }));
  }
  std::set<std::string> executors;
  for (int run = 0; run < k_runs; ++run) {
    const auto result = runs[run].get();
    const std::string tag = "fleet run " + std::to_string(run);
    EXPECT_EQ(result.exit_code, run) << result.err;
    EXPECT_EQ(result.out, tag + " one\n" + tag + " two\n");
    const auto report = result.err.substr(result.err.rfind('{'));
    executors.insert(report_field(report, "executor"));
  }
  EXPECT_GE(executors.size(), 2U) << "the broker spread the runs over its daemons";
  // Nothing of these tasks came out of the events socket (TearDown checks for strays).
}

}  // namespace
}  // namespace planificador::testing
