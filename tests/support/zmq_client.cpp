#include "zmq_client.hpp"

#include <gtest/gtest.h>

#include "planificador/protocol/codec.hpp"

namespace planificador::testing {

using namespace std::chrono_literals;

bool wait_for_subscriber(zmq::socket_t& xpub, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) {
      return false;
    }
    zmq::pollitem_t item{xpub.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, left) == 0) {
      continue;
    }
    zmq::message_t message;
    if (!xpub.recv(message, zmq::recv_flags::dontwait)) {
      continue;
    }
    // An XPUB hands up subscriptions as "\x01<topic>" (and "\x00<topic>" for leaving).
    if (message.size() >= 1 && message.data<char>()[0] == '\x01') {
      return true;
    }
  }
}

ZmqClient::ZmqClient(const ClientEndpoint& endpoint)
    : m_intake(m_context, zmq::socket_type::dealer), m_inbound(&m_intake) {
  m_intake.set(zmq::sockopt::linger, 1000);
  m_intake.set(zmq::sockopt::rcvhwm, endpoint.receive_hwm);
  if (endpoint.receive_buffer != 0) {
    m_intake.set(zmq::sockopt::rcvbuf, endpoint.receive_buffer);
  }
  m_intake.connect(endpoint.endpoint);
}

ZmqClient::ZmqClient(const std::string& intake, const std::string& events,
                     const std::string& control)
    : m_intake(m_context, zmq::socket_type::push) {
  m_intake.set(zmq::sockopt::linger, 1000);
  m_events.set(zmq::sockopt::linger, 0);
  m_control.set(zmq::sockopt::linger, 1000);
  m_intake.connect(intake);
  m_events.connect(events);
  if (!control.empty()) {
    m_control.connect(control);
    m_has_control = true;
    // PUB/SUB joins are asynchronous; publishing before the daemon's subscription arrived
    // loses the message.
    EXPECT_TRUE(wait_for_subscriber(m_control, 10s))
        << "no subscription from the control socket at " << control;
  }
}

void ZmqClient::send(const std::string& frame) {
  (void)m_intake.send(zmq::buffer(frame), zmq::send_flags::none);
}

void ZmqClient::send_multipart(const std::vector<std::string>& parts) {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    (void)m_intake.send(zmq::buffer(parts[i]),
                        i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

void ZmqClient::send_control(const std::string& frame) {
  (void)m_control.send(zmq::buffer(frame), zmq::send_flags::none);
}

void ZmqClient::record(const std::string& frame) {
  auto decoded = protocol::decode_outbound(frame);
  if (!decoded) {
    return;
  }
  const auto id = std::visit([](const auto& m) { return m.id; }, *decoded);
  auto& task = m_tasks[id];
  if (task.exits != 0) {
    ++task.after_exit;
  }
  task.frames.push_back(frame);
  if (const auto* append = std::get_if<protocol::Append>(&*decoded)) {
    (append->stream == protocol::Stream::out ? task.out : task.err) += append->text;
  } else if (const auto* report = std::get_if<protocol::Report>(&*decoded)) {
    task.report = report->json;
  } else if (const auto* exited = std::get_if<protocol::Exited>(&*decoded)) {
    task.exit_code = exited->exit_code;
    ++task.exits;
  }
}

std::map<protocol::TaskId, TaskEvents> ZmqClient::collect(const std::vector<protocol::TaskId>& ids,
                                                          std::chrono::milliseconds timeout,
                                                          std::chrono::milliseconds quiet) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto all_done = [&] {
    for (const auto& id : ids) {
      const auto found = m_tasks.find(id);
      if (found == m_tasks.end() || found->second.exits == 0) {
        return false;
      }
    }
    return true;
  };
  std::optional<std::chrono::steady_clock::time_point> quiet_until;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (!quiet_until && all_done()) {
      quiet_until = now + quiet;
    }
    const auto until = quiet_until ? *quiet_until : deadline;
    if (now >= until) {
      break;
    }
    zmq::pollitem_t item{m_inbound->handle(), 0, ZMQ_POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
    if (zmq::poll(&item, 1, std::max(left, 1ms)) == 0) {
      continue;
    }
    zmq::message_t message;
    while (m_inbound->recv(message, zmq::recv_flags::dontwait)) {
      record(message.to_string());
    }
  }
  return m_tasks;
}

TaskEvents ZmqClient::collect_one(const protocol::TaskId& id, std::chrono::milliseconds timeout) {
  return collect({id}, timeout)[id];
}

std::vector<std::string> ZmqClient::drain(std::chrono::milliseconds timeout) {
  std::vector<std::string> frames;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{m_inbound->handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, 20ms) == 0) {
      continue;
    }
    zmq::message_t message;
    while (m_inbound->recv(message, zmq::recv_flags::dontwait)) {
      frames.push_back(message.to_string());
      record(frames.back());
    }
  }
  return frames;
}

}  // namespace planificador::testing
