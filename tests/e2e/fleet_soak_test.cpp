// A fleet soak against the real thing: 5,000 tasks over the planificador-broker binary and
// three real daemons while one of them is SIGKILLed and started again, twice. Every task is
// answered exactly once: by its own output and exit 0, or — started on the daemon when it
// died — by 125 and `executor … lost`. Tallies by exit code and executor are printed.

#include <cstdlib>
#include <map>
#include <thread>

#include "e2e_common.hpp"
#include "fleet_cluster.hpp"
#include "fleet_traffic.hpp"
#include <gtest/gtest.h>

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;
using protocol::TaskId;

const std::string k_victim_name = "e2e-s3";

std::size_t soak_size() {
  if (const char* size = std::getenv("PLANIFICADOR_FLEET_SOAK_TASKS")) {
    return std::strtoull(size, nullptr, 10);
  }
  return 5000;
}

std::string soak_out(std::size_t i) { return "soak " + std::to_string(i) + "\n"; }

// Waits until `events` has counted `count` EXITED; returns whether it did within `timeout`.
bool events_reach(const EventCollector& events, std::size_t count,
                  std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (events.exited() < count) {
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

TEST(FleetSoak, FiveThousandTasksWhileADaemonIsKilledAndRestartedTwice) {
  PLANIFICADOR_REQUIRE_E2E();
  const std::size_t total = soak_size();
  constexpr std::size_t k_victim = 2;
  std::string error;
  auto cluster =
      FleetCluster::start(fleet_settings({fleet_daemon("e2e-s1", 2), fleet_daemon("e2e-s2", 2),
                                          fleet_daemon(k_victim_name, 2)}),
                          error);
  ASSERT_NE(cluster, nullptr) << error;
  {
    FleetTraffic traffic(*cluster, true);
    std::vector<TaskId> ids;
    for (std::size_t i = 0; i < total; ++i) {
      ids.push_back(fleet_id("soak", i));
    }
    const auto started = Clock::now();
    // One in five a plain SUBMIT (no REPORT), the others SUBMIT_EXT.
    std::thread producer([&] {
      for (std::size_t i = 0; i < total; ++i) {
        if (!traffic.submit(ids[i], "bash", "echo soak " + std::to_string(i) + "\n",
                            i % 5 == 0 ? std::nullopt : std::optional<std::string>("{}"))) {
          ADD_FAILURE() << "intake did not take task " << i;
          return;
        }
      }
    });
    // The victim dies at a third and at two thirds of the run, and comes back each time.
    Clock::time_point last_restart{};
    for (const std::size_t at : {total / 3, 2 * total / 3}) {
      const bool reached = events_reach(traffic.events(), at, 600s);
      EXPECT_TRUE(reached) << traffic.events().exited() << " answered";
      if (!reached) {
        break;
      }
      EXPECT_EQ(cluster->kill(k_victim), 137);
      const auto restarted = cluster->restart(k_victim);
      EXPECT_EQ(restarted, "");
      last_restart = Clock::now();
    }
    const bool all = traffic.events().wait_exited(ids, 900s);
    const auto elapsed_ms = ms_since(started);
    producer.join();
    EXPECT_TRUE(all) << traffic.events().exited() << " of " << total << " answered";
    EXPECT_EQ(traffic.violations(1s), "");

    std::map<int, std::size_t> by_code;
    std::map<std::string, std::size_t> by_executor;
    std::size_t wrong = 0;
    std::size_t victim_after_restart = 0;
    const std::string lost = "planificador: executor " + k_victim_name + " lost\n";
    const auto records = traffic.events().tasks();
    for (std::size_t i = 0; i < total; ++i) {
      const auto found = records.find(ids[i]);
      const TaskRecord record = found == records.end() ? TaskRecord{} : found->second;
      const int code = record.exit_code.value_or(-1);
      ++by_code[code];
      const std::string executor =
          record.report ? report_field(record.report, "executor") : std::string("-");
      ++by_executor[executor];
      if (executor == k_victim_name && record.first_at > last_restart) {
        ++victim_after_restart;
      }
      const bool right = (code == 0 && record.out == soak_out(i) && record.err.empty()) ||
                         (code == 125 && record.err == lost);
      if (!right && ++wrong <= 10) {
        ADD_FAILURE() << i << ": exit " << code << ", out `" << record.out << "`, err `"
                      << record.err << "`, executor " << executor;
      }
    }
    EXPECT_EQ(wrong, 0U);
    for (const auto& [code, count] : by_code) {
      print_figure("fleet soak tasks with exit " + std::to_string(code), std::to_string(count));
    }
    for (const auto& [executor, count] : by_executor) {
      print_figure("fleet soak tasks run by " + (executor == "-" ? "(plain SUBMIT)" : executor),
                   std::to_string(count));
    }
    const auto seconds = static_cast<double>(elapsed_ms) / 1000.0;
    print_figure("fleet soak tasks / seconds / tasks per second",
                 std::to_string(total) + " / " + std::to_string(seconds) + " / " +
                     std::to_string(static_cast<double>(total) / seconds));
    // Only the tasks running on the victim as it died are lost: at most its slots, twice.
    EXPECT_LE(by_code[125], 2 * cluster->spec(k_victim).workers);
    EXPECT_GT(victim_after_restart, 0U) << "the restarted daemon got no work";
    EXPECT_EQ(traffic.events().undecodable(), 0U);
    // Torn down while the collector listens, so a late event would still be counted.
    EXPECT_EQ(cluster->tear_down(), "");
    EXPECT_EQ(traffic.violations(0ms), "");
  }
}

}  // namespace
}  // namespace planificador::testing
