#include "planificador/sched/scheduler.hpp"

#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

#include "planificador/protocol/quote.hpp"
#include "planificador/protocol/report.hpp"
#include "planificador/util/thread_entry.hpp"

namespace planificador::sched {
namespace {

using Clock = std::chrono::steady_clock;

// How much of the daemon's reason for ending a task its log line quotes.
constexpr std::size_t k_logged_diagnostic_bytes = 300;

std::uint64_t elapsed_ms(Clock::time_point since) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since);
  return static_cast<std::uint64_t>(ms.count());
}

std::string diagnostic_text(std::string_view diagnostic) {
  while (!diagnostic.empty() && diagnostic.back() == '\n') {
    diagnostic.remove_suffix(1);
  }
  return "planificador: " + std::string(diagnostic) + "\n";
}

}  // namespace

struct Scheduler::Task {
  Admitted admitted;
  Clock::time_point admitted_at = Clock::now();
  os::Event cancel;
  bool started = false;
  std::uint64_t start_number = 0;  // 1 for the first task any worker took, and so on
};

// Forwards a running task's output to the sink as APPEND_OUT / APPEND_ERR.
class Scheduler::TaskOutput final : public backend::OutputSink {
 public:
  TaskOutput(EventSink& sink, const protocol::TaskId& id) : m_sink(sink), m_id(id) {}
  void output(protocol::Stream stream, std::string_view bytes) override {
    if (!bytes.empty()) {
      m_sink.send(protocol::Append{m_id, stream, std::string(bytes)});
    }
  }

 private:
  EventSink& m_sink;
  protocol::TaskId m_id;
};

SchedulerOptions scheduler_options(const config::Config& config) {
  SchedulerOptions options;
  options.workers = config.server.workers;
  options.backlog = config.server.backlog;
  options.executor = config.server.executor;
  options.decode = decode_limits(config);
  return options;
}

Scheduler::Scheduler(const config::Config& config, backend::Backend& backend, EventSink& sink,
                     SchedulerOptions options)
    : m_config(config), m_backend(backend), m_sink(sink), m_options(std::move(options)) {
  const std::size_t workers = m_options.workers == 0 ? 1 : m_options.workers;
  m_workers.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) {
    m_workers.emplace_back([this] { util::guarded("worker", [this] { worker_loop(); }); });
  }
}

Scheduler::~Scheduler() { drain(std::chrono::milliseconds(0)); }

bool Scheduler::handle_frame(std::string_view frame, bool from_control) {
  bool draining = false;
  {
    const std::lock_guard lock(m_mutex);
    draining = m_draining;
  }
  auto admission = admit(frame, m_config, m_options.decode, from_control, draining);
  if (auto* dropped = std::get_if<Dropped>(&admission)) {
    spdlog::warn("dropped a {} frame: {}", from_control ? "control" : "intake", dropped->reason);
    return false;
  }
  if (auto* cancel_message = std::get_if<protocol::Cancel>(&admission)) {
    cancel(cancel_message->id);
    return false;
  }
  auto warn_duplicate = [](const protocol::TaskId& id) {
    spdlog::warn("dropped SUBMIT for task {}: a task with this id is still queued or running",
                 id.printable());
    return false;
  };
  if (auto* admitted = std::get_if<Admitted>(&admission)) {
    const protocol::TaskId id = admitted->spec.id;
    const bool extended = admitted->extended;
    switch (submit(std::move(*admitted))) {
      case SubmitOutcome::queued:
        return true;
      case SubmitOutcome::duplicate_id:
        return warn_duplicate(id);
      case SubmitOutcome::backlog_full:
        reject(Rejected{id, extended, "backlog full"});
        return true;
      case SubmitOutcome::shutting_down:
        reject(Rejected{id, extended, "shutting down"});
        return true;
    }
    return false;
  }
  const auto& rejected = std::get<Rejected>(admission);
  if (has_task(rejected.id)) {
    return warn_duplicate(rejected.id);
  }
  reject(rejected);
  return true;
}

bool Scheduler::has_task(const protocol::TaskId& id) const {
  const std::lock_guard lock(m_mutex);
  return m_active.contains(id);
}

