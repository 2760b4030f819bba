#include "planificador/transport/transport.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <unistd.h>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "planificador/os/event.hpp"
#include "planificador/transport/multipart.hpp"

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

}  // namespace

struct Transport::Impl {
  zmq::context_t context{1};
  zmq::socket_t intake{context, zmq::socket_type::pull};
  zmq::socket_t events{context, zmq::socket_type::push};
  std::optional<zmq::socket_t> control;
  std::string intake_endpoint;
  std::string events_endpoint;
  std::string control_endpoint;
  EventQueue* queue = nullptr;
  std::chrono::milliseconds flush_timeout{};
  os::Wakeup wakeup;
  std::atomic<bool> stopping{false};

  Result<std::string> attach(zmq::socket_t& socket, const std::string& endpoint, bool connect,
                             std::string_view name);
  void receive(zmq::socket_t& socket, Source source, FrameHandler& handler, bool intake_gate);
  void send_queued();
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

Result<std::unique_ptr<Transport>> Transport::open(const TransportOptions& options,
                                                   EventQueue& events) {
  auto impl = std::make_unique<Impl>();
  impl->queue = &events;
  impl->flush_timeout = options.flush_timeout;
  const auto max_size = static_cast<std::int64_t>(options.max_inbound_bytes);
  const auto linger = static_cast<int>(options.flush_timeout.count());
  const auto& ep = options.endpoints;
  try {
    impl->intake.set(zmq::sockopt::maxmsgsize, max_size);
    impl->intake.set(zmq::sockopt::linger, 0);
    impl->events.set(zmq::sockopt::linger, linger);
    impl->events.set(zmq::sockopt::sndhwm, k_events_send_hwm);
    if (!ep.control.empty()) {
      impl->control.emplace(impl->context, zmq::socket_type::sub);
      impl->control->set(zmq::sockopt::maxmsgsize, max_size);
      impl->control->set(zmq::sockopt::linger, 0);
      impl->control->set(zmq::sockopt::subscribe, "");
    }
  } catch (const zmq::error_t& error) {
    return fail(std::string("set socket options: ") + error.what(), error.num());
  }
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
  return std::unique_ptr<Transport>(new Transport(std::move(impl)));
}

Transport::Transport(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Transport::~Transport() = default;

const std::string& Transport::intake_endpoint() const noexcept { return m_impl->intake_endpoint; }
const std::string& Transport::events_endpoint() const noexcept { return m_impl->events_endpoint; }
const std::string& Transport::control_endpoint() const noexcept { return m_impl->control_endpoint; }

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

void Transport::run(FrameHandler& handler) {
  auto& impl = *m_impl;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  while (true) {
    impl.wakeup.clear();
    impl.queue->clear_signal();
    const bool stopping = impl.stopping.load();
    const bool pending = !impl.queue->empty();
    if (stopping) {
      if (!pending) {
        break;
      }
      const auto now = std::chrono::steady_clock::now();
      if (!deadline) {
        deadline = now + impl.flush_timeout;
      } else if (now >= *deadline) {
        spdlog::error("shutting down with {} events unsent: no events consumer took them",
                      impl.queue->size());
        break;
      }
    }
    const bool read_intake = !stopping && handler.accepting() && impl.queue->has_room();
    std::vector<zmq::pollitem_t> items{
        {nullptr, impl.wakeup.fd(), ZMQ_POLLIN, 0},
        {nullptr, impl.queue->fd(), ZMQ_POLLIN, 0},
        {impl.events.handle(), 0, static_cast<short>(pending ? ZMQ_POLLOUT : 0), 0},
        {impl.intake.handle(), 0, static_cast<short>(read_intake ? ZMQ_POLLIN : 0), 0},
    };
    if (impl.control && !stopping) {
      items.push_back({impl.control->handle(), 0, ZMQ_POLLIN, 0});
    }
    const auto timeout = stopping ? std::chrono::milliseconds(100) : std::chrono::milliseconds(-1);
    try {
      zmq::poll(items, timeout);
      if ((items[2].revents & ZMQ_POLLOUT) != 0) {
        impl.send_queued();
      }
      if ((items[3].revents & ZMQ_POLLIN) != 0) {
        impl.receive(impl.intake, Source::intake, handler, true);
      }
      if (items.size() > 4 && (items[4].revents & ZMQ_POLLIN) != 0) {
        impl.receive(*impl.control, Source::control, handler, false);
      }
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) {
        spdlog::error("transport: {}", error.what());
      }
    }
  }
}

}  // namespace planificador::transport
