#pragma once
// ClientOutbox: the frames waiting for the connections of the client endpoint
// (docs/protocol.md, "The client endpoint"), one bounded queue per connection, and which
// connection each task belongs to. Workers push a task's events; the transport thread,
// which alone owns the ROUTER, sends them. A full queue blocks only the workers of that
// connection's tasks; a connection found gone has its queue discarded, and its tasks are
// handed to the caller to cancel.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "planificador/os/event.hpp"
#include "planificador/protocol/messages.hpp"

namespace planificador::transport {

// What a send to one connection did.
enum class PeerSend { sent, busy, gone };

class ClientOutbox {
 public:
  // Creates an outbox holding at most `capacity` frames (at least 1) per connection before
  // a blocking push waits. With `cut_off`, a connection that has more than that many
  // frames waiting after a push that may not wait is treated as gone (for a single-threaded
  // owner, the fleet broker, which cannot make one client's producers wait): its frames
  // are discarded, and the next send_pending() hands back its tasks.
  explicit ClientOutbox(std::size_t capacity, std::optional<std::size_t> cut_off = std::nullopt);
  ClientOutbox(const ClientOutbox&) = delete;
  ClientOutbox& operator=(const ClientOutbox&) = delete;

  // Makes `peer` (a ROUTER routing id) the owner of task `id`, whose events then go to it.
  // Returns false, changing nothing, when a connection owns `id` already.
  [[nodiscard]] bool claim(const protocol::TaskId& id, std::string_view peer);
  // Forgets the owner of `id` (a submission that came to nothing).
  void release(const protocol::TaskId& id);
  // Returns the owner of `id`, nullopt when no connection owns it.
  [[nodiscard]] std::optional<std::string> owner(const protocol::TaskId& id) const;

  // Queues `frame`, an event of task `id`, for its owner. Returns false, doing nothing,
  // when no connection owns `id` (the event belongs to another intake). With `may_wait`,
  // waits while the owner's queue is full, unless the owner is gone or close() was called;
  // then, or after close(), the frame is discarded. `last` (EXITED) ends the ownership.
  bool push(const protocol::TaskId& id, std::string frame, bool may_wait, bool last);
  // Queues `frame` for `peer` without waiting (a RUNNERS answer). Discarded for a
  // connection found gone, and after close().
  void push_to(std::string_view peer, std::string frame);

  // Offers each connection's oldest frames to `send` (from the transport thread): `sent`
  // removes the frame, `busy` leaves it for a later call, `gone` discards the connection's
  // queue. Returns the tasks of the connections found gone, for the caller to cancel.
  // `send` runs under the outbox's lock: it must not block.
  [[nodiscard]] std::vector<protocol::TaskId> send_pending(
      const std::function<PeerSend(const std::string& peer, const std::string& frame)>& send);

  // Returns true while some connection has a frame waiting.
  [[nodiscard]] bool has_pending() const;
  // Returns the frames waiting, over every connection.
  [[nodiscard]] std::size_t size() const;
  // Returns how many connections own a task or have a frame waiting (for tests).
  [[nodiscard]] std::size_t connections() const;
  // From now on pushes discard their frame instead of waiting; wakes every blocked push.
  void close();
  // Returns how many frames were discarded: for connections found gone, and after close().
  [[nodiscard]] std::size_t discarded() const;

  // Returns an eventfd that polls readable after a frame was queued for a connection
  // whose queue was empty.
  [[nodiscard]] int fd() const noexcept { return m_wakeup.fd(); }
  // Resets fd() to not readable.
  void clear_signal() const noexcept { m_wakeup.clear(); }

 private:
  struct Peer {
    std::deque<std::string> frames;
    std::set<protocol::TaskId> tasks;
    bool gone = false;
  };

  void append_locked(Peer& peer, std::string frame);
  void forget_if_idle_locked(const std::string& peer);

  void cut_off_locked(Peer& peer);

  const std::size_t m_capacity;
  const std::optional<std::size_t> m_cut_off;
  std::vector<protocol::TaskId> m_cut_tasks;  // of connections cut off, for send_pending()
  mutable std::mutex m_mutex;
  std::condition_variable m_room;
  std::map<std::string, Peer> m_peers;
  std::map<protocol::TaskId, std::string> m_owners;
  std::size_t m_discarded = 0;
  bool m_closed = false;
  os::Wakeup m_wakeup;
};

}  // namespace planificador::transport
