// The transport alone over real tcp://127.0.0.1 sockets: endpoint readback, single-part
// framing, the size cap, and the events path's no-loss backpressure.

#include "planificador/transport/transport.hpp"

#include <atomic>
#include <mutex>
#include <thread>

#include "wait.hpp"
#include "zmq_client.hpp"
#include <gtest/gtest.h>
#include <zmq.hpp>

#include "planificador/transport/client.hpp"

namespace planificador::transport {
namespace {

using namespace std::chrono_literals;
using planificador::testing::settle;
using planificador::testing::wait_for_subscriber;
using planificador::testing::wait_until;

class Recorder final : public FrameHandler {
 public:
  void on_frame(Source source, std::string_view frame) override {
    const std::lock_guard lock(m_mutex);
    m_frames.emplace_back(source, std::string(frame));
  }
  bool accepting() override { return m_accepting.load(); }
  std::vector<std::pair<Source, std::string>> frames() const {
    const std::lock_guard lock(m_mutex);
    return m_frames;
  }
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout) const {
    return wait_until([&] { return frames().size() >= count; }, timeout);
  }
  std::atomic<bool> m_accepting{true};

 private:
  mutable std::mutex m_mutex;
  std::vector<std::pair<Source, std::string>> m_frames;
};

// Sees the peer drop a connection of `socket`: the transport's answer to a frame above its
// size cap (ZMQ_MAXMSGSIZE), so once seen, that frame has been read and refused.
class DisconnectMonitor final : public zmq::monitor_t {
 public:
  DisconnectMonitor(zmq::socket_t& socket, const std::string& name) {
    init(socket, "inproc://" + name, ZMQ_EVENT_DISCONNECTED);
  }
  void on_event_disconnected(const zmq_event_t& /*event*/, const char* /*addr*/) override {
    m_disconnected = true;
  }
  bool wait(std::chrono::milliseconds timeout) {
    return wait_until(
        [&] {
          (void)check_event(10);
          return m_disconnected;
        },
        timeout, 0ms);
  }

 private:
  bool m_disconnected = false;
};

struct Running {
  explicit Running(const std::string& port_spec, std::size_t capacity = 8,
                   std::size_t max_bytes = 1024)
      : queue(capacity) {
    TransportOptions options;
    options.endpoints = {"tcp://127.0.0.1:" + port_spec, "tcp://127.0.0.1:" + port_spec,
                         "tcp://127.0.0.1:" + port_spec, false, ""};
    options.max_inbound_bytes = max_bytes;
    options.flush_timeout = 3s;
    auto opened = Transport::open(options, queue);
    EXPECT_TRUE(opened) << (opened ? "" : opened.error().message);
    transport = std::move(*opened);
    thread = std::thread([this] { transport->run(handler); });
  }
  ~Running() {
    transport->stop();
    thread.join();
  }
  EventQueue queue;
  Recorder handler;
  std::unique_ptr<Transport> transport;
  std::thread thread;
};

bool is_real_port(const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  const auto port = std::stoi(endpoint.substr(colon + 1));
  return endpoint.starts_with("tcp://127.0.0.1:") && port > 0;
}

TEST(Transport, BindsEphemeralPortsAndReportsThem) {
  for (const std::string spec : {"0", "*"}) {
    Running running(spec);
    EXPECT_TRUE(is_real_port(running.transport->intake_endpoint()))
        << running.transport->intake_endpoint();
    EXPECT_TRUE(is_real_port(running.transport->events_endpoint()));
    EXPECT_TRUE(is_real_port(running.transport->control_endpoint()));
    EXPECT_NE(running.transport->intake_endpoint(), running.transport->events_endpoint());
  }
}

TEST(Transport, ReportsAnEndpointItCannotBind) {
  EventQueue queue(1);
  TransportOptions options;
  options.endpoints = {"tcp://127.0.0.1:0", "nonsense://x", "", false, ""};
  auto opened = Transport::open(options, queue);
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().message.find("nonsense://x"), std::string::npos);
}

TEST(Transport, DeliversSinglePartFramesAndDropsMultipart) {
  Running running("0");
  zmq::context_t context;
  zmq::socket_t push(context, zmq::socket_type::push);
  push.connect(running.transport->intake_endpoint());
  (void)push.send(zmq::str_buffer("first"), zmq::send_flags::none);
  (void)push.send(zmq::str_buffer("part1"), zmq::send_flags::sndmore);
  (void)push.send(zmq::str_buffer("part2"), zmq::send_flags::none);
  (void)push.send(zmq::str_buffer(""), zmq::send_flags::none);
  (void)push.send(zmq::str_buffer("last"), zmq::send_flags::none);
  // A sentinel: one socket's frames arrive in order, so a multipart message the transport
  // wrongly delivered would show up before it.
  (void)push.send(zmq::str_buffer("sentinel"), zmq::send_flags::none);
  ASSERT_TRUE(running.handler.wait_for(4, 5s));
  const auto frames = running.handler.frames();
  ASSERT_EQ(frames.size(), 4U);
  EXPECT_EQ(frames[0].second, "first");
  EXPECT_EQ(frames[1].second, "");
  EXPECT_EQ(frames[2].second, "last");
  EXPECT_EQ(frames[3].second, "sentinel");
  EXPECT_EQ(frames[0].first, Source::intake);
}

