// The daemon's worker link alone, in-process, against a ROUTER in the test playing the
// broker (docs/fleet.md), over tcp://127.0.0.1 on an ephemeral port: READY, WELCOME,
// heartbeats, silence, UNKNOWN, the drain, malformed frames, CURVE; and once wired to the
// scheduler as the daemon wires it.

#include "planificador/transport/worker_link.hpp"

#include <mutex>
#include <thread>

#include "fake_backend.hpp"
#include "router_broker.hpp"
#include "wait.hpp"
#include <gtest/gtest.h>

#include "planificador/daemon/bridge.hpp"
#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/link.hpp"
#include "planificador/transport/curve_keys.hpp"

namespace planificador::transport {
namespace {

using namespace std::chrono_literals;
using testing::make_id;
using testing::RouterBroker;
using testing::type_of;
using testing::wait_until;
namespace link = protocol::link;

constexpr auto k_wait = 5s;
constexpr auto k_type_ready = static_cast<unsigned char>(link::Type::ready);
constexpr auto k_type_heartbeat = static_cast<unsigned char>(link::Type::heartbeat);

// Records the task frames; take_back() answers what the test says is queued.
class FakeHandler final : public LinkHandler {
 public:
  void on_task_frame(std::string_view frame) override {
    const std::lock_guard lock(m_mutex);
    m_frames.emplace_back(frame);
  }
  std::vector<protocol::TaskId> take_back() override {
    const std::lock_guard lock(m_mutex);
    ++m_take_backs;
    return std::exchange(m_queued, {});
  }
  void set_queued(std::vector<protocol::TaskId> ids) {
    const std::lock_guard lock(m_mutex);
    m_queued = std::move(ids);
  }
  [[nodiscard]] std::vector<std::string> frames() const {
    const std::lock_guard lock(m_mutex);
    return m_frames;
  }
  [[nodiscard]] int take_backs() const {
    const std::lock_guard lock(m_mutex);
    return m_take_backs;
  }
  bool wait_frames(std::size_t count, std::chrono::milliseconds timeout) const {
    return wait_until([&] { return frames().size() >= count; }, timeout, 2ms);
  }

