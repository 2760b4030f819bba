#pragma once
// EventCollector: a client of the daemon's events socket for load and fault tests. A
// thread of its own reads every frame as it comes and folds it into per-task records
// (byte counts and a running hash, the text only when asked), so tens of thousands of
// tasks or hundreds of MiB of output cost little memory. It can pause reading (the socket
// stays connected) to play a consumer that went away. IntakeSender: a PUSH socket to
// intake with a bounded send.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "planificador/protocol/messages.hpp"

namespace planificador::testing {

using Clock = std::chrono::steady_clock;

// Returns the 64-bit FNV-1a hash of `bytes` continued from `hash`.
[[nodiscard]] std::uint64_t fnv1a64(std::string_view bytes,
                                    std::uint64_t hash = 14695981039346656037ULL);

struct TaskRecord {
  std::string out;  // kept only when the collector keeps output
  std::string err;  // always kept (diagnostics are short)
  std::uint64_t out_bytes = 0;
  std::uint64_t out_hash = fnv1a64("");
  std::optional<std::string> report;
  std::optional<std::int32_t> exit_code;
  std::size_t exits = 0;       // EXITED messages (must be 1)
  std::size_t after_exit = 0;  // messages after the first EXITED (must be 0)
  std::size_t frames = 0;
  std::uint64_t first_seq = 0;      // the collector-wide sequence number of its first frame
  std::uint64_t first_out_seq = 0;  // of its first APPEND_OUT (0: none)
  Clock::time_point first_at{};
  Clock::time_point exit_at{};
};

class EventCollector {
 public:
  // Connects a PULL socket to `events` and starts reading. `keep_output`: keep each
  // task's stdout text (else only its length and hash).
  explicit EventCollector(const std::string& events, bool keep_output = true);
  ~EventCollector();
  EventCollector(const EventCollector&) = delete;
  EventCollector& operator=(const EventCollector&) = delete;

  // Stops / resumes reading the socket (it stays connected, so the daemon must hold what
  // it has not sent).
  void pause();
  void resume();

  // Waits until every id in `ids` has EXITED, or `timeout` passed; returns whether all did.
  [[nodiscard]] bool wait_exited(const std::vector<protocol::TaskId>& ids,
                                 std::chrono::milliseconds timeout) const;
  // Returns the record of `id` (an empty one when nothing came for it).
  [[nodiscard]] TaskRecord task(const protocol::TaskId& id) const;
  // Returns every record.
  [[nodiscard]] std::map<protocol::TaskId, TaskRecord> tasks() const;
  // Returns the number of EXITED messages received.
  [[nodiscard]] std::size_t exited() const;
  // Returns the number of frames received, and of those that did not decode.
  [[nodiscard]] std::uint64_t frames() const { return m_frames.load(); }
  [[nodiscard]] std::uint64_t undecodable() const { return m_undecodable.load(); }
  // Returns the request ids of the RUNNERS answers received (docs/protocol.md).
  [[nodiscard]] std::set<protocol::TaskId> runners_answers() const;
  [[nodiscard]] std::uint64_t bytes() const { return m_bytes.load(); }

 private:
  void loop();
  void record(const zmq::message_t& message);

  zmq::context_t m_context{1};
  zmq::socket_t m_socket{m_context, zmq::socket_type::pull};
  bool m_keep_output;
  std::atomic<bool> m_stop{false};
  std::atomic<bool> m_paused{false};
  std::atomic<std::uint64_t> m_frames{0};
  std::atomic<std::uint64_t> m_undecodable{0};
  std::atomic<std::uint64_t> m_bytes{0};
  mutable std::mutex m_mutex;
  mutable std::condition_variable m_changed;
  std::map<protocol::TaskId, TaskRecord> m_tasks;
  std::set<protocol::TaskId> m_runners_answers;
  std::size_t m_exited = 0;
  std::thread m_thread;
};

class IntakeSender {
 public:
  // Connects a PUSH socket to `intake`.
  explicit IntakeSender(const std::string& intake);
  // Sends one frame, waiting up to `timeout` for room; returns whether it was queued.
  bool send(const std::string& frame,
            std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));
  // Sends `parts` as one multi-part message; returns whether it was queued.
  bool send_multipart(const std::vector<std::string>& parts,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

 private:
  zmq::context_t m_context{1};
  zmq::socket_t m_socket{m_context, zmq::socket_type::push};
};

}  // namespace planificador::testing
