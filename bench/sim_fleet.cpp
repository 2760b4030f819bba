#include "sim_fleet.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <sys/epoll.h>
#include <system_error>
#include <unistd.h>

#include <zmq.hpp>

#include "planificador/os/fd.hpp"
#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/link.hpp"

namespace planificador::bench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace link = protocol::link;

// Frames read from one daemon's socket per service, so a busy one cannot starve the rest.
constexpr int k_service_batch = 64;
constexpr int k_epoll_batch = 256;
// How often every daemon is looked at regardless of epoll: beats, held-back frames, and a
// socket whose input epoll did not report (ZMQ_FD is a hint, not a level).
constexpr auto k_sweep = 50ms;
constexpr unsigned char k_submit = 0x00;
constexpr unsigned char k_submit_ext = 0x10;
constexpr auto k_welcome = static_cast<unsigned char>(link::Type::welcome);
constexpr auto k_unknown = static_cast<unsigned char>(link::Type::unknown);
constexpr std::size_t k_id_end = 1 + protocol::k_task_id_size;

protocol::TaskId zero_id() { return protocol::TaskId{}; }

}  // namespace

struct SimFleet::Impl {
  struct Daemon {
    explicit Daemon(zmq::context_t& context) : socket(context, zmq::socket_type::dealer) {}
    zmq::socket_t socket;
    std::string ready;                // its READY frame
    std::deque<std::string> pending;  // frames its socket did not take yet, in order
    Clock::time_point last_sent{};
    bool welcomed = false;
    bool queued = false;  // on the ready list
  };

  Impl(SimFleet& owner, SimFleetOptions fleet_options);

  void run();
  void round();
  void service(std::size_t index);
  void on_frame(Daemon& daemon, const zmq::message_t& message);
  void answer(Daemon& daemon, const char* id);
  void send(Daemon& daemon, const std::string& frame);
  void flush(Daemon& daemon);
  void sweep();
  void enqueue(std::size_t index);

  SimFleet& fleet;
  SimFleetOptions options;
  zmq::context_t context{1};
  std::vector<Daemon> daemons;
  os::Fd epoll;
  std::deque<std::size_t> ready_list;
  std::string started = link::encode(link::Started{zero_id()});
  std::string append;
  std::string exited = protocol::encode(protocol::Exited{zero_id(), 0});
  std::string beat = link::encode(link::Heartbeat{});
  Clock::time_point now = Clock::now();
  Clock::time_point next_sweep = now;
  std::uint64_t answered = 0;
  std::uint64_t held_back = 0;
};

SimFleet::Impl::Impl(SimFleet& owner, SimFleetOptions fleet_options)
    : fleet(owner), options(std::move(fleet_options)) {
  append = protocol::encode(protocol::Append{zero_id(), protocol::Stream::out, options.output});
  // ZeroMQ refuses more than 1023 sockets in a context by default (zmq_ctx_set(3)); it must
  // be raised before the first socket is made.
  context.set(zmq::ctxopt::max_sockets, static_cast<int>(options.daemons) + 64);
  epoll = os::Fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) {
    throw std::system_error(errno, std::generic_category(), "epoll_create1");
  }
  daemons.reserve(options.daemons);
  for (std::size_t i = 0; i < options.daemons; ++i) {
    Daemon& daemon = daemons.emplace_back(context);
    daemon.socket.set(zmq::sockopt::linger, 0);
    daemon.socket.connect(options.endpoint);
    link::Ready ready;
    ready.slots = options.slots;
    ready.free = options.slots;
    ready.name = options.name_prefix + std::to_string(i);
    ready.build = "sim";
    ready.patterns = options.patterns;
    daemon.ready = link::encode(ready);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = i;
    const int fd = daemon.socket.get(zmq::sockopt::fd);
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
      throw std::system_error(errno, std::generic_category(), "epoll_ctl");
    }
  }
}

void SimFleet::Impl::run() {
  for (auto& daemon : daemons) {
    send(daemon, daemon.ready);
  }
  while (!fleet.m_stop.load(std::memory_order_relaxed)) {
    round();
    fleet.m_answered.store(answered, std::memory_order_relaxed);
    fleet.m_held_back.store(held_back, std::memory_order_relaxed);
  }
}

// One round: what epoll reports joins the ready list; every daemon on the list is served
// once (one that still has input goes to the back); then, when due, the sweep.
void SimFleet::Impl::round() {
  std::array<epoll_event, k_epoll_batch> events{};
  const int timeout = ready_list.empty() ? 10 : 0;
  const int count = ::epoll_wait(epoll.get(), events.data(), k_epoll_batch, timeout);
  for (int i = 0; i < count; ++i) {
    enqueue(static_cast<std::size_t>(events[static_cast<std::size_t>(i)].data.u64));
  }
  now = Clock::now();
  for (std::size_t n = ready_list.size(); n > 0; --n) {
    const std::size_t index = ready_list.front();
    ready_list.pop_front();
    daemons[index].queued = false;
    service(index);
  }
  if (now >= next_sweep) {
    sweep();
    next_sweep = now + k_sweep;
  }
}

void SimFleet::Impl::enqueue(std::size_t index) {
  if (!daemons[index].queued) {
    daemons[index].queued = true;
    ready_list.push_back(index);
  }
}

