#include "planificador/transport/transport.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <unistd.h>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "planificador/os/event.hpp"
#include "planificador/transport/multipart.hpp"
#include "planificador/transport/zap.hpp"

namespace planificador::transport {
namespace {

// Frames handled per socket per poll round, so one busy socket cannot starve the others.
constexpr int k_batch = 64;
// Frames ZeroMQ may hold for the events socket's peer beyond the EventQueue. Its default
// (1000) would let 64 MiB of 64 KiB chunks pile up inside the socket while a consumer is
// away, four times the queue's own bound, and a consumer that disconnects loses whatever
// ZeroMQ held for it (zmq_setsockopt(3), ZMQ_SNDHWM); the queue is the one buffer meant
// to hold events under backpressure.
constexpr int k_events_send_hwm = 64;
// While a client connection's pipe is full, how soon its frames are offered again: a
// ROUTER polls writable while any one connection can take a frame, so it cannot say when
// that one can.
constexpr std::chrono::milliseconds k_busy_client_retry{5};
// The ZAP domain of every socket the daemon binds (docs/protocol.md, CURVE).
constexpr const char* k_clients_domain = "planificador-clients";
// Frames waiting for client connections, over all of them, beyond which the client
// endpoint is not read: what a client's refused SUBMITs and RUNNERS requests queue for it
// without a worker's wait stays bounded, as the events queue's overshoot is.
constexpr std::size_t k_client_frames_read_bound = 4096;

}  // namespace

struct PollRound;

struct Transport::Impl {
  zmq::context_t context{1};
  zmq::socket_t intake{context, zmq::socket_type::pull};
  zmq::socket_t events{context, zmq::socket_type::push};
  std::optional<zmq::socket_t> control;
  std::optional<zmq::socket_t> clients;  // the client endpoint's ROUTER
  std::unique_ptr<curve::ZapHandler> zap;
  std::string intake_endpoint;
  std::string events_endpoint;
  std::string control_endpoint;
  std::string clients_endpoint;
  EventQueue* queue = nullptr;
  ClientOutbox* outbox = nullptr;
  std::chrono::milliseconds flush_timeout{};
  os::Wakeup wakeup;
  std::atomic<bool> stopping{false};

