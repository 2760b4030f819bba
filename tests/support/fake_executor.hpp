#pragma once
// FakeExecutor: a daemon of a fleet as the broker sees it — a DEALER on the worker link
// speaking docs/fleet.md's messages (protocol/link.hpp) — run on a thread of its own, for
// the broker's integration tests. It says READY at start and after UNKNOWN, beats, and
// "runs" each SUBMIT as its code says:
//   "hold"    accepts it and never starts it
//   "start"   STARTED, nothing more
//   "slow:N"  STARTED, then after N ms APPEND_OUT "ran <name>\n" and EXITED 0
//   other     STARTED, APPEND_OUT "ran <name>\n", EXITED 0 at once
// A code "MODE@NAME" means MODE on the executor called NAME, "run" on any other.
// A CANCEL of a task it holds is answered EXITED 130.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "planificador/protocol/messages.hpp"

namespace planificador::testing {

struct FakeExecutorOptions {
  std::string endpoint;
  std::string name = "fake";
  std::uint32_t slots = 2;
  std::vector<std::string> patterns{"*"};
  std::chrono::milliseconds heartbeat{50};
  // CURVE client keys (Z85); empty: a plain connection.
  std::string public_key;
  std::string secret_key;
  std::string server_key;
};

class FakeExecutor {
 public:
  // Connects and starts the executor's thread.
  explicit FakeExecutor(FakeExecutorOptions options);
  // Stops the thread and closes the socket (no BYE).
  ~FakeExecutor();
  FakeExecutor(const FakeExecutor&) = delete;
  FakeExecutor& operator=(const FakeExecutor&) = delete;

  // Sends `frame` on the link from the executor's thread.
  void send(std::string frame);
  // Silent: sends nothing at all (no beat, no answer) but still reads.
  void set_silent(bool silent) { m_silent.store(silent); }
  // Waits until a WELCOME came; returns whether one did.
  [[nodiscard]] bool wait_welcomed(std::chrono::milliseconds timeout);
  // Returns the epoch of the last WELCOME (0: none).
  [[nodiscard]] std::uint64_t epoch() const { return m_epoch.load(); }
  // Waits until at least `count` frames of type `type` came; returns whether they did.
  [[nodiscard]] bool wait_for(unsigned char type, std::size_t count,
                              std::chrono::milliseconds timeout);
  // Returns the frames of type `type` received so far (heartbeats are not kept).
  [[nodiscard]] std::vector<std::string> received(unsigned char type) const;

 private:
  struct Held {
    std::string id;  // 32 bytes
    bool extended = false;
    bool started = false;
    std::chrono::steady_clock::time_point finish_at{};
    bool finishes = false;
  };
  void loop();
  void record(const std::string& frame);
  void out(std::string frame);
  void flush(zmq::socket_t& socket);
  void ready();
  void finish(const std::string& id);
  void on_submit(const protocol::Submit& submit);
  void on_frame(const std::string& frame);
  void finish_due();

  FakeExecutorOptions m_options;
  std::atomic<bool> m_stop{false};
  std::atomic<bool> m_silent{false};
  std::atomic<std::uint64_t> m_epoch{0};
  mutable std::mutex m_mutex;
  std::condition_variable m_changed;
  std::vector<std::string> m_received;
  std::deque<std::string> m_outbox;
  // The thread's own:
  std::vector<Held> m_held;
  std::deque<std::string> m_pending;  // frames the socket has not taken yet
  std::chrono::steady_clock::time_point m_last_sent{};
  std::thread m_thread;
};

}  // namespace planificador::testing
