#pragma once
// The adapters that join the scheduler and the transport (direct mode) or the worker link
// (fleet mode): the daemon's wiring, shared with the in-process tests so they exercise the
// same joints.

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <spdlog/spdlog.h>

#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/link.hpp"
#include "planificador/sched/event_sink.hpp"
#include "planificador/sched/scheduler.hpp"
#include "planificador/transport/client_outbox.hpp"
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

// Sends the events of tasks a connection of the client endpoint submitted to that
// connection's queue in `outbox`, and every other event to `inner`.
class ClientSink final : public sched::EventSink {
 public:
  ClientSink(sched::EventSink& inner, transport::ClientOutbox& outbox)
      : m_inner(inner), m_outbox(outbox) {}
  void send(protocol::Outbound message) override { route(std::move(message), true); }
  void send_now(protocol::Outbound message) override { route(std::move(message), false); }

 private:
  void route(protocol::Outbound message, bool may_wait) {
    const protocol::TaskId id = std::visit([](const auto& m) { return m.id; }, message);
    // A task's owner changes only with its own EXITED, which this same thread sends.
    if (m_outbox.owner(id)) {
      const bool last = std::holds_alternative<protocol::Exited>(message);
      if (m_outbox.push(id, protocol::encode(message), may_wait, last)) {
        return;
      }
    }
    if (may_wait) {
      m_inner.send(std::move(message));
    } else {
      m_inner.send_now(std::move(message));
    }
  }

  sched::EventSink& m_inner;
  transport::ClientOutbox& m_outbox;
};

// Feeds frames read by the transport thread to the scheduler; intake and the client
// endpoint are read only while the scheduler has room and close_intake() has not been
// called. `answer`, when given, sees each intake and client frame first and returns the
// answer of one it answers itself (RUNNERS): on intake the answer goes to the events
// queue, from a client connection to that connection. `outbox` is the client endpoint's,
// when the transport has one.
class FrameBridge final : public transport::FrameHandler {
 public:
  using Answer = std::function<std::optional<std::string>(std::string_view frame)>;

  explicit FrameBridge(sched::Scheduler& scheduler, transport::EventQueue* events = nullptr,
                       Answer answer = {}, transport::ClientOutbox* outbox = nullptr)
      : m_scheduler(scheduler), m_events(events), m_answer(std::move(answer)), m_outbox(outbox) {}

  void on_frame(transport::Source source, std::string_view frame) override {
    if (source == transport::Source::intake && m_answer) {
      if (auto answer = m_answer(frame)) {
        // From the transport thread, so never blocking: with the events queue full
        // (nobody reads it) the answer is dropped, as its client reads nothing anyway.
        if (m_events != nullptr && m_events->has_room()) {
          m_events->push_now(std::move(*answer));
        } else {
          spdlog::warn("dropped a RUNNERS answer: the events queue is full");
        }
        return;
      }
    }
    m_scheduler.handle_frame(frame, source == transport::Source::control);
  }

  // docs/protocol.md, "The client endpoint".
  void on_client_frame(std::string_view peer, std::string_view frame) override {
    if (m_outbox == nullptr) {
      return;
    }
    if (auto answer = m_answer ? m_answer(frame) : std::nullopt) {
      m_outbox->push_to(peer, std::move(*answer));
      return;
    }
    const auto id = task_id_of(frame);
    if (!id) {
      m_scheduler.handle_frame(frame, false);  // malformed: dropped and logged
      return;
    }
    if (static_cast<protocol::MessageType>(frame.front()) ==
        protocol::MessageType::cancel_or_append_err) {
      if (m_outbox->owner(*id) == peer) {
        m_scheduler.cancel(*id);
      } else {
        spdlog::warn("ignored a client's CANCEL for task {}: another connection's, or none",
                     id->printable());
      }
      return;
    }
    if (m_scheduler.has_task(*id) || !m_outbox->claim(*id, peer)) {
      spdlog::warn("dropped SUBMIT for task {}: a task with this id is still queued or running",
                   id->printable());
      return;
    }
    if (!m_scheduler.handle_frame(frame, false)) {
      m_outbox->release(*id);
    }
  }

  void on_clients_gone(const std::vector<protocol::TaskId>& tasks) override {
    for (const auto& id : tasks) {
      m_scheduler.cancel(id);
    }
  }

  bool accepting() override { return !m_closed.load() && m_scheduler.has_room(); }
  // Stops intake for good (shutdown); the control socket is still read.
  void close_intake() { m_closed.store(true); }

 private:
  // The task id of a SUBMIT, SUBMIT_EXT or CANCEL that carries one; nullopt otherwise.
  static std::optional<protocol::TaskId> task_id_of(std::string_view frame) {
    if (frame.size() < 1 + protocol::k_task_id_size) {
      return std::nullopt;
    }
    const auto type = static_cast<protocol::MessageType>(frame.front());
    if (type != protocol::MessageType::submit &&
        type != protocol::MessageType::submit_ext_or_report &&
        !(type == protocol::MessageType::cancel_or_append_err &&
          frame.size() == 1 + protocol::k_task_id_size)) {
      return std::nullopt;
    }
    return protocol::TaskId::from_bytes(frame.substr(1, protocol::k_task_id_size));
  }

  sched::Scheduler& m_scheduler;
  transport::EventQueue* m_events;
  Answer m_answer;
  transport::ClientOutbox* m_outbox;
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
