#include "planificador/http/task_hub.hpp"

#include <variant>

namespace planificador::http {
namespace {

const protocol::TaskId& id_of(const protocol::Outbound& message) {
  return std::visit([](const auto& typed) -> const protocol::TaskId& { return typed.id; }, message);
}

std::size_t bytes_of(const protocol::Outbound& message) {
  const auto* append = std::get_if<protocol::Append>(&message);
  return append != nullptr ? append->text.size() : 0;
}

}  // namespace

bool TaskChannel::push(protocol::Outbound message, bool may_wait) {
  const bool exited = std::holds_alternative<protocol::Exited>(message);
  std::unique_lock lock(m_mutex);
  if (may_wait && m_bound != 0) {
    m_changed.wait(lock, [&] { return m_abandoned || m_bytes < m_bound; });
  }
  m_exited = m_exited || exited;
  if (m_abandoned) {
    return exited;
  }
  m_bytes += bytes_of(message);
  m_events.push_back(std::move(message));
  lock.unlock();
  m_changed.notify_all();
  return false;
}

std::optional<protocol::Outbound> TaskChannel::pop(std::chrono::milliseconds timeout) {
  std::unique_lock lock(m_mutex);
  if (!m_changed.wait_for(lock, timeout, [&] { return !m_events.empty(); })) {
    return std::nullopt;
  }
  protocol::Outbound message = std::move(m_events.front());
  m_events.pop_front();
  m_bytes -= bytes_of(message);
  lock.unlock();
  m_changed.notify_all();
  return message;
}

bool TaskChannel::abandon() {
  std::unique_lock lock(m_mutex);
  m_abandoned = true;
  m_events.clear();
  m_bytes = 0;
  const bool exited = m_exited;
  lock.unlock();
  m_changed.notify_all();
  return exited;
}

std::shared_ptr<TaskChannel> TaskHub::open(const protocol::TaskId& id, std::size_t bound) {
  const std::scoped_lock lock(m_mutex);
  auto [found, inserted] = m_channels.try_emplace(id, nullptr);
  if (!inserted) {
    return nullptr;
  }
  found->second = std::make_shared<TaskChannel>(bound);
  return found->second;
}

void TaskHub::close(const protocol::TaskId& id) {
  const std::scoped_lock lock(m_mutex);
  m_channels.erase(id);
}

std::shared_ptr<TaskChannel> TaskHub::find(const protocol::TaskId& id) const {
  const std::scoped_lock lock(m_mutex);
  const auto found = m_channels.find(id);
  return found == m_channels.end() ? nullptr : found->second;
}

void RoutingSink::route(protocol::Outbound message, bool may_wait) {
  const protocol::TaskId id = id_of(message);
  auto channel = m_hub.find(id);
  if (channel == nullptr) {
    if (may_wait) {
      m_inner.send(std::move(message));
    } else {
      m_inner.send_now(std::move(message));
    }
    return;
  }
  if (channel->push(std::move(message), may_wait)) {
    m_hub.close(id);
  }
}

}  // namespace planificador::http
