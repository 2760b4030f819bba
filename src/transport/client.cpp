#include "planificador/transport/client.hpp"

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <utility>

#include <zmq.hpp>

namespace planificador::transport {

// Where intake's socket monitor publishes (zmq_socket_monitor(3)); one per Client, since
// each has a context of its own.
constexpr const char* k_intake_monitor = "inproc://planificador-client-intake";

struct Client::Impl {
  zmq::context_t context{1};
  zmq::socket_t intake{context, zmq::socket_type::push};
  zmq::socket_t events{context, zmq::socket_type::pull};
  std::optional<zmq::socket_t> control;
  std::optional<zmq::socket_t> intake_events;  // the monitor's PAIR end
  std::string intake_endpoint;
  bool reachable = false;
};

Result<void> apply_curve(void* socket, const CurveClient& curve) {
  if (curve.server_key.empty()) {
    return {};
  }
  // zmq_setsockopt(3): a 40-character key is read as Z85.
  const std::array<std::pair<int, const std::string*>, 3> keys{{
      {ZMQ_CURVE_SERVERKEY, &curve.server_key},
      {ZMQ_CURVE_PUBLICKEY, &curve.public_key},
      {ZMQ_CURVE_SECRETKEY, &curve.secret_key},
  }};
  for (const auto& [option, key] : keys) {
    if (zmq_setsockopt(socket, option, key->data(), key->size()) != 0) {
      return fail_errno("set CURVE key", zmq_errno());
    }
  }
  return {};
}

Result<std::unique_ptr<Client>> Client::connect(const std::string& intake,
                                                const std::string& events,
                                                const std::string& control,
                                                const CurveClient& curve) {
  auto impl = std::make_unique<Impl>();
  for (void* socket : {impl->intake.handle(), impl->events.handle()}) {
    PLAN_TRY(apply_curve(socket, curve));
  }
  std::string current = intake;
  try {
    // A short linger: a frame still queued when the client gives up is not worth waiting
    // for, but one just sent should get out before the process exits.
    impl->intake.set(zmq::sockopt::linger, 2000);
    if (!intake.empty()) {
      // Before connect(), so the handshake's event cannot come before the monitor.
      if (zmq_socket_monitor(impl->intake.handle(), k_intake_monitor,
                             ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0) {
        return fail_errno("monitor intake", zmq_errno());
      }
      impl->intake_events.emplace(impl->context, zmq::socket_type::pair);
      impl->intake_events->connect(k_intake_monitor);
      impl->intake_endpoint = intake;
      impl->intake.connect(intake);
    }
    current = events;
    impl->events.set(zmq::sockopt::linger, 0);
    if (!events.empty()) {
      impl->events.connect(events);
    }
    if (!control.empty()) {
      current = control;
      impl->control.emplace(impl->context, zmq::socket_type::pub);
      PLAN_TRY(apply_curve(impl->control->handle(), curve));
      impl->control->set(zmq::sockopt::linger, 2000);
      impl->control->connect(control);
    }
  } catch (const zmq::error_t& error) {
    return fail("connect `" + current + "`: " + error.what(), error.num());
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Client::~Client() = default;

Result<void> Client::send(std::string_view frame, std::chrono::milliseconds timeout) {
  try {
    m_impl->intake.set(zmq::sockopt::sndtimeo, static_cast<int>(timeout.count()));
    if (!m_impl->intake.send(zmq::buffer(frame), zmq::send_flags::none)) {
      return fail("send to intake: timed out", EAGAIN);
    }
  } catch (const zmq::error_t& error) {
    return fail(std::string("send to intake: ") + error.what(), error.num());
  }
  return {};
}

Result<void> Client::wait_reachable(std::chrono::milliseconds timeout) {
  if (m_impl->reachable || !m_impl->intake_events) {
    return {};
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string& endpoint = m_impl->intake_endpoint;
  std::string refusal;
  try {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      zmq::pollitem_t item{m_impl->intake_events->handle(), 0, ZMQ_POLLIN, 0};
      if (left.count() <= 0 || zmq::poll(&item, 1, left) == 0) {
        break;
      }
      // Two parts: 16-bit event and 32-bit value, then the endpoint (zmq_socket_monitor(3)).
      zmq::message_t event;
      zmq::message_t address;
      if (!m_impl->intake_events->recv(event, zmq::recv_flags::none) || !event.more() ||
          !m_impl->intake_events->recv(address, zmq::recv_flags::none) ||
          event.size() < sizeof(std::uint16_t)) {
        continue;
      }
      std::uint16_t number = 0;
      std::memcpy(&number, event.data(), sizeof number);
      if (number == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        m_impl->reachable = true;
        return {};
      }
      // ZeroMQ retries a refused handshake; the last reason is what the error says.
      refusal = number == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                    ? "the endpoint refused this client's CURVE keys"
                    : "what listens there does not speak ZeroMQ's protocol as expected";
    }
  } catch (const zmq::error_t& error) {
    if (error.num() == EINTR) {
      return fail("wait for `" + endpoint + "`: interrupted", EINTR);
    }
    return fail(std::string("wait for `") + endpoint + "`: " + error.what(), error.num());
  }
  const auto seconds = std::chrono::duration<double>(timeout).count();
  std::ostringstream message;
  message << "nothing answers at `" << endpoint << "` within " << seconds << " s";
  message << (refusal.empty() ? " (is the daemon running, and is that its intake?)"
                              : ": " + refusal);
  return fail(message.str(), ETIMEDOUT);
}

Result<void> Client::send_control(std::string_view frame) {
  if (!m_impl->control) {
    return fail("send to control: no control endpoint");
  }
  try {
    (void)m_impl->control->send(zmq::buffer(frame), zmq::send_flags::none);
  } catch (const zmq::error_t& error) {
    return fail(std::string("send to control: ") + error.what(), error.num());
  }
  return {};
}

Result<std::optional<std::string>> Client::receive(std::chrono::milliseconds timeout) {
  try {
    zmq::pollitem_t item{m_impl->events.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) {
      return std::optional<std::string>();
    }
    zmq::message_t message;
    if (!m_impl->events.recv(message, zmq::recv_flags::dontwait)) {
      return std::optional<std::string>();
    }
    return std::optional<std::string>(message.to_string());
  } catch (const zmq::error_t& error) {
    return fail(std::string("receive from events: ") + error.what(), error.num());
  }
}

}  // namespace planificador::transport
