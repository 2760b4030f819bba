#pragma once
// Client: the client side of SPEC §1 for planctl — PUSH to intake, PULL from events, and
// optionally PUB to a control socket — or one DEALER to a daemon's client endpoint
// (docs/protocol.md), which carries all of it and returns only this client's events.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "planificador/util/result.hpp"

namespace planificador::transport {

// CURVE (RFC 26) client keys, Z85, for a broker whose client sockets require them
// (curve.clients_allow). An empty server_key means a plain connection.
struct CurveClient {
  std::string server_key;  // the broker's public key
  std::string public_key;  // this client's key pair
  std::string secret_key;
};

// Makes `socket` (a zmq_socket handle) a CURVE client with `curve`, unless server_key is
// empty. Returns an error when libzmq refuses a key.
[[nodiscard]] Result<void> apply_curve(void* socket, const CurveClient& curve);

class Client {
 public:
  // Connects to each of the daemon's intake, events and control endpoints that is not
  // empty, as a CURVE client when `curve` has a server key.
  // Returns an error naming the endpoint ZeroMQ refused.
  [[nodiscard]] static Result<std::unique_ptr<Client>> connect(const std::string& intake,
                                                               const std::string& events,
                                                               const std::string& control,
                                                               const CurveClient& curve = {});
  // Connects one DEALER to a daemon's client endpoint, as a CURVE client when `curve` has
  // a server key. send(), send_control() and receive() all use it.
  [[nodiscard]] static Result<std::unique_ptr<Client>> connect_endpoint(
      const std::string& endpoint, const CurveClient& curve = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Waits up to `timeout` until the connection to intake has completed ZeroMQ's handshake:
  // something that speaks ZMTP (and accepts this client's CURVE keys) listens there.
  // ZeroMQ connects in the background and queues what is sent meanwhile, so without this a
  // client of an absent daemon waits for ever. Returns an error naming the endpoint, and
  // the keys when the handshake was refused.
  [[nodiscard]] Result<void> wait_reachable(std::chrono::milliseconds timeout);
  // Sends one frame to intake, waiting at most `timeout` for the daemon to take it.
  [[nodiscard]] Result<void> send(std::string_view frame, std::chrono::milliseconds timeout);
  // Sends one frame to the control socket (PUB: subscribers joining late miss it).
  [[nodiscard]] Result<void> send_control(std::string_view frame);
  // Returns the next events frame, nullopt when none came within `timeout`, or an error
  // (EINTR included, so a signal can interrupt the wait).
  [[nodiscard]] Result<std::optional<std::string>> receive(std::chrono::milliseconds timeout);

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace planificador::transport
