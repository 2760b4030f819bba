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
  // `dealer`: one DEALER to the client endpoint carries both directions; otherwise a PUSH
  // to intake and a PULL from events.
  explicit Impl(bool dealer)
      : intake(context, dealer ? zmq::socket_type::dealer : zmq::socket_type::push),
        inbound(dealer ? &intake : &events) {}

  zmq::context_t context{1};
  zmq::socket_t intake;
  zmq::socket_t events{context, zmq::socket_type::pull};
  zmq::socket_t* inbound;  // where events are read
  std::optional<zmq::socket_t> control;
  std::optional<zmq::socket_t> intake_events;  // the monitor's PAIR end
  std::string intake_endpoint;
  bool reachable = false;

  // Connects the outbound socket (intake's PUSH, or the DEALER) to `endpoint`, if any,
  // with a monitor for wait_reachable().
  Result<void> connect_outbound(const std::string& endpoint);
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
  auto impl = std::make_unique<Impl>(false);
  for (void* socket : {impl->intake.handle(), impl->events.handle()}) {
    PLAN_TRY(apply_curve(socket, curve));
  }
  std::string current = intake;
  try {
    PLAN_TRY(impl->connect_outbound(intake));
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

Result<void> Client::Impl::connect_outbound(const std::string& endpoint) {
  // A short linger: a frame still queued when the client gives up is not worth waiting
  // for, but one just sent should get out before the process exits.
  intake.set(zmq::sockopt::linger, 2000);
  if (endpoint.empty()) {
    return {};
  }
  // Before connect(), so the handshake's event cannot come before the monitor.
  if (zmq_socket_monitor(intake.handle(), k_intake_monitor,
                         ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                             ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0) {
    return fail_errno("monitor `" + endpoint + "`", zmq_errno());
  }
  intake_events.emplace(context, zmq::socket_type::pair);
  intake_events->connect(k_intake_monitor);
  intake_endpoint = endpoint;
  intake.connect(endpoint);
  return {};
}

Result<std::unique_ptr<Client>> Client::connect_endpoint(const std::string& endpoint,
                                                         const CurveClient& curve) {
  auto impl = std::make_unique<Impl>(true);
  PLAN_TRY(apply_curve(impl->intake.handle(), curve));
  try {
    PLAN_TRY(impl->connect_outbound(endpoint));
  } catch (const zmq::error_t& error) {
    return fail("connect `" + endpoint + "`: " + error.what(), error.num());
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Client::~Client() = default;

Result<void> Client::send(std::string_view frame, std::chrono::milliseconds timeout) {
  try {
    m_impl->intake.set(zmq::sockopt::sndtimeo, static_cast<int>(timeout.count()));
    if (!m_impl->intake.send(zmq::buffer(frame), zmq::send_flags::none)) {
      return fail("send to `" + m_impl->intake_endpoint + "`: timed out", EAGAIN);
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
                    : "what listens there does not speak ZeroMQ's protocol as expected, or "
                      "wants another security mechanism (CURVE: --curve-server-key and "
                      "--curve-key)";
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
  const char* hint =
      m_impl->inbound == &m_impl->intake
          ? " (is the daemon running, and is that its client endpoint, server.clients?)"
          : " (is the daemon running, and is that its intake?)";
  message << (refusal.empty() ? std::string(hint) : ": " + refusal);
  return fail(message.str(), ETIMEDOUT);
}

Result<void> Client::send_control(std::string_view frame) {
  if (m_impl->inbound == &m_impl->intake) {
    return send(frame, std::chrono::milliseconds(2000));  // the client endpoint takes CANCEL too
  }
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
    zmq::pollitem_t item{m_impl->inbound->handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) {
      return std::optional<std::string>();
    }
    zmq::message_t message;
    if (!m_impl->inbound->recv(message, zmq::recv_flags::dontwait)) {
      return std::optional<std::string>();
    }
    return std::optional<std::string>(message.to_string());
  } catch (const zmq::error_t& error) {
    return fail(std::string("receive from events: ") + error.what(), error.num());
  }
}

}  // namespace planificador::transport
