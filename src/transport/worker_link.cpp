#include "planificador/transport/worker_link.hpp"

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <utility>

#include "link_session.hpp"
#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "planificador/os/event.hpp"
#include "planificador/protocol/codec.hpp"

namespace planificador::transport {
namespace {

using Clock = LinkSession::Clock;

// Frames handled per direction per poll round, so a busy direction cannot starve the other.
constexpr int k_batch = 64;
// Frames ZeroMQ may hold for the broker beyond the EventQueue, as for Transport's events
// socket: the queue is the one buffer meant to hold events under backpressure.
constexpr int k_send_hwm = 64;
// While stopping, how often run() looks at the flush deadline.
constexpr std::chrono::milliseconds k_stop_poll{100};
// After an unexpected exception, a pause, so a failure that repeats cannot spin the thread.
constexpr std::chrono::milliseconds k_error_pause{100};
// READY carries its strings and pattern count as u16 (docs/fleet.md §1).
constexpr std::size_t k_max_field = 65535;

std::optional<std::string> unencodable(const WorkerLinkOptions& options) {
  if (options.name.size() > k_max_field || options.build.size() > k_max_field) {
    return "the executor name and the version must be shorter than 64 KiB";
  }
  if (options.patterns.size() > k_max_field) {
    return "READY holds at most 65535 runner patterns";
  }
  for (const auto& pattern : options.patterns) {
    if (pattern.size() > k_max_field) {
      return "runner pattern longer than 64 KiB";
    }
  }
  return std::nullopt;
}

}  // namespace

struct WorkerLink::Impl {
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::dealer};
  WorkerLinkOptions options;
  EventQueue* queue = nullptr;
  os::Wakeup wakeup;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable changed;
  bool drain_requested = false;  // under mutex, as the two below
  bool drain_done = false;
  bool finished = false;

  void wake() const { wakeup.raise(); }
  bool drain_asked() {
    const std::scoped_lock lock(mutex);
    return drain_requested;
  }

  bool step(LinkSession& session, LinkHandler& handler,
            std::optional<Clock::time_point>& flush_deadline);
  bool keep_flushing(LinkSession& session, Clock::time_point now,
                     std::optional<Clock::time_point>& flush_deadline) const;
  void begin_drain(LinkSession& session, LinkHandler& handler);
  void receive(LinkSession& session, LinkHandler& handler);
  void send_pending(LinkSession& session);
  bool send(const std::string& frame);
};

