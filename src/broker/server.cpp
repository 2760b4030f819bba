// The broker's one thread: poll every socket, hand what comes to the state machine, send
// what it has. Reading is gated by the state machine (intake while the backlog and the
// events queue have room, the link while the events queue has room), so ZeroMQ's queues
// push back on producers and daemons instead of memory growing here.

#include "planificador/broker/server.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <unistd.h>
#include <utility>

#include "sockets.hpp"
#include <spdlog/spdlog.h>

#include "planificador/os/signal_fd.hpp"
#include "planificador/transport/multipart.hpp"

namespace planificador::broker {
namespace {

// Frames read from one socket per round, so a busy socket cannot starve the others.
constexpr int k_batch = 256;
// After the grace period, how long the last events may wait for an events consumer.
constexpr Time k_flush_timeout{5000};
// While a client connection's pipe is full, how soon its frames are offered again (a
// ROUTER polls writable while any connection can take a frame, not that one).
constexpr Time k_busy_client_retry{5};

Time clock_now() {
  return std::chrono::duration_cast<Time>(std::chrono::steady_clock::now().time_since_epoch());
}

enum class Received { nothing, frame, dropped };

// Reads one message; a multi-part one is read whole and dropped (SPEC §3).
Received receive_single(zmq::socket_t& socket, zmq::message_t& message, std::string_view name) {
  if (!socket.recv(message, zmq::recv_flags::dontwait)) {
    return Received::nothing;
  }
  if (!message.more()) {
    return Received::frame;
  }
  transport::drop_multipart(socket, message, name);
  return Received::dropped;
}

class Loop {
 public:
  Loop(Sockets& sockets, Broker& broker, const os::SignalFd& signals)
      : m_sockets(sockets), m_broker(broker), m_signals(signals) {}

  void run() {
    m_now = clock_now();
    m_next_tick = m_now;
    while (!m_broker.finished()) {
      if (m_shutdown_deadline && m_now > *m_shutdown_deadline) {
        spdlog::error("shutting down with {} events unsent: no events consumer took them",
                      m_broker.events_pending());
        return;
      }
      try {
        poll_once();
      } catch (const zmq::error_t& error) {
        if (error.num() != EINTR) {
          spdlog::error("broker loop: {}", error.what());
        }
        m_now = clock_now();
      }
    }
  }

 private:
  void poll_once();
  Time poll_wait();
  void tick_if_due();
  void note_stall(Time polled_at, Time wait);
  void read_clients(zmq::socket_t& socket, bool intake);
  void read_client_endpoint();
  void send_to_clients();
  void read_link();
  void deliver_link();
  bool deliver(LinkMessage& message);
  void send_events();
  void answer_admin();
  void on_signal();

