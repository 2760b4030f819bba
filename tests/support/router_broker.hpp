#pragma once
// RouterBroker: a ROUTER socket playing the broker's side of the worker link
// (docs/fleet.md) for the tests of a daemon's link: it receives what daemons send and
// answers the last one it heard from.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

namespace planificador::testing {

class RouterBroker {
 public:
  // Binds a ROUTER to tcp://127.0.0.1 on an ephemeral port; with `curve_secret_key` (Z85)
  // it is a CURVE server that accepts any client key (no ZAP handler).
  explicit RouterBroker(const std::string& curve_secret_key = "");

  // Returns the endpoint as bound (the real port).
  [[nodiscard]] const std::string& endpoint() const noexcept { return m_endpoint; }

  // Returns the next frame a daemon sent within `timeout`, or nullopt; the sender becomes
  // the peer send() answers.
  [[nodiscard]] std::optional<std::string> receive(std::chrono::milliseconds timeout);
  // Returns the next frame whose type byte is `type` within `timeout`, or nullopt; the
  // frames before it are appended to `skipped` when given.
  [[nodiscard]] std::optional<std::string> receive_type(
      unsigned char type, std::chrono::milliseconds timeout,
      std::vector<std::string>* skipped = nullptr);
  // Returns every frame received within `duration` (waits the whole duration).
  [[nodiscard]] std::vector<std::string> receive_for(std::chrono::milliseconds duration);

  // Sends one frame to the peer last heard from.
  void send(const std::string& frame);
  // Sends a multi-part message to the peer last heard from.
  void send_multipart(const std::vector<std::string>& parts);

 private:
  zmq::context_t m_context{1};
  zmq::socket_t m_router{m_context, zmq::socket_type::router};
  std::string m_endpoint;
  std::string m_peer;
};

// Returns the type byte of `frame` (0 for an empty one).
[[nodiscard]] inline unsigned char type_of(const std::string& frame) {
  return frame.empty() ? 0 : static_cast<unsigned char>(frame[0]);
}

}  // namespace planificador::testing
