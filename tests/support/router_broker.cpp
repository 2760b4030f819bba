#include "router_broker.hpp"

namespace planificador::testing {

RouterBroker::RouterBroker(const std::string& curve_secret_key) {
  m_router.set(zmq::sockopt::linger, 0);
  if (!curve_secret_key.empty()) {
    m_router.set(zmq::sockopt::curve_server, true);
    m_router.set(zmq::sockopt::curve_secretkey, curve_secret_key);
  }
  m_router.bind("tcp://127.0.0.1:0");
  m_endpoint = m_router.get(zmq::sockopt::last_endpoint);
}

std::optional<std::string> RouterBroker::receive(std::chrono::milliseconds timeout) {
  std::vector<zmq::pollitem_t> items{{m_router.handle(), 0, ZMQ_POLLIN, 0}};
  if (zmq::poll(items, timeout) == 0) {
    return std::nullopt;
  }
  zmq::message_t peer;
  zmq::message_t frame;
  if (!m_router.recv(peer, zmq::recv_flags::none) || !peer.more() ||
      !m_router.recv(frame, zmq::recv_flags::none)) {
    return std::nullopt;
  }
  m_peer = peer.to_string();
  std::string payload = frame.to_string();
  while (frame.more() && m_router.recv(frame, zmq::recv_flags::none)) {
  }
  return payload;
}

std::optional<std::string> RouterBroker::receive_type(unsigned char type,
                                                      std::chrono::milliseconds timeout,
                                                      std::vector<std::string>* skipped) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return std::nullopt;
    }
    auto frame = receive(left);
    if (!frame) {
      return std::nullopt;
    }
    if (type_of(*frame) == type) {
      return frame;
    }
    if (skipped != nullptr) {
      skipped->push_back(std::move(*frame));
    }
  }
}

std::vector<std::string> RouterBroker::receive_for(std::chrono::milliseconds duration) {
  std::vector<std::string> frames;
  const auto deadline = std::chrono::steady_clock::now() + duration;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return frames;
    }
    if (auto frame = receive(left)) {
      frames.push_back(std::move(*frame));
    }
  }
}

void RouterBroker::send(const std::string& frame) { send_multipart({frame}); }

void RouterBroker::send_multipart(const std::vector<std::string>& parts) {
  (void)m_router.send(zmq::buffer(m_peer), zmq::send_flags::sndmore);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto flags = i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    (void)m_router.send(zmq::buffer(parts[i]), flags);
  }
}

}  // namespace planificador::testing
