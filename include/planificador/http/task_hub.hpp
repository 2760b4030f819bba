#pragma once
// Where the events of HTTP tasks go. The scheduler has one EventSink; RoutingSink hands
// the events of a task an HTTP request submitted to that request's TaskChannel, and every
// other event to the sink behind it (SPEC's events socket), so neither intake sees the
// other's tasks.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "planificador/protocol/messages.hpp"
#include "planificador/sched/event_sink.hpp"

namespace planificador::http {

// One HTTP task's events, from the workers to the request's thread, in order.
class TaskChannel {
 public:
  // `bound`: output bytes held at most before a worker's push waits (0 = no bound).
  explicit TaskChannel(std::size_t bound) : m_bound(bound) {}

  // Adds `message`. With `may_wait`, waits while the bound is reached and the request is
  // still there. Returns true when the message is EXITED and the request had abandoned the
  // task: the caller then closes the channel (nobody else will).
  bool push(protocol::Outbound message, bool may_wait);
  // Returns the next event, or nullopt when none came within `timeout`.
  [[nodiscard]] std::optional<protocol::Outbound> pop(std::chrono::milliseconds timeout);
  // The request is gone: drop every event from now on and never make a worker wait.
  // Returns true when EXITED had already been pushed: the caller then closes the channel.
  bool abandon();

 private:
  const std::size_t m_bound;
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::deque<protocol::Outbound> m_events;
  std::size_t m_bytes = 0;
  bool m_abandoned = false;
  bool m_exited = false;
};

// The channels of the HTTP tasks queued or running. Thread-safe.
class TaskHub {
 public:
  // Opens the channel of task `id`; nullptr when one is open for it already.
  [[nodiscard]] std::shared_ptr<TaskChannel> open(const protocol::TaskId& id, std::size_t bound);
  void close(const protocol::TaskId& id);
  [[nodiscard]] std::shared_ptr<TaskChannel> find(const protocol::TaskId& id) const;

 private:
  mutable std::mutex m_mutex;
  std::map<protocol::TaskId, std::shared_ptr<TaskChannel>> m_channels;
};

// The scheduler's sink: HTTP tasks' events to their channels, the rest to `inner`.
class RoutingSink final : public sched::EventSink {
 public:
  RoutingSink(sched::EventSink& inner, TaskHub& hub) : m_inner(inner), m_hub(hub) {}
  void send(protocol::Outbound message) override { route(std::move(message), true); }
  void send_now(protocol::Outbound message) override { route(std::move(message), false); }

 private:
  void route(protocol::Outbound message, bool may_wait);

  sched::EventSink& m_inner;
  TaskHub& m_hub;
};

}  // namespace planificador::http
