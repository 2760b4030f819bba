#include "sockets.hpp"

#include <cstdint>

#include <spdlog/spdlog.h>

namespace planificador::broker {
namespace {

// The largest client frame worth reading: SUBMIT_EXT with the longest image, code and
// options (as the daemon's sched::max_frame_bytes); ZeroMQ refuses a larger one before
// allocating it (zmq_setsockopt(3), ZMQ_MAXMSGSIZE).
std::int64_t max_client_frame(const config::BrokerSection& broker) {
  constexpr std::int64_t k_header_and_image = 45 + 255;
  constexpr std::int64_t k_max_options = std::int64_t{4} << 20;
  return k_header_and_image + static_cast<std::int64_t>(broker.max_code_bytes) + k_max_options;
}

// A daemon's chunk is at most 16 MiB (output.chunk_bytes); a READY lists at most its
// workers' tasks. Anything beyond is not a daemon speaking the link.
constexpr std::int64_t k_max_link_frame = std::int64_t{32} << 20;
// Frames ZeroMQ may hold for one daemon. Towards it, credit keeps SUBMITs at its slots
// (up to 1024), so this bound is never what stops them. From it: what ZeroMQ reads ahead
// while the broker does not read the link. ZeroMQ's default; much lower makes a daemon
// wait on bursts of its own events the broker would have read a moment later.
constexpr int k_link_send_hwm = 10000;
constexpr int k_link_receive_hwm = 1000;
// On exit, how long ZeroMQ may still take to hand the last events and CANCELs over after
// the broker gave them to it.
constexpr int k_events_linger_ms = 5000;
constexpr int k_link_linger_ms = 1000;
// Frames ZeroMQ holds for one client connection beyond the broker's own queue for it.
constexpr int k_clients_send_hwm = 64;
// ZMQ_IN_BATCH_SIZE, left at its default: a frame at most this long may be a slice of a
// shared receive buffer (zmq_setsockopt(3)).
constexpr std::size_t k_receive_batch = 8192;

Result<void> bind_socket(zmq::socket_t& socket, const std::string& endpoint,
                         std::string_view name) {
  try {
    socket.bind(endpoint);
    spdlog::info("{} bound to {}", name, socket.get(zmq::sockopt::last_endpoint));
  } catch (const zmq::error_t& error) {
    return fail("bind " + std::string(name) + " `" + endpoint + "`: " + error.what(), error.num());
  }
  return {};
}

void set_client_options(Sockets& sockets, const config::BrokerConfig& config,
                        const Security& security) {
  const std::int64_t max_frame = max_client_frame(config.broker);
  sockets.intake.set(zmq::sockopt::maxmsgsize, max_frame);
  sockets.intake.set(zmq::sockopt::linger, 0);
  sockets.events.set(zmq::sockopt::linger, k_events_linger_ms);
  if (sockets.control) {
    sockets.control->set(zmq::sockopt::maxmsgsize, max_frame);
    sockets.control->set(zmq::sockopt::linger, 0);
    sockets.control->set(zmq::sockopt::subscribe, "");
  }
  if (sockets.admin) {
    sockets.admin->set(zmq::sockopt::linger, 0);
    sockets.admin->set(zmq::sockopt::maxmsgsize, std::int64_t{65536});
  }
  if (sockets.clients) {
    sockets.clients->set(zmq::sockopt::maxmsgsize, max_frame);
    sockets.clients->set(zmq::sockopt::linger, k_events_linger_ms);
    sockets.clients->set(zmq::sockopt::sndhwm, k_clients_send_hwm);
    // A frame for a connection that is gone fails instead of vanishing, and one for a full
    // pipe waits in the broker (zmq_setsockopt(3), ZMQ_ROUTER_MANDATORY).
    sockets.clients->set(zmq::sockopt::router_mandatory, true);
  }
  if (!security.clients_curve) {
    return;
  }
  if (sockets.clients) {
    transport::curve::make_server(*sockets.clients, *security.keys, k_clients_domain);
  }
  transport::curve::make_server(sockets.intake, *security.keys, k_clients_domain);
  transport::curve::make_server(sockets.events, *security.keys, k_clients_domain);
  if (sockets.control) {
    transport::curve::make_server(*sockets.control, *security.keys, k_clients_domain);
  }
  if (sockets.admin) {
    transport::curve::make_server(*sockets.admin, *security.keys, k_clients_domain);
  }
}

void set_link_options(zmq::socket_t& workers, const Security& security) {
  // A frame for a daemon that is gone, or whose queue is full, fails at once instead of
  // vanishing (zmq_setsockopt(3), ZMQ_ROUTER_MANDATORY), so its SUBMIT can go elsewhere.
  workers.set(zmq::sockopt::router_mandatory, true);
  // A daemon that reconnects under the same routing id takes over its old connection.
  workers.set(zmq::sockopt::router_handover, true);
  workers.set(zmq::sockopt::maxmsgsize, k_max_link_frame);
  workers.set(zmq::sockopt::sndhwm, k_link_send_hwm);
  workers.set(zmq::sockopt::rcvhwm, k_link_receive_hwm);
  workers.set(zmq::sockopt::linger, k_link_linger_ms);
  if (security.workers_curve) {
    transport::curve::make_server(workers, *security.keys, k_workers_domain);
  }
}

}  // namespace

Frame take_frame(zmq::message_t& message) {
  if (message.size() <= k_receive_batch) {
    Frame copy(message.to_string_view());
    message.rebuild();
    return copy;
  }
  Frame frame;
  zmq_msg_move(static_cast<zmq_msg_t*>(frame.native()), message.handle());
  return frame;
}

Result<std::unique_ptr<Sockets>> open_sockets(const config::BrokerConfig& config,
                                              const Security& security) {
  auto sockets = std::make_unique<Sockets>();
  if (security.workers_curve || security.clients_curve) {
    auto zap = transport::curve::ZapHandler::open(sockets->context, zap_domains(security));
    PLAN_TRY(zap);
    sockets->zap = std::move(*zap);
  }
  const auto& broker = config.broker;
  try {
    if (!broker.control.empty()) {
      sockets->control.emplace(sockets->context, zmq::socket_type::sub);
    }
    if (!broker.admin.empty()) {
      sockets->admin.emplace(sockets->context, zmq::socket_type::rep);
    }
    if (!broker.clients.empty()) {
      sockets->clients.emplace(sockets->context, zmq::socket_type::router);
    }
    set_client_options(*sockets, config, security);
    set_link_options(sockets->workers, security);
  } catch (const zmq::error_t& error) {
    return fail(std::string("set socket options: ") + error.what(), error.num());
  }
  struct Binding {
    zmq::socket_t* socket;
    const std::string& endpoint;
    const char* name;
  };
  const Binding bindings[] = {
      {&sockets->workers, broker.workers, "workers"},
      {&sockets->intake, broker.intake, "intake"},
      {&sockets->events, broker.events, "events"},
      {sockets->control ? &*sockets->control : nullptr, broker.control, "control"},
      {sockets->admin ? &*sockets->admin : nullptr, broker.admin, "admin"},
      {sockets->clients ? &*sockets->clients : nullptr, broker.clients, "clients"},
  };
  for (const auto& binding : bindings) {
    if (binding.socket == nullptr) {
      continue;
    }
    PLAN_TRY(bind_socket(*binding.socket, binding.endpoint, binding.name));
  }
  return sockets;
}

}  // namespace planificador::broker
