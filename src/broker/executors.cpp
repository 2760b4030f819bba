// The broker's link side (docs/fleet.md §1–§5): READY and its held tasks, the daemons'
// events, credit, heartbeats, lost daemons, drain and leaving.

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "planificador/broker/broker.hpp"
#include "planificador/protocol/quote.hpp"

namespace planificador::broker {
namespace {

namespace link = protocol::link;

constexpr auto k_exited = static_cast<unsigned char>(protocol::MessageType::exited);
constexpr std::size_t k_id_end = 1 + protocol::k_task_id_size;  // 33
constexpr std::size_t k_sized_header = k_id_end + 4;            // 37
constexpr std::size_t k_exited_size = k_id_end + 4;             // 37
constexpr std::int32_t k_exit_failed = 125;
// Peers remembered as told UNKNOWN; more are forgotten at once (a bounded cache).
constexpr std::size_t k_unknown_told_limit = 1024;

// Returns why a daemon's task frame (APPEND_OUT, APPEND_ERR, REPORT, EXITED) is not one, or
// nullopt. Only the lengths are checked: the frame is forwarded as it is, unread.
std::optional<std::string> bad_event(std::string_view frame) {
  if (frame.size() < k_id_end) {
    return "a daemon's frame shorter than type byte + task id";
  }
  const auto type = static_cast<unsigned char>(frame.front());
  if (type == k_exited) {
    return frame.size() == k_exited_size ? std::nullopt
                                         : std::optional<std::string>("EXITED not 37 bytes long");
  }
  if (type != static_cast<unsigned char>(protocol::MessageType::append_out) &&
      type != static_cast<unsigned char>(protocol::MessageType::cancel_or_append_err) &&
      type != static_cast<unsigned char>(protocol::MessageType::submit_ext_or_report)) {
    return "type " + protocol::hex_prefix(frame.substr(0, 1)) + " is not a daemon's message";
  }
  if (frame.size() < k_sized_header) {
    return "a daemon's event shorter than its 37-byte header";
  }
  std::uint64_t length = 0;
  for (std::size_t i = k_id_end; i < k_sized_header; ++i) {
    length = length << 8U | static_cast<unsigned char>(frame[i]);
  }
  if (k_sized_header + length != frame.size()) {
    return "a daemon's event whose length does not match its frame";
  }
  return std::nullopt;
}

}  // namespace

void Broker::on_link(std::string_view routing, Frame frame, Time now) {
  m_now = now;
  const std::string_view bytes = frame.view();
  Executor* executor = by_routing(routing);
  if (bytes.empty() || link::is_link_type(static_cast<unsigned char>(bytes.front()))) {
    auto decoded = link::decode_from_daemon(bytes);
    if (!decoded) {
      if (executor != nullptr) {
        heard_from(*executor);
      }
      return drop(decoded.error().message, bytes);
    }
    return on_link_message(routing, *decoded);
  }
  if (executor == nullptr) {
    return send_unknown(routing);
  }
  heard_from(*executor);
  on_task_event(*executor, std::move(frame));
}

void Broker::on_link_message(std::string_view routing, const link::FromDaemon& message) {
  if (const auto* ready = std::get_if<link::Ready>(&message)) {
    return on_ready(routing, *ready);
  }
  Executor* executor = by_routing(routing);
  if (executor == nullptr) {
    return send_unknown(routing);
  }
  heard_from(*executor);
  if (const auto* started = std::get_if<link::Started>(&message)) {
    on_started(*executor, started->id);
  } else if (const auto* returned = std::get_if<link::Returned>(&message)) {
    on_returned(*executor, returned->id);
  } else if (std::holds_alternative<link::Draining>(message)) {
    on_draining(*executor);
  } else if (std::holds_alternative<link::Bye>(message)) {
    on_bye(*executor);
  }
}

void Broker::on_task_event(Executor& executor, Frame frame) {
  const std::string_view bytes = frame.view();
  if (auto why = bad_event(bytes)) {
    return drop(*why, bytes);
  }
  const auto id = *protocol::TaskId::from_bytes(bytes.substr(1, protocol::k_task_id_size));
  const bool exited = static_cast<unsigned char>(bytes.front()) == k_exited;
  const auto found = m_tasks.find(id);
  if (found == m_tasks.end() || found->second.owner != executor.id) {
    // Late (the task was answered when the daemon was declared lost) or cancelled after a
    // READY: dropped, so no event ever follows an EXITED. The slot is free all the same.
    if (exited && executor.zombies.erase(id) != 0) {
      add_credit(executor);
      pump();
    }
    return;
  }
  if (!exited) {
    found->second.forwarded = true;
    return push_event(std::move(frame));
  }
  executor.tasks.erase(id);
  m_tasks.erase(found);
  push_event(std::move(frame));
  add_credit(executor);
  pump();
}

void Broker::on_started(Executor& executor, const protocol::TaskId& id) {
  const auto found = m_tasks.find(id);
  if (found != m_tasks.end() && found->second.owner == executor.id &&
      found->second.state == Task::State::dispatched) {
    found->second.state = Task::State::started;
    found->second.submit = Frame();  // never dispatched again: its bytes are not needed
  }
}

void Broker::on_returned(Executor& executor, const protocol::TaskId& id) {
  if (executor.zombies.erase(id) != 0) {
    add_credit(executor);
    return pump();
  }
  const auto found = m_tasks.find(id);
  if (found == m_tasks.end() || found->second.owner != executor.id) {
    return;
  }
  if (found->second.state != Task::State::dispatched || found->second.forwarded) {
    spdlog::warn("executor {} returned task {} after it started; ignored",
                 protocol::escape_text(executor.name), id.printable());
    return;
  }
  give_back(executor, id);
}

// A task the daemon did not start and will not: it costs no dispatch attempt.
void Broker::give_back(Executor& executor, const protocol::TaskId& id) {
  executor.tasks.erase(id);
  add_credit(executor);
  --m_tasks.at(id).attempts;
  release(id, executor.name, "gave back a task the broker cannot dispatch again");
  pump();
}

void Broker::on_draining(Executor& executor) {
  if (!executor.draining) {
    spdlog::info("executor {} is draining: {} tasks left on it",
                 protocol::escape_text(executor.name), executor.tasks.size());
  }
  executor.draining = true;
  m_dispatcher.set_eligible(executor.id, false);
}

void Broker::on_bye(Executor& executor) {
  spdlog::info("executor {} left", protocol::escape_text(executor.name));
  const std::string name = executor.name;
  const auto tasks = std::move(executor.tasks);
  remove_executor(executor.id);
  // BYE says it holds nothing; anything it still had is released as if it were lost.
  for (const auto& id : tasks) {
    release(id, name, "left");
  }
  pump();
}

// fleet.md §3: a task that never started (and showed the client nothing) runs elsewhere,
// within the attempt bound; any other is answered here, once.
void Broker::release(const protocol::TaskId& id, const std::string& executor_name,
                     std::string_view what) {
  const auto found = m_tasks.find(id);
  Task& task = found->second;
  const bool unstarted =
      task.state == Task::State::dispatched && !task.forwarded && !task.submit.empty();
  if (unstarted && task.attempts < m_settings.dispatch_attempts && !m_shutting_down) {
    return enqueue(id, task, true);
  }
  if (unstarted && m_shutting_down) {
    answer(id, task.extended, k_exit_failed, protocol::Status::rejected, "shutting down",
           m_settings.name, m_now - task.arrived);
  } else {
    answer(id, task.extended, k_exit_failed, protocol::Status::error,
           "executor " + protocol::escape_text(executor_name) + " " + std::string(what),
           executor_name, Time{0});
  }
  m_tasks.erase(found);
}

void Broker::declare_lost(ExecutorId id) {
  Executor& executor = m_executors.at(id);
  spdlog::warn("executor {} lost: nothing heard from it for {} ms; {} tasks on it",
               protocol::escape_text(executor.name), lost_after().count(), executor.tasks.size());
  ++m_lost_total;
  const std::string name = executor.name;
  const auto tasks = std::move(executor.tasks);
  remove_executor(id);
  for (const auto& task : tasks) {
    release(task, name);
  }
  pump();
}

void Broker::remove_executor(ExecutorId id) {
  const Executor& executor = m_executors.at(id);
  if (const auto found = m_routing.find(executor.routing);
      found != m_routing.end() && found->second == id) {
    m_routing.erase(found);
  }
  if (const auto found = m_names.find(executor.name);
      found != m_names.end() && found->second == id) {
    m_names.erase(found);
  }
  m_dispatcher.remove(id);
  m_executors.erase(id);
}

void Broker::heard_from(Executor& executor) {
  executor.last_seen = link_clock(m_now);
  if (executor.blocked) {
    executor.blocked = false;
    m_dispatcher.set_eligible(executor.id, !executor.draining);
    pump();
  }
}

void Broker::add_credit(Executor& executor) {
  const std::uint32_t credit = m_dispatcher.credit(executor.id);
  if (credit < executor.slots) {
    m_dispatcher.set_credit(executor.id, credit + 1);
  }
}

void Broker::send(Executor& executor, Frame frame, std::optional<protocol::TaskId> submit) {
  m_link.push_back(LinkMessage{executor.routing, std::move(frame), submit});
  executor.last_sent = m_now;
}

void Broker::send_unknown(std::string_view routing) {
  const auto told = m_unknown_told.find(routing);
  if (told != m_unknown_told.end() && m_now - told->second < Time{m_settings.heartbeat_ms}) {
    return;
  }
  if (m_unknown_told.size() >= k_unknown_told_limit) {
    m_unknown_told.clear();
  }
  m_unknown_told.insert_or_assign(std::string(routing), m_now);
  m_link.push_back(LinkMessage{std::string(routing),
                               Frame(link::encode(link::Unknown{m_settings.epoch})), std::nullopt});
}

void Broker::on_undeliverable(const LinkMessage& message, Time now) {
  m_now = now;
  Executor* executor = by_routing(message.routing);
  if (executor == nullptr) {
    return;
  }
  if (!executor->blocked) {
    spdlog::warn("executor {} does not take frames: no task for it until it is heard from",
                 protocol::escape_text(executor->name));
    executor->blocked = true;
    m_dispatcher.set_eligible(executor->id, false);
  }
  if (!message.submit) {
    return;
  }
  const auto found = m_tasks.find(*message.submit);
  if (found != m_tasks.end() && found->second.owner == executor->id &&
      found->second.state == Task::State::dispatched) {
    give_back(*executor, *message.submit);
  }
}

void Broker::check_executors() {
  const Time clock = link_clock(m_now);
  std::vector<ExecutorId> lost;
  for (auto& [id, executor] : m_executors) {
    if (clock - executor.last_seen > lost_after()) {
      lost.push_back(id);
    } else if (m_now - executor.last_sent >= Time{m_settings.heartbeat_ms}) {
      send(executor, Frame(link::encode(link::Heartbeat{})));
    }
  }
  for (const ExecutorId id : lost) {
    declare_lost(id);
  }
}

Broker::Executor* Broker::by_routing(std::string_view routing) {
  const auto found = m_routing.find(routing);
  return found == m_routing.end() ? nullptr : &m_executors.at(found->second);
}

Time Broker::lost_after() const {
  return Time{std::uint64_t{m_settings.heartbeat_ms} * m_settings.heartbeat_misses};
}

}  // namespace planificador::broker
