#pragma once
// Client: SPEC §1's client side on one intake/events pair (a daemon's or the broker's, which
// a client cannot tell apart), for the scenarios with real daemons: one task at a time,
// bursts with every worker busy, and waiting for the events a scenario looks for.
//
// Flood: the client side of the broker-alone scenarios, as fast as the broker takes tasks:
// one thread that sends SUBMITs while intake takes them (and fewer than a window of tasks
// are unanswered) and reads events while there are any, checks that each task gets exactly one
// APPEND_OUT and one EXITED 0, and samples the broker's RSS as the tasks complete.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "report.hpp"
#include <zmq.hpp>

#include "planificador/protocol/messages.hpp"

namespace planificador::bench {

// Returns a task id no other task of this run has ("fb" + pid + a counter, 32 bytes).
[[nodiscard]] protocol::TaskId next_task_id();

// One event read from an events socket.
struct Event {
  unsigned char type = 0;  // 0x01 APPEND_OUT, 0x02 APPEND_ERR, 0x03 EXITED, 0x10 REPORT
  protocol::TaskId id;
  std::int32_t code = 0;  // EXITED's exit code
  std::string text;       // APPEND_OUT / APPEND_ERR's bytes
  Clock::time_point at;   // when it was read
};

class Client {
 public:
  // Connects a PUSH to `intake` and a PULL to `events`.
  Client(zmq::context_t& context, const std::string& intake, const std::string& events);

  // Sends a SUBMIT; returns its id.
  protocol::TaskId submit(std::string_view image, std::string_view code);
  // Sends a CANCEL.
  void cancel(const protocol::TaskId& id);
  // Reads events, handing each to `handle`, until it returns true; returns false when
  // `deadline` passed first. Throws Interrupted on SIGINT/SIGTERM.
  bool read_until(const std::function<bool(const Event&)>& handle, Clock::time_point deadline);
  // Runs one task; returns its SUBMIT→EXITED seconds, or nullopt when it exited non-zero or
  // did not exit within `timeout`.
  [[nodiscard]] std::optional<double> run_one(std::string_view image, std::string_view code,
                                              std::chrono::milliseconds timeout);
  // Submits `count` tasks at once and waits until every one exited 0; returns the seconds
  // from the first SUBMIT to the last EXITED. Throws std::runtime_error when one exits
  // non-zero or they are not done within `timeout`.
  double burst(std::string_view image, std::string_view code, std::size_t count,
               std::chrono::milliseconds timeout);
  // Sends `count` SUBMITs; returns their ids.
  std::vector<protocol::TaskId> submit_many(std::string_view image, std::string_view code,
                                            std::size_t count);
  // Waits until every task of `ids` exited 0; returns when the last EXITED was read. Throws
  // std::runtime_error as burst() does.
  Clock::time_point wait_all(const std::vector<protocol::TaskId>& ids, Clock::time_point deadline);

 private:
  zmq::socket_t m_intake;
  zmq::socket_t m_events;
};

// Submits `count` tasks at once to each client and waits until all exited 0; returns the
// seconds from the first SUBMIT to the last EXITED. Throws as Client::burst().
double burst_all(const std::vector<Client*>& clients, std::string_view image, std::string_view code,
                 std::size_t count, std::chrono::milliseconds timeout);

struct FloodOptions {
  std::string intake;
  std::string events;
  std::size_t tasks = 100000;
  std::string image = "true";
  std::string code = "x\n";
  pid_t broker = 0;              // whose RSS is sampled
  std::size_t rss_samples = 20;  // evenly over the tasks' completions
  // Tasks sent and not yet exited at most; 0: as many as the broker takes. Bounded, every
  // RSS sample finds the broker holding as many tasks, so samples compare.
  std::size_t window = 0;
  std::chrono::milliseconds silence{30000};  // no event for this long ends the flood
};

struct FloodResult {
  std::size_t exited = 0;  // distinct tasks with their EXITED 0
  std::size_t appends = 0;
  std::size_t bad = 0;  // EXITED non-zero, a second EXITED, or one for an unknown task
  double seconds = 0;   // first SUBMIT to last EXITED
  std::vector<std::pair<std::size_t, std::size_t>> rss;  // (tasks exited, broker KiB)
};

// Floods the broker with `options.tasks` SUBMITs and reads their events (see above).
[[nodiscard]] FloodResult flood(zmq::context_t& context, const FloodOptions& options);

}  // namespace planificador::bench
