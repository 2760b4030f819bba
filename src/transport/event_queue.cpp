#include "planificador/transport/event_queue.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace planificador::transport {

EventQueue::EventQueue(std::size_t capacity)
    : m_capacity(std::max<std::size_t>(capacity, 1)),
      m_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (m_fd < 0) {
    std::perror("eventfd");
    std::abort();
  }
}

EventQueue::~EventQueue() { ::close(m_fd); }

void EventQueue::push(std::string frame) {
  std::unique_lock lock(m_mutex);
  m_room.wait(lock, [&] { return m_closed || m_frames.size() < m_capacity; });
  if (m_closed) {
    ++m_discarded;
    return;
  }
  append_locked(std::move(frame), false);
}

void EventQueue::push_now(std::string frame) {
  const std::lock_guard lock(m_mutex);
  if (m_closed) {
    ++m_discarded;
    return;
  }
  append_locked(std::move(frame), false);
}

void EventQueue::push_front(std::string frame) {
  const std::lock_guard lock(m_mutex);
  append_locked(std::move(frame), true);
}

void EventQueue::append_locked(std::string frame, bool front) {
  const bool was_empty = m_frames.empty();
  if (front) {
    m_frames.push_front(std::move(frame));
  } else {
    m_frames.push_back(std::move(frame));
  }
  m_high_water = std::max(m_high_water, m_frames.size());
  if (was_empty) {
    // Only the empty → non-empty edge matters: the transport thread polls this fd only
    // while it sees the queue empty.
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(m_fd, &one, sizeof one);
  }
}

std::optional<std::string> EventQueue::try_pop() {
  std::optional<std::string> frame;
  {
    const std::lock_guard lock(m_mutex);
    if (m_frames.empty()) {
      return std::nullopt;
    }
    frame = std::move(m_frames.front());
    m_frames.pop_front();
  }
  m_room.notify_one();
  return frame;
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

void EventQueue::clear_signal() const noexcept {
  std::uint64_t value = 0;
  [[maybe_unused]] const auto got = ::read(m_fd, &value, sizeof value);
}

}  // namespace planificador::transport
