#include "event_collector.hpp"

#include <variant>

#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/runners.hpp"

namespace planificador::testing {

using namespace std::chrono_literals;

std::uint64_t fnv1a64(std::string_view bytes, std::uint64_t hash) {
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

EventCollector::EventCollector(const std::string& events, bool keep_output)
    : m_keep_output(keep_output) {
  m_socket.set(zmq::sockopt::linger, 0);
  m_socket.connect(events);
  m_thread = std::thread([this] { loop(); });
}

EventCollector::~EventCollector() {
  m_stop.store(true);
  m_thread.join();
}

void EventCollector::pause() { m_paused.store(true); }
void EventCollector::resume() { m_paused.store(false); }

void EventCollector::loop() {
  while (!m_stop.load()) {
    if (m_paused.load()) {
      std::this_thread::sleep_for(10ms);
      continue;
    }
    zmq::pollitem_t item{m_socket.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, 20ms) == 0) {
      continue;
    }
    zmq::message_t message;
    for (int i = 0; i < 256 && !m_paused.load(); ++i) {
      if (!m_socket.recv(message, zmq::recv_flags::dontwait)) {
        break;
      }
      record(message);
    }
  }
}

std::set<protocol::TaskId> EventCollector::runners_answers() const {
  const std::scoped_lock lock(m_mutex);
  return m_runners_answers;
}

void EventCollector::record(const zmq::message_t& message) {
  const std::uint64_t seq = ++m_frames;
  m_bytes += message.size();
  auto decoded = protocol::decode_outbound(message.to_string_view());
  if (!decoded) {
    if (auto answer = protocol::decode_runners_answer(message.to_string_view())) {
      const std::scoped_lock lock(m_mutex);
      m_runners_answers.insert(answer->first);
      return;
    }
    ++m_undecodable;
    return;
  }
  const auto id = std::visit([](const auto& m) { return m.id; }, *decoded);
  const auto now = Clock::now();
  const std::scoped_lock lock(m_mutex);
  auto& task = m_tasks[id];
  if (task.frames++ == 0) {
    task.first_seq = seq;
    task.first_at = now;
  }
  if (task.exits != 0) {
    ++task.after_exit;
  }
  if (const auto* append = std::get_if<protocol::Append>(&*decoded)) {
    if (append->stream == protocol::Stream::err) {
      task.err += append->text;
      return;
    }
    if (task.first_out_seq == 0) {
      task.first_out_seq = seq;
    }
    task.out_bytes += append->text.size();
    task.out_hash = fnv1a64(append->text, task.out_hash);
    if (m_keep_output) {
      task.out += append->text;
    }
  } else if (const auto* report = std::get_if<protocol::Report>(&*decoded)) {
    task.report = report->json;
  } else if (const auto* exited = std::get_if<protocol::Exited>(&*decoded)) {
    if (task.exits++ == 0) {
      task.exit_code = exited->exit_code;
      task.exit_at = now;
      ++m_exited;
      m_changed.notify_all();
    }
  }
}

bool EventCollector::wait_exited(const std::vector<protocol::TaskId>& ids,
                                 std::chrono::milliseconds timeout) const {
  std::unique_lock lock(m_mutex);
  return m_changed.wait_for(lock, timeout, [&] {
    for (const auto& id : ids) {
      const auto found = m_tasks.find(id);
      if (found == m_tasks.end() || found->second.exits == 0) {
        return false;
      }
    }
    return true;
  });
}

TaskRecord EventCollector::task(const protocol::TaskId& id) const {
  const std::scoped_lock lock(m_mutex);
  const auto found = m_tasks.find(id);
  return found == m_tasks.end() ? TaskRecord{} : found->second;
}

std::map<protocol::TaskId, TaskRecord> EventCollector::tasks() const {
  const std::scoped_lock lock(m_mutex);
  return m_tasks;
}

std::size_t EventCollector::exited() const {
  const std::scoped_lock lock(m_mutex);
  return m_exited;
}

IntakeSender::IntakeSender(const std::string& intake) {
  m_socket.set(zmq::sockopt::linger, 1000);
  m_socket.connect(intake);
}

bool IntakeSender::send(const std::string& frame, std::chrono::milliseconds timeout) {
  m_socket.set(zmq::sockopt::sndtimeo, static_cast<int>(timeout.count()));
  return m_socket.send(zmq::buffer(frame), zmq::send_flags::none).has_value();
}

bool IntakeSender::send_multipart(const std::vector<std::string>& parts,
                                  std::chrono::milliseconds timeout) {
  m_socket.set(zmq::sockopt::sndtimeo, static_cast<int>(timeout.count()));
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto flags = i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    if (!m_socket.send(zmq::buffer(parts[i]), flags)) {
      return false;
    }
  }
  return true;
}

}  // namespace planificador::testing
