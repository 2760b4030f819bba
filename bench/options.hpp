#pragma once
// fleet_bench's sizes and settings; the defaults are the full run, --quick shrinks them
// (fleet_bench.cpp), any option given on the command line wins over both.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace planificador::bench {

struct Options {
  std::string bin_dir;     // planificador, planificador-broker, planificador-sandboxd
  std::string source_dir;  // for the shipped config.toml
  std::string logs_dir;    // not empty: the real broker's and daemons' logs are kept there
  std::set<std::string> scenarios{"latency", "aggregate", "kill", "hop", "sim", "sweep"};

  // Real daemons (scenarios latency, aggregate, kill).
  std::size_t workers = 2;              // server.workers of every real daemon
  std::size_t samples = 500;            // one-at-a-time latency samples per side
  std::size_t throughput_tasks = 1000;  // tasks per burst and per daemon
  std::size_t throughput_rounds = 3;    // bursts per side, alternating sides
  std::size_t aggregate_daemons = 3;
  std::size_t kill_rounds = 5;
  std::uint32_t heartbeat_ms = 1000;  // the broker's; the daemons adopt it
  std::uint32_t heartbeat_misses = 3;

  // Simulated daemons (scenarios sim, sweep).
  std::size_t sim_daemons = 100;
  std::uint32_t sim_slots = 4;
  std::size_t sim_tasks = 1000000;
  std::size_t rss_samples = 20;
  std::size_t rss_flat_kib = 2048;  // the most RSS may grow from the first sample to the last
  std::vector<std::size_t> sweep{10, 100, 500};
  std::size_t sweep_tasks = 200000;
  std::size_t window = 0;  // the client's tasks in flight at most; 0: 4 x the fleet's slots
  int io_threads = 1;      // ZeroMQ I/O threads of the load generator's context

  [[nodiscard]] bool runs(const std::string& scenario) const {
    return scenarios.contains(scenario);
  }
};

}  // namespace planificador::bench
