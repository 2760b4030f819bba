// Load on the real daemon: a soak of 10,000 tasks over every runner and worker (each
// answered once, rightly; memory, descriptors, containers, mounts and processes checked
// before and after), and fairness with the backlog full (tasks start in the order they
// came, no producer starves, no task waits more than its turn).

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "daemon_process.hpp"
#include "e2e_common.hpp"
#include "event_collector.hpp"
#include "fake_backend.hpp"
#include "resource_watch.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;

struct SoakTask {
  protocol::TaskId id;
  std::string frame;
  std::string out;  // what it must print
};

// Task `i` of the soak on `runner`, printing "soak-<i>" its own way. Every tenth Python
// task comes as SUBMIT_EXT and echoes its stdin instead.
SoakTask soak_task(std::size_t i, const std::string& runner) {
  char raw[33];
  std::snprintf(raw, sizeof raw, "soak-%027zu", i);
  const auto id = *protocol::TaskId::from_bytes(raw);
  const std::string word = "soak-" + std::to_string(i);
  if (runner == "bash") {
    return {id, submit_frame(id, runner, "echo " + word + "\n"), word + "\n"};
  }
  if (runner == "node") {
    return {id, submit_frame(id, runner, "console.log('" + word + "');\n"), word + "\n"};
  }
  if (runner == "c") {
    return {
        id,
        submit_frame(id, runner,
                     "#include <stdio.h>\nint main(void) { puts(\"" + word + "\"); return 0; }\n"),
        word + "\n"};
  }
  if (runner == "cpp") {
    return {id,
            submit_frame(
                id, runner,
                "#include <iostream>\nint main() { std::cout << \"" + word + "\" << '\\n'; }\n"),
            word + "\n"};
  }
  if (i % 10 == 0) {
    const nlohmann::json options{{"stdin", word + " via stdin"}};
    return {id, submit_frame(id, runner, "import sys\nprint(sys.stdin.read())\n", options.dump()),
            word + " via stdin\n"};
  }
  return {id, submit_frame(id, runner, "print('" + word + "')\n"), word + "\n"};
}

std::size_t soak_size() {
  if (const char* size = std::getenv("PLANIFICADOR_SOAK_TASKS")) {
    return std::strtoull(size, nullptr, 10);
  }
  return 10000;
}

// The soak's tasks in a fixed shuffled order. The mix, per 200 tasks, is weighted by cost
// so 10,000 fit in minutes on two busy cores: a compiled task takes ~0.6 s, node ~0.35 s,
// python ~0.1 s, bash ~0.06 s.
std::vector<SoakTask> soak_tasks(std::size_t total, std::map<std::string, std::size_t>& mix) {
  std::vector<std::string> runners;
  for (std::size_t i = 0; i < total; ++i) {
    const std::size_t slot = i % 200;
    runners.push_back(slot == 0   ? "c"
                      : slot == 1 ? "cpp"
                      : slot < 6  ? "node"
                      : slot < 18 ? "python"
                                  : "bash");
  }
  std::shuffle(runners.begin(), runners.end(), std::mt19937(20261125));
  std::vector<SoakTask> tasks;
  for (std::size_t i = 0; i < total; ++i) {
    tasks.push_back(soak_task(i, runners[i]));
    ++mix[runners[i]];
  }
  return tasks;
}

// Each task answered exactly once, last, with its own output and status 0. Returns how
// many were not.
std::size_t wrong_answers(const std::vector<SoakTask>& tasks,
                          const std::map<protocol::TaskId, TaskRecord>& records) {
  std::size_t wrong = 0;
  for (const auto& task : tasks) {
    const auto found = records.find(task.id);
    const TaskRecord record = found == records.end() ? TaskRecord{} : found->second;
    const bool right = record.exits == 1 && record.after_exit == 0 && record.exit_code == 0 &&
                       record.out == task.out && record.err.empty();
    if (!right && ++wrong <= 10) {
      ADD_FAILURE() << task.id.printable() << ": exits " << record.exits << ", after "
                    << record.after_exit << ", code " << record.exit_code.value_or(-1) << ", out `"
                    << record.out << "`, err `" << record.err << "`";
    }
  }
  return wrong;
}

