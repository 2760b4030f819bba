#pragma once
// SimFleet: many simulated daemons on one thread, for measuring the broker alone. Each is a
// DEALER on the worker link (docs/fleet.md) that says READY with `slots` free slots and
// answers every SUBMIT at once, as a daemon whose program takes no time would: STARTED,
// one APPEND_OUT, EXITED 0. It says READY again after UNKNOWN and beats when idle.
//
// It must cost far less than the broker it loads, so: one thread for all of them, woken by
// epoll on each socket's ZMQ_FD (zmq_getsockopt(3), ZMQ_FD and ZMQ_EVENTS: the fd only says
// "look again", so ZMQ_EVENTS is read after every service and a socket that still has
// input goes back on the ready list), frames patched in place instead of encoded, and no
// record of what it did beyond counters.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace planificador::bench {

struct SimFleetOptions {
  std::string endpoint;  // the broker's worker endpoint
  std::size_t daemons = 100;
  std::uint32_t slots = 4;           // per daemon
  std::string name_prefix = "sim-";  // daemon i is named prefix + i
  std::vector<std::string> patterns{"*"};
  std::string output = "1\n";                // the APPEND_OUT of every task
  std::chrono::milliseconds heartbeat{250};  // beat after this much silence
};

class SimFleet {
 public:
  // Creates and connects every daemon, then starts the fleet's thread.
  explicit SimFleet(SimFleetOptions options);
  // Stops the thread and closes every socket (no BYE: the broker is torn down next).
  ~SimFleet();
  SimFleet(const SimFleet&) = delete;
  SimFleet& operator=(const SimFleet&) = delete;

  // Waits until every daemon was welcomed; returns whether all were within `timeout`.
  [[nodiscard]] bool wait_welcomed(std::chrono::milliseconds timeout) const;
  // Returns how many daemons were welcomed so far.
  [[nodiscard]] std::size_t welcomed() const { return m_welcomed.load(); }
  // Returns how many SUBMITs were answered so far.
  [[nodiscard]] std::uint64_t answered() const { return m_answered.load(); }
  // Returns how many UNKNOWNs came (each one means the broker had forgotten a daemon).
  [[nodiscard]] std::uint64_t unknowns() const { return m_unknowns.load(); }
  // Returns how many frames the sockets did not take at once (held back and sent later).
  [[nodiscard]] std::uint64_t held_back() const { return m_held_back.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
  std::atomic<std::size_t> m_welcomed{0};
  std::atomic<std::uint64_t> m_answered{0};
  std::atomic<std::uint64_t> m_unknowns{0};
  std::atomic<std::uint64_t> m_held_back{0};
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

// SimDaemon: the simulated daemon of SimFleet, direct: it binds SPEC's intake (PULL) and
// events (PUSH) on 127.0.0.1 and answers every SUBMIT at once with one APPEND_OUT and EXITED
// 0, on a thread of its own. The baseline the broker's own hop is measured against.
class SimDaemon {
 public:
  // Binds both sockets on ephemeral ports and starts the thread.
  SimDaemon();
  // Stops the thread and closes the sockets.
  ~SimDaemon();
  SimDaemon(const SimDaemon&) = delete;
  SimDaemon& operator=(const SimDaemon&) = delete;

  [[nodiscard]] const std::string& intake() const noexcept { return m_intake; }
  [[nodiscard]] const std::string& events() const noexcept { return m_events; }

 private:
  struct Sockets;
  std::unique_ptr<Sockets> m_sockets;
  std::string m_intake;
  std::string m_events;
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

}  // namespace planificador::bench
