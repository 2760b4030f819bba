// fleet_bench: what the fleet broker costs, measured against a baseline in the same run.
//
//   latency    broker + 1 real daemon against the same daemon direct, for /bin/true in a
//              runner of isolation "fast": p50/p99 SUBMIT -> EXITED one task at a time
//              (target: the broker adds <= 0.3 ms p50) and tasks/s with every worker busy
//              (target >= 90% of direct). Samples and bursts alternate between the sides.
//   aggregate  tasks/s of 3 real daemons behind the broker, against the same 3 direct.
//   kill       SIGKILL of a member with all its workers busy, to the last of its tasks
//              answered (target <= heartbeat_ms x heartbeat_misses + 0.5 s).
//   hop        the broker's own part of the latency: a simulated daemon that answers at once,
//              through the broker against the same simulated daemon direct.
//   sim        the broker alone toward 100 simulated daemons (bench/sim_fleet.hpp) that
//              answer each SUBMIT at once: tasks/s end to end (target >= 20,000 on a 2-core
//              machine) and the broker's RSS sampled over 1,000,000 tasks (flat).
//   sweep      tasks/s and RSS with 10, 100 and 500 simulated daemons.
//
// Usage (built with the tests: cmake --build build --target fleet_bench):
//   build/bench/fleet_bench --quick           # every scenario, small sizes, about a minute
//   build/bench/fleet_bench                   # the full run (a few minutes)
//   build/bench/fleet_bench --only sim,sweep --sim-tasks 2000000
//   build/bench/fleet_bench --help            # every size and setting
// It starts its own broker and daemons on 127.0.0.1 ephemeral ports, with generated configs
// in temporary directories, and stops them (and removes their containers) when it ends or
// is interrupted. The real-daemon scenarios need the build's binaries, a running Docker
// engine and the runner image planificador/bash (scripts/setup.sh); the others only the
// broker. Run it on an otherwise idle machine for figures worth publishing: the load
// average is printed at start and end.
// Exit status: 0 when every scenario ran (whatever the figures), 1 when one failed, 2 for a
// usage error, 130 when interrupted.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

#include "daemon_process.hpp"
#include "options.hpp"
#include "real_fleet.hpp"
#include "report.hpp"
#include "scenarios.hpp"
#include <CLI/CLI.hpp>

