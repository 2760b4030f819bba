#pragma once
// EventQueue: the bounded hand-over of encoded client-bound frames from the workers to the
// transport thread, which alone owns the events socket. A full queue blocks the workers
// (backpressure); nothing in it is ever dropped unless the daemon gives up on shutdown.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "planificador/os/event.hpp"

namespace planificador::transport {

class EventQueue {
 public:
  // Creates a queue holding at most `capacity` frames (at least 1) for blocking pushes.
  // Aborts the process if the kernel refuses an eventfd (fatal setup error).
  explicit EventQueue(std::size_t capacity);
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // Appends `frame`, blocking while the queue is full. After close() the frame is
  // discarded (and counted) instead.
  void push(std::string frame);
  // Appends `frame` without blocking, even beyond capacity. For the transport thread,
  // which must never wait on itself; it keeps the overshoot bounded by reading intake
  // only while has_room().
  void push_now(std::string frame);
  // Offers the oldest frame to `send` and removes it only when `send` returns true (a
  // send that would have blocked leaves it in place, so no producer can take its slot in
  // between). Returns false when the queue is empty or `send` refused. Wakes a blocked
  // push() on success. `send` runs under the queue's lock: it must not block.
  [[nodiscard]] bool pop_if(const std::function<bool(const std::string&)>& send);

  [[nodiscard]] bool empty() const;
  [[nodiscard]] std::size_t size() const;
  // Returns true while size() < capacity.
  [[nodiscard]] bool has_room() const;
  [[nodiscard]] std::size_t capacity() const noexcept { return m_capacity; }
  // Returns the largest size() ever seen (for tests of boundedness).
  [[nodiscard]] std::size_t high_water() const;

  // From now on pushes discard their frame instead of waiting; wakes every blocked push.
  void close();
  // Returns how many frames were discarded after close().
  [[nodiscard]] std::size_t discarded() const;

  // Returns an eventfd that polls readable after a push into an empty queue.
  [[nodiscard]] int fd() const noexcept { return m_wakeup.fd(); }
  // Resets fd() to not readable.
  void clear_signal() const noexcept;

 private:
  void append_locked(std::string frame);

  const std::size_t m_capacity;
  mutable std::mutex m_mutex;
  std::condition_variable m_room;
  std::deque<std::string> m_frames;
  std::size_t m_high_water = 0;
  std::size_t m_discarded = 0;
  bool m_closed = false;
  os::Wakeup m_wakeup;
};

}  // namespace planificador::transport