SubmitOutcome Scheduler::submit(Admitted admitted) {
  const protocol::TaskId id = admitted.spec.id;
  std::unique_lock lock(m_mutex);
  if (m_active.contains(id)) {
    return SubmitOutcome::duplicate_id;
  }
  if (m_draining) {
    return SubmitOutcome::shutting_down;
  }
  if (m_queue.size() >= m_options.backlog) {
    return SubmitOutcome::backlog_full;
  }
  auto task = std::make_shared<Task>();
  task->admitted = std::move(admitted);
  m_active.emplace(id, task);
  m_queue.push_back(std::move(task));
  lock.unlock();
  m_work.notify_one();
  return SubmitOutcome::queued;
}

void Scheduler::finished(const FinishedTask& task) const {
  if (m_options.on_finish) {
    m_options.on_finish(task);
  }
}

void Scheduler::reject(const Rejected& rejected) {
  spdlog::info("task {} rejected: {}", rejected.id.printable(), rejected.reason);
  m_sink.send_now(
      protocol::Append{rejected.id, protocol::Stream::err, diagnostic_text(rejected.reason)});
  if (rejected.extended) {
    protocol::ReportFields fields;
    fields.status = protocol::Status::rejected;
    fields.exit_code = 125;
    fields.executor = m_options.executor;
    m_sink.send_now(protocol::Report{rejected.id, protocol::encode_report_json(fields)});
  }
  finished(FinishedTask{nullptr, protocol::Status::rejected});
  m_sink.send_now(protocol::Exited{rejected.id, 125});
}

bool Scheduler::cancel(const protocol::TaskId& id) {
  std::unique_lock lock(m_mutex);
  const auto found = m_active.find(id);
  if (found == m_active.end()) {
    return false;
  }
  auto task = found->second;
  if (task->started) {
    task->cancel.set();
    return true;
  }
  std::erase(m_queue, task);
  lock.unlock();
  if (m_options.on_room) {
    m_options.on_room();
  }
  answer_unrun(*task, 130, protocol::Status::cancelled, "cancelled", true);
  finish(id);
  return true;
}

void Scheduler::answer_unrun(const Task& task, std::int32_t exit_code, protocol::Status status,
                             std::string_view diagnostic, bool from_intake_thread) {
  const auto& id = task.admitted.spec.id;
  auto send = [&](protocol::Outbound message) {
    if (from_intake_thread) {
      m_sink.send_now(std::move(message));
    } else {
      m_sink.send(std::move(message));
    }
  };
  const auto queued_ms = elapsed_ms(task.admitted_at);
  send(protocol::Append{id, protocol::Stream::err, diagnostic_text(diagnostic)});
  if (task.admitted.extended) {
    protocol::ReportFields fields;
    fields.status = status;
    fields.exit_code = exit_code;
    fields.queued_ms = queued_ms;
    fields.executor = m_options.executor;
    send(protocol::Report{id, protocol::encode_report_json(fields)});
  }
  finished(FinishedTask{task.admitted.spec.runner, status, false, 0, queued_ms, 0});
  send(protocol::Exited{id, exit_code});
  spdlog::info("task {} image `{}`: {} before it ran, exit {}, queued {} ms", id.printable(),
               protocol::escape_text(task.admitted.image), protocol::to_string(status), exit_code,
               queued_ms);
}

void Scheduler::finish(const protocol::TaskId& id) {
  {
    const std::lock_guard lock(m_mutex);
    m_active.erase(id);
  }
  m_done.notify_all();
}

std::vector<protocol::TaskId> Scheduler::take_back() {
  std::deque<std::shared_ptr<Task>> taken;
  {
    const std::lock_guard lock(m_mutex);
    taken.swap(m_queue);
    for (const auto& task : taken) {
      m_active.erase(task->admitted.spec.id);
    }
  }
  m_done.notify_all();
  std::vector<protocol::TaskId> ids;
  ids.reserve(taken.size());
  for (const auto& task : taken) {
    ids.push_back(task->admitted.spec.id);
    spdlog::info("task {} image `{}`: given back before it ran, queued {} ms",
                 task->admitted.spec.id.printable(), protocol::escape_text(task->admitted.image),
                 elapsed_ms(task->admitted_at));
  }
  if (!ids.empty() && m_options.on_room) {
    m_options.on_room();
  }
  return ids;
}

bool Scheduler::has_room() const {
  const std::lock_guard lock(m_mutex);
  return !m_draining && m_queue.size() < m_options.backlog;
}

std::size_t Scheduler::queued() const {
  const std::lock_guard lock(m_mutex);
  return m_queue.size();
}

std::size_t Scheduler::running() const {
  const std::lock_guard lock(m_mutex);
  return m_running;
}

