#include "load_client.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <unistd.h>
#include <unordered_set>

#include "planificador/broker/dispatcher.hpp"
#include "planificador/protocol/codec.hpp"

namespace planificador::bench {
namespace {

using namespace std::chrono_literals;

constexpr unsigned char k_append_out = 0x01;
constexpr unsigned char k_exited = 0x03;
constexpr std::size_t k_exited_size = 37;
constexpr std::size_t k_flood_digits = 26;  // index digits of a flood task id
// Frames sent or read per turn of the flood loop before the other direction gets its turn.
constexpr int k_flood_send_batch = 1024;
constexpr int k_flood_read_batch = 4096;

std::atomic<std::uint64_t> g_tasks{0};
std::atomic<std::uint32_t> g_floods{0};

// Calls zmq::poll, taking EINTR (a signal) as "nothing ready" once the flag is checked.
void poll_items(zmq::pollitem_t* items, std::size_t count, std::chrono::milliseconds timeout) {
  try {
    zmq::poll(items, count, timeout);
  } catch (const zmq::error_t& error) {
    if (error.num() != EINTR) {
      throw;
    }
    for (std::size_t i = 0; i < count; ++i) {
      items[i].revents = 0;
    }
  }
  check_interrupted();
}

std::optional<Event> decode_event(const zmq::message_t& message) {
  auto decoded = protocol::decode_outbound(message.to_string_view());
  if (!decoded) {
    return std::nullopt;
  }
  Event event;
  event.type = static_cast<unsigned char>(*message.data<char>());
  event.at = Clock::now();
  if (const auto* append = std::get_if<protocol::Append>(&*decoded)) {
    event.id = append->id;
    event.text = append->text;
  } else if (const auto* exited = std::get_if<protocol::Exited>(&*decoded)) {
    event.id = exited->id;
    event.code = exited->exit_code;
  } else {
    event.id = std::get<protocol::Report>(*decoded).id;
  }
  return event;
}

// A flood task's id: "fl", the flood's number (4 digits), the task's index (26 digits), so
// the index is read back from the bytes without a lookup.
std::string flood_id(std::uint32_t flood_number, std::size_t index) {
  char text[protocol::k_task_id_size + 1];
  (void)std::snprintf(text, sizeof text, "fl%04u%026zu", flood_number % 10000, index);
  return std::string(text, protocol::k_task_id_size);
}

std::size_t flood_index(const char* id) {
  std::size_t index = 0;
  for (std::size_t i = protocol::k_task_id_size - k_flood_digits; i < protocol::k_task_id_size;
       ++i) {
    index = index * 10 + static_cast<std::size_t>(id[i] - '0');
  }
  return index;
}

std::int32_t exit_code(const char* frame) {
  std::uint32_t code = 0;
  for (std::size_t i = 1 + protocol::k_task_id_size; i < k_exited_size; ++i) {
    code = code << 8U | static_cast<unsigned char>(frame[i]);
  }
  return static_cast<std::int32_t>(code);
}

}  // namespace

protocol::TaskId next_task_id() {
  char text[protocol::k_task_id_size + 1];
  (void)std::snprintf(text, sizeof text, "fb%08d-%021llu", static_cast<int>(::getpid()),
                      static_cast<unsigned long long>(g_tasks.fetch_add(1)));
  return *protocol::TaskId::from_bytes(std::string_view(text, protocol::k_task_id_size));
}

Client::Client(zmq::context_t& context, const std::string& intake, const std::string& events)
    : m_intake(context, zmq::socket_type::push), m_events(context, zmq::socket_type::pull) {
  m_intake.set(zmq::sockopt::linger, 0);
  m_events.set(zmq::sockopt::linger, 0);
  m_intake.connect(intake);
  m_events.connect(events);
}

protocol::TaskId Client::submit(std::string_view image, std::string_view code) {
  const auto id = next_task_id();
  m_intake.send(zmq::buffer(protocol::encode(
                    protocol::Submit{id, std::string(image), std::string(code), std::nullopt})),
                zmq::send_flags::none);
  return id;
}

void Client::cancel(const protocol::TaskId& id) {
  m_intake.send(zmq::buffer(protocol::encode(protocol::Cancel{id})), zmq::send_flags::none);
}

bool Client::read_until(const std::function<bool(const Event&)>& handle,
                        Clock::time_point deadline) {
  zmq::message_t message;
  while (true) {
    while (m_events.recv(message, zmq::recv_flags::dontwait)) {
      if (auto event = decode_event(message); event && handle(*event)) {
        return true;
      }
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) {
      return false;
    }
    zmq::pollitem_t item{m_events.handle(), 0, ZMQ_POLLIN, 0};
    poll_items(&item, 1, std::min(left, std::chrono::milliseconds(200)));
  }
}

std::optional<double> Client::run_one(std::string_view image, std::string_view code,
                                      std::chrono::milliseconds timeout) {
  const auto began = Clock::now();
  const auto id = submit(image, code);
  std::optional<double> seconds;
  (void)read_until(
      [&](const Event& event) {
        if (event.type != k_exited || event.id != id) {
          return false;
        }
        if (event.code == 0) {
          seconds = seconds_between(began, event.at);
        }
        return true;
      },
      began + timeout);
  return seconds;
}

double Client::burst(std::string_view image, std::string_view code, std::size_t count,
                     std::chrono::milliseconds timeout) {
  const auto began = Clock::now();
  return seconds_between(began, wait_all(submit_many(image, code, count), began + timeout));
}

std::vector<protocol::TaskId> Client::submit_many(std::string_view image, std::string_view code,
                                                  std::size_t count) {
  std::vector<protocol::TaskId> ids;
  ids.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    ids.push_back(submit(image, code));
  }
  return ids;
}