  Sockets& m_sockets;
  Broker& m_broker;
  const os::SignalFd& m_signals;
  Time m_now{0};
  Time m_next_tick{0};
  std::optional<Time> m_shutdown_deadline;
  std::vector<LinkMessage> m_link;
};

void Loop::poll_once() {
  std::array<zmq::pollitem_t, 9> items{};
  std::size_t count = 0;
  auto add = [&](void* socket, int fd, short events) {
    items[count] = zmq::pollitem_t{socket, fd, events, 0};
    return count++;
  };
  const std::size_t signal = add(nullptr, m_signals.fd(), ZMQ_POLLIN);
  const std::size_t events =
      add(m_sockets.events.handle(), 0,
          static_cast<short>(m_broker.events_pending() > 0 ? ZMQ_POLLOUT : 0));
  const std::size_t link = add(m_sockets.workers.handle(), 0,
                               static_cast<short>(m_broker.reading_link() ? ZMQ_POLLIN : 0));
  const std::size_t intake = add(m_sockets.intake.handle(), 0,
                                 static_cast<short>(m_broker.accepting_intake() ? ZMQ_POLLIN : 0));
  const std::size_t control =
      m_sockets.control ? add(m_sockets.control->handle(), 0, ZMQ_POLLIN) : items.size();
  const std::size_t admin =
      m_sockets.admin ? add(m_sockets.admin->handle(), 0, ZMQ_POLLIN) : items.size();
  const std::size_t zap =
      m_sockets.zap ? add(m_sockets.zap->socket().handle(), 0, ZMQ_POLLIN) : items.size();
  const std::size_t clients =
      m_sockets.clients ? add(m_sockets.clients->handle(), 0,
                              static_cast<short>(m_broker.accepting_intake() ? ZMQ_POLLIN : 0))
                        : items.size();
  add(nullptr, m_broker.clients().fd(), ZMQ_POLLIN);  // a frame queued for a client
  const Time wait = poll_wait();
  zmq::poll(items.data(), count, wait);
  const Time polled_at = m_now;
  m_now = clock_now();
  note_stall(polled_at, wait);
  auto ready = [&](std::size_t index) {
    return index < count && (items[index].revents & (ZMQ_POLLIN | ZMQ_POLLOUT)) != 0;
  };
  if (ready(signal)) on_signal();
  if (ready(zap)) m_sockets.zap->serve();
  if (ready(admin)) answer_admin();
  if (ready(events)) send_events();
  if (ready(link)) read_link();
  if (ready(intake)) read_clients(m_sockets.intake, true);
  if (ready(control)) read_clients(*m_sockets.control, false);
  if (ready(clients)) read_client_endpoint();
  tick_if_due();
  deliver_link();
  send_events();
  send_to_clients();
}

// Until the next tick, or sooner while a client connection's frames wait for its pipe.
Time Loop::poll_wait() {
  m_broker.clients().clear_signal();
  const Time wait = std::max(m_next_tick - m_now, Time{0});
  return m_broker.clients().has_pending() ? std::min(wait, k_busy_client_retry) : wait;
}

void Loop::tick_if_due() {
  if (m_now >= m_next_tick) {
    m_broker.on_tick(m_now);
    m_next_tick = m_now + m_broker.tick_interval();
  }
}

// A round lasts the poll's timeout and a little work. Much longer, and the broker was not
// running (stopped, or its host stalled) while the daemons' frames waited unread: that time
// is not their silence (docs/fleet.md §3), or one stall would cost every running task.
void Loop::note_stall(Time polled_at, Time wait) {
  const Time late = m_now - polled_at - wait - m_broker.tick_interval();
  if (late > Time{0}) {
    m_broker.on_stalled(late, m_now);
  }
}

void Loop::read_clients(zmq::socket_t& socket, bool intake) {
  for (int i = 0; i < k_batch; ++i) {
    if (intake && !m_broker.accepting_intake()) {
      return;
    }
    zmq::message_t message;
    const Received received = receive_single(socket, message, intake ? "intake" : "control");
    if (received == Received::nothing) {
      return;
    }
    if (received == Received::dropped) {
      continue;
    }
    if (intake) {
      m_broker.on_intake(take_frame(message), m_now);
    } else {
      m_broker.on_control(take_frame(message), m_now);
    }
  }
}

// Each message of a client DEALER reaches the ROUTER as its routing id, then its one frame.
void Loop::read_client_endpoint() {
  for (int i = 0; i < k_batch && m_broker.accepting_intake(); ++i) {
    zmq::message_t routing;
    if (!m_sockets.clients->recv(routing, zmq::recv_flags::dontwait)) {
      return;
    }
    if (!routing.more()) {
      continue;
    }
    zmq::message_t payload;
    if (receive_single(*m_sockets.clients, payload, "clients") != Received::frame) {
      continue;
    }
    m_broker.on_client(routing.to_string_view(), take_frame(payload), m_now);
  }
}

void Loop::send_to_clients() {
  if (!m_sockets.clients) {
    return;
  }
  auto& router = *m_sockets.clients;
  m_broker.flush_clients(
      [&router](const std::string& peer, const std::string& frame) {
        try {
          if (!router.send(zmq::buffer(peer),
                           zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
            return transport::PeerSend::busy;
          }
        } catch (const zmq::error_t& error) {
          if (error.num() == EHOSTUNREACH) {
            return transport::PeerSend::gone;
          }
          throw;
        }
        (void)router.send(zmq::buffer(frame), zmq::send_flags::none);
        return transport::PeerSend::sent;
      },
      m_now);
}

void Loop::read_link() {
  for (int i = 0; i < k_batch && m_broker.reading_link(); ++i) {
    zmq::message_t routing;
    if (!m_sockets.workers.recv(routing, zmq::recv_flags::dontwait)) {
      return;
    }
    if (!routing.more()) {
      continue;  // a ROUTER always prefixes the routing id; nothing follows it here
    }
    zmq::message_t payload;
    if (receive_single(m_sockets.workers, payload, "the worker link") != Received::frame) {
      continue;
    }
    m_broker.on_link(routing.to_string_view(), take_frame(payload), m_now);
    if (i % 32 == 31) {
      send_events();  // make room as we go, so a burst of events does not stop the reading
    }
  }
}

void Loop::deliver_link() {
  m_broker.take_link(m_link);
  while (!m_link.empty()) {
    for (auto& message : m_link) {
      if (!deliver(message)) {
        m_broker.on_undeliverable(message, m_now);
      }
    }
    m_broker.take_link(m_link);  // a SUBMIT given back may have gone to another daemon
  }
}

bool Loop::deliver(LinkMessage& message) {
  try {
    if (!m_sockets.workers.send(zmq::buffer(message.routing),
                                zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return false;  // EAGAIN: the daemon's queue is full
    }
    zmq::message_t payload;
    zmq_msg_move(payload.handle(), static_cast<zmq_msg_t*>(message.frame.native()));
    // The ROUTER checks the peer on the first part; the rest of the message follows it.
    (void)m_sockets.workers.send(payload, zmq::send_flags::dontwait);
    return true;
  } catch (const zmq::error_t& error) {
    if (error.num() != EHOSTUNREACH) {
      spdlog::warn("send on the worker link: {}", error.what());
    }
    return false;
  }
}

void Loop::send_events() {
  m_broker.flush_events(
      [this](Frame& frame) {
        zmq::message_t message;
        zmq_msg_move(message.handle(), static_cast<zmq_msg_t*>(frame.native()));
        if (m_sockets.events.send(message, zmq::send_flags::dontwait)) {
          return true;
        }
        zmq_msg_move(static_cast<zmq_msg_t*>(frame.native()), message.handle());
        return false;
      },
      m_now);
}

void Loop::answer_admin() {
  zmq::message_t request;
  if (!m_sockets.admin->recv(request, zmq::recv_flags::dontwait)) {
    return;
  }
  while (request.more()) {
    (void)m_sockets.admin->recv(request, zmq::recv_flags::none);  // parts come together
  }
  // REP: every request gets its answer, whatever it asked (a multi-part one too), or the
  // socket would refuse the next one (zmq_socket(3), ZMQ_REP). A reply to a peer that is
  // gone is dropped by ZeroMQ, so this send does not wait.
  const std::string answer = to_json(m_broker.view(m_now));
  (void)m_sockets.admin->send(zmq::buffer(answer), zmq::send_flags::none);
}

void Loop::on_signal() {
  const int signal = m_signals.take();
  if (signal == 0) {
    return;
  }
  if (m_broker.shutting_down()) {
    spdlog::info("signal {} again: still draining", signal);
    return;
  }
  spdlog::info("signal {}: draining", signal);
  m_broker.shut_down(m_now);
  m_shutdown_deadline = m_now + m_broker.grace() + k_flush_timeout;
}

}  // namespace

Settings settings_for(const config::BrokerConfig& config, std::uint64_t epoch, std::string name) {
  const auto& broker = config.broker;
  Settings settings;
  settings.backlog = broker.backlog;
  settings.limits.max_code_bytes = broker.max_code_bytes;
  settings.heartbeat_ms = broker.heartbeat_ms;
  settings.heartbeat_misses = broker.heartbeat_misses;
  settings.unserved = Time{static_cast<Time::rep>(broker.unserved_ms)};
  settings.dispatch_attempts = broker.dispatch_attempts;
  settings.grace = Time{static_cast<Time::rep>(broker.grace_ms)};
  settings.epoch = epoch;
  settings.name = std::move(name);
  return settings;
}

Result<void> serve(const config::BrokerConfig& config, Settings settings) {
  auto security = load_security(config.curve);
  PLAN_TRY(security);
  if (!security->workers_curve) {
    spdlog::warn(
        "the worker link is plain TCP (curve.plaintext = true): for one host or a "
        "trusted network only");
  }
  auto sockets = open_sockets(config, *security);
  PLAN_TRY(sockets);
  // main() blocked them before ZeroMQ started its threads.
  auto signals = os::SignalFd::open({SIGTERM, SIGINT});
  PLAN_TRY(signals);
  spdlog::info("broker serving: epoch {:016x}, backlog {}, heartbeat {} ms x {}, worker link {}",
               settings.epoch, settings.backlog, settings.heartbeat_ms, settings.heartbeat_misses,
               security->workers_curve ? "CURVE" : "plain");
  Broker broker(std::move(settings), clock_now());
  Loop(**sockets, broker, *signals).run();
  spdlog::info("broker stopped");
  return {};
}

}  // namespace planificador::broker
