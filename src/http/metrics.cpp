#include "planificador/http/metrics.hpp"

#include <cstdio>
#include <cstdlib>

namespace planificador::http {
namespace {

constexpr std::array<protocol::Status, 10> k_statuses = {
    protocol::Status::exited,    protocol::Status::signaled,      protocol::Status::time_limit,
    protocol::Status::cpu_limit, protocol::Status::memory_limit,  protocol::Status::output_limit,
    protocol::Status::cancelled, protocol::Status::compile_error, protocol::Status::rejected,
    protocol::Status::error};

// A label value with \, " and newline escaped as the text format wants.
std::string escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// The shortest of %.15g to %.17g that reads back as `value` ("0.0025", not 0.0025000000000000001).
std::string number(double value) {
  std::array<char, 32> text{};
  int length = 0;
  for (int precision = 15; precision <= 17; ++precision) {
    length = std::snprintf(text.data(), text.size(), "%.*g", precision, value);
    if (std::strtod(text.data(), nullptr) == value) {
      break;
    }
  }
  return {text.data(), static_cast<std::size_t>(length > 0 ? length : 0)};
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, const std::string& name, const std::string& labels,
            const std::string& value) {
  out.append(name);
  if (!labels.empty()) {
    out.append("{").append(labels).append("}");
  }
  out.append(" ").append(value).append("\n");
}

std::string runner_labels(const std::string& runner) { return "runner=\"" + escape(runner) + "\""; }

}  // namespace

std::string runner_label(const config::Runner* runner) {
  return runner == nullptr || runner->match.empty() ? std::string() : runner->match.front();
}

void Metrics::Histogram::observe(double seconds) {
  std::size_t bucket = 0;
  while (bucket < k_bounds.size() && seconds > k_bounds.at(bucket)) {
    ++bucket;
  }
  ++buckets.at(bucket);
  ++count;
  sum += seconds;
}

Metrics::Metrics(const config::Config& config) : m_config(config) {
  for (const auto& runner : config.runners) {
    auto& counters = m_runners[runner_label(&runner)];
    for (const auto status : k_statuses) {
      counters.tasks[status] = 0;
    }
  }
  m_runners[""].tasks[protocol::Status::rejected] = 0;
}

void Metrics::task_finished(const sched::FinishedTask& task) {
  const std::scoped_lock lock(m_mutex);
  auto& counters = m_runners[runner_label(task.runner)];
  ++counters.tasks[task.status];
  counters.output_bytes += task.output_bytes;
  if (task.ran) {
    counters.wall.observe(static_cast<double>(task.wall_ms) / 1000.0);
    counters.queue.observe(static_cast<double>(task.queued_ms) / 1000.0);
  }
}

void Metrics::http_answered(int status) {
  const std::scoped_lock lock(m_mutex);
  ++m_http[status];
}

void Metrics::render_histogram(std::string& out, const std::string& name, const std::string& runner,
                               const Histogram& histogram) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < histogram.buckets.size(); ++i) {
    cumulative += histogram.buckets.at(i);
    const std::string bound = i < k_bounds.size() ? number(k_bounds.at(i)) : "+Inf";
    sample(out, name + "_bucket", runner_labels(runner) + ",le=\"" + bound + "\"",
           std::to_string(cumulative));
  }
  sample(out, name + "_sum", runner_labels(runner), number(histogram.sum));
  sample(out, name + "_count", runner_labels(runner), std::to_string(histogram.count));
}

std::string Metrics::render(const Gauges& gauges) const {
  std::string out;
  const std::scoped_lock lock(m_mutex);
  header(out, "planificador_tasks_total", "counter", "Tasks ended, by runner and REPORT status.");
  for (const auto& [runner, counters] : m_runners) {
    for (const auto& [status, count] : counters.tasks) {
      sample(out, "planificador_tasks_total",
             runner_labels(runner) + ",status=\"" + std::string(protocol::to_string(status)) + "\"",
             std::to_string(count));
    }
  }
  header(out, "planificador_task_wall_seconds", "histogram", "Wall time of the tasks that ran.");
  for (const auto& [runner, counters] : m_runners) {
    if (!runner.empty()) {
      render_histogram(out, "planificador_task_wall_seconds", runner, counters.wall);
    }
  }
  header(out, "planificador_task_queue_seconds", "histogram",
         "Time from admission to a worker, of the tasks that ran.");
  for (const auto& [runner, counters] : m_runners) {
    if (!runner.empty()) {
      render_histogram(out, "planificador_task_queue_seconds", runner, counters.queue);
    }
  }
  header(out, "planificador_output_bytes_total", "counter", "Stdout and stderr bytes delivered.");
  for (const auto& [runner, counters] : m_runners) {
    if (!runner.empty()) {
      sample(out, "planificador_output_bytes_total", runner_labels(runner),
             std::to_string(counters.output_bytes));
    }
  }
  render_gauges(out, gauges);
  return out;
}

void Metrics::render_gauges(std::string& out, const Gauges& gauges) const {
  header(out, "planificador_tasks_running", "gauge", "Tasks a worker runs now.");
  sample(out, "planificador_tasks_running", "", std::to_string(gauges.running));
  header(out, "planificador_tasks_queued", "gauge", "Tasks waiting in the backlog.");
  sample(out, "planificador_tasks_queued", "", std::to_string(gauges.queued));
  header(out, "planificador_backlog_capacity", "gauge", "server.backlog.");
  sample(out, "planificador_backlog_capacity", "", std::to_string(m_config.server.backlog));
  header(out, "planificador_workers", "gauge", "server.workers.");
  sample(out, "planificador_workers", "", std::to_string(m_config.server.workers));
  header(out, "planificador_pool_containers", "gauge", "Warm containers, by runner and state.");
  for (const auto& pool : gauges.backend.pools) {
    const std::string labels = runner_labels(runner_label(pool.runner));
    sample(out, "planificador_pool_containers", labels + ",state=\"idle\"",
           std::to_string(pool.idle));
    sample(out, "planificador_pool_containers", labels + ",state=\"busy\"",
           std::to_string(pool.busy));
  }
  header(out, "planificador_containers_created_total", "counter", "Warm containers made ready.");
  for (const auto& pool : gauges.backend.pools) {
    sample(out, "planificador_containers_created_total", runner_labels(runner_label(pool.runner)),
           std::to_string(pool.created));
  }
  header(out, "planificador_containers_retired_total", "counter", "Warm containers removed.");
  for (const auto& pool : gauges.backend.pools) {
    sample(out, "planificador_containers_retired_total", runner_labels(runner_label(pool.runner)),
           std::to_string(pool.retired));
  }
  header(out, "planificador_engine_up", "gauge", "1 when the engine answers a ping.");
  sample(out, "planificador_engine_up", "", gauges.backend.engine_down ? "0" : "1");
  header(out, "planificador_backend_ready", "gauge", "1 once the backend has started.");
  sample(out, "planificador_backend_ready", "", gauges.backend.not_ready ? "0" : "1");
  header(out, "planificador_events_queue_frames", "gauge",
         "Frames waiting for the events consumer.");
  sample(out, "planificador_events_queue_frames", "", std::to_string(gauges.events_queue_frames));
  header(out, "planificador_http_requests_total", "counter", "HTTP answers, by status code.");
  for (const auto& [status, count] : m_http) {
    sample(out, "planificador_http_requests_total", "code=\"" + std::to_string(status) + "\"",
           std::to_string(count));
  }
}

}  // namespace planificador::http
