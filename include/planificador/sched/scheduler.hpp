#pragma once
// Scheduler: admission, a bounded queue of waiting tasks, a pool of workers that run them
// through a Backend, cancellation and drain. Knows only backend::Backend and EventSink.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "planificador/backend/backend.hpp"
#include "planificador/config/config.hpp"
#include "planificador/os/event.hpp"
#include "planificador/protocol/codec.hpp"
#include "planificador/sched/admission.hpp"
#include "planificador/sched/event_sink.hpp"

namespace planificador::sched {

// One task's end as metrics count it (docs/http.md, /metrics).
struct FinishedTask {
  const config::Runner* runner = nullptr;  // nullptr: rejected before a runner was chosen
  protocol::Status status = protocol::Status::error;
  bool ran = false;  // a worker ran it (wall_ms is the program's)
  std::uint64_t wall_ms = 0;
  std::uint64_t queued_ms = 0;
  std::uint64_t output_bytes = 0;
};

// What Scheduler::submit() did with an admitted task.
enum class SubmitOutcome { queued, backlog_full, shutting_down, duplicate_id };

struct SchedulerOptions {
  std::size_t workers = 4;
  std::size_t backlog = 1000;
  std::string executor;  // the REPORT's "executor"
  protocol::DecodeLimits decode;
  // Called (from any thread) when a backlog slot frees up, so intake can be read again.
  std::function<void()> on_room;
  // Called on the worker that took task `id`, before Backend::run and so before any of the
  // task's events (a fleet's STARTED). May block, as the worker's event sends do.
  std::function<void(const protocol::TaskId& id)> on_start;
  // Called (from the thread that ends the task) for every task ended or rejected, before
  // its EXITED is sent: a client that read EXITED finds the task counted. Must not block.
  std::function<void(const FinishedTask& task)> on_finish;
};

// Returns the options `config` implies (server.executor, which config::parse() sets to
// the host's name when the file names none, is the executor REPORT names).
[[nodiscard]] SchedulerOptions scheduler_options(const config::Config& config);

class Scheduler {
 public:
  // Starts `options.workers` worker threads. `config`, `backend` and `sink` must outlive
  // the scheduler.
  Scheduler(const config::Config& config, backend::Backend& backend, EventSink& sink,
            SchedulerOptions options);
  // Drains with no grace if drain() was not called.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Handles one frame from intake (`from_control` false) or control: admits or rejects a
  // SUBMIT, applies a CANCEL, drops malformed input. Never blocks on the events consumer.
  // Returns true when the frame was a SUBMIT that is queued or was answered (its EXITED
  // is sent or will be), false for anything dropped or for a CANCEL.
  bool handle_frame(std::string_view frame, bool from_control);
  // Queues `task`, which admit() admitted, unless the backlog is full, the scheduler is
  // draining or a task with its id is queued or running; then nothing is sent for it and
  // the caller answers (another intake, e.g. HTTP). Never blocks on the events consumer.
  [[nodiscard]] SubmitOutcome submit(Admitted task);
  // Cancels task `id`: a queued one is answered EXITED 130 at once, a running one has its
  // cancel event set. Returns false (and does nothing) when no such task is queued or running.
  bool cancel(const protocol::TaskId& id);

  // Removes every queued task without answering it and returns their ids in queue order:
  // a fleet daemon gives them back to its broker (RETURNED). Running tasks are untouched;
  // admission goes on (the caller stops feeding SUBMITs first).
  [[nodiscard]] std::vector<protocol::TaskId> take_back();

  // Returns true while task `id` is queued or running.
  [[nodiscard]] bool has_task(const protocol::TaskId& id) const;
  // Returns true while the backlog has room and the scheduler is not draining.
  [[nodiscard]] bool has_room() const;
  // Returns the number of tasks waiting / running now.
  [[nodiscard]] std::size_t queued() const;
  [[nodiscard]] std::size_t running() const;

  // Stops admitting, answers every queued task (125, shutting down), lets running tasks
  // finish within `grace`, cancels the rest, waits until every task sent its EXITED and
  // joins the workers. Idempotent; blocks.
  void drain(std::chrono::milliseconds grace);

 private:
  struct Task;
  class TaskOutput;

  void worker_loop();
  void run_task(Task& task);
  void answer_unrun(const Task& task, std::int32_t exit_code, protocol::Status status,
                    std::string_view diagnostic, bool from_intake_thread);
  void reject(const Rejected& rejected);
  void finished(const FinishedTask& task) const;
  void finish(const protocol::TaskId& id);

  const config::Config& m_config;
  backend::Backend& m_backend;
  EventSink& m_sink;
  SchedulerOptions m_options;

  mutable std::mutex m_mutex;
  std::condition_variable m_work;  // a task was queued, or stop
  std::condition_variable m_done;  // a task finished
  std::deque<std::shared_ptr<Task>> m_queue;
  std::map<protocol::TaskId, std::shared_ptr<Task>> m_active;  // queued or running
  std::size_t m_running = 0;
  std::uint64_t m_started = 0;  // tasks taken by a worker so far
  bool m_draining = false;
  bool m_stopping = false;
  bool m_drained = false;
  std::vector<std::thread> m_workers;
};

}  // namespace planificador::sched
