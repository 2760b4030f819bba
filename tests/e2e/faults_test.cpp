// Faults of the daemon's own process and of its consumer: SIGKILL in the middle of a run
// then a start with the same config (nothing of the old run may survive), and an events
// consumer that stops reading for 30 s under load (nothing lost, memory bounded).

#include <fcntl.h>
#include <filesystem>
#include <regex>
#include <set>
#include <signal.h>
#include <sys/stat.h>
#include <thread>
#include <tuple>
#include <unistd.h>

#include "daemon_process.hpp"
#include "e2e_common.hpp"
#include "event_collector.hpp"
#include "fake_backend.hpp"
#include "resource_watch.hpp"
#include "wait.hpp"
#include <gtest/gtest.h>

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto k_task_wait = 120s;

// Every entry under `dir` with its inode: a name reused by the next run is a new inode.
// An entry's identity: its path, inode and birth time. ext4 hands a freed inode number to
// the next file made, so a directory removed and made again under its old name may get its
// old inode back; the birth time tells the two apart.
using EntryIdentity = std::tuple<std::string, std::uint64_t, std::int64_t, std::uint32_t>;

std::set<EntryIdentity> entries_with_inodes(const std::string& dir) {
  std::set<EntryIdentity> entries;
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(dir, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    struct statx info {};
    if (::statx(AT_FDCWD, it->path().c_str(), AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_BTIME,
                &info) == 0) {
      const bool born = (info.stx_mask & STATX_BTIME) != 0;
      entries.emplace(it->path().string(), info.stx_ino, born ? info.stx_btime.tv_sec : 0,
                      born ? info.stx_btime.tv_nsec : 0U);
    }
  }
  return entries;
}

TEST(DaemonFaults, SigkillThenRestartWithTheSameConfigLeavesNothingOfTheOldRun) {
  PLANIFICADOR_REQUIRE_E2E();
  const TempDir dir("planificador-kill-");
  ASSERT_FALSE(dir.path().empty());
  auto settings = e2e_settings("kil");
  settings.directory = dir.path();
  settings.runner_images = {"planificador/bash", "planificador/python"};
  std::string error;
  auto first = DaemonProcess::start(settings, error);
  ASSERT_NE(first, nullptr) << error;
  const std::string instance = first->instance();

  // Two programs that would run for ten minutes, marked so the host can find them; more
  // tasks queued behind them.
  const std::string marker = "planificador-kill-marker-" + std::to_string(::getpid());
  std::vector<protocol::TaskId> sleepers;
  {
    EventCollector events(first->events());
    IntakeSender intake(first->intake());
    for (std::size_t i = 0; i < 2; ++i) {
      sleepers.push_back(make_id("sleeper", i));
      ASSERT_TRUE(intake.send(
          submit_frame(sleepers.back(), "bash", "echo up\nexec -a " + marker + " sleep 600\n")));
    }
    for (std::size_t i = 0; i < 3; ++i) {
      ASSERT_TRUE(intake.send(submit_frame(make_id("queued", i), "python", "print(1)\n")));
    }
    (void)wait_until(
        [&] {
          return events.task(sleepers[0]).out == "up\n" && events.task(sleepers[1]).out == "up\n";
        },
        k_task_wait, 20ms);
    ASSERT_EQ(events.task(sleepers[1]).out, "up\n") << first->log();
  }
  // "up" comes just before the exec that renames the program.
  (void)wait_until([&] { return pids_with_cmdline(marker).size() >= 2; }, 10s, 20ms);
  const auto old_containers = containers_of(instance);
  const std::set<std::string> old_ids(old_containers.begin(), old_containers.end());
  const auto old_entries = entries_with_inodes(first->state_dir());
  ASSERT_GE(old_ids.size(), 2U);
  ASSERT_EQ(pids_with_cmdline(marker).size(), 2U);
  ASSERT_FALSE(old_entries.empty());

  EXPECT_EQ(first->kill_now(), 128 + SIGKILL);
  // The helpers end a task whose daemon connection closes, but the containers and their
  // helpers stay: this is what the next start must deal with.
  EXPECT_EQ(containers_of(instance).size(), old_ids.size());
  EXPECT_FALSE(pids_in_containers(old_ids).empty());
  // `first` stays until the end: its destructor removes the instance's containers, which
  // is the second daemon's job here.

  const auto restarted_at = Clock::now();
  auto second = DaemonProcess::start(settings, error);
  ASSERT_NE(second, nullptr) << error;
  print_figure("restart after SIGKILL until serving ms", std::to_string(ms_since(restarted_at)));
  EXPECT_EQ(second->instance(), instance);
  for (const auto& id : old_ids) {
    EXPECT_NE(run_command({"docker", "inspect", id}).exit_code, 0) << "old container " << id;
  }
  // `docker rm -f` has killed them; the kernel may take a moment to finish the exits.
  (void)wait_until(
      [&] { return pids_with_cmdline(marker).empty() && pids_in_containers(old_ids).empty(); }, 10s,
      50ms);
  EXPECT_TRUE(pids_with_cmdline(marker).empty());
  EXPECT_TRUE(pids_in_containers(old_ids).empty());
  for (const auto& entry : entries_with_inodes(second->state_dir())) {
    // The instance's lock file is the instance's, not the run's: every run locks the same.
    if (std::get<0>(entry).ends_with(".lock")) {
      continue;
    }
    EXPECT_FALSE(old_entries.contains(entry)) << "left by the old run: " << std::get<0>(entry);
  }

  EventCollector events(second->events());
  IntakeSender intake(second->intake());
  const auto id = make_id("after-restart");
  ASSERT_TRUE(intake.send(submit_frame(id, "python", "print('again')\n")));
  ASSERT_TRUE(events.wait_exited({id}, k_task_wait)) << second->log();
  EXPECT_EQ(events.task(id).out, "again\n");
  EXPECT_EQ(events.task(id).exit_code, 0);

  EXPECT_EQ(second->terminate(60s), 0) << second->log();
  EXPECT_TRUE(containers_of(instance).empty());
  EXPECT_FALSE(fs::exists(second->state_dir() + "/" + instance));
}

