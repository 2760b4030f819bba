#pragma once
// ZmqClient: a test client of SPEC §1 — PUSH to intake, PULL from events, PUB to control —
// that collects events per task id until EXITED, with timeouts.
// (The control socket is an XPUB: to a SUB peer it is a PUB, and it sees the subscription.)

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "planificador/protocol/messages.hpp"

namespace planificador::testing {

// Everything the events socket said about one task.
struct TaskEvents {
  std::vector<std::string> frames;  // raw, in arrival order
  std::string out;
  std::string err;
  std::optional<std::string> report;
  std::optional<std::int32_t> exit_code;
  std::size_t after_exit = 0;  // messages that arrived after EXITED (must stay 0)
  std::size_t exits = 0;       // EXITED messages (must be 1)
};

// Waits until a subscriber's subscription has reached `xpub` (a connected XPUB socket), or
// `timeout` passed. PUB/SUB joins are asynchronous: until the SUB's subscription arrives,
// whatever the publisher sends is dropped, so a publisher that must not lose its first
// message waits for this rather than for a fixed pause.
[[nodiscard]] bool wait_for_subscriber(zmq::socket_t& xpub, std::chrono::milliseconds timeout);

// Selects ZmqClient's constructor for a daemon's client endpoint.
struct ClientEndpoint {
  std::string endpoint;
  int receive_hwm = 1000;  // ZMQ_RCVHWM: frames ZeroMQ holds for a client that does not read
  // ZMQ_RCVBUF, when not 0: a fixed kernel receive buffer instead of one that grows (up to
  // tcp_rmem's maximum, 32 MiB here) while the client does not read.
  int receive_buffer = 0;
};

class ZmqClient {
 public:
  // Connects to the given endpoints; `control` may be empty.
  ZmqClient(const std::string& intake, const std::string& events, const std::string& control = "");
  // Connects one DEALER to a client endpoint (docs/protocol.md): send() and the collecting
  // calls all use it.
  explicit ZmqClient(const ClientEndpoint& endpoint);

  // Sends one single-part frame to intake.
  void send(const std::string& frame);
  // Sends a multi-part message to intake.
  void send_multipart(const std::vector<std::string>& parts);
  // Publishes one frame on control (the constructor waited for the daemon's subscription).
  void send_control(const std::string& frame);

  // Receives until every id in `ids` has EXITED or `timeout` passed, then keeps listening
  // for `quiet` more to catch anything sent after an EXITED. Events for other ids are kept
  // too (under their id).
  std::map<protocol::TaskId, TaskEvents> collect(
      const std::vector<protocol::TaskId>& ids, std::chrono::milliseconds timeout,
      std::chrono::milliseconds quiet = std::chrono::milliseconds(200));
  // Same for one id.
  TaskEvents collect_one(const protocol::TaskId& id, std::chrono::milliseconds timeout);
  // Returns the frames received within `timeout` (for tests that expect silence).
  std::vector<std::string> drain(std::chrono::milliseconds timeout);

 private:
  void record(const std::string& frame);

  zmq::context_t m_context{1};
  zmq::socket_t m_intake;  // a PUSH, or the DEALER
  zmq::socket_t m_events{m_context, zmq::socket_type::pull};
  zmq::socket_t* m_inbound = &m_events;  // where events are read
  zmq::socket_t m_control{m_context, zmq::socket_type::xpub};
  bool m_has_control = false;
  std::map<protocol::TaskId, TaskEvents> m_tasks;
};

}  // namespace planificador::testing
