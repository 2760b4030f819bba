#pragma once
// FakeBackend: a Backend that interprets the task's code as a tiny script instead of
// running it, and EventRecorder: an EventSink that keeps every message. For the scheduler
// and in-process daemon tests.
//
// Script lines: `print(X)` writes "X\n" to stdout; `err X` writes "X\n" to stderr;
// `sleep MS` waits (cancel ends it early: Status::cancelled); `block` waits for cancel;
// `flood N SIZE` writes N chunks of SIZE bytes; `exit N` ends with status N;
// `diag TEXT` ends with Status::error and that diagnostic; `throw` throws.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "planificador/backend/backend.hpp"
#include "planificador/config/config.hpp"
#include "planificador/sched/event_sink.hpp"

namespace planificador::testing {

class FakeBackend final : public backend::Backend {
 public:
  backend::TaskResult run(const backend::TaskSpec& spec, backend::OutputSink& sink,
                          const os::Event& cancel) override;
  Result<void> start() override { return {}; }
  void stop() override;

  // Returns the most tasks that ran at once.
  [[nodiscard]] std::size_t max_concurrent() const;
  // Returns the ids of every task run() was called for, in order.
  [[nodiscard]] std::vector<protocol::TaskId> started() const;
  // Returns the limits the task `id` ran with (it must have started).
  [[nodiscard]] config::Limits limits_of(const protocol::TaskId& id) const;
  // Waits until `count` tasks are running at once; returns false on timeout.
  bool wait_running(std::size_t count, std::chrono::milliseconds timeout) const;
  [[nodiscard]] bool stopped() const;

 private:
  mutable std::mutex m_mutex;
  mutable std::condition_variable m_changed;
  std::size_t m_running = 0;
  std::size_t m_max = 0;
  std::vector<protocol::TaskId> m_started;
  std::map<protocol::TaskId, config::Limits> m_limits;
  bool m_stopped = false;
};

class EventRecorder final : public sched::EventSink {
 public:
  void send(protocol::Outbound message) override;
  void send_now(protocol::Outbound message) override { send(std::move(message)); }

  // Returns every message for `id`, in order.
  [[nodiscard]] std::vector<protocol::Outbound> of(const protocol::TaskId& id) const;
  // Waits until `id` has an EXITED; returns false on timeout.
  bool wait_exited(const protocol::TaskId& id, std::chrono::milliseconds timeout) const;
  // Returns the number of EXITED messages seen in all.
  [[nodiscard]] std::size_t exited_count() const;

 private:
  mutable std::mutex m_mutex;
  mutable std::condition_variable m_changed;
  std::vector<protocol::Outbound> m_messages;
};

// Returns a 32-byte ASCII id: `prefix` padded with '.' and `number` at the end.
[[nodiscard]] protocol::TaskId make_id(const std::string& prefix, std::size_t number = 0);

// Returns a config with runners `fake*` / `python` (limits wall 2000, cpu 2000, 64 MiB,
// 16 pids, 4096 output bytes), `workers` and `backlog`.
[[nodiscard]] config::Config fake_config(std::size_t workers, std::size_t backlog);

}  // namespace planificador::testing