 private:
  mutable std::mutex m_mutex;
  std::vector<std::string> m_frames;
  std::vector<protocol::TaskId> m_queued;
  int m_take_backs = 0;
};

WorkerLinkOptions options_for(const std::string& endpoint) {
  WorkerLinkOptions options;
  options.endpoint = endpoint;
  options.slots = 2;
  options.name = "host-a";
  options.build = "0.1.0";
  options.patterns = {"bash"};
  options.flush_timeout = 3s;
  return options;
}

// A WorkerLink served on its own thread, stopped and joined when destroyed.
struct RunningLink {
  explicit RunningLink(const WorkerLinkOptions& options, LinkHandler* custom = nullptr)
      : queue(64) {
    auto opened = WorkerLink::open(options, queue);
    EXPECT_TRUE(opened) << (opened ? "" : opened.error().message);
    link = std::move(*opened);
    LinkHandler& chosen = custom != nullptr ? *custom : handler;
    thread = std::thread([this, &chosen] { link->run(chosen); });
  }
  ~RunningLink() { join(); }
  void join() {
    if (thread.joinable()) {
      link->stop();
      thread.join();
    }
  }
  EventQueue queue;
  FakeHandler handler;
  std::unique_ptr<WorkerLink> link;
  std::thread thread;
};

link::Ready ready_of(const std::optional<std::string>& frame) {
  EXPECT_TRUE(frame.has_value()) << "no READY";
  if (!frame) {
    return {};
  }
  auto decoded = link::decode_from_daemon(*frame);
  EXPECT_TRUE(decoded) << decoded.error().message;
  return decoded ? std::get<link::Ready>(*decoded) : link::Ready{};
}

std::string welcome(std::uint64_t epoch, std::uint32_t heartbeat_ms, std::uint32_t misses) {
  return link::encode(link::Welcome{link::k_version, epoch, heartbeat_ms, misses});
}

std::string submit(const protocol::TaskId& id, std::optional<std::string> options = {}) {
  return protocol::encode(protocol::Submit{id, "bash", "echo hi\n", std::move(options)});
}

std::size_t count_type(const std::vector<std::string>& frames, unsigned char type) {
  return static_cast<std::size_t>(std::count_if(frames.begin(), frames.end(),
                                                [&](const auto& f) { return type_of(f) == type; }));
}

TEST(WorkerLink, ReadyFirstIsTheWorkedExampleByteForByte) {
  RouterBroker broker;
  RunningLink running(options_for(broker.endpoint()));
  const auto frame = broker.receive(k_wait);
  ASSERT_TRUE(frame);
  const std::string expected =
      std::string("\x40\x01", 2) + std::string("\0\0\0\x02", 4) + std::string("\0\0\0\x02", 4) +
      std::string(8, '\0') + std::string("\0\x06", 2) + "host-a" + std::string("\0\x05", 2) +
      "0.1.0" + std::string("\0\x01\0\x04", 4) + "bash" + std::string(4, '\0');
  EXPECT_EQ(*frame, expected);
  EXPECT_EQ(frame->size(), 45U);
}

TEST(WorkerLink, AdoptsTheWelcomeAndBeatsAtItsIntervalWhenIdle) {
  RouterBroker broker;
  RunningLink running(options_for(broker.endpoint()));
  ASSERT_TRUE(broker.receive_type(k_type_ready, k_wait));
  broker.send(welcome(0x1122334455667788ULL, 50, 1000));
  const auto frames = broker.receive_for(1000ms);
  const auto beats = count_type(frames, k_type_heartbeat);
  EXPECT_GE(beats, 10U);
  EXPECT_LE(beats, 25U);
  EXPECT_EQ(beats, frames.size()) << "only heartbeats while idle";

  // Any frame counts as a beat: events every 10 ms leave no room for one of 200 ms.
  broker.send(welcome(0x1122334455667788ULL, 200, 1000));
  std::thread producer([&] {
    for (int i = 0; i < 40; ++i) {
      running.queue.push(protocol::encode(protocol::Exited{make_id("busy", 100), 0}));
      std::this_thread::sleep_for(10ms);
    }
  });
  (void)broker.receive_for(50ms);
  const auto busy = broker.receive_for(300ms);
  producer.join();
  EXPECT_EQ(count_type(busy, k_type_heartbeat), 0U);
  EXPECT_GE(busy.size(), 10U);

  // READY carries the adopted epoch.
  broker.send(link::encode(link::Unknown{7}));
  const auto ready = ready_of(broker.receive_type(k_type_ready, k_wait));
  EXPECT_EQ(ready.epoch, 0x1122334455667788ULL);
}

TEST(WorkerLink, UnansweredReadyIsRepeatedEveryHeartbeat) {
  RouterBroker broker;
  auto options = options_for(broker.endpoint());
  options.heartbeat = 50ms;
  options.heartbeat_misses = 2;
  RunningLink running(options);
  ASSERT_TRUE(broker.receive_type(k_type_ready, k_wait));
  const auto frames = broker.receive_for(600ms);
  // A HEARTBEAT at 50 ms; silent from 100 ms on: a READY per 50 ms, and nothing else.
  EXPECT_GE(count_type(frames, k_type_ready), 5U);
  EXPECT_LE(count_type(frames, k_type_ready), 13U);
  EXPECT_LE(count_type(frames, k_type_heartbeat), 1U);
  EXPECT_EQ(count_type(frames, k_type_ready) + count_type(frames, k_type_heartbeat), frames.size());
}

TEST(WorkerLink, SilentBrokerGetsReadyEveryHeartbeatUntilItWelcomesAgain) {
  RouterBroker broker;
  RunningLink running(options_for(broker.endpoint()));
  ASSERT_TRUE(broker.receive_type(k_type_ready, k_wait));
  broker.send(welcome(5, 50, 3));
  broker.send(submit(make_id("held")));
  // The broker says nothing more: after 150 ms the daemon sends READY every 50 ms, with
  // what it holds.
  std::vector<std::string> before;
  const auto first_at = std::chrono::steady_clock::now();
  const auto ready = ready_of(broker.receive_type(k_type_ready, k_wait, &before));
  EXPECT_GE(std::chrono::steady_clock::now() - first_at, 100ms);
  EXPECT_EQ(ready.held, (std::vector<link::HeldTask>{{make_id("held"), false, false}}));
  EXPECT_EQ(ready.epoch, 5U);
  EXPECT_GE(count_type(before, k_type_heartbeat), 1U);
  const auto frames = broker.receive_for(400ms);
  EXPECT_GE(count_type(frames, k_type_ready), 4U);
  EXPECT_EQ(count_type(frames, k_type_heartbeat), 0U) << "READY is the beat while lost";

  broker.send(welcome(5, 50, 3));
  (void)broker.receive_for(30ms);
  std::vector<std::string> after;
  for (int i = 0; i < 10; ++i) {
    broker.send(link::encode(link::Heartbeat{}));
    auto got = broker.receive_for(30ms);
    after.insert(after.end(), got.begin(), got.end());
  }
  EXPECT_EQ(count_type(after, k_type_ready), 0U);
}

// A daemon stopped while its broker is gone (a stack removed whole) leaves after one
// silence timeout, not after the whole flush timeout spent on events nobody takes.
TEST(WorkerLink, StopWithTheBrokerGoneTakesOneSilenceTimeout) {
  auto broker = std::make_unique<RouterBroker>();
  auto options = options_for(broker->endpoint());
  options.flush_timeout = 10s;
  RunningLink running(options);
  ASSERT_TRUE(broker->receive_type(k_type_ready, k_wait));
  broker->send(welcome(6, 50, 3));
  broker->send(submit(make_id("never")));
  ASSERT_TRUE(running.handler.wait_frames(1, k_wait));
  broker.reset();  // gone: nothing takes what the daemon sends from here on
  running.queue.push(protocol::encode(protocol::Exited{make_id("never"), 0}));
  const auto stopped_at = std::chrono::steady_clock::now();
  running.link->drain();
  running.join();
  running.link.reset();  // closing the socket: what is left in its pipe may linger
  const auto took = std::chrono::steady_clock::now() - stopped_at;
  EXPECT_LT(took, 2s) << "waited out the flush timeout";
}

TEST(WorkerLink, UnknownIsAnsweredReadyListingHeldTasksAndTheirFlags) {
  RouterBroker broker;
  RunningLink running(options_for(broker.endpoint()));
  ASSERT_TRUE(broker.receive_type(k_type_ready, k_wait));
  broker.send(welcome(9, 1000, 3));
  broker.send(submit(make_id("plain")));
  broker.send(submit(make_id("ext"), "{}"));
  broker.send(protocol::encode(protocol::Cancel{make_id("nobody")}));
  ASSERT_TRUE(running.handler.wait_frames(3, k_wait));
  EXPECT_EQ(running.handler.frames()[0], submit(make_id("plain")));
  EXPECT_EQ(running.handler.frames()[2], protocol::encode(protocol::Cancel{make_id("nobody")}));
  // The worker announces the start through the queue, as the daemon's on_start does.
  running.queue.push(link::encode(link::Started{make_id("plain")}));
  ASSERT_TRUE(broker.receive_type(static_cast<unsigned char>(link::Type::started), k_wait));

  broker.send(link::encode(link::Unknown{9}));
  const auto ready = ready_of(broker.receive_type(k_type_ready, k_wait));
  EXPECT_EQ(ready.slots, 2U);
  EXPECT_EQ(ready.free, 0U);
  EXPECT_EQ(ready.epoch, 9U);
  const std::vector<link::HeldTask> expected{{make_id("ext"), true, false},
                                             {make_id("plain"), false, true}};
  EXPECT_EQ(ready.held, expected);

  // An EXITED that went out gives the slot back.
  broker.send(welcome(9, 1000, 3));
  running.queue.push(protocol::encode(protocol::Exited{make_id("plain"), 0}));
  ASSERT_TRUE(
      broker.receive_type(static_cast<unsigned char>(protocol::MessageType::exited), k_wait));
  broker.send(link::encode(link::Unknown{9}));
  const auto again = ready_of(broker.receive_type(k_type_ready, k_wait));
  EXPECT_EQ(again.free, 1U);
  ASSERT_EQ(again.held.size(), 1U);
  EXPECT_EQ(again.held[0].id, make_id("ext"));
}

TEST(WorkerLink, DrainSendsDrainingReturnsQueuedAndLateTasksAndEndsWithBye) {
  RouterBroker broker;
  RunningLink running(options_for(broker.endpoint()));
  ASSERT_TRUE(broker.receive_type(k_type_ready, k_wait));
  broker.send(welcome(3, 1000, 3));
  broker.send(submit(make_id("run")));
  broker.send(submit(make_id("queued")));
  ASSERT_TRUE(running.handler.wait_frames(2, k_wait));
  running.queue.push(link::encode(link::Started{make_id("run")}));
  running.handler.set_queued({make_id("queued")});

  running.link->drain();
  EXPECT_EQ(running.handler.take_backs(), 1);
  std::vector<std::string> before;
  ASSERT_TRUE(
      broker.receive_type(static_cast<unsigned char>(link::Type::draining), k_wait, &before));
  EXPECT_EQ(count_type(before, static_cast<unsigned char>(link::Type::returned)), 0U);
  EXPECT_EQ(broker.receive_type(static_cast<unsigned char>(link::Type::returned), k_wait),
            link::encode(link::Returned{make_id("queued")}));

  // A SUBMIT on its way is given back, never handled; a CANCEL still is.
  broker.send(submit(make_id("late"), "{}"));
  EXPECT_EQ(broker.receive_type(static_cast<unsigned char>(link::Type::returned), k_wait),
            link::encode(link::Returned{make_id("late")}));
  broker.send(protocol::encode(protocol::Cancel{make_id("run")}));
  ASSERT_TRUE(running.handler.wait_frames(3, k_wait));
  EXPECT_EQ(running.handler.frames().size(), 3U);

  // READY while draining offers nothing and says DRAINING again.
  broker.send(link::encode(link::Unknown{3}));
  const auto ready = ready_of(broker.receive_type(k_type_ready, k_wait));
  EXPECT_EQ(ready.free, 0U);
  ASSERT_EQ(ready.held.size(), 1U);
  EXPECT_TRUE(ready.held[0].started);
  ASSERT_TRUE(broker.receive_type(static_cast<unsigned char>(link::Type::draining), k_wait));

  // The running task's EXITED, then BYE, last.
  running.queue.push(protocol::encode(protocol::Exited{make_id("run"), 0}));
  running.link->stop();
  std::vector<std::string> tail;
  ASSERT_TRUE(broker.receive_type(static_cast<unsigned char>(link::Type::bye), k_wait, &tail));
  EXPECT_EQ(count_type(tail, static_cast<unsigned char>(protocol::MessageType::exited)), 1U);
  running.join();
  EXPECT_FALSE(broker.receive(200ms).has_value()) << "nothing after BYE";
  EXPECT_EQ(running.handler.take_backs(), 1);
}

TEST(WorkerLink, MalformedFramesAreDroppedAndTheLinkGoesOn) {
  RouterBroker broker;
  RunningLink running(options_for(broker.endpoint()));
  ASSERT_TRUE(broker.receive_type(k_type_ready, k_wait));
  broker.send("");
  broker.send(welcome(1, 1000, 3).substr(0, 10));                    // WELCOME cut short
  broker.send(link::encode(link::Bye{}));                            // a daemon's message
  broker.send(protocol::encode(protocol::Exited{make_id("x"), 0}));  // a client-bound one
  broker.send_multipart({submit(make_id("multi")), "x"});
  broker.send(std::string("\x49\x00", 2));  // UNKNOWN cut short
  broker.send(welcome(1, 1000, 3));
  broker.send(submit(make_id("fine")));
  // A sentinel: the link reads the broker's frames in order, so any malformed one that got
  // through would show up before it.
  broker.send(submit(make_id("sentinel")));
  ASSERT_TRUE(running.handler.wait_frames(2, k_wait));
  ASSERT_EQ(running.handler.frames().size(), 2U);
  EXPECT_EQ(running.handler.frames()[0], submit(make_id("fine")));
  EXPECT_EQ(running.handler.frames()[1], submit(make_id("sentinel")));
  broker.send(link::encode(link::Unknown{1}));
  EXPECT_EQ(ready_of(broker.receive_type(k_type_ready, k_wait)).epoch, 1U);
}

TEST(WorkerLink, CurveHandshakeNeedsTheBrokersKey) {
  const auto broker_keys = curve::generate_key_pair();
  const auto daemon_keys = curve::generate_key_pair();
  const auto stranger = curve::generate_key_pair();
  ASSERT_TRUE(broker_keys && daemon_keys && stranger);
  RouterBroker broker(broker_keys->secret_key);
  auto options = options_for(broker.endpoint());
  options.curve =
      LinkCurve{daemon_keys->public_key, daemon_keys->secret_key, broker_keys->public_key};
  {
    RunningLink running(options);
    const auto ready = ready_of(broker.receive_type(k_type_ready, k_wait));
    EXPECT_EQ(ready.name, "host-a");
    running.link->stop();
    ASSERT_TRUE(broker.receive_type(static_cast<unsigned char>(link::Type::bye), k_wait));
  }
  options.curve->server_key = stranger->public_key;
  RunningLink wrong(options);
  EXPECT_FALSE(broker.receive(1500ms).has_value()) << "a wrong server key must not connect";
}

TEST(WorkerLink, RefusesAnEndpointZeroMqCannotConnect) {
  EventQueue queue(1);
  auto opened = WorkerLink::open(options_for("nonsense://x"), queue);
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().message.find("nonsense://x"), std::string::npos);
}

// The scheduler behind the link as the daemon wires it (LinkBridge, announce_start).
TEST(WorkerLink, WiredToTheSchedulerStartedPrecedesTheTasksEvents) {
  RouterBroker broker;
  const auto config = testing::fake_config(1, 1000);
  testing::FakeBackend backend;
  EventQueue queue(64);
  daemon::QueueSink sink(queue);
  auto sched_options = sched::scheduler_options(config);
  sched_options.on_start = daemon::announce_start(queue);
  sched::Scheduler scheduler(config, backend, sink, sched_options);
  daemon::LinkBridge bridge(scheduler);
  auto opened = WorkerLink::open(options_for(broker.endpoint()), queue);
  ASSERT_TRUE(opened);
  auto& worker_link = **opened;
  std::thread thread([&] { worker_link.run(bridge); });
  ASSERT_TRUE(broker.receive_type(k_type_ready, k_wait));
  broker.send(welcome(2, 1000, 3));
  const auto id = make_id("wired");
  broker.send(protocol::encode(protocol::Submit{id, "fake", "print(1)\nexit 3\n", {}}));
  const std::vector<std::string> expected{
      link::encode(link::Started{id}),
      protocol::encode(protocol::Append{id, protocol::Stream::out, "1\n"}),
      protocol::encode(protocol::Exited{id, 3})};
  std::vector<std::string> got;
  while (got.size() < expected.size()) {
    auto frame = broker.receive(k_wait);
    ASSERT_TRUE(frame);
    if (type_of(*frame) != k_type_heartbeat) {
      got.push_back(*frame);
    }
  }
  EXPECT_EQ(got, expected);
  worker_link.drain();
  scheduler.drain(0ms);
  worker_link.stop();
  thread.join();
}

}  // namespace
}  // namespace planificador::transport
