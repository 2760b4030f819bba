#include "fake_executor.hpp"

#include <algorithm>
#include <cstdio>

#include <zmq.hpp>

#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/link.hpp"

namespace planificador::testing {
namespace {

namespace link = protocol::link;
using Clock = std::chrono::steady_clock;

}  // namespace

FakeExecutor::FakeExecutor(FakeExecutorOptions options)
    : m_options(std::move(options)), m_thread([this] {
        // No exception leaves the thread: a broken fake shows in the log and in the test's
        // own checks, not as std::terminate.
        try {
          loop();
        } catch (const std::exception& error) {
          std::fprintf(stderr, "fake executor %s: %s\n", m_options.name.c_str(), error.what());
        }
      }) {}

FakeExecutor::~FakeExecutor() {
  m_stop.store(true);
  m_thread.join();
}

void FakeExecutor::send(std::string frame) {
  const std::lock_guard lock(m_mutex);
  m_outbox.push_back(std::move(frame));
}

bool FakeExecutor::wait_welcomed(std::chrono::milliseconds timeout) {
  return wait_for(static_cast<unsigned char>(link::Type::welcome), 1, timeout);
}

bool FakeExecutor::wait_for(unsigned char type, std::size_t count,
                            std::chrono::milliseconds timeout) {
  std::unique_lock lock(m_mutex);
  return m_changed.wait_for(lock, timeout, [&] {
    return static_cast<std::size_t>(
               std::count_if(m_received.begin(), m_received.end(), [&](const std::string& frame) {
                 return static_cast<unsigned char>(frame.front()) == type;
               })) >= count;
  });
}

std::vector<std::string> FakeExecutor::received(unsigned char type) const {
  const std::lock_guard lock(m_mutex);
  std::vector<std::string> frames;
  for (const auto& frame : m_received) {
    if (static_cast<unsigned char>(frame.front()) == type) {
      frames.push_back(frame);
    }
  }
  return frames;
}

void FakeExecutor::record(const std::string& frame) {
  {
    const std::lock_guard lock(m_mutex);
    m_received.push_back(frame);
  }
  m_changed.notify_all();
}

void FakeExecutor::out(std::string frame) {
  if (!m_silent.load()) {
    m_pending.push_back(std::move(frame));
    m_last_sent = Clock::now();
  }
}

// A daemon never drops a frame: what the socket does not take now waits, in order, while
// the broker is not reading the link.
void FakeExecutor::flush(zmq::socket_t& socket) {
  while (!m_pending.empty() && !m_silent.load()) {
    if (!socket.send(zmq::buffer(m_pending.front()), zmq::send_flags::dontwait)) {
      return;
    }
    m_pending.pop_front();
  }
}

void FakeExecutor::ready() {
  link::Ready message;
  message.slots = m_options.slots;
  message.free = m_options.slots -
                 static_cast<std::uint32_t>(std::min<std::size_t>(m_held.size(), m_options.slots));
  message.epoch = m_epoch.load();
  message.name = m_options.name;
  message.build = "fake";
  message.patterns = m_options.patterns;
  for (const auto& held : m_held) {
    message.held.push_back(
        link::HeldTask{*protocol::TaskId::from_bytes(held.id), held.extended, held.started});
  }
  out(link::encode(message));
}

void FakeExecutor::finish(const std::string& id) {
  const auto task = *protocol::TaskId::from_bytes(id);
  out(protocol::encode(
      protocol::Append{task, protocol::Stream::out, "ran " + m_options.name + "\n"}));
  out(protocol::encode(protocol::Exited{task, 0}));
}

void FakeExecutor::on_submit(const protocol::Submit& submit) {
  const std::string id(reinterpret_cast<const char*>(submit.id.bytes.data()), 32);
  std::string code = submit.code;
  if (const auto at = code.find('@'); at != std::string::npos) {
    code = code.substr(at + 1) == m_options.name ? code.substr(0, at) : "run";
  }
  if (code == "hold") {
    m_held.push_back(Held{id, submit.options.has_value(), false});
    return;
  }
  out(link::encode(link::Started{submit.id}));
  if (code == "start" || code.rfind("slow:", 0) == 0) {
    Held held{id, submit.options.has_value(), true};
    if (code != "start") {
      held.finishes = true;
      held.finish_at = Clock::now() + std::chrono::milliseconds(std::stoi(code.substr(5)));
    }
    m_held.push_back(held);
    return;
  }
  finish(id);
}

void FakeExecutor::on_frame(const std::string& frame) {
  const auto type = static_cast<unsigned char>(frame.front());
  if (type == static_cast<unsigned char>(link::Type::welcome)) {
    if (auto welcome = link::decode_from_broker(frame)) {
      m_epoch.store(std::get<link::Welcome>(*welcome).epoch);
    }
  } else if (type == static_cast<unsigned char>(link::Type::unknown)) {
    ready();
  } else if (type == 0x00 || type == 0x10) {
    if (auto decoded = protocol::decode_inbound(frame); decoded && !m_silent.load()) {
      on_submit(std::get<protocol::Submit>(*decoded));
    }
  } else if (type == 0x02) {
    const std::string id = frame.substr(1, 32);
    const auto held =
        std::find_if(m_held.begin(), m_held.end(), [&](const Held& task) { return task.id == id; });
    if (held != m_held.end()) {
      m_held.erase(held);
      out(protocol::encode(protocol::Exited{*protocol::TaskId::from_bytes(id), 130}));
    }
  }
  if (type != static_cast<unsigned char>(link::Type::heartbeat)) {
    record(frame);
  }
}

void FakeExecutor::finish_due() {
  const auto now = Clock::now();
  for (auto held = m_held.begin(); held != m_held.end();) {
    if (held->finishes && now >= held->finish_at && !m_silent.load()) {
      finish(held->id);
      held = m_held.erase(held);
    } else {
      ++held;
    }
  }
}

void FakeExecutor::loop() {
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  if (!m_options.server_key.empty()) {
    socket.set(zmq::sockopt::curve_serverkey, m_options.server_key);
    socket.set(zmq::sockopt::curve_publickey, m_options.public_key);
    socket.set(zmq::sockopt::curve_secretkey, m_options.secret_key);
  }
  socket.connect(m_options.endpoint);
  ready();
  while (!m_stop.load()) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(5));
    zmq::message_t message;
    for (int n = 0; n < 256 && socket.recv(message, zmq::recv_flags::dontwait); ++n) {
      if (message.size() > 0) {
        on_frame(message.to_string());
      }
    }
    finish_due();
    std::deque<std::string> outbox;
    {
      const std::lock_guard lock(m_mutex);
      outbox.swap(m_outbox);
    }
    for (auto& frame : outbox) {
      out(std::move(frame));
    }
    if (m_pending.empty() && Clock::now() - m_last_sent >= m_options.heartbeat) {
      out(link::encode(link::Heartbeat{}));
    }
    flush(socket);
  }
}

}  // namespace planificador::testing