void Scheduler::worker_loop() {
  while (true) {
    std::shared_ptr<Task> task;
    {
      std::unique_lock lock(m_mutex);
      m_work.wait(lock, [&] { return m_stopping || !m_queue.empty(); });
      if (m_queue.empty()) {
        return;
      }
      task = std::move(m_queue.front());
      m_queue.pop_front();
      task->started = true;
      task->start_number = ++m_started;
      ++m_running;
    }
    if (m_options.on_room) {
      m_options.on_room();
    }
    run_task(*task);
    {
      const std::lock_guard lock(m_mutex);
      --m_running;
      m_active.erase(task->admitted.spec.id);
    }
    m_done.notify_all();
  }
}

void Scheduler::run_task(Task& task) {
  const auto& spec = task.admitted.spec;
  const auto queued_ms = elapsed_ms(task.admitted_at);
  // The number says in which order the workers took the tasks, which the order of these
  // lines (written by several workers) does not.
  spdlog::debug("task {} image `{}`: start #{} after {} ms queued", spec.id.printable(),
                protocol::escape_text(task.admitted.image), task.start_number, queued_ms);
  TaskOutput output(m_sink, spec.id);
  backend::TaskResult result;
  try {
    if (m_options.on_start) {
      m_options.on_start(spec.id);
    }
    result = m_backend.run(spec, output, task.cancel);
  } catch (const std::exception& error) {
    spdlog::error("task {}: backend failed: {}", spec.id.printable(), error.what());
    result = backend::TaskResult{};
    result.diagnostic = std::string("internal error: ") + error.what();
  } catch (...) {
    spdlog::error("task {}: backend failed with an unknown exception", spec.id.printable());
    result = backend::TaskResult{};
    result.diagnostic = "internal error";
  }
  if (result.status == protocol::Status::cancelled && result.diagnostic.empty()) {
    result.diagnostic = "cancelled";
  }
  try {
    if (!result.diagnostic.empty()) {
      m_sink.send(
          protocol::Append{spec.id, protocol::Stream::err, diagnostic_text(result.diagnostic)});
    }
    if (task.admitted.extended) {
      protocol::ReportFields fields;
      fields.status = result.status;
      fields.exit_code = result.exit_code;
      fields.signal = result.signal;
      fields.wall_ms = result.wall_ms;
      fields.cpu_ms = result.cpu_ms;
      fields.memory_peak_bytes = result.memory_peak_bytes;
      fields.output_bytes = result.output_bytes;
      fields.queued_ms = queued_ms;
      fields.executor = m_options.executor;
      m_sink.send(protocol::Report{spec.id, protocol::encode_report_json(fields)});
    }
    finished(FinishedTask{spec.runner, result.status, true, result.wall_ms, queued_ms,
                          result.output_bytes});
    m_sink.send(protocol::Exited{spec.id, result.exit_code});
  } catch (const std::exception& error) {
    spdlog::error("task {}: sending its outcome failed: {}", spec.id.printable(), error.what());
  }
  // The daemon's own reason, when it ended the task, is what an operator looks for first.
  spdlog::info("task {} image `{}`: {}, exit {}, wall {} ms, queued {} ms{}{}", spec.id.printable(),
               protocol::escape_text(task.admitted.image), protocol::to_string(result.status),
               result.exit_code, result.wall_ms, queued_ms, result.diagnostic.empty() ? "" : ": ",
               protocol::escape_text(result.diagnostic, k_logged_diagnostic_bytes));
}

void Scheduler::drain(std::chrono::milliseconds grace) {
  std::deque<std::shared_ptr<Task>> unrun;
  {
    const std::lock_guard lock(m_mutex);
    if (m_drained) {
      return;
    }
    m_draining = true;
    unrun.swap(m_queue);
  }
  for (const auto& task : unrun) {
    answer_unrun(*task, 125, protocol::Status::rejected, "shutting down", false);
    finish(task->admitted.spec.id);
  }
  std::unique_lock lock(m_mutex);
  if (!m_done.wait_for(lock, grace, [&] { return m_running == 0; })) {
    spdlog::info("grace period over: cancelling {} running tasks", m_running);
    for (auto& [id, task] : m_active) {
      task->cancel.set();
    }
    m_done.wait(lock, [&] { return m_running == 0; });
  }
  m_stopping = true;
  lock.unlock();
  m_work.notify_all();
  for (auto& worker : m_workers) {
    worker.join();
  }
  const std::lock_guard relock(m_mutex);
  m_drained = true;
}

}  // namespace planificador::sched
