#pragma once
// LinkSession: the daemon's side of the worker link as plain state, without a socket or a
// thread: what the broker has been told (the held tasks, as the frames that went out say
// it), the heartbeat and silence clocks, and the link's own frames waiting to go out.
// WorkerLink feeds it every frame it reads and sends. Internal to the transport module.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "planificador/protocol/link.hpp"
#include "planificador/protocol/messages.hpp"
#include "planificador/transport/worker_link.hpp"

namespace planificador::transport {

class LinkSession {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts a session whose first frame out is READY.
  LinkSession(const WorkerLinkOptions& options, Clock::time_point now);

  // Takes note of a frame the broker sent at `now`. Returns true when it is a task frame
  // for the handler; link messages are acted on here, a SUBMIT while draining is answered
  // RETURNED, anything else is dropped and logged with a hex prefix.
  [[nodiscard]] bool on_received(std::string_view frame, Clock::time_point now);
  // Takes note that the broker sent something that is no frame to act on (multi-part).
  void heard(Clock::time_point now) { m_last_received = now; }
  // Takes note of a frame of the event queue that went out at `now`.
  void on_sent(std::string_view frame, Clock::time_point now);
  // Queues HEARTBEAT or READY when their time has come.
  void tick(Clock::time_point now);
  // Returns when tick() next has something to do (after `now` unless a frame is due).
  [[nodiscard]] Clock::time_point next_deadline(Clock::time_point now) const;

  // Returns the oldest link frame waiting to go out, or nullopt. A READY is built here, so
  // it lists what is held at the moment it leaves.
  [[nodiscard]] std::optional<std::string> front() const;
  // Removes the frame front() returned: it went out at `now`.
  void pop_front(Clock::time_point now);
  [[nodiscard]] bool outbox_empty() const { return m_outbox.empty(); }

  // Queues DRAINING and a RETURNED for each of `returned`; from now on a SUBMIT is
  // answered RETURNED and READY offers no room.
  void begin_drain(const std::vector<protocol::TaskId>& returned);
  // Queues BYE (once).
  void queue_bye();

  [[nodiscard]] bool draining() const { return m_draining; }
  [[nodiscard]] bool bye_queued() const { return m_bye_queued; }
  [[nodiscard]] bool bye_sent() const { return m_bye_sent; }
  // Returns true while the broker's last word was a WELCOME and it has not fallen silent.
  [[nodiscard]] bool welcomed() const { return m_welcomed; }
  // Returns the READY that would go out now.
  [[nodiscard]] protocol::link::Ready ready() const;
  // Returns how long the broker may be silent before it counts as gone.
  [[nodiscard]] std::chrono::milliseconds silence_timeout() const;

 private:
  struct Outgoing {
    bool ready = false;  // built when it leaves
    std::string bytes;
  };

  void on_link_message(std::string_view frame, Clock::time_point now);
  void on_welcome(const protocol::link::Welcome& welcome);
  void on_unknown(const protocol::link::Unknown& unknown, Clock::time_point now);
  bool on_submit(std::string_view frame);
  void queue_ready(Clock::time_point now);
  void queue(std::string bytes) { m_outbox.push_back(Outgoing{false, std::move(bytes)}); }

  const std::string m_endpoint;
  const std::uint32_t m_slots;
  const std::string m_name;
  const std::string m_build;
  const std::vector<std::string> m_patterns;
  const bool m_curve;
  std::chrono::milliseconds m_heartbeat;
  std::uint32_t m_misses;
  std::uint64_t m_epoch = 0;

  std::map<protocol::TaskId, protocol::link::HeldTask> m_held;
  std::deque<Outgoing> m_outbox;
  Clock::time_point m_last_sent;
  Clock::time_point m_last_received;
  Clock::time_point m_last_ready;  // when a READY was last queued
  bool m_ready_pending = false;    // a READY is in the outbox
  bool m_welcomed = false;
  bool m_joined_once = false;
  bool m_silence_logged = false;  // once per silence, not once per READY
  bool m_draining = false;
  bool m_bye_queued = false;
  bool m_bye_sent = false;
};

}  // namespace planificador::transport
