#pragma once
// Transport: the daemon's three ZeroMQ sockets of SPEC §1, and its client endpoint
// (docs/protocol.md), owned by the one thread that calls run(). Inbound frames go to a
// FrameHandler; outbound frames come from an EventQueue (and a ClientOutbox) and are sent
// only while their socket can take them, so a slow consumer fills the queue and blocks the
// workers instead of growing memory.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "planificador/transport/client_outbox.hpp"
#include "planificador/transport/curve_keys.hpp"
#include "planificador/transport/event_queue.hpp"
#include "planificador/util/result.hpp"

namespace planificador::transport {

struct Endpoints {
  std::string intake;
  std::string events;
  std::string control;   // empty = no control socket
  bool connect = false;  // false: bind every endpoint; true: connect to a dispatcher
  std::string clients;   // the client endpoint, bound; empty (or connect) = none
};

// CURVE on every bound socket: the daemon's keys, and the client keys it accepts.
struct ServerCurve {
  curve::KeyPair keys;
  std::set<std::string> allowed;  // 32-byte binary public keys
};

struct TransportOptions {
  Endpoints endpoints;
  // Largest inbound frame ZeroMQ accepts (ZMQ_MAXMSGSIZE on intake and control); a larger
  // one is refused before it is allocated.
  std::size_t max_inbound_bytes = std::size_t{8} << 20;
  // How long stop() keeps trying to send queued events, and the events socket's linger.
  std::chrono::milliseconds flush_timeout{10000};
  // Set: every bound socket is a CURVE server that accepts only these clients.
  std::optional<ServerCurve> curve;
};

enum class Source { intake, control };

// Receives what the transport thread reads. Called on that thread only.
class FrameHandler {
 public:
  virtual ~FrameHandler() = default;
  // Handles one single-part frame read from `source`.
  virtual void on_frame(Source source, std::string_view frame) = 0;
  // Handles one frame a connection of the client endpoint sent; `peer` is its routing id.
  // Read only while accepting(), as intake is. The default ignores it (a transport
  // without a client endpoint calls neither of these).
  virtual void on_client_frame(std::string_view /*peer*/, std::string_view /*frame*/) {}
  // Returns true while intake may be read (the backlog has room, not shutting down).
  virtual bool accepting() = 0;
  // Called with the tasks of client connections found gone, for the handler to cancel.
  virtual void on_clients_gone(const std::vector<protocol::TaskId>& /*tasks*/) {}
};

class Transport {
 public:
  // Creates the sockets and binds or connects them. Returns an error naming the endpoint
  // that failed. `events` (and `clients`, required with a client endpoint) must outlive
  // the transport.
  [[nodiscard]] static Result<std::unique_ptr<Transport>> open(const TransportOptions& options,
                                                               EventQueue& events,
                                                               ClientOutbox* clients = nullptr);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Returns the endpoint as bound (ZMQ_LAST_ENDPOINT: the real port for `:0` or `:*`), or
  // as configured when connecting. Empty for an absent control socket.
  [[nodiscard]] const std::string& intake_endpoint() const noexcept;
  [[nodiscard]] const std::string& events_endpoint() const noexcept;
  [[nodiscard]] const std::string& control_endpoint() const noexcept;
  [[nodiscard]] const std::string& clients_endpoint() const noexcept;

  // Serves the sockets on the calling thread until stop() was called and every queued
  // event was sent, or flush_timeout passed after stop() (what is left is logged).
  void run(FrameHandler& handler);
  // Asks run() to stop reading and return once the queue is flushed. Thread-safe.
  void stop();
  // Makes run() look at handler.accepting() again. Thread-safe.
  void wake();

  struct Impl;

 private:
  explicit Transport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace planificador::transport