// What a task of the consumer test prints: 1,000,000 bytes naming the task.
constexpr std::size_t k_output_bytes = 1000000;

std::string unit_of(std::size_t i) {
  char unit[64];
  std::snprintf(unit, sizeof unit, "task-%06zu|abcdefghijklmnopqrstuvwxyz0123456789\n", i);
  return unit;
}

std::string expected_output(std::size_t i) {
  const std::string unit = unit_of(i);
  std::string out;
  out.reserve(k_output_bytes + unit.size());
  while (out.size() < k_output_bytes) {
    out += unit;
  }
  out.resize(k_output_bytes);
  return out;
}

std::string printing_program(std::size_t i) {
  return "import sys\nu = b'" + unit_of(i).substr(0, unit_of(i).size() - 1) +
         "\\n'\nn = " + std::to_string(k_output_bytes) +
         "\nsys.stdout.buffer.write((u * (n // len(u) + 1))[:n])\n";
}

std::size_t finished_in_log(const std::string& log) {
  std::size_t count = 0;
  for (auto at = log.find("image `python`: exited"); at != std::string::npos;
       at = log.find("image `python`: exited", at + 1)) {
    ++count;
  }
  return count;
}

TEST(DaemonFaults, EventsConsumerGoneForThirtySecondsUnderLoad) {
  PLANIFICADOR_REQUIRE_E2E();
  auto settings = e2e_settings("gon");
  settings.runner_images = {"planificador/python"};
  std::string error;
  auto daemon = DaemonProcess::start(settings, error);
  ASSERT_NE(daemon, nullptr) << error;
  EventCollector events(daemon->events(), false);
  IntakeSender intake(daemon->intake());

  constexpr std::size_t k_warm_up = 4;
  constexpr std::size_t k_tasks = 200;  // 200 MB of output: far more than all the buffers
  std::vector<protocol::TaskId> ids;
  for (std::size_t i = 0; i < k_tasks; ++i) {
    ids.push_back(make_id("gone", i));
  }
  for (std::size_t i = 0; i < k_warm_up; ++i) {
    ASSERT_TRUE(intake.send(submit_frame(ids[i], "python", printing_program(i))));
  }
  ASSERT_TRUE(events.wait_exited({ids.begin(), ids.begin() + k_warm_up}, k_task_wait));
  const auto before_kb = *proc_status_kb(daemon->pid(), "VmRSS");
  RssSampler sampler(daemon->pid(), 50ms);

  std::thread producer([&] {
    for (std::size_t i = k_warm_up; i < k_tasks; ++i) {
      EXPECT_TRUE(intake.send(submit_frame(ids[i], "python", printing_program(i)), 300s));
    }
  });
  (void)wait_until([&] { return events.exited() >= k_warm_up + 20; }, k_task_wait, 10ms);
  events.pause();
  const auto paused_at = Clock::now();
  const std::size_t received_at_pause = events.exited();
  // How long the daemon went without finishing a task while nobody read its events.
  std::size_t finished = finished_in_log(daemon->log());
  auto last_progress = paused_at;
  std::chrono::milliseconds longest_stall{0};
  while (Clock::now() - paused_at < 30s) {
    std::this_thread::sleep_for(250ms);
    const std::size_t now_finished = finished_in_log(daemon->log());
    if (now_finished != finished) {
      finished = now_finished;
      last_progress = Clock::now();
    }
    longest_stall = std::max(longest_stall, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                Clock::now() - last_progress));
  }
  const auto paused_peak_kb = sampler.peak_kb();
  events.resume();
  const auto resumed_at = Clock::now();

  producer.join();
  EXPECT_TRUE(events.wait_exited(ids, 300s)) << events.exited() << " of " << k_tasks;
  print_figure("consumer gone: drained after resume ms", std::to_string(ms_since(resumed_at)));
  std::this_thread::sleep_for(2s);
  sampler.stop();
  const auto after_kb = *proc_status_kb(daemon->pid(), "VmRSS");
  print_figure("consumer gone: daemon VmRSS before / peak / after KiB",
               std::to_string(before_kb) + " / " + std::to_string(sampler.peak_kb()) + " / " +
                   std::to_string(after_kb));
  print_figure(
      "consumer gone: tasks received at the pause / finished by its end / longest "
      "stall ms",
      std::to_string(received_at_pause) + " / " + std::to_string(finished) + " / " +
          std::to_string(longest_stall.count()));
  print_figure("consumer gone: events received / bytes",
               std::to_string(events.frames()) + " / " + std::to_string(events.bytes()));

  // The daemon waited for the consumer instead of queueing: once the buffers were full
  // no task finished for at least 10 s of the pause, and its memory grew by far less than
  // the output it held back.
  EXPECT_GE(longest_stall, 10s);
  EXPECT_LT(finished, k_tasks);
  // The events queue (256 frames) and ZeroMQ's send queue (64 frames) of 64 KiB chunks
  // hold 20 MiB at most; allocator slack on top stays well under this.
  constexpr std::uint64_t k_bound_kb = 48U * 1024U;
  EXPECT_LT(paused_peak_kb - before_kb, k_bound_kb);
  EXPECT_LT(sampler.peak_kb() - before_kb, k_bound_kb);
  EXPECT_EQ(events.undecodable(), 0U);
  // The wall limit (10 s) does not count the time a task's output waits for the consumer:
  // every task ends by itself with its whole output.
  for (std::size_t i = 0; i < k_tasks; ++i) {
    const auto task = events.task(ids[i]);
    EXPECT_EQ(task.exits, 1U) << i;
    EXPECT_EQ(task.after_exit, 0U) << i;
    EXPECT_EQ(task.exit_code, 0) << i << ": " << task.err;
    EXPECT_EQ(task.err, "") << i;
    EXPECT_EQ(task.out_bytes, k_output_bytes) << i;
    EXPECT_EQ(task.out_hash, fnv1a64(expected_output(i))) << i;
  }
  EXPECT_EQ(daemon->terminate(60s), 0) << daemon->log();
}

}  // namespace
}  // namespace planificador::testing