// Returns the containers of `instance` that are not running warm-pool containers.
std::size_t containers_besides_pools(const std::string& instance) {
  const auto pooled =
      run_command({"docker", "ps", "-q", "--no-trunc", "--filter",
                   "label=org.planificador.instance=" + instance, "--filter",
                   "label=org.planificador.task=pool", "--filter", "status=running"});
  std::size_t others = 0;
  for (const auto& id : containers_of(instance)) {
    others += pooled.out.find(id) == std::string::npos ? 1 : 0;
  }
  return others;
}

// Returns what the descriptors open at the end and not at the start refer to, for a
// failed check's message: "socket +3, /sys/fs/cgroup/... +1".
std::string fd_difference(const std::map<std::string, std::size_t>& start,
                          const std::map<std::string, std::size_t>& end) {
  std::string text;
  for (const auto& [target, count] : end) {
    const auto before = start.find(target);
    const std::size_t was = before == start.end() ? 0 : before->second;
    if (count > was) {
      text += target + " +" + std::to_string(count - was) + ", ";
    }
  }
  return text.empty() ? "no new kind of descriptor" : text;
}

TEST(Load, SoakOfTenThousandTasksOverEveryRunner) {
  PLANIFICADOR_REQUIRE_E2E();
  const std::size_t total = soak_size();
  auto settings = e2e_settings("sok");
  std::string error;
  auto daemon = DaemonProcess::start(settings, error);
  ASSERT_NE(daemon, nullptr) << error;
  ContainerWatch watch(daemon->instance(), "");
  EventCollector events(daemon->events());
  IntakeSender intake(daemon->intake());
  std::map<std::string, std::size_t> mix;
  const auto tasks = soak_tasks(total, mix);
  std::vector<protocol::TaskId> ids;
  for (const auto& task : tasks) {
    ids.push_back(task.id);
  }

  // A warm-up, so the start figures include warm pools and loaded libraries.
  constexpr std::size_t k_warm_up = 50;
  for (std::size_t i = 0; i < k_warm_up; ++i) {
    ASSERT_TRUE(intake.send(tasks[i].frame));
  }
  ASSERT_TRUE(events.wait_exited({ids.begin(), ids.begin() + k_warm_up}, 300s))
      << daemon->log().substr(0, 4000);
  const auto rss_start = *proc_status_kb(daemon->pid(), "VmRSS");
  const auto fds_start = *open_fd_count(daemon->pid());
  const auto fd_targets_start = open_fd_targets(daemon->pid());
  const auto containers_start = containers_of(daemon->instance()).size();
  RssSampler sampler(daemon->pid(), 200ms);

  const auto started = Clock::now();
  std::thread producer([&] {
    for (std::size_t i = k_warm_up; i < total; ++i) {
      EXPECT_TRUE(intake.send(tasks[i].frame, 600s)) << i;
    }
  });
  const bool all = events.wait_exited(ids, 900s);
  const auto elapsed_ms = ms_since(started);
  producer.join();
  EXPECT_TRUE(all) << events.exited() << " of " << total << " answered";
  std::this_thread::sleep_for(2s);  // anything sent after an EXITED; pools settle
  sampler.stop();
  const auto rss_end = *proc_status_kb(daemon->pid(), "VmRSS");
  const auto fds_end = *open_fd_count(daemon->pid());
  const auto fd_targets_end = open_fd_targets(daemon->pid());
  const auto containers_end = containers_of(daemon->instance()).size();

  std::string mix_text;
  for (const auto& [runner, count] : mix) {
    mix_text += runner + ":" + std::to_string(count) + " ";
  }
  print_figure("soak mix", mix_text);
  const auto seconds = static_cast<double>(elapsed_ms) / 1000.0;
  print_figure("soak tasks / seconds / tasks per second",
               std::to_string(total - k_warm_up) + " / " + std::to_string(seconds) + " / " +
                   std::to_string(static_cast<double>(total - k_warm_up) / seconds));
  print_figure("soak daemon VmRSS start / peak / end KiB", std::to_string(rss_start) + " / " +
                                                               std::to_string(sampler.peak_kb()) +
                                                               " / " + std::to_string(rss_end));
  print_figure("soak daemon open fds start / end",
               std::to_string(fds_start) + " / " + std::to_string(fds_end));
  print_figure("soak containers seen / live at start / live at end",
               std::to_string(watch.seen().size()) + " / " + std::to_string(containers_start) +
                   " / " + std::to_string(containers_end));

  const auto records = events.tasks();
  EXPECT_EQ(records.size(), total);
  EXPECT_EQ(wrong_answers(tasks, records), 0U);
  EXPECT_EQ(events.undecodable(), 0U);
  // Memory and descriptors back where the warm daemon started: nothing grows per task.
  // A live container holds its own descriptors (its kept cgroup files, os/cgroup.hpp, and
  // the helper connection), so a pool that ends larger than it started may hold that many
  // more, and no other.
  constexpr std::size_t k_fds_per_container = 12;
  EXPECT_LT(rss_end, rss_start + 32U * 1024U);
  const std::size_t grown =
      containers_end > containers_start ? containers_end - containers_start : 0;
  EXPECT_LE(fds_end, fds_start + 4 + k_fds_per_container * grown)
      << containers_start << " containers at start, " << containers_end << " at end; "
      << fd_difference(fd_targets_start, fd_targets_end);
  // Between tasks only the warm pools remain, at most one container per pool slot.
  EXPECT_EQ(containers_besides_pools(daemon->instance()), 0U);
  EXPECT_LE(containers_of(daemon->instance()).size(), settings.workers * mix.size());

  EXPECT_EQ(daemon->terminate(60s), 0) << daemon->log().substr(0, 4000);
  watch.stop();
  EXPECT_TRUE(containers_of(daemon->instance()).empty());
  for (const auto& line : watch.leftovers()) {
    ADD_FAILURE() << "left behind: " << line;
  }
  EXPECT_GT(watch.seen().size(), 0U);
}

