#include "planificador/transport/event_queue.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <utility>

namespace planificador::transport {

EventQueue::EventQueue(std::size_t capacity) : m_capacity(std::max<std::size_t>(capacity, 1)) {}

void EventQueue::push(std::string frame) {
  std::unique_lock lock(m_mutex);
  m_room.wait(lock, [&] { return m_closed || m_frames.size() < m_capacity; });
  if (m_closed) {
    ++m_discarded;
    return;
  }
  append_locked(std::move(frame));
}

void EventQueue::push_now(std::string frame) {
  const std::lock_guard lock(m_mutex);
  if (m_closed) {
    ++m_discarded;
    return;
  }
  append_locked(std::move(frame));
}

bool EventQueue::pop_if(const std::function<bool(const std::string&)>& send) {
  {
    const std::lock_guard lock(m_mutex);
    if (m_frames.empty() || !send(m_frames.front())) {
      return false;
    }
    m_frames.pop_front();
  }
  m_room.notify_one();
  return true;
}

void EventQueue::append_locked(std::string frame) {
  const bool was_empty = m_frames.empty();
  m_frames.push_back(std::move(frame));
  m_high_water = std::max(m_high_water, m_frames.size());
  if (was_empty) {
    // Only the empty → non-empty edge matters: the transport thread polls this fd only
    // while it sees the queue empty.
    m_wakeup.raise();
  }
}

bool EventQueue::empty() const {
  const std::lock_guard lock(m_mutex);
  return m_frames.empty();
}

std::size_t EventQueue::size() const {
  const std::lock_guard lock(m_mutex);
  return m_frames.size();
}

bool EventQueue::has_room() const {
  const std::lock_guard lock(m_mutex);
  return m_frames.size() < m_capacity;
}

std::size_t EventQueue::high_water() const {
  const std::lock_guard lock(m_mutex);
  return m_high_water;
}

void EventQueue::close() {
  {
    const std::lock_guard lock(m_mutex);
    m_closed = true;
  }
  m_room.notify_all();
}

std::size_t EventQueue::discarded() const {
  const std::lock_guard lock(m_mutex);
  return m_discarded;
}

void EventQueue::clear_signal() const noexcept { m_wakeup.clear(); }

}  // namespace planificador::transport
