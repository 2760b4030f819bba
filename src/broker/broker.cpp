// The broker's client side: SUBMIT and CANCEL from intake, control and the client endpoint
// (SPEC §3 at the broker, docs/protocol.md), the answers the broker writes itself, the
// events queue, the client connections' queues and the shutdown.
// The link side is in executors.cpp.

#include "planificador/broker/broker.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "planificador/protocol/quote.hpp"

namespace planificador::broker {
namespace {

constexpr auto k_submit = static_cast<unsigned char>(protocol::MessageType::submit);
constexpr auto k_submit_ext =
    static_cast<unsigned char>(protocol::MessageType::submit_ext_or_report);
constexpr auto k_cancel = static_cast<unsigned char>(protocol::MessageType::cancel_or_append_err);
constexpr auto k_exited_type = static_cast<unsigned char>(protocol::MessageType::exited);
constexpr std::int32_t k_exit_rejected = 125;
constexpr std::int32_t k_exit_cancelled = 130;
constexpr Time k_tick_min{5};
constexpr Time k_tick_max{100};

template <class Message>
Frame encoded(const Message& message) {
  return Frame(protocol::encode(message));
}

// The task id of a client's SUBMIT, SUBMIT_EXT or CANCEL; nullopt for anything else.
std::optional<protocol::TaskId> client_task_id(std::string_view bytes) {
  constexpr std::size_t k_header = 1 + protocol::k_task_id_size;
  if (bytes.size() < k_header) {
    return std::nullopt;
  }
  const auto type = static_cast<unsigned char>(bytes.front());
  if (type != k_submit && type != k_submit_ext && !(type == k_cancel && bytes.size() == k_header)) {
    return std::nullopt;
  }
  return protocol::TaskId::from_bytes(bytes.substr(1, protocol::k_task_id_size));
}

}  // namespace

Broker::Broker(Settings settings, Time now)
    : m_settings(std::move(settings)),
      m_now(now),
      m_clients(m_settings.client_cut_off, m_settings.client_cut_off) {}

void Broker::on_intake(Frame frame, Time now) {
  m_now = now;
  const std::string_view bytes = frame.view();
  auto decoded = protocol::decode_inbound(bytes, m_settings.limits);
  if (!decoded) {
    const auto& error = decoded.error();
    if (!error.task_id) {
      return drop(error.message, bytes);
    }
    // Answering it would put a second EXITED on the task that holds this id.
    if (m_tasks.contains(*error.task_id)) {
      return drop("a SUBMIT for a task that is queued or running", bytes);
    }
    const bool extended = static_cast<unsigned char>(bytes.front()) == k_submit_ext;
    return reject(*error.task_id, extended, error.message, Time{0});
  }
  if (const auto* cancel_message = std::get_if<protocol::Cancel>(&*decoded)) {
    return cancel(cancel_message->id, std::move(frame));
  }
  submit(std::get<protocol::Submit>(std::move(*decoded)), std::move(frame));
}

void Broker::on_control(Frame frame, Time now) {
  m_now = now;
  const std::string_view bytes = frame.view();
  auto decoded = protocol::decode_inbound(bytes, m_settings.limits);
  if (!decoded) {
    return drop(decoded.error().message, bytes);
  }
  if (const auto* cancel_message = std::get_if<protocol::Cancel>(&*decoded)) {
    return cancel(cancel_message->id, std::move(frame));
  }
  drop("control carries only CANCEL", bytes);
}

void Broker::on_client(std::string_view peer, Frame frame, Time now) {
  m_now = now;
  const std::string_view bytes = frame.view();
  const auto id = client_task_id(bytes);
  if (!id) {
    return drop("from a client connection: not a SUBMIT, SUBMIT_EXT or CANCEL", bytes);
  }
  if (static_cast<unsigned char>(bytes.front()) == k_cancel) {
    if (m_clients.owner(*id) != peer) {
      return drop("a client's CANCEL for another connection's task, or none", bytes);
    }
    return cancel(*id, std::move(frame));
  }
  if (m_tasks.contains(*id) || !m_clients.claim(*id, peer)) {
    return drop("a SUBMIT for a task that is queued or running", bytes);
  }
  on_intake(std::move(frame), now);
  if (!m_tasks.contains(*id)) {
    m_clients.release(*id);  // dropped; one answered here was released by its EXITED
  }
}

void Broker::flush_clients(const std::function<transport::PeerSend(const std::string& peer,
                                                                   const std::string& frame)>& send,
                           Time now) {
  m_now = now;
  const auto orphans = m_clients.send_pending(send);
  if (!orphans.empty()) {
    spdlog::info("{} tasks lost their client connection (gone, or not reading): cancelling them",
                 orphans.size());
  }
  for (const auto& id : orphans) {
    cancel(id, encoded(protocol::Cancel{id}));
  }
  note_events();
}

void Broker::submit(protocol::Submit submit, Frame frame) {
  const protocol::TaskId id = submit.id;
  if (m_tasks.contains(id)) {
    return drop("a SUBMIT for a task that is queued or running", frame.view());
  }
  const bool extended = submit.options.has_value();
  if (m_shutting_down) {
    return reject(id, extended, "shutting down", Time{0});
  }
  Task task;
  task.seq = ++m_seq;
  task.image = std::move(submit.image);
  task.submit = std::move(frame);
  task.extended = extended;
  task.arrived = m_now;
  if (m_dispatcher.offer(id, task.seq, task.image, false, m_now) == Placement::unserved) {
    return reject(id, extended,
                  "no executor of the fleet serves image " + protocol::quote_text(task.image),
                  Time{0});
  }
  m_tasks.emplace(id, std::move(task));
  pump();
}

// fleet.md §6: queued in the broker, it is answered here; on a daemon, only that daemon is
// told, with the client's own frame.
void Broker::cancel(const protocol::TaskId& id, Frame frame) {
  const auto found = m_tasks.find(id);
  if (found == m_tasks.end()) {
    return;
  }
  Task& task = found->second;
  if (task.state == Task::State::queued) {
    m_dispatcher.withdraw(id);
    answer(id, task.extended, k_exit_cancelled, protocol::Status::cancelled, "cancelled",
           m_settings.name, m_now - task.arrived);
    m_tasks.erase(found);
    return;
  }
  if (const auto owner = m_executors.find(task.owner); owner != m_executors.end()) {
    send(owner->second, std::move(frame));
  }
}

void Broker::drop(std::string_view why, std::string_view frame) const {
  spdlog::warn("dropped: {} ({} bytes: {})", why, frame.size(), protocol::hex_prefix(frame));
}

void Broker::enqueue(const protocol::TaskId& id, Task& task, bool accepted) {
  task.state = Task::State::queued;
  task.owner = 0;
  (void)m_dispatcher.offer(id, task.seq, task.image, accepted, m_now);
}

void Broker::pump() {
  if (m_shutting_down) {
    return;
  }
  while (const auto next = m_dispatcher.next(m_now)) {
    Task& task = m_tasks.at(next->task);
    Executor& executor = m_executors.at(next->executor);
    task.state = Task::State::dispatched;
    task.owner = executor.id;
    ++task.attempts;
    executor.tasks.insert(next->task);
    send(executor, task.submit.share(), next->task);
  }
}

void Broker::answer(const protocol::TaskId& id, bool extended, std::int32_t code,
                    protocol::Status status, std::string_view diagnostic, std::string_view executor,
                    Time queued) {
  push_event(encoded(protocol::Append{id, protocol::Stream::err,
                                      "planificador: " + std::string(diagnostic) + "\n"}));
  if (extended) {
    protocol::ReportFields fields;
    fields.status = status;
    fields.exit_code = code;
    fields.queued_ms = static_cast<std::uint64_t>(std::max<Time::rep>(queued.count(), 0));
    fields.executor = std::string(executor);
    push_event(encoded(protocol::Report{id, protocol::encode_report_json(fields)}));
  }
  push_event(encoded(protocol::Exited{id, code}));
}

void Broker::reject(const protocol::TaskId& id, bool extended, std::string_view reason,
                    Time queued) {
  spdlog::info("task {} rejected: {}", id.printable(), reason);
  answer(id, extended, k_exit_rejected, protocol::Status::rejected, reason, m_settings.name,
         queued);
}

void Broker::push_event(Frame frame) {
  const std::string_view bytes = frame.view();
  const auto id = bytes.size() > protocol::k_task_id_size
                      ? protocol::TaskId::from_bytes(bytes.substr(1, protocol::k_task_id_size))
                      : std::nullopt;
  if (id && m_clients.owner(*id)) {
    const bool exited = static_cast<unsigned char>(bytes.front()) == k_exited_type;
    (void)m_clients.push(*id, std::string(bytes), false, exited);
    return note_events();
  }
  m_event_bytes += frame.size();
  m_events.push_back(std::move(frame));
  note_events();
}

std::size_t Broker::flush_events(const std::function<bool(Frame&)>& send, Time now) {
  m_now = now;
  std::size_t sent = 0;
  while (!m_events.empty()) {
    const std::size_t size = m_events.front().size();
    if (!send(m_events.front())) {
      break;
    }
    m_event_bytes -= size;
    m_events.pop_front();
    ++sent;
  }
  note_events();
  return sent;
}

bool Broker::events_full() const {
  return m_events.size() >= m_settings.events_capacity ||
         m_event_bytes >= m_settings.events_capacity_bytes ||
         m_clients.size() >= m_settings.events_capacity;
}

// fleet.md §3: while the events queue is full the link is not read, and that time must not
// count as silence of the daemons, whose frames wait unread in ZeroMQ's queues.
void Broker::note_events() {
  const bool full = events_full();
  if (full && !m_paused_since) {
    m_paused_since = m_now;
  } else if (!full && m_paused_since) {
    m_paused_total += m_now - *m_paused_since;
    m_paused_since.reset();
  }
}

void Broker::on_stalled(Time duration, Time now) {
  m_now = now;
  if (duration >= Time{m_settings.heartbeat_ms}) {
    spdlog::warn(
        "the broker did not run for {} ms (stopped, or its host stalled): not counted "
        "as the daemons' silence",
        duration.count());
  }
  // While the events queue is full the link clock stands still already.
  if (!m_paused_since) {
    m_paused_total += duration;
  }
}

Time Broker::link_clock(Time now) const {
  return now - m_paused_total - (m_paused_since ? now - *m_paused_since : Time{0});
}

void Broker::take_link(std::vector<LinkMessage>& out) {
  out.clear();
  out.swap(m_link);
}

bool Broker::accepting_intake() const {
  return !m_shutting_down && m_dispatcher.size() < m_settings.backlog && !events_full();
}

bool Broker::reading_link() const { return !events_full(); }

bool Broker::finished() const {
  return m_shutting_down && m_tasks.empty() && m_events.empty() && !m_clients.has_pending();
}

Time Broker::tick_interval() const {
  return std::clamp(Time{m_settings.heartbeat_ms / 4}, k_tick_min, k_tick_max);
}

void Broker::on_tick(Time now) {
  m_now = now;
  check_executors();
  expire_waiting();
  if (m_shutting_down && !m_grace_over && m_now >= m_shutdown_deadline) {
    finish_grace();
  }
}

void Broker::expire_waiting() {
  if (m_dispatcher.waiting() == 0) {
    return;
  }
  for (const auto& id : m_dispatcher.expire(m_now - m_settings.unserved, m_now)) {
    const auto found = m_tasks.find(id);
    reject(id, found->second.extended,
           "no executor of the fleet serves image " + protocol::quote_text(found->second.image),
           m_now - found->second.arrived);
    m_tasks.erase(found);
  }
}

void Broker::shut_down(Time now) {
  m_now = now;
  if (m_shutting_down) {
    return;
  }
  m_shutting_down = true;
  m_shutdown_deadline = now + m_settings.grace;
  const auto queued = m_dispatcher.take_all();
  spdlog::info("shutting down: {} queued tasks answered, {} on daemons may finish within {} ms",
               queued.size(), m_tasks.size() - queued.size(), m_settings.grace.count());
  for (const auto& id : queued) {
    const auto found = m_tasks.find(id);
    answer(id, found->second.extended, k_exit_rejected, protocol::Status::rejected, "shutting down",
           m_settings.name, m_now - found->second.arrived);
    m_tasks.erase(found);
  }
  if (m_now >= m_shutdown_deadline) {
    finish_grace();
  }
}

// What a daemon does with its running tasks at the end of its grace (SPEC §6), the broker
// does with the tasks it dispatched: each is cancelled and answered 130, so none is left
// without its EXITED when the broker exits.
void Broker::finish_grace() {
  m_grace_over = true;
  if (!m_tasks.empty()) {
    spdlog::info("grace period over: cancelling {} tasks on daemons", m_tasks.size());
  }
  for (auto& [id, task] : m_tasks) {
    if (const auto owner = m_executors.find(task.owner); owner != m_executors.end()) {
      send(owner->second, encoded(protocol::Cancel{id}));
      owner->second.tasks.erase(id);
    }
    answer(id, task.extended, k_exit_cancelled, protocol::Status::cancelled,
           "cancelled: the broker shut down before the task ended", m_settings.name, Time{0});
  }
  m_tasks.clear();
}

FleetView Broker::view(Time now) const {
  FleetView view;
  view.epoch = m_settings.epoch;
  view.queued = m_dispatcher.size();
  view.waiting = m_dispatcher.waiting();
  view.lost_total = m_lost_total;
  view.backlog = m_settings.backlog;
  view.events_pending = m_events.size();
  view.link_paused = m_paused_since.has_value();
  view.shutting_down = m_shutting_down;
  std::unordered_map<ExecutorId, std::size_t> running;
  for (const auto& [id, task] : m_tasks) {
    if (task.state == Task::State::dispatched) {
      ++view.dispatched;
    } else if (task.state == Task::State::started) {
      ++view.running;
      ++running[task.owner];
    }
  }
  const Time clock = link_clock(std::max(now, m_now));
  for (const auto& [id, executor] : m_executors) {
    ExecutorView entry{
        executor.name,
        executor.build,
        executor.slots,
        m_dispatcher.credit(id),
        running.contains(id) ? running.at(id) : 0,
        executor.tasks.size(),
        executor.draining,
        executor.blocked,
        executor.patterns,
        static_cast<std::uint64_t>(std::max<Time::rep>((clock - executor.last_seen).count(), 0))};
    view.executors.push_back(std::move(entry));
  }
  std::sort(view.executors.begin(), view.executors.end(),
            [](const ExecutorView& a, const ExecutorView& b) { return a.name < b.name; });
  return view;
}

}  // namespace planificador::broker
