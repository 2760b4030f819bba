#pragma once
// The adapters that join the scheduler and the transport (direct mode) or the worker link
// (fleet mode): the daemon's wiring, shared with the in-process tests so they exercise the
// same joints.

#include <atomic>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/link.hpp"
#include "planificador/sched/event_sink.hpp"
#include "planificador/sched/scheduler.hpp"
#include "planificador/transport/event_queue.hpp"
#include "planificador/transport/transport.hpp"
#include "planificador/transport/worker_link.hpp"

namespace planificador::daemon {

// Encodes the scheduler's messages into the transport's bounded queue.
class QueueSink final : public sched::EventSink {
 public:
  explicit QueueSink(transport::EventQueue& queue) : m_queue(queue) {}
  void send(protocol::Outbound message) override { m_queue.push(protocol::encode(message)); }
  void send_now(protocol::Outbound message) override {
    m_queue.push_now(protocol::encode(message));
  }

 private:
  transport::EventQueue& m_queue;
};

// Feeds frames read by the transport thread to the scheduler; intake is read only while
// the scheduler has room and close_intake() has not been called. `answer`, when given,
// sees each intake frame first and returns true for one it answered itself (RUNNERS).
class FrameBridge final : public transport::FrameHandler {
 public:
  explicit FrameBridge(sched::Scheduler& scheduler,
                       std::function<bool(std::string_view frame)> answer = {})
      : m_scheduler(scheduler), m_answer(std::move(answer)) {}
  void on_frame(transport::Source source, std::string_view frame) override {
    if (source == transport::Source::intake && m_answer && m_answer(frame)) {
      return;
    }
    m_scheduler.handle_frame(frame, source == transport::Source::control);
  }
  bool accepting() override { return !m_closed.load() && m_scheduler.has_room(); }
  // Stops intake for good (shutdown); the control socket is still read.
  void close_intake() { m_closed.store(true); }

 private:
  sched::Scheduler& m_scheduler;
  std::function<bool(std::string_view)> m_answer;
  std::atomic<bool> m_closed{false};
};

// Feeds the broker's task frames to the scheduler and gives back its queued tasks when the
// link drains (fleet mode).
class LinkBridge final : public transport::LinkHandler {
 public:
  explicit LinkBridge(sched::Scheduler& scheduler) : m_scheduler(scheduler) {}
  void on_task_frame(std::string_view frame) override { m_scheduler.handle_frame(frame, false); }
  std::vector<protocol::TaskId> take_back() override { return m_scheduler.take_back(); }

 private:
  sched::Scheduler& m_scheduler;
};

// Returns the scheduler's on_start for fleet mode: STARTED into the same queue as the
// task's events, which the worker sends only after it, so it always precedes them.
inline std::function<void(const protocol::TaskId&)> announce_start(transport::EventQueue& queue) {
  return [&queue](const protocol::TaskId& id) {
    queue.push(protocol::link::encode(protocol::link::Started{id}));
  };
}

}  // namespace planificador::daemon
