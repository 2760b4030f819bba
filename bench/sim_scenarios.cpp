// The broker alone toward simulated daemons (scenarios.hpp): a fresh broker per run, a
// SimFleet on the worker link, and flood() as the client. Along with tasks/s it prints where
// the CPU went (the broker's threads, and this process: the fleet and the client), which
// says whether the broker or the load generator was the limit.

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <utility>

#include "broker_process.hpp"
#include "load_client.hpp"
#include "scenarios.hpp"
#include "sim_fleet.hpp"

namespace planificador::bench {
namespace {

using namespace std::chrono_literals;

struct SimRun {
  std::size_t daemons = 0;
  FloodResult flood;
  std::size_t rss_joined = 0;  // broker KiB once the fleet joined, before any task
  std::size_t rss_after = 0;   // broker KiB after the last task
  double broker_cores = 0;     // broker CPU seconds per second of the flood
  double busiest = 0;          // the busiest broker thread's share of a core
  double broker_us = 0;        // broker CPU microseconds per task
  double generator_cores = 0;  // this process (fleet + client) per second of the flood
  std::uint64_t unknowns = 0;
  std::uint64_t held_back = 0;

  [[nodiscard]] double rate() const {
    return flood.seconds > 0 ? static_cast<double>(flood.exited) / flood.seconds : 0;
  }
  [[nodiscard]] std::size_t rss_peak() const {
    std::size_t peak = rss_after;
    for (const auto& sample : flood.rss) {
      peak = std::max(peak, sample.second);
    }
    return peak;
  }
};

std::size_t window(const Options& options, std::size_t daemons) {
  return options.window != 0 ? options.window : 4 * daemons * options.sim_slots;
}

// Starts `broker` with the shipped defaults that matter here (heartbeat, backlog).
void start_broker(const Options& options, testing::BrokerProcess& broker) {
  testing::BrokerSettings settings;
  settings.bin_dir = options.bin_dir;
  settings.heartbeat_ms = 1000;
  settings.heartbeat_misses = 3;
  settings.backlog = 10000;
  settings.control = false;
  settings.admin = false;
  settings.log_level = "info";  // the harness reads the bound endpoints from the log
  std::string error;
  if (!broker.start(settings, error)) {
    throw std::runtime_error("broker: " + error);
  }
}

void wait_welcomed(const SimFleet& fleet, std::size_t daemons) {
  if (!fleet.wait_welcomed(60s)) {
    throw std::runtime_error(std::to_string(fleet.welcomed()) + " of " + std::to_string(daemons) +
                             " simulated daemons welcomed within 60 s");
  }
  check_interrupted();
}

SimRun run_sim(const Options& options, std::size_t daemons, std::size_t tasks,
               std::size_t rss_samples) {
  testing::BrokerProcess broker;
  start_broker(options, broker);
  SimFleetOptions fleet_options;
  fleet_options.endpoint = broker.workers();
  fleet_options.daemons = daemons;
  fleet_options.slots = options.sim_slots;
  SimFleet fleet(fleet_options);
  wait_welcomed(fleet, daemons);
  std::this_thread::sleep_for(200ms);
  SimRun run;
  run.daemons = daemons;
  run.rss_joined = rss_kib(broker.pid());
  zmq::context_t context(options.io_threads);
  const CpuTimes broker_before = cpu_times(broker.pid());
  const double own_before = own_cpu_seconds();
  FloodOptions flood_options{
      broker.intake(), broker.events(),          tasks,  "true", "x\n", broker.pid(),
      rss_samples,     window(options, daemons), 30000ms};
  run.flood = flood(context, flood_options);
  const CpuTimes broker_after = cpu_times(broker.pid());
  const double own_after = own_cpu_seconds();
  run.rss_after = rss_kib(broker.pid());
  const double seconds = std::max(run.flood.seconds, 1e-9);
  run.broker_cores = (broker_after.total - broker_before.total) / seconds;
  run.busiest = busiest_thread(broker_before, broker_after) / seconds;
  run.broker_us = 1e6 * (broker_after.total - broker_before.total) /
                  static_cast<double>(std::max<std::size_t>(run.flood.exited, 1));
  run.generator_cores = (own_after - own_before) / seconds;
  run.unknowns = fleet.unknowns();
  run.held_back = fleet.held_back();
  return run;
}

void print_cpu(const SimRun& run) {
  std::printf(
      "  broker CPU %.2f cores (busiest thread %.0f%% of a core), %.1f us per task; "
      "load generator (fleet + client) %.2f cores\n",
      run.broker_cores, 100 * run.busiest, run.broker_us, run.generator_cores);
}

void check_answers(const SimRun& run, std::size_t tasks, Targets& targets) {
  targets.check("every task answered once: APPEND_OUT and EXITED 0 (" +
                    std::to_string(run.daemons) + " daemons)",
                format("%zu of %zu, %zu bad", run.flood.exited, tasks, run.flood.bad), "all, 0 bad",
                run.flood.exited == tasks && run.flood.bad == 0 && run.flood.appends == tasks);
}

// Flat: what the broker holds does not grow with the tasks it has routed. The first samples
// are a warm-up and left out: ZeroMQ gives each pipe its chunks of 256 messages (and one
// spare) only once that many crossed it, so a fleet's pipes are all full-grown after some
// 512 tasks per daemon. The rest are compared as the mean of their later half against the
// mean of their earlier half, which a single sample's noise (the band printed) does not
// swing.
void check_flat(const Options& options, const SimRun& run, std::size_t tasks, Targets& targets) {
  const std::size_t warm_up =
      std::min(tasks / 2, std::max<std::size_t>(tasks / 10, 600 * run.daemons));
  std::vector<double> kept;
  for (const auto& [done, kib] : run.flood.rss) {
    if (done >= warm_up) {
      kept.push_back(static_cast<double>(kib));
    }
  }
  if (kept.size() < 2) {
    std::printf("  too few RSS samples after the warm-up of %zu tasks to judge\n", warm_up);
    return;
  }
  const std::size_t half = kept.size() / 2;
  double earlier = 0;
  double later = 0;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    (i < half ? earlier : later) += kept[i];
  }
  earlier /= static_cast<double>(half);
  later /= static_cast<double>(kept.size() - half);
  const double growth = later - earlier;
  std::printf(
      "  RSS from %zu tasks on (the warm-up before): %.0f..%.0f KiB; mean of the later "
      "half %.0f KiB, of the earlier %.0f KiB: growth %+.0f KiB\n",
      warm_up, *std::min_element(kept.begin(), kept.end()),
      *std::max_element(kept.begin(), kept.end()), later, earlier, growth);
  targets.check("broker RSS growth over " + std::to_string(tasks) + " tasks",
                format("%+.0f KiB", growth), format("flat, <= %zu KiB", options.rss_flat_kib),
                growth <= static_cast<double>(options.rss_flat_kib));
}

void hundred_daemons(const Options& options, Targets& targets) {
  const std::size_t tasks = options.sim_tasks;
  std::printf(
      "\n== broker alone: %zu simulated daemons x %u slots, %zu tasks, at most %zu in "
      "flight (each SUBMIT answered at once: STARTED, APPEND_OUT, EXITED 0)\n",
      options.sim_daemons, options.sim_slots, tasks, window(options, options.sim_daemons));
  const SimRun run = run_sim(options, options.sim_daemons, tasks, options.rss_samples);
  std::printf(
      "  routed %zu tasks in %.2f s: %.0f tasks/s end to end (%zu APPEND_OUT, %zu bad, "
      "%llu UNKNOWN, %llu frames held back by the fleet)\n",
      run.flood.exited, run.flood.seconds, run.rate(), run.flood.appends, run.flood.bad,
      static_cast<unsigned long long>(run.unknowns),
      static_cast<unsigned long long>(run.held_back));
  print_cpu(run);
  std::printf("  broker RSS: %zu KiB once the fleet joined\n", run.rss_joined);
  for (const auto& [done, kib] : run.flood.rss) {
    std::printf("    after %8zu tasks: %7zu KiB\n", done, kib);
  }
  std::printf("    after the last task: %zu KiB\n", run.rss_after);
  check_answers(run, tasks, targets);
  targets.check(
      "tasks/s routed end to end, " + std::to_string(options.sim_daemons) + " simulated daemons",
      format("%.0f", run.rate()), ">= 20000", run.rate() >= 20000);
  check_flat(options, run, tasks, targets);
}

void sweep(const Options& options, Targets& targets) {
  std::printf(
      "\n== broker alone, fleet size: %zu tasks per size, %u slots per daemon, at most "
      "4 x the slots in flight\n",
      options.sweep_tasks, options.sim_slots);
  std::vector<SimRun> runs;
  for (const std::size_t daemons : options.sweep) {
    runs.push_back(run_sim(options, daemons, options.sweep_tasks, 10));
    check_answers(runs.back(), options.sweep_tasks, targets);
  }
  std::printf("  %8s %9s %8s %8s %8s %9s | %11s %11s %11s\n", "daemons", "tasks/s", "broker",
              "busiest", "us/task", "generator", "RSS joined", "RSS peak", "RSS after");
  for (const auto& run : runs) {
    std::printf("  %8zu %9.0f %8.2f %7.0f%% %8.1f %9.2f | %7zu KiB %7zu KiB %7zu KiB\n",
                run.daemons, run.rate(), run.broker_cores, 100 * run.busiest, run.broker_us,
                run.generator_cores, run.rss_joined, run.rss_peak(), run.rss_after);
  }
  for (std::size_t i = 1; i < runs.size(); ++i) {
    const auto& from = runs[i - 1];
    const auto& to = runs[i];
    std::printf(
        "  %zu -> %zu daemons: tasks/s x%.2f, RSS joined %+lld KiB (%+.1f KiB per daemon), "
        "RSS peak %+lld KiB\n",
        from.daemons, to.daemons, to.rate() / from.rate(),
        static_cast<long long>(to.rss_joined) - static_cast<long long>(from.rss_joined),
        (static_cast<double>(to.rss_joined) - static_cast<double>(from.rss_joined)) /
            (static_cast<double>(to.daemons) - static_cast<double>(from.daemons)),
        static_cast<long long>(to.rss_peak()) - static_cast<long long>(from.rss_peak()));
  }
}

std::vector<double> one_at_a_time(Client& client, std::size_t samples) {
  std::vector<double> seconds;
  for (std::size_t i = 0; i < samples; ++i) {
    const auto sample = client.run_one("true", "x\n", 10s);
    if (!sample) {
      throw std::runtime_error("a task toward a simulated daemon was not answered");
    }
    seconds.push_back(*sample);
  }
  return seconds;
}

// The broker's own part of the latency: the same zero-time daemon behind the broker and
// spoken to directly, samples alternating.
void hop(const Options& options, Targets& targets) {
  const std::size_t samples = 10 * options.samples;
  std::printf(
      "\n== the broker's own hop: one task at a time toward a simulated daemon, through "
      "the broker and direct, %zu samples per side, interleaved\n",
      samples);
  testing::BrokerProcess broker;
  start_broker(options, broker);
  SimFleetOptions fleet_options;
  fleet_options.endpoint = broker.workers();
  fleet_options.daemons = 1;
  fleet_options.slots = 1;
  SimFleet fleet(fleet_options);
  wait_welcomed(fleet, 1);
  SimDaemon daemon;
  zmq::context_t context(1);
  Client brokered(context, broker.intake(), broker.events());
  Client direct(context, daemon.intake(), daemon.events());
  (void)one_at_a_time(brokered, 100);
  (void)one_at_a_time(direct, 100);
  std::vector<double> via_broker;
  std::vector<double> to_daemon;
  for (std::size_t i = 0; i < samples; ++i) {
    for (int turn = 0; turn < 2; ++turn) {
      const bool broker_turn = (i + static_cast<std::size_t>(turn)) % 2 == 1;
      const double sample = one_at_a_time(broker_turn ? brokered : direct, 1).front();
      (broker_turn ? via_broker : to_daemon).push_back(sample);
    }
  }
  std::printf("  %-28s %9s %9s %9s\n", "SUBMIT -> EXITED", "p50 ms", "p90 ms", "p99 ms");
  for (const auto& [side, seconds] : {std::pair{"simulated daemon direct", &to_daemon},
                                      std::pair{"broker + simulated daemon", &via_broker}}) {
    std::printf("  %-28s %9.3f %9.3f %9.3f\n", side, 1000 * median(*seconds),
                1000 * percentile(*seconds, 90), 1000 * percentile(*seconds, 99));
  }
  const double added = 1000 * (median(via_broker) - median(to_daemon));
  std::printf("  broker adds: p50 %+.3f ms, p99 %+.3f ms\n", added,
              1000 * (percentile(via_broker, 99) - percentile(to_daemon, 99)));
  targets.check("broker adds to p50 latency (simulated daemon)", format("%+.3f ms", added),
                "<= 0.3 ms", added <= 0.3);
}

}  // namespace

void run_sim_scenarios(const Options& options, Targets& targets) {
  if (options.runs("hop")) {
    hop(options, targets);
  }
  if (options.runs("sim")) {
    hundred_daemons(options, targets);
  }
  if (options.runs("sweep")) {
    sweep(options, targets);
  }
}

}  // namespace planificador::bench
