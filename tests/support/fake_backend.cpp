#include "fake_backend.hpp"

#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace planificador::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Waits up to `ms` for `cancel`; returns true if it was signalled.
bool wait_cancel(const os::Event& cancel, long ms) {
  pollfd pfd{cancel.fd(), POLLIN, 0};
  return ::poll(&pfd, 1, static_cast<int>(ms)) == 1;
}

}  // namespace

backend::TaskResult FakeBackend::run(const backend::TaskSpec& spec, backend::OutputSink& sink,
                                     const os::Event& cancel) {
  {
    const std::lock_guard lock(m_mutex);
    ++m_running;
    m_max = std::max(m_max, m_running);
    m_started.push_back(spec.id);
    m_limits[spec.id] = spec.limits;
  }
  m_changed.notify_all();
  const auto started = Clock::now();
  backend::TaskResult result;
  result.status = protocol::Status::exited;
  result.exit_code = 0;
  auto emit = [&](protocol::Stream stream, const std::string& bytes) {
    sink.output(stream, bytes);
    result.output_bytes += bytes.size();
  };
  auto cancelled = [&] {
    result.status = protocol::Status::cancelled;
    result.exit_code = 130;
    result.diagnostic = "cancelled";
  };
  std::istringstream lines(spec.code);
  std::string line;
  bool throws = false;
  while (std::getline(lines, line)) {
    if (line.starts_with("print(") && line.ends_with(")")) {
      emit(protocol::Stream::out, line.substr(6, line.size() - 7) + "\n");
    } else if (line.starts_with("err ")) {
      emit(protocol::Stream::err, line.substr(4) + "\n");
    } else if (line.starts_with("sleep ")) {
      if (wait_cancel(cancel, std::stol(line.substr(6)))) {
        cancelled();
        break;
      }
    } else if (line == "block") {
      wait_cancel(cancel, -1);
      cancelled();
      break;
    } else if (line.starts_with("flood ")) {
      std::istringstream args(line.substr(6));
      std::size_t count = 0;
      std::size_t size = 0;
      args >> count >> size;
      for (std::size_t i = 0; i < count; ++i) {
        emit(protocol::Stream::out, std::string(size, static_cast<char>('a' + i % 26)));
      }
    } else if (line.starts_with("exit ")) {
      result.exit_code = std::stoi(line.substr(5));
    } else if (line.starts_with("diag ")) {
      result.status = protocol::Status::error;
      result.exit_code = 125;
      result.diagnostic = line.substr(5);
    } else if (line == "throw") {
      throws = true;
      break;
    }
  }
  result.wall_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
  {
    const std::lock_guard lock(m_mutex);
    --m_running;
  }
  m_changed.notify_all();
  if (throws) {
    throw std::runtime_error("fake backend exploded");
  }
  return result;
}

void FakeBackend::stop() {
  const std::lock_guard lock(m_mutex);
  m_stopped = true;
}

std::size_t FakeBackend::max_concurrent() const {
  const std::lock_guard lock(m_mutex);
  return m_max;
}

std::vector<protocol::TaskId> FakeBackend::started() const {
  const std::lock_guard lock(m_mutex);
  return m_started;
}

config::Limits FakeBackend::limits_of(const protocol::TaskId& id) const {
  const std::lock_guard lock(m_mutex);
  return m_limits.at(id);
}

bool FakeBackend::wait_running(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(m_mutex);
  return m_changed.wait_for(lock, timeout, [&] { return m_running >= count; });
}

bool FakeBackend::stopped() const {
  const std::lock_guard lock(m_mutex);
  return m_stopped;
}

void EventRecorder::send(protocol::Outbound message) {
  {
    const std::lock_guard lock(m_mutex);
    m_messages.push_back(std::move(message));
  }
  m_changed.notify_all();
}

std::vector<protocol::Outbound> EventRecorder::of(const protocol::TaskId& id) const {
  const std::lock_guard lock(m_mutex);
  std::vector<protocol::Outbound> out;
  for (const auto& message : m_messages) {
    if (std::visit([](const auto& m) { return m.id; }, message) == id) {
      out.push_back(message);
    }
  }
  return out;
}

bool EventRecorder::wait_exited(const protocol::TaskId& id,
                                std::chrono::milliseconds timeout) const {
  std::unique_lock lock(m_mutex);
  return m_changed.wait_for(lock, timeout, [&] {
    for (const auto& message : m_messages) {
      if (const auto* exited = std::get_if<protocol::Exited>(&message);
          exited && exited->id == id) {
        return true;
      }
    }
    return false;
  });
}

std::size_t EventRecorder::exited_count() const {
  const std::lock_guard lock(m_mutex);
  std::size_t count = 0;
  for (const auto& message : m_messages) {
    count += std::holds_alternative<protocol::Exited>(message) ? 1U : 0U;
  }
  return count;
}

protocol::TaskId make_id(const std::string& prefix, std::size_t number) {
  std::string text = prefix;
  const std::string suffix = std::to_string(number);
  text.resize(protocol::k_task_id_size - suffix.size(), '.');
  text += suffix;
  return *protocol::TaskId::from_bytes(text);
}

config::Config fake_config(std::size_t workers, std::size_t backlog) {
  config::Config config;
  config.server.workers = workers;
  config.server.backlog = backlog;
  config.server.executor = "test-host";
  config::Runner runner;
  runner.match = {"fake*", "python"};
  runner.image = "planificador/fake";
  runner.file = "main.txt";
  runner.run = {"cat", "main.txt"};
  runner.limits = config::Limits{2000, 2000, std::uint64_t{64} << 20, 16, 4096};
  config.runners.push_back(runner);
  return config;
}

}  // namespace planificador::testing
