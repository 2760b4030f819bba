#pragma once
// The daemon's counters, and /metrics in Prometheus' text exposition format 0.0.4
// (docs/http.md lists every metric). Counters are fed by the scheduler's on_finish and by
// the HTTP server; gauges are read when a scrape renders them.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "planificador/backend/backend.hpp"
#include "planificador/config/config.hpp"
#include "planificador/protocol/report.hpp"
#include "planificador/sched/scheduler.hpp"

namespace planificador::http {

// What a scrape reads at the moment it renders.
struct Gauges {
  std::size_t running = 0;
  std::size_t queued = 0;
  std::size_t events_queue_frames = 0;
  backend::BackendState backend;
};

class Metrics {
 public:
  // Starts every configured runner's counters at 0, so that a rate is defined from the
  // first scrape. `config` must outlive the metrics.
  explicit Metrics(const config::Config& config);

  // Counts one ended task (the scheduler's on_finish). Thread-safe, never blocks for long.
  void task_finished(const sched::FinishedTask& task);
  // Counts one HTTP answer by status code. Thread-safe.
  void http_answered(int status);

  // Returns the exposition text of every metric.
  [[nodiscard]] std::string render(const Gauges& gauges) const;

 private:
  // Bucket upper bounds in seconds (a +Inf bucket follows): from a warm /bin/true (a few
  // ms) to a long compile.
  static constexpr std::array<double, 14> k_bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                      0.25,  0.5,    1,     2.5,  5,     10,   30};
  struct Histogram {
    std::array<std::uint64_t, k_bounds.size() + 1> buckets{};  // not cumulative; last = +Inf
    std::uint64_t count = 0;
    double sum = 0;
    void observe(double seconds);
  };
  struct RunnerCounters {
    std::map<protocol::Status, std::uint64_t> tasks;
    Histogram wall;
    Histogram queue;
    std::uint64_t output_bytes = 0;
  };

  // The gauges and the HTTP counter; under m_mutex.
  void render_gauges(std::string& out, const Gauges& gauges) const;
  static void render_histogram(std::string& out, const std::string& name, const std::string& runner,
                               const Histogram& histogram);

  const config::Config& m_config;
  mutable std::mutex m_mutex;
  std::map<std::string, RunnerCounters> m_runners;  // by runner label ("" = none)
  std::map<int, std::uint64_t> m_http;              // answers by status code
};

// The label a runner's metrics carry: its first match pattern ("" for none).
[[nodiscard]] std::string runner_label(const config::Runner* runner);

}  // namespace planificador::http