namespace {

namespace bench = planificador::bench;

// A fleet of 500 simulated daemons holds two descriptors per daemon here and one in the
// broker, which inherits this limit.
void raise_open_files() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  std::string five;
  std::string fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

void add_options(CLI::App& app, bench::Options& o, std::string& only, bool& quick) {
  app.add_flag("--quick", quick, "small sizes: every scenario in about a minute");
  app.add_option("--only", only,
                 "scenarios to run, comma-separated: latency,aggregate,kill,hop,sim,sweep");
  app.add_option("--bin", o.bin_dir,
                 "directory of planificador, planificador-broker, planificador-sandboxd");
  app.add_option("--source", o.source_dir, "source tree (its config.toml is the daemons' base)");
  app.add_option("--logs", o.logs_dir,
                 "keep the real broker's and daemons' logs in this directory");
  app.add_option("--workers", o.workers, "server.workers of each real daemon")
      ->capture_default_str();
  app.add_option("--samples", o.samples, "latency samples per side")->capture_default_str();
  app.add_option("--throughput-tasks", o.throughput_tasks, "tasks per burst, per daemon")
      ->capture_default_str();
  app.add_option("--throughput-rounds", o.throughput_rounds, "bursts per side")
      ->capture_default_str();
  app.add_option("--aggregate-daemons", o.aggregate_daemons, "real daemons in the aggregate")
      ->capture_default_str();
  app.add_option("--kill-rounds", o.kill_rounds, "SIGKILLs measured")->capture_default_str();
  app.add_option("--heartbeat-ms", o.heartbeat_ms, "the broker's heartbeat_ms")
      ->capture_default_str();
  app.add_option("--heartbeat-misses", o.heartbeat_misses, "the broker's heartbeat_misses")
      ->capture_default_str();
  app.add_option("--sim-daemons", o.sim_daemons, "simulated daemons (sim)")->capture_default_str();
  app.add_option("--sim-slots", o.sim_slots, "slots per simulated daemon")->capture_default_str();
  app.add_option("--sim-tasks", o.sim_tasks, "tasks of the sim scenario")->capture_default_str();
  app.add_option("--rss-samples", o.rss_samples, "broker RSS samples over the sim tasks")
      ->capture_default_str();
  app.add_option("--rss-flat-kib", o.rss_flat_kib, "RSS growth still called flat")
      ->capture_default_str();
  app.add_option("--sweep", o.sweep, "fleet sizes of the sweep")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--sweep-tasks", o.sweep_tasks, "tasks per fleet size")->capture_default_str();
  app.add_option("--window", o.window, "sim tasks in flight at most; 0: 4 x the fleet's slots")
      ->capture_default_str();
  app.add_option("--io-threads", o.io_threads, "ZeroMQ I/O threads of the client's context")
      ->capture_default_str();
}

// --quick: the sizes an option given on the command line does not set.
void apply_quick(const CLI::App& app, bench::Options& o) {
  auto unless_given = [&](const char* name, auto& field, auto value) {
    if (app.count(name) == 0) {
      field = value;
    }
  };
  unless_given("--samples", o.samples, std::size_t{100});
  unless_given("--throughput-tasks", o.throughput_tasks, std::size_t{200});
  unless_given("--throughput-rounds", o.throughput_rounds, std::size_t{2});
  unless_given("--kill-rounds", o.kill_rounds, std::size_t{1});
  unless_given("--sim-tasks", o.sim_tasks, std::size_t{100000});
  unless_given("--rss-samples", o.rss_samples, std::size_t{10});
  unless_given("--sweep-tasks", o.sweep_tasks, std::size_t{30000});
}

bool parse_only(const std::string& only, bench::Options& o) {
  if (only.empty()) {
    return true;
  }
  const auto known = o.scenarios;
  o.scenarios.clear();
  std::istringstream names(only);
  for (std::string name; std::getline(names, name, ',');) {
    if (!known.contains(name)) {
      (void)std::fprintf(stderr, "fleet_bench: unknown scenario `%s`\n", name.c_str());
      return false;
    }
    o.scenarios.insert(name);
  }
  return true;
}

int run(const bench::Options& o) {
  const bool real = o.runs("latency") || o.runs("aggregate") || o.runs("kill");
  if (real) {
    if (const auto missing = bench::real_missing(o); !missing.empty()) {
      (void)std::fprintf(
          stderr, "fleet_bench: the real-daemon scenarios need:%s (or --only hop,sim,sweep)\n",
          missing.c_str());
      return 1;
    }
  }
  std::printf("fleet_bench: %ld cores, load average %s, binaries %s\n",
              ::sysconf(_SC_NPROCESSORS_ONLN), load_average().c_str(), o.bin_dir.c_str());
  bench::Targets targets;
  try {
    if (real) {
      bench::run_real_scenarios(o, targets);
    }
    bench::run_sim_scenarios(o, targets);
  } catch (const bench::Interrupted&) {
    (void)std::fprintf(stderr, "fleet_bench: interrupted; everything it started is stopped\n");
    return 130;
  } catch (const std::exception& error) {
    (void)std::fprintf(stderr, "fleet_bench: %s\n", error.what());
    return 1;
  }
  const std::size_t missed = targets.summarize();
  std::printf("\n%zu of %zu targets missed; load average at the end %s\n", missed, targets.size(),
              load_average().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options o;
  o.bin_dir = planificador::testing::binary_dir(PLANIFICADOR_BINARY_DIR);
  o.source_dir = PLANIFICADOR_SOURCE_DIR;
  CLI::App app{"fleet_bench: the fleet broker against baselines measured in the same run"};
  std::string only;
  bool quick = false;
  add_options(app, o, only, quick);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  if (quick) {
    apply_quick(app, o);
  }
  if (!parse_only(only, o)) {
    return 2;
  }
  (void)std::setvbuf(stdout, nullptr, _IOLBF, 0);
  raise_open_files();
  bench::install_interrupt_handler();
  return run(o);
}