void SimFleet::Impl::service(std::size_t index) {
  Daemon& daemon = daemons[index];
  zmq::message_t message;
  for (int n = 0; n < k_service_batch; ++n) {
    if (!daemon.socket.recv(message, zmq::recv_flags::dontwait)) {
      break;
    }
    on_frame(daemon, message);
  }
  flush(daemon);
  if ((daemon.socket.get(zmq::sockopt::events) & ZMQ_POLLIN) != 0) {
    enqueue(index);
  }
}

void SimFleet::Impl::on_frame(Daemon& daemon, const zmq::message_t& message) {
  if (message.size() == 0) {
    return;
  }
  const auto* bytes = message.data<char>();
  const auto type = static_cast<unsigned char>(bytes[0]);
  if ((type == k_submit || type == k_submit_ext) && message.size() >= k_id_end) {
    answer(daemon, bytes + 1);
  } else if (type == k_welcome) {
    if (!daemon.welcomed) {
      daemon.welcomed = true;
      fleet.m_welcomed.fetch_add(1);
    }
  } else if (type == k_unknown) {
    fleet.m_unknowns.fetch_add(1);
    send(daemon, daemon.ready);
  }
  // HEARTBEAT needs nothing; a CANCEL never finds a task (each is answered at once).
}

void SimFleet::Impl::answer(Daemon& daemon, const char* id) {
  for (std::string* frame : {&started, &append, &exited}) {
    std::memcpy(frame->data() + 1, id, protocol::k_task_id_size);
    send(daemon, *frame);
  }
  ++answered;
}

// A daemon never drops a frame: what its socket does not take now waits, in order.
void SimFleet::Impl::send(Daemon& daemon, const std::string& frame) {
  daemon.last_sent = now;
  if (daemon.pending.empty() &&
      daemon.socket.send(zmq::buffer(frame), zmq::send_flags::dontwait).has_value()) {
    return;
  }
  daemon.pending.push_back(frame);
  ++held_back;
}

void SimFleet::Impl::flush(Daemon& daemon) {
  while (!daemon.pending.empty()) {
    if (!daemon.socket.send(zmq::buffer(daemon.pending.front()), zmq::send_flags::dontwait)) {
      return;
    }
    daemon.pending.pop_front();
  }
}

void SimFleet::Impl::sweep() {
  for (std::size_t i = 0; i < daemons.size(); ++i) {
    Daemon& daemon = daemons[i];
    flush(daemon);
    if (now - daemon.last_sent >= options.heartbeat) {
      send(daemon, beat);
    }
    if ((daemon.socket.get(zmq::sockopt::events) & ZMQ_POLLIN) != 0) {
      enqueue(i);
    }
  }
}

SimFleet::SimFleet(SimFleetOptions options)
    : m_impl(std::make_unique<Impl>(*this, std::move(options))), m_thread([this] {
        // No exception leaves the thread; a broken fleet shows as tasks never answered.
        try {
          m_impl->run();
        } catch (const std::exception& error) {
          (void)std::fprintf(stderr, "simulated fleet: %s\n", error.what());
        }
      }) {}

SimFleet::~SimFleet() {
  m_stop.store(true);
  m_thread.join();
}

bool SimFleet::wait_welcomed(std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  while (m_welcomed.load() < m_impl->options.daemons) {
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

struct SimDaemon::Sockets {
  zmq::context_t context{1};
  zmq::socket_t intake{context, zmq::socket_type::pull};
  zmq::socket_t events{context, zmq::socket_type::push};
};

SimDaemon::SimDaemon() : m_sockets(std::make_unique<Sockets>()) {
  auto& sockets = *m_sockets;
  sockets.intake.set(zmq::sockopt::linger, 0);
  sockets.events.set(zmq::sockopt::linger, 0);
  sockets.intake.bind("tcp://127.0.0.1:0");
  sockets.events.bind("tcp://127.0.0.1:0");
  m_intake = sockets.intake.get(zmq::sockopt::last_endpoint);
  m_events = sockets.events.get(zmq::sockopt::last_endpoint);
  m_thread = std::thread([this] {
    auto& own = *m_sockets;
    std::string append =
        protocol::encode(protocol::Append{zero_id(), protocol::Stream::out, "1\n"});
    std::string exited = protocol::encode(protocol::Exited{zero_id(), 0});
    zmq::message_t message;
    try {
      while (!m_stop.load(std::memory_order_relaxed)) {
        zmq::pollitem_t item{own.intake.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(10));
        while (own.intake.recv(message, zmq::recv_flags::dontwait)) {
          if (message.size() < k_id_end ||
              static_cast<unsigned char>(*message.data<char>()) != k_submit) {
            continue;
          }
          for (std::string* frame : {&append, &exited}) {
            std::memcpy(frame->data() + 1, message.data<char>() + 1, protocol::k_task_id_size);
            (void)own.events.send(zmq::buffer(*frame), zmq::send_flags::none);
          }
        }
      }
    } catch (const std::exception& error) {
      (void)std::fprintf(stderr, "simulated daemon: %s\n", error.what());
    }
  });
}

SimDaemon::~SimDaemon() {
  m_stop.store(true);
  m_thread.join();
}

}  // namespace planificador::bench