TEST(Transport, RefusesFramesAboveTheSizeCap) {
  Running running("0", 8, 100);
  {
    zmq::context_t context;
    zmq::socket_t push(context, zmq::socket_type::push);
    push.set(zmq::sockopt::linger, 1000);
    DisconnectMonitor refused(push, "refused-frame");
    push.connect(running.transport->intake_endpoint());
    const std::string big(101, 'x');
    (void)push.send(zmq::buffer(big), zmq::send_flags::none);
    ASSERT_TRUE(refused.wait(5s)) << "the transport did not drop the oversized frame's sender";
  }
  // The big frame is refused before the next connection exists; that connection's frames
  // arrive in order, so the sentinel comes right after `fits` if nothing else was let in.
  zmq::context_t context;
  zmq::socket_t push(context, zmq::socket_type::push);
  push.connect(running.transport->intake_endpoint());
  const std::string fits(100, 'y');
  (void)push.send(zmq::buffer(fits), zmq::send_flags::none);
  (void)push.send(zmq::str_buffer("sentinel"), zmq::send_flags::none);
  ASSERT_TRUE(running.handler.wait_for(2, 5s));
  const auto frames = running.handler.frames();
  ASSERT_EQ(frames.size(), 2U);
  EXPECT_EQ(frames[0].second, fits);
  EXPECT_EQ(frames[1].second, "sentinel");
}

TEST(Transport, ReadsControlEvenWhileIntakeIsClosed) {
  Running running("0");
  running.handler.m_accepting = false;
  running.transport->wake();
  zmq::context_t context;
  zmq::socket_t push(context, zmq::socket_type::push);
  // An XPUB is a PUB to the transport's SUB, and sees its subscription arrive.
  zmq::socket_t pub(context, zmq::socket_type::xpub);
  push.connect(running.transport->intake_endpoint());
  pub.connect(running.transport->control_endpoint());
  ASSERT_TRUE(wait_for_subscriber(pub, 5s));
  (void)push.send(zmq::str_buffer("submit"), zmq::send_flags::none);
  (void)pub.send(zmq::str_buffer("cancel"), zmq::send_flags::none);
  ASSERT_TRUE(running.handler.wait_for(1, 5s));
  // Intake and control are separate connections: nothing orders the submit against the
  // cancel, so no sentinel can show that a closed intake was not read. A bounded window.
  settle(200ms);
  ASSERT_EQ(running.handler.frames().size(), 1U);
  EXPECT_EQ(running.handler.frames()[0].first, Source::control);
  running.handler.m_accepting = true;
  running.transport->wake();
  ASSERT_TRUE(running.handler.wait_for(2, 5s));
  EXPECT_EQ(running.handler.frames()[1].second, "submit");
}

TEST(Transport, EventsWaitForAConsumerWithoutLossOrGrowth) {
  Running running("0", 4);
  constexpr int k_events = 500;
  std::thread producer([&] {
    for (int i = 0; i < k_events; ++i) {
      running.queue.push("event " + std::to_string(i));
    }
  });
  // EXPECT, not ASSERT: returning early would destroy a joinable thread.
  EXPECT_TRUE(wait_until([&] { return running.queue.size() == running.queue.capacity(); }, 5s));
  EXPECT_LE(running.queue.high_water(), running.queue.capacity());
  EXPECT_EQ(running.queue.size(), running.queue.capacity());  // the producer is blocked
  auto client = Client::connect("", running.transport->events_endpoint(), "");
  ASSERT_TRUE(client);
  for (int i = 0; i < k_events; ++i) {
    auto frame = (*client)->receive(5s);
    ASSERT_TRUE(frame && *frame) << "event " << i << " missing";
    EXPECT_EQ(**frame, "event " + std::to_string(i));
  }
  producer.join();
  EXPECT_LE(running.queue.high_water(), running.queue.capacity());
}

TEST(Transport, StopFlushesQueuedEventsToALateConsumer) {
  auto running = std::make_unique<Running>("0", 16);
  for (int i = 0; i < 10; ++i) {
    running->queue.push("late " + std::to_string(i));
  }
  const auto events = running->transport->events_endpoint();
  // The consumer connects only once stop() was asked for (the destructor asks again).
  std::atomic<bool> stop_asked{false};
  std::thread stopper([&] {
    running->transport->stop();
    stop_asked = true;
    running.reset();
  });
  // EXPECT, not ASSERT: returning early would destroy a joinable thread.
  EXPECT_TRUE(wait_until([&] { return stop_asked.load(); }, 5s));
  auto client = Client::connect("", events, "");
  ASSERT_TRUE(client);
  for (int i = 0; i < 10; ++i) {
    auto frame = (*client)->receive(5s);
    ASSERT_TRUE(frame && *frame);
    EXPECT_EQ(**frame, "late " + std::to_string(i));
  }
  stopper.join();
}

}  // namespace
}  // namespace planificador::transport
