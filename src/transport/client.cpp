#include "planificador/transport/client.hpp"

#include <array>
#include <utility>

#include <zmq.hpp>

namespace planificador::transport {

struct Client::Impl {
  zmq::context_t context{1};
  zmq::socket_t intake{context, zmq::socket_type::push};
  zmq::socket_t events{context, zmq::socket_type::pull};
  std::optional<zmq::socket_t> control;
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