Clock::time_point Client::wait_all(const std::vector<protocol::TaskId>& ids,
                                   Clock::time_point deadline) {
  std::unordered_set<protocol::TaskId, broker::TaskIdHash> waiting(ids.begin(), ids.end());
  const std::size_t count = waiting.size();
  auto last = Clock::now();
  std::int32_t failed = 0;
  const bool done = read_until(
      [&](const Event& event) {
        if (event.type == k_exited && waiting.erase(event.id) != 0) {
          failed = failed != 0 ? failed : event.code;
          last = event.at;
        }
        return waiting.empty();
      },
      deadline);
  if (!done) {
    throw std::runtime_error(std::to_string(waiting.size()) + " of " + std::to_string(count) +
                             " tasks not done in time");
  }
  if (failed != 0) {
    throw std::runtime_error("a task exited " + std::to_string(failed));
  }
  return last;
}

double burst_all(const std::vector<Client*>& clients, std::string_view image, std::string_view code,
                 std::size_t count, std::chrono::milliseconds timeout) {
  const auto began = Clock::now();
  std::vector<std::vector<protocol::TaskId>> ids;
  ids.reserve(clients.size());
  for (Client* client : clients) {
    ids.push_back(client->submit_many(image, code, count));
  }
  // The clients are read one after the other: events of a later one wait in its socket
  // meanwhile and are read at once, so the last EXITED of all is seen within a read.
  auto last = began;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    last = std::max(last, clients[i]->wait_all(ids[i], began + timeout));
  }
  return seconds_between(began, last);
}

FloodResult flood(zmq::context_t& context, const FloodOptions& options) {
  zmq::socket_t intake(context, zmq::socket_type::push);
  zmq::socket_t events(context, zmq::socket_type::pull);
  intake.set(zmq::sockopt::linger, 0);
  events.set(zmq::sockopt::linger, 0);
  intake.connect(options.intake);
  events.connect(options.events);
  const std::uint32_t number = g_floods.fetch_add(1);
  std::string frame =
      protocol::encode(protocol::Submit{*protocol::TaskId::from_bytes(flood_id(number, 0)),
                                        options.image, options.code, std::nullopt});
  std::vector<std::uint8_t> exits(options.tasks, 0);
  FloodResult result;
  const std::size_t every =
      std::max<std::size_t>(1, options.tasks / std::max<std::size_t>(1, options.rss_samples));
  std::size_t sent = 0;
  std::size_t frames_exited = 0;
  Clock::time_point began{};
  Clock::time_point last_event = Clock::now();
  Clock::time_point last_exit{};
  zmq::message_t message;
  const std::size_t window = options.window != 0 ? options.window : options.tasks;
  auto may_send = [&] { return sent < options.tasks && sent - frames_exited < window; };
  while (frames_exited < options.tasks) {
    std::array<zmq::pollitem_t, 2> items{{
        {intake.handle(), 0, static_cast<short>(may_send() ? ZMQ_POLLOUT : 0), 0},
        {events.handle(), 0, ZMQ_POLLIN, 0},
    }};
    poll_items(items.data(), items.size(), 100ms);
    for (int n = 0; n < k_flood_send_batch && may_send(); ++n) {
      std::memcpy(frame.data() + 1, flood_id(number, sent).data(), protocol::k_task_id_size);
      if (!intake.send(zmq::buffer(frame), zmq::send_flags::dontwait)) {
        break;
      }
      if (sent++ == 0) {
        began = Clock::now();
      }
    }
    for (int n = 0; n < k_flood_read_batch && events.recv(message, zmq::recv_flags::dontwait);
         ++n) {
      const auto* bytes = message.data<char>();
      const auto type = static_cast<unsigned char>(bytes[0]);
      last_event = Clock::now();
      if (type == k_append_out) {
        ++result.appends;
        continue;
      }
      if (type != k_exited || message.size() != k_exited_size) {
        ++result.bad;
        continue;
      }
      ++frames_exited;
      last_exit = last_event;
      const std::size_t index = flood_index(bytes + 1);
      if (index >= options.tasks || exits[index]++ != 0 || exit_code(bytes) != 0) {
        ++result.bad;
        continue;
      }
      if (++result.exited % every == 0) {
        result.rss.emplace_back(result.exited, rss_kib(options.broker));
      }
    }
    if (Clock::now() - last_event > options.silence) {
      break;
    }
  }
  result.seconds = seconds_between(began, last_exit);
  return result;
}

}  // namespace planificador::bench
