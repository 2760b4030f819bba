// The scenarios with real daemons (scenarios.hpp). Direct and brokered measurements are
// interleaved, sample by sample and burst by burst, so that load from the rest of the
// machine falls on both sides alike.

#include <algorithm>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "real_fleet.hpp"
#include "scenarios.hpp"

#include "planificador/broker/dispatcher.hpp"

namespace planificador::bench {
namespace {

using namespace std::chrono_literals;

constexpr unsigned char k_append_out = 0x01;
constexpr unsigned char k_append_err = 0x02;
constexpr unsigned char k_exited = 0x03;
constexpr std::int32_t k_lost_code = 125;
constexpr auto k_task_timeout = 30s;
constexpr auto k_burst_timeout = 600s;

struct Rates {
  double direct = 0;  // tasks/s, one daemon direct
  double broker = 0;  // tasks/s, the same daemon behind the broker
};

void print_latency(const char* side, const std::vector<double>& seconds) {
  std::printf("  %-28s %9.3f %9.3f %9.3f %9.3f\n", side, 1000 * median(seconds),
              1000 * percentile(seconds, 90), 1000 * percentile(seconds, 99),
              1000 * *std::max_element(seconds.begin(), seconds.end()));
}

void latency(const Options& options, Client& direct, Client& brokered, Targets& targets) {
  std::vector<double> direct_seconds;
  std::vector<double> broker_seconds;
  for (std::size_t i = 0; i < options.samples; ++i) {
    for (int turn = 0; turn < 2; ++turn) {
      const bool via_broker = (i + static_cast<std::size_t>(turn)) % 2 == 1;
      const auto seconds = (via_broker ? brokered : direct).run_one("true", "x\n", k_task_timeout);
      if (!seconds) {
        throw std::runtime_error(std::string("a /bin/true task failed ") +
                                 (via_broker ? "via the broker" : "direct"));
      }
      (via_broker ? broker_seconds : direct_seconds).push_back(*seconds);
    }
  }
  std::printf("  latency, one task at a time, %zu samples per side, interleaved\n",
              options.samples);
  std::printf("  %-28s %9s %9s %9s %9s\n", "SUBMIT -> EXITED", "p50 ms", "p90 ms", "p99 ms",
              "max ms");
  print_latency("daemon direct", direct_seconds);
  print_latency("broker + the daemon", broker_seconds);
  const double added_p50 = 1000 * (median(broker_seconds) - median(direct_seconds));
  const double added_p99 = 1000 * (percentile(broker_seconds, 99) - percentile(direct_seconds, 99));
  std::printf("  broker adds: p50 %+.3f ms, p99 %+.3f ms\n", added_p50, added_p99);
  targets.check("broker adds to p50 latency (1 daemon, /bin/true)", format("%+.3f ms", added_p50),
                "<= 0.3 ms", added_p50 <= 0.3);
}

// Bursts alternate sides round by round; the verdict is the median of the rounds' ratios,
// so one burst that met a stall of the machine (seconds, on a loaded one) does not decide it.
Rates throughput(const Options& options, Client& direct, Client& brokered, Targets& targets) {
  const double tasks = static_cast<double>(options.throughput_tasks);
  double direct_seconds = 0;
  double broker_seconds = 0;
  std::vector<double> ratios;
  std::printf("  throughput, bursts of %zu tasks (every worker busy), alternating sides\n",
              options.throughput_tasks);
  for (std::size_t round = 0; round < options.throughput_rounds; ++round) {
    const bool broker_first = round % 2 == 1;
    double rates[2] = {0, 0};  // direct, via the broker
    for (int turn = 0; turn < 2; ++turn) {
      const bool via_broker = broker_first == (turn == 0);
      const double seconds = (via_broker ? brokered : direct)
                                 .burst("true", "x\n", options.throughput_tasks, k_burst_timeout);
      (via_broker ? broker_seconds : direct_seconds) += seconds;
      rates[via_broker ? 1 : 0] = tasks / seconds;
    }
    ratios.push_back(rates[1] / rates[0]);
    std::printf(
        "    round %zu: daemon direct %8.1f tasks/s, broker + the daemon %8.1f tasks/s "
        "(%.1f%%)\n",
        round + 1, rates[0], rates[1], 100 * ratios.back());
  }
  const double all = tasks * static_cast<double>(options.throughput_rounds);
  Rates rates{all / direct_seconds, all / broker_seconds};
  std::printf("  all rounds: daemon direct %8.1f tasks/s; broker + the daemon %8.1f tasks/s\n",
              rates.direct, rates.broker);
  const double ratio = median(ratios);
  targets.check("throughput via the broker / direct (1 daemon, median of rounds)",
                format("%.1f%%", 100 * ratio), ">= 90%", ratio >= 0.9);
  return rates;
}

// Grows the fleet and the direct side to `count` daemons each, warm; returns the direct
// daemons' clients.
std::vector<Client*> grow(const Options& options, RealFleet& fleet,
                          std::vector<std::unique_ptr<Client>>& direct, Client& brokered,
                          std::size_t count) {
  while (direct.size() < count) {
    auto& daemon = fleet.start_direct("bench-direct-" + std::to_string(direct.size() + 1));
    auto& client = *direct.emplace_back(
        std::make_unique<Client>(fleet.context(), daemon.intake(), daemon.events()));
    warm_up(client, "direct daemon " + std::to_string(direct.size()));
  }
  while (fleet.members() < count) {
    (void)fleet.join("bench-" + std::to_string(fleet.members() + 1));
  }
  // Until every member's warm pool is full, a burst waits for containers.
  warm_up(brokered, "the fleet");
  for (int i = 0; i < 2; ++i) {
    (void)brokered.burst("true", "x\n", 10 * count * options.workers, k_burst_timeout);
  }
  std::vector<Client*> clients;
  clients.reserve(direct.size());
  for (auto& client : direct) {
    clients.push_back(client.get());
  }
  return clients;
}

void aggregate(const Options& options, RealFleet& fleet,
               std::vector<std::unique_ptr<Client>>& direct, Client& brokered,
               const Rates& single) {
  const std::size_t count = options.aggregate_daemons;
  std::printf(
      "\n== aggregate: %zu daemons behind the broker against %zu direct, %zu workers "
      "each, bursts alternating sides\n",
      count, count, options.workers);
  const auto clients = grow(options, fleet, direct, brokered, count);
  const double burst = static_cast<double>(count * options.throughput_tasks);
  double direct_seconds = 0;
  double broker_seconds = 0;
  std::vector<double> ratios;
  for (std::size_t round = 0; round < options.throughput_rounds; ++round) {
    double d = 0;
    double b = 0;
    for (int turn = 0; turn < 2; ++turn) {
      if ((round % 2 == 1) == (turn == 0)) {
        b = brokered.burst("true", "x\n", count * options.throughput_tasks, k_burst_timeout);
      } else {
        d = burst_all(clients, "true", "x\n", options.throughput_tasks, k_burst_timeout);
      }
    }
    direct_seconds += d;
    broker_seconds += b;
    ratios.push_back(d / b);
    std::printf("    round %zu: %zu direct %8.1f tasks/s, broker + %zu %8.1f tasks/s (%.1f%%)\n",
                round + 1, count, burst / d, count, burst / b, 100 * ratios.back());
  }
  const double all = burst * static_cast<double>(options.throughput_rounds);
  const double via_broker = all / broker_seconds;
  const double all_direct = all / direct_seconds;
  std::printf(
      "  all rounds: %zu daemons direct (a client each) %8.1f tasks/s, broker + %zu "
      "daemons %8.1f tasks/s; broker + %zu / %zu direct = %.1f%% (median of rounds)\n",
      count, all_direct, count, via_broker, count, count, 100 * median(ratios));
  if (single.direct > 0) {
    std::printf(
        "  against 1 daemon: direct %.1f, via the broker %.1f tasks/s: broker + %zu = "
        "%.2fx 1 direct\n",
        single.direct, single.broker, count, via_broker / single.direct);
  }
  std::printf(
      "  (the daemons share this machine's cores: the figures show what the broker costs "
      "at %zu daemons, not how a fleet of hosts scales)\n",
      count);
}

struct LostRound {
  double seconds = 0;    // SIGKILL to the last of its tasks answered
  std::size_t lost = 0;  // its tasks answered "lost"
  bool named = true;     // every APPEND_ERR named the killed daemon
};

LostRound kill_round(const Options& options, RealFleet& fleet, Client& brokered,
                     std::size_t victim) {
  const std::size_t total = fleet.members() * options.workers;
  const auto ids = brokered.submit_many("sleep", k_sleep_code, total);
  std::unordered_set<protocol::TaskId, broker::TaskIdHash> up;
  if (!brokered.read_until(
          [&](const Event& event) {
            if (event.type == k_exited) {
              throw std::runtime_error("a sleep task exited " + std::to_string(event.code));
            }
            if (event.type == k_append_out && event.text.find("up") != std::string::npos) {
              up.insert(event.id);
            }
            return up.size() == total;
          },
          Clock::now() + 120s)) {
    throw std::runtime_error("sleep tasks did not all start within 120 s");
  }
  const std::string expected = "executor " + fleet.member_name(victim) + " lost";
  LostRound round;
  const auto killed = fleet.kill(victim);
  std::unordered_map<protocol::TaskId, std::string, broker::TaskIdHash> errors;
  std::unordered_set<protocol::TaskId, broker::TaskIdHash> answered;
  const auto lost_after =
      std::chrono::milliseconds(std::uint64_t{options.heartbeat_ms} * options.heartbeat_misses);
  (void)brokered.read_until(
      [&](const Event& event) {
        if (event.type == k_append_err) {
          errors[event.id] += event.text;
        } else if (event.type == k_exited) {
          answered.insert(event.id);
          if (event.code == k_lost_code) {
            ++round.lost;
            round.named = round.named && errors[event.id].find(expected) != std::string::npos;
            round.seconds = seconds_between(killed, event.at);
          }
        }
        return round.lost == options.workers;
      },
      killed + lost_after + 10s);
  for (const auto& id : ids) {
    if (!answered.contains(id)) {
      brokered.cancel(id);  // the survivors' tasks: answered 130
    }
  }
  (void)brokered.read_until(
      [&](const Event& event) {
        if (event.type == k_exited) {
          answered.insert(event.id);
        }
        return answered.size() == ids.size();
      },
      Clock::now() + 60s);
  return round;
}

void lost_daemon(const Options& options, RealFleet& fleet, Client& brokered, Targets& targets) {
  const double timeout = options.heartbeat_ms * options.heartbeat_misses / 1000.0;
  std::printf(
      "\n== lost daemon: SIGKILL of 1 of %zu members with all its %zu workers busy, to "
      "the last of its tasks answered\n",
      fleet.members(), options.workers);
  std::printf(
      "  heartbeat_ms = %u, heartbeat_misses = %u: a member is lost after %.3f s of "
      "silence (the broker looks every %u ms)\n",
      options.heartbeat_ms, options.heartbeat_misses, timeout,
      std::clamp<std::uint32_t>(options.heartbeat_ms / 4, 5, 100));
  std::vector<double> seconds;
  for (std::size_t round = 0; round < options.kill_rounds; ++round) {
    const std::size_t victim = round % fleet.members();
    const LostRound result = kill_round(options, fleet, brokered, victim);
    std::printf("    round %zu: %s killed, %zu of its %zu tasks answered 125%s in %.3f s\n",
                round + 1, fleet.member_name(victim).c_str(), result.lost, options.workers,
                result.named ? " (\"executor ... lost\")" : " (NOT naming it)", result.seconds);
    if (result.lost != options.workers || !result.named) {
      throw std::runtime_error("the killed daemon's tasks were not all answered as lost");
    }
    seconds.push_back(result.seconds);
    if (round + 1 < options.kill_rounds) {
      fleet.replace(victim);
    }
  }
  const double worst = *std::max_element(seconds.begin(), seconds.end());
  std::printf("  SIGKILL -> last task answered: min %.3f s, median %.3f s, max %.3f s\n",
              *std::min_element(seconds.begin(), seconds.end()), median(seconds), worst);
  targets.check("SIGKILL -> last of its tasks answered (max)", format("%.3f s", worst),
                format("<= %.3f s", timeout + 0.5), worst <= timeout + 0.5);
}

}  // namespace

void run_real_scenarios(const Options& options, Targets& targets) {
  RealFleet fleet(options);
  std::vector<std::unique_ptr<Client>> direct;
  auto& first = fleet.start_direct("bench-direct-1");
  direct.push_back(std::make_unique<Client>(fleet.context(), first.intake(), first.events()));
  (void)fleet.join("bench-1");
  Client brokered(fleet.context(), fleet.broker().intake(), fleet.broker().events());
  warm_up(*direct.front(), "direct daemon");
  warm_up(brokered, "the fleet");
  Rates rates;
  if (options.runs("latency")) {
    std::printf(
        "\n== broker + 1 daemon against the same daemon direct: /bin/true, isolation "
        "fast, %zu workers\n",
        options.workers);
    latency(options, *direct.front(), brokered, targets);
    rates = throughput(options, *direct.front(), brokered, targets);
  }
  if (options.runs("aggregate")) {
    aggregate(options, fleet, direct, brokered, rates);
  }
  if (options.runs("kill")) {
    lost_daemon(options, fleet, brokered, targets);
  }
}

}  // namespace planificador::bench