  Result<std::string> attach(zmq::socket_t& socket, const std::string& endpoint, bool connect,
                             std::string_view name);
  Result<void> set_options(const TransportOptions& options);
  void receive(zmq::socket_t& socket, Source source, FrameHandler& handler, bool intake_gate);
  void receive_clients(FrameHandler& handler);
  void send_queued();
  void send_to_clients(FrameHandler& handler);
  [[nodiscard]] PollRound poll_items(bool draining, bool accepting);
  void serve(PollRound& round, FrameHandler& handler, std::chrono::milliseconds timeout);
};

Result<std::string> Transport::Impl::attach(zmq::socket_t& socket, const std::string& endpoint,
                                            bool connect, std::string_view name) {
  try {
    if (connect) {
      socket.connect(endpoint);
      spdlog::info("{} connected to {}", name, endpoint);
      return endpoint;
    }
    socket.bind(endpoint);
    auto bound = socket.get(zmq::sockopt::last_endpoint);
    spdlog::info("{} bound to {}", name, bound);
    return bound;
  } catch (const zmq::error_t& error) {
    return fail(std::string(connect ? "connect " : "bind ") + std::string(name) + " `" + endpoint +
                    "`: " + error.what(),
                error.num());
  }
}

Result<void> Transport::Impl::set_options(const TransportOptions& options) {
  const auto max_size = static_cast<std::int64_t>(options.max_inbound_bytes);
  const auto linger = static_cast<int>(options.flush_timeout.count());
  const auto& ep = options.endpoints;
  try {
    intake.set(zmq::sockopt::maxmsgsize, max_size);
    intake.set(zmq::sockopt::linger, 0);
    events.set(zmq::sockopt::linger, linger);
    events.set(zmq::sockopt::sndhwm, k_events_send_hwm);
    if (!ep.control.empty()) {
      control.emplace(context, zmq::socket_type::sub);
      control->set(zmq::sockopt::maxmsgsize, max_size);
      control->set(zmq::sockopt::linger, 0);
      control->set(zmq::sockopt::subscribe, "");
    }
    if (!ep.clients.empty() && !ep.connect) {
      clients.emplace(context, zmq::socket_type::router);
      clients->set(zmq::sockopt::maxmsgsize, max_size);
      clients->set(zmq::sockopt::linger, linger);
      clients->set(zmq::sockopt::sndhwm, k_events_send_hwm);
      // A frame for a connection that is gone fails instead of vanishing, and one for a
      // connection whose pipe is full waits (zmq_setsockopt(3), ZMQ_ROUTER_MANDATORY).
      clients->set(zmq::sockopt::router_mandatory, true);
    }
    if (options.curve && !ep.connect) {
      for (zmq::socket_t* socket :
           {&intake, &events, control ? &*control : nullptr, clients ? &*clients : nullptr}) {
        if (socket != nullptr) {
          curve::make_server(*socket, options.curve->keys, k_clients_domain);
        }
      }
    }
  } catch (const zmq::error_t& error) {
    return fail(std::string("set socket options: ") + error.what(), error.num());
  }
  return {};
}

Result<std::unique_ptr<Transport>> Transport::open(const TransportOptions& options,
                                                   EventQueue& events, ClientOutbox* clients) {
  auto impl = std::make_unique<Impl>();
  impl->queue = &events;
  impl->outbox = clients;
  impl->flush_timeout = options.flush_timeout;
  const auto& ep = options.endpoints;
  if (!ep.clients.empty() && !ep.connect && clients == nullptr) {
    return fail("the client endpoint needs a ClientOutbox");
  }
  if (options.curve && !ep.connect) {
    // Bound before any CURVE socket, which asks it about every peer (RFC 27).
    auto zap = curve::ZapHandler::open(impl->context, {{k_clients_domain, options.curve->allowed,
                                                        "a client", "curve.clients_allow"}});
    PLAN_TRY(zap);
    impl->zap = std::move(*zap);
  }
  PLAN_TRY(impl->set_options(options));
  auto intake = impl->attach(impl->intake, ep.intake, ep.connect, "intake");
  PLAN_TRY(intake);
  impl->intake_endpoint = *intake;
  auto out = impl->attach(impl->events, ep.events, ep.connect, "events");
  PLAN_TRY(out);
  impl->events_endpoint = *out;
  if (impl->control) {
    auto control = impl->attach(*impl->control, ep.control, ep.connect, "control");
    PLAN_TRY(control);
    impl->control_endpoint = *control;
  }
  if (impl->clients) {
    auto bound = impl->attach(*impl->clients, ep.clients, false, "clients");
    PLAN_TRY(bound);
    impl->clients_endpoint = *bound;
  }
  return std::unique_ptr<Transport>(new Transport(std::move(impl)));
}

Transport::Transport(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Transport::~Transport() = default;

const std::string& Transport::intake_endpoint() const noexcept { return m_impl->intake_endpoint; }
const std::string& Transport::events_endpoint() const noexcept { return m_impl->events_endpoint; }
const std::string& Transport::control_endpoint() const noexcept { return m_impl->control_endpoint; }
const std::string& Transport::clients_endpoint() const noexcept { return m_impl->clients_endpoint; }

void Transport::stop() {
  m_impl->stopping.store(true);
  wake();
}

void Transport::wake() { m_impl->wakeup.raise(); }

void Transport::Impl::receive(zmq::socket_t& socket, Source source, FrameHandler& handler,
                              bool intake_gate) {
  for (int i = 0; i < k_batch; ++i) {
    if (intake_gate && !(handler.accepting() && queue->has_room())) {
      return;
    }
    zmq::message_t message;
    if (!socket.recv(message, zmq::recv_flags::dontwait)) {
      return;
    }
    if (message.more()) {
      drop_multipart(socket, message, source == Source::intake ? "intake" : "control");
      continue;
    }
    handler.on_frame(source, message.to_string_view());
  }
}

// Each message of a client DEALER reaches the ROUTER as two parts: its routing id, then
// the one frame it sent.
void Transport::Impl::receive_clients(FrameHandler& handler) {
  for (int i = 0; i < k_batch; ++i) {
    if (!handler.accepting()) {
      return;
    }
    zmq::message_t peer;
    if (!clients->recv(peer, zmq::recv_flags::dontwait)) {
      return;
    }
    if (!peer.more()) {
      continue;  // a routing id alone: nothing the peer sent
    }
    zmq::message_t frame;
    if (!clients->recv(frame, zmq::recv_flags::none)) {
      return;
    }
    if (frame.more()) {
      drop_multipart(*clients, frame, "clients");
      continue;
    }
    handler.on_client_frame(peer.to_string_view(), frame.to_string_view());
  }
}

void Transport::Impl::send_to_clients(FrameHandler& handler) {
  auto& router = *clients;
  const auto send = [&router](const std::string& peer, const std::string& frame) {
    try {
      if (!router.send(zmq::buffer(peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        return PeerSend::busy;
      }
    } catch (const zmq::error_t& error) {
      if (error.num() == EHOSTUNREACH) {
        return PeerSend::gone;
      }
      throw;
    }
    // Once the routing id is taken, the frame's part is too (the pipe was writable).
    zmq::message_t message(frame.data(), frame.size());
    (void)router.send(message, zmq::send_flags::none);
    return PeerSend::sent;
  };
  const auto orphans = outbox->send_pending(send);
  if (!orphans.empty()) {
    spdlog::info("{} tasks lost their client connection: cancelling them", orphans.size());
    handler.on_clients_gone(orphans);
  }
}

void Transport::Impl::send_queued() {
  const auto send = [this](const std::string& frame) {
    zmq::message_t message(frame.data(), frame.size());
    return events.send(message, zmq::send_flags::dontwait).has_value();
  };
  for (int i = 0; i < 4 * k_batch; ++i) {
    if (!queue->pop_if(send)) {
      return;
    }
  }
}

// The poll items of one round, and where the optional sockets' items are.
struct PollRound {
  std::vector<zmq::pollitem_t> items;
  std::size_t control = 0;  // == clients when there is no control item
  std::size_t clients = 0;
  std::size_t zap = 0;

  [[nodiscard]] bool ready(std::size_t index, short event) const {
    return index < items.size() && (items[index].revents & event) != 0;
  }
};

// Items 0–3: the wakeup, the queue's signal, events (POLLOUT while frames wait) and intake
// (POLLIN while the handler accepts and the queue has room); then control, the client
// endpoint and the outbox's signal, and the ZAP handler, each when there is one.
PollRound Transport::Impl::poll_items(bool draining, bool accepting) {
  const bool pending = !queue->empty();
  const bool read_intake = accepting && queue->has_room();
  PollRound round;
  round.items = {
      {nullptr, wakeup.fd(), ZMQ_POLLIN, 0},
      {nullptr, queue->fd(), ZMQ_POLLIN, 0},
      {events.handle(), 0, static_cast<short>(pending ? ZMQ_POLLOUT : 0), 0},
      {intake.handle(), 0, static_cast<short>(read_intake ? ZMQ_POLLIN : 0), 0},
  };
  round.control = round.items.size();
  if (control && !draining) {
    round.items.push_back({control->handle(), 0, ZMQ_POLLIN, 0});
  }
  round.clients = round.items.size();
  if (clients) {
    const bool read_clients = accepting && outbox->size() < k_client_frames_read_bound;
    round.items.push_back(
        {clients->handle(), 0, static_cast<short>(read_clients ? ZMQ_POLLIN : 0), 0});
    round.items.push_back({nullptr, outbox->fd(), ZMQ_POLLIN, 0});
  }
  round.zap = zap ? round.items.size() : std::numeric_limits<std::size_t>::max();
  if (zap) {
    round.items.push_back({zap->socket().handle(), 0, ZMQ_POLLIN, 0});
  }
  return round;
}

void Transport::Impl::serve(PollRound& round, FrameHandler& handler,
                            std::chrono::milliseconds timeout) {
  zmq::poll(round.items, timeout);
  if (round.ready(2, ZMQ_POLLOUT)) {
    send_queued();
  }
  if (round.ready(round.zap, ZMQ_POLLIN)) {
    zap->serve();
  }
  if (round.ready(3, ZMQ_POLLIN)) {
    receive(intake, Source::intake, handler, true);
  }
  if (round.control < round.clients && round.ready(round.control, ZMQ_POLLIN)) {
    receive(*control, Source::control, handler, false);
  }
  if (clients) {
    if (round.ready(round.clients, ZMQ_POLLIN)) {
      receive_clients(handler);
    }
    send_to_clients(handler);
  }
}

void Transport::run(FrameHandler& handler) {
  auto& impl = *m_impl;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  while (true) {
    impl.wakeup.clear();
    impl.queue->clear_signal();
    if (impl.outbox != nullptr) {
      impl.outbox->clear_signal();
    }
    const bool stopping = impl.stopping.load();
    const bool clients_pending = impl.clients && impl.outbox->has_pending();
    if (stopping) {
      if (impl.queue->empty() && !clients_pending) {
        break;
      }
      const auto now = std::chrono::steady_clock::now();
      if (!deadline) {
        deadline = now + impl.flush_timeout;
      } else if (now >= *deadline) {
        spdlog::error("shutting down with {} events unsent: no events consumer took them",
                      impl.queue->size() + (impl.outbox != nullptr ? impl.outbox->size() : 0));
        break;
      }
    }
    auto round = impl.poll_items(stopping, !stopping && handler.accepting());
    auto timeout = stopping ? std::chrono::milliseconds(100) : std::chrono::milliseconds(-1);
    if (clients_pending) {
      timeout = k_busy_client_retry;
    }
    try {
      impl.serve(round, handler, timeout);
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) {
        spdlog::error("transport: {}", error.what());
      }
    }
  }
}

}  // namespace planificador::transport