Result<std::unique_ptr<WorkerLink>> WorkerLink::open(const WorkerLinkOptions& options,
                                                     EventQueue& events) {
  if (auto problem = unencodable(options)) {
    return fail("worker link: " + *problem);
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->queue = &events;
  auto& socket = impl->socket;
  try {
    // No ZMQ_MAXMSGSIZE: a frame above it drops the whole connection (zmq_setsockopt(3)),
    // and the broker, authenticated and bounding what it forwards, is not a client;
    // admission still rejects what exceeds this daemon's limits (125).
    socket.set(zmq::sockopt::linger, static_cast<int>(options.flush_timeout.count()));
    socket.set(zmq::sockopt::sndhwm, k_send_hwm);
    if (options.curve) {
      socket.set(zmq::sockopt::curve_serverkey, options.curve->server_key);
      socket.set(zmq::sockopt::curve_publickey, options.curve->public_key);
      socket.set(zmq::sockopt::curve_secretkey, options.curve->secret_key);
    }
  } catch (const zmq::error_t& error) {
    return fail(std::string("worker link: set socket options: ") + error.what(), error.num());
  }
  try {
    socket.connect(options.endpoint);
  } catch (const zmq::error_t& error) {
    return fail("connect worker link `" + options.endpoint + "`: " + error.what(), error.num());
  }
  spdlog::info("worker link connecting to {} ({})", options.endpoint,
               options.curve ? "CURVE" : "plaintext");
  return std::unique_ptr<WorkerLink>(new WorkerLink(std::move(impl)));
}

WorkerLink::WorkerLink(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
WorkerLink::~WorkerLink() = default;

void WorkerLink::drain() {
  std::unique_lock lock(m_impl->mutex);
  m_impl->drain_requested = true;
  m_impl->wake();
  m_impl->changed.wait(lock, [&] { return m_impl->drain_done || m_impl->finished; });
}

void WorkerLink::stop() {
  m_impl->stopping.store(true);
  m_impl->wake();
}

void WorkerLink::run(LinkHandler& handler) {
  auto& impl = *m_impl;
  try {
    LinkSession session(impl.options, Clock::now());
    std::optional<Clock::time_point> flush_deadline;
    bool serving = true;
    while (serving) {
      try {
        serving = impl.step(session, handler, flush_deadline);
      } catch (const std::exception& error) {
        spdlog::error("worker link: {}", error.what());
        std::this_thread::sleep_for(k_error_pause);
      }
    }
    // What is still in ZeroMQ's pipe (BYE, the last events) gets as long as the broker
    // may be silent: a live broker takes it in moments, and lingering for one that
    // stopped answering (or stopped with its stack) would only delay the exit.
    const auto linger =
        session.welcomed() ? session.silence_timeout() : std::chrono::milliseconds(0);
    impl.socket.set(zmq::sockopt::linger, static_cast<int>(linger.count()));
  } catch (...) {
    spdlog::critical("worker link: unexpected failure; the link is down");
  }
  {
    const std::scoped_lock lock(impl.mutex);
    impl.finished = true;
  }
  impl.changed.notify_all();
}

bool WorkerLink::Impl::step(LinkSession& session, LinkHandler& handler,
                            std::optional<Clock::time_point>& flush_deadline) {
  wakeup.clear();
  queue->clear_signal();
  const bool stop = stopping.load();
  if ((stop || drain_asked()) && !session.draining()) {
    begin_drain(session, handler);
  }
  const auto now = Clock::now();
  if (stop && !keep_flushing(session, now, flush_deadline)) {
    return false;
  }
  session.tick(now);
  const bool pending = !session.outbox_empty() || !queue->empty();
  std::array<zmq::pollitem_t, 3> items{{
      {nullptr, wakeup.fd(), ZMQ_POLLIN, 0},
      {nullptr, queue->fd(), ZMQ_POLLIN, 0},
      {socket.handle(), 0, static_cast<short>(ZMQ_POLLIN | (pending ? ZMQ_POLLOUT : 0)), 0},
  }};
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      session.next_deadline(now) - now + std::chrono::milliseconds(1));
  timeout = std::max(timeout, std::chrono::milliseconds(0));
  if (stop) {
    timeout = std::min(timeout, k_stop_poll);
  }
  zmq::poll(items.data(), items.size(), timeout);
  if ((items[2].revents & ZMQ_POLLIN) != 0) {
    receive(session, handler);
  }
  if ((items[2].revents & ZMQ_POLLOUT) != 0) {
    send_pending(session);
  }
  return true;
}

// Returns false once BYE went out, when the flush timeout is over, or once the broker
// counts as gone.
bool WorkerLink::Impl::keep_flushing(LinkSession& session, Clock::time_point now,
                                     std::optional<Clock::time_point>& flush_deadline) const {
  if (!flush_deadline) {
    flush_deadline = now + options.flush_timeout;
  }
  if (session.bye_sent()) {
    return false;
  }
  if (queue->empty() && session.outbox_empty()) {
    session.queue_bye();
  }
  // A broker counted as gone (silent for its timeout: stopped with its stack, say) will
  // not take them either: past one silence timeout, no use waiting out the flush timeout.
  const auto flush_started = *flush_deadline - options.flush_timeout;
  const bool broker_gone = !session.welcomed() && now >= flush_started + session.silence_timeout();
  if (now >= *flush_deadline || broker_gone) {
    spdlog::error("leaving the fleet with {} events and {} unsent: the broker {}", queue->size(),
                  session.bye_queued() ? "BYE" : "DRAINING/RETURNED",
                  session.welcomed() ? "did not take them" : "is silent");
    return false;
  }
  return true;
}

void WorkerLink::Impl::begin_drain(LinkSession& session, LinkHandler& handler) {
  session.begin_drain(handler.take_back());
  {
    const std::scoped_lock lock(mutex);
    drain_done = true;
  }
  changed.notify_all();
}

void WorkerLink::Impl::receive(LinkSession& session, LinkHandler& handler) {
  for (int i = 0; i < k_batch; ++i) {
    zmq::message_t message;
    if (!socket.recv(message, zmq::recv_flags::dontwait)) {
      return;
    }
    session.heard(Clock::now());
    if (message.more()) {
      // One frame per message on the link too (docs/fleet.md §1): drop a multi-part whole.
      const std::string head = protocol::hex_prefix(message.to_string_view());
      std::size_t parts = 1;
      while (message.more() && socket.recv(message, zmq::recv_flags::none)) {
        ++parts;
      }
      spdlog::warn("dropped a {}-part message from the broker (first part: {})", parts, head);
      continue;
    }
    if (session.on_received(message.to_string_view(), Clock::now())) {
      handler.on_task_frame(message.to_string_view());
    }
  }
}

bool WorkerLink::Impl::send(const std::string& frame) {
  zmq::message_t message(frame.data(), frame.size());
  return socket.send(message, zmq::send_flags::dontwait).has_value();
}

void WorkerLink::Impl::send_pending(LinkSession& session) {
  // The link's own frames first: DRAINING must precede RETURNED, and READY the events of
  // the tasks a reconnected broker is to adopt.
  for (int i = 0; i < 4 * k_batch; ++i) {
    if (auto frame = session.front()) {
      if (!send(*frame)) {
        return;
      }
      session.pop_front(Clock::now());
      continue;
    }
    const bool sent = queue->pop_if([&](const std::string& frame) {
      if (!send(frame)) {
        return false;
      }
      session.on_sent(frame, Clock::now());
      return true;
    });
    if (!sent) {
      return;
    }
  }
}

}  // namespace planificador::transport