// Returns the start number the daemon logged for each task ("task <id> image `bash`:
// start #N"): the exact order in which its workers took the tasks.
std::map<std::string, std::uint64_t> start_numbers(const std::string& log) {
  std::map<std::string, std::uint64_t> numbers;
  const std::regex line("task (\\S+) image `[^`]*`: start #(\\d+) after");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
       ++it) {
    numbers[(*it)[1].str()] = std::stoull((*it)[2].str());
  }
  return numbers;
}

// With the backlog full, three producers: each producer's tasks start in the order it
// sent them, the producers take turns, and no task waits longer than its turn.
TEST(Load, FairnessWithTheBacklogFull) {
  PLANIFICADOR_REQUIRE_E2E();
  auto settings = e2e_settings("fai");
  settings.backlog = 20;
  settings.runner_images = {"planificador/bash"};
  std::string error;
  auto daemon = DaemonProcess::start(settings, error);
  ASSERT_NE(daemon, nullptr) << error;
  EventCollector events(daemon->events());

  // First the backlog is filled behind two slow tasks, so that every producer's frames
  // are waiting at the intake before the daemon reads any of them: which connection's
  // frames happen to arrive first must not decide the order.
  IntakeSender filler(daemon->intake());
  std::vector<protocol::TaskId> fillers;
  for (std::size_t i = 0; i < settings.backlog + settings.workers; ++i) {
    fillers.push_back(make_id("filler", i));
    const std::string code = i < settings.workers ? "echo f; sleep 3\n" : "true\n";
    ASSERT_TRUE(filler.send(submit_frame(fillers.back(), "bash", code)));
  }
  const auto busy_deadline = Clock::now() + 60s;
  while (Clock::now() < busy_deadline &&
         (events.task(fillers[0]).out.empty() || events.task(fillers[1]).out.empty())) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(events.task(fillers[1]).out, "f\n");

  constexpr std::size_t k_producers = 3;
  constexpr std::size_t k_each = 100;
  std::vector<std::vector<protocol::TaskId>> sent(k_producers);
  std::vector<std::thread> producers;
  for (std::size_t p = 0; p < k_producers; ++p) {
    for (std::size_t i = 0; i < k_each; ++i) {
      char raw[33];
      std::snprintf(raw, sizeof raw, "fair-%zu-%025zu", p, i);
      sent[p].push_back(*protocol::TaskId::from_bytes(raw));
    }
    producers.emplace_back([&, p] {
      IntakeSender intake(daemon->intake());
      for (std::size_t i = 0; i < k_each; ++i) {
        EXPECT_TRUE(intake.send(
            submit_frame(sent[p][i], "bash",
                         "echo " + std::to_string(p) + "-" + std::to_string(i) + "\n", "{}")));
      }
    });
  }
  for (auto& producer : producers) {
    producer.join();
  }
  std::vector<protocol::TaskId> all = fillers;
  for (const auto& ids : sent) {
    all.insert(all.end(), ids.begin(), ids.end());
  }
  ASSERT_TRUE(events.wait_exited(all, 300s)) << daemon->log().substr(0, 4000);

  const auto numbers = start_numbers(daemon->log());
  const auto records = events.tasks();
  std::vector<std::pair<std::uint64_t, std::size_t>> order;  // (start number, producer)
  std::vector<std::uint64_t> queued;
  std::vector<Clock::time_point> exits;
  std::size_t out_of_order = 0;
  for (std::size_t p = 0; p < k_producers; ++p) {
    std::uint64_t previous = 0;
    for (std::size_t i = 0; i < k_each; ++i) {
      const auto& record = records.at(sent[p][i]);
      ASSERT_EQ(record.exit_code, 0) << record.err;
      ASSERT_EQ(record.out, std::to_string(p) + "-" + std::to_string(i) + "\n");
      ASSERT_TRUE(record.report.has_value());
      queued.push_back(nlohmann::json::parse(*record.report).at("queued_ms").get<std::uint64_t>());
      exits.push_back(record.exit_at);
      const auto number = numbers.find(sent[p][i].printable());
      ASSERT_NE(number, numbers.end()) << sent[p][i].printable();
      out_of_order += number->second < previous ? 1 : 0;
      previous = number->second;
      order.emplace_back(number->second, p);
    }
  }
  std::sort(order.begin(), order.end());
  // Taking turns: until one producer is done, none is ahead of another by more than one
  // start (ZeroMQ queues fairly across connections, one frame each in turn).
  std::size_t worst_lead = 0;
  std::vector<std::size_t> count(k_producers, 0);
  for (const auto& [number, p] : order) {
    if (++count[p] == k_each) {
      break;
    }
    const auto [low, high] = std::minmax_element(count.begin(), count.end());
    worst_lead = std::max(worst_lead, *high - *low);
  }
  std::sort(queued.begin(), queued.end());
  // A task admitted into a full backlog waits for the tasks ahead of it to run, at the
  // pace the producers' tasks were answered.
  const auto [first_exit, last_exit] = std::minmax_element(exits.begin(), exits.end());
  const auto total_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(*last_exit - *first_exit).count();
  const double per_task_ms =
      static_cast<double>(total_ms) / static_cast<double>(k_producers * k_each - 1);
  const double turn_ms = static_cast<double>(settings.backlog) * per_task_ms;
  print_figure("fairness: tasks / ms / mean ms per task", std::to_string(k_producers * k_each) +
                                                              " / " + std::to_string(total_ms) +
                                                              " / " + std::to_string(per_task_ms));
  print_figure("fairness: queued_ms min / median / max / one turn of the backlog",
               std::to_string(queued.front()) + " / " + std::to_string(queued[queued.size() / 2]) +
                   " / " + std::to_string(queued.back()) + " / " + std::to_string(turn_ms));
  print_figure("fairness: starts out of submission order / worst producer lead",
               std::to_string(out_of_order) + " / " + std::to_string(worst_lead));
  EXPECT_EQ(out_of_order, 0U);
  EXPECT_LE(worst_lead, 2U);
  EXPECT_LE(static_cast<double>(queued.back()), 2.0 * turn_ms + 1000.0);
  EXPECT_EQ(daemon->terminate(60s), 0);
}

}  // namespace
}  // namespace planificador::testing
