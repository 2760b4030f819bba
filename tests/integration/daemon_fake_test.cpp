// Scheduler and transport wired as the daemon wires them, with a FakeBackend, over real
// tcp://127.0.0.1 sockets on ephemeral ports: SPEC's sockets and the client endpoint.

#include <thread>

#include "fake_backend.hpp"
#include "wait.hpp"
#include "zmq_client.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "planificador/daemon/bridge.hpp"
#include "planificador/protocol/codec.hpp"
#include "planificador/sched/scheduler.hpp"
#include "planificador/transport/transport.hpp"

namespace planificador {
namespace {

using namespace std::chrono_literals;
using testing::make_id;
using testing::wait_until;
using testing::ZmqClient;

constexpr auto k_wait = 20s;

using daemon::ClientSink;
using daemon::FrameBridge;
using daemon::QueueSink;
using testing::ClientEndpoint;

// The daemon's wiring, in-process.
struct Daemon {
  explicit Daemon(std::size_t workers = 2, std::size_t backlog = 1000,
                  std::size_t queue_frames = 256)
      : config(testing::fake_config(workers, backlog)), queue(queue_frames), outbox(queue_frames) {
    transport::TransportOptions options;
    options.endpoints = {"tcp://127.0.0.1:0", "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", false,
                         "tcp://127.0.0.1:0"};
    options.max_inbound_bytes = sched::max_frame_bytes(sched::decode_limits(config));
    options.flush_timeout = 5s;
    transport = std::move(*transport::Transport::open(options, queue, &outbox));
    auto sched_options = sched::scheduler_options(config);
    sched_options.on_room = [this] { transport->wake(); };
    scheduler = std::make_unique<sched::Scheduler>(config, backend, client_sink, sched_options);
    handler = std::make_unique<FrameBridge>(*scheduler, &queue, FrameBridge::Answer{}, &outbox);
    thread = std::thread([this] { transport->run(*handler); });
  }
  ~Daemon() {
    scheduler->drain(0ms);
    transport->stop();
    thread.join();
  }
  ZmqClient client(bool control = false) const {
    return ZmqClient(transport->intake_endpoint(), transport->events_endpoint(),
                     control ? transport->control_endpoint() : "");
  }
  // A DEALER on the client endpoint.
  ZmqClient dealer(int receive_hwm = 1000, int receive_buffer = 0) const {
    return ZmqClient(ClientEndpoint{transport->clients_endpoint(), receive_hwm, receive_buffer});
  }

  config::Config config;
  testing::FakeBackend backend;
  transport::EventQueue queue;
  transport::ClientOutbox outbox;
  QueueSink sink{queue};
  ClientSink client_sink{sink, outbox};
  std::unique_ptr<transport::Transport> transport;
  std::unique_ptr<sched::Scheduler> scheduler;
  std::unique_ptr<FrameBridge> handler;
  std::thread thread;
};

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int v : values) {
    out += static_cast<char>(v);
  }
  return out;
}

std::string submit(const protocol::TaskId& id, const std::string& code,
                   std::optional<std::string> options = std::nullopt) {
  return protocol::encode(protocol::Submit{id, "fake", code, std::move(options)});
}

TEST(DaemonFake, SpecWorkedExampleByteForByte) {
  Daemon daemon;
  auto client = daemon.client();
  const std::string id = "0123456789abcdef0123456789abcdef";
  const std::string frame =
      bytes({0x00}) + id + bytes({0, 0, 0, 6, 0, 0, 0, 9}) + "python" + "print(1)\n";
  ASSERT_EQ(frame.size(), 56U);
  client.send(frame);
  const auto events = client.collect_one(*protocol::TaskId::from_bytes(id), k_wait);
  ASSERT_EQ(events.frames.size(), 2U);
  EXPECT_EQ(events.frames[0], bytes({0x01}) + id + bytes({0, 0, 0, 2}) + "1\n");
  EXPECT_EQ(events.frames[1], bytes({0x03}) + id + bytes({0, 0, 0, 0}));
}

TEST(DaemonFake, MalformedInputIsHandledAndANormalTaskStillWorks) {
  Daemon daemon;
  auto client = daemon.client();
  const auto short_id = make_id("short");
  auto one_short = submit(short_id, "print(1)\n");
  one_short.pop_back();
  const auto huge_id = make_id("huge");
  auto huge = submit(huge_id, "x");
  for (std::size_t i = 33; i < 41; ++i) {
    huge[i] = '\xff';
  }
  auto short_cancel = protocol::encode(protocol::Cancel{make_id("sc")});
  short_cancel.pop_back();
  client.send("");
  client.send(std::string(1, '\0'));
  client.send(std::string(1, '\x07') + std::string(40, 'a'));
  client.send(short_cancel);
  client.send(huge);
  client.send(one_short);
  client.send_multipart({submit(make_id("multi"), "print(1)\n"), "tail"});
  client.send(protocol::encode(protocol::Submit{make_id("img"), "cobol", "x", {}}));
  client.send(submit(make_id("ok"), "print(fine)\n"));
  auto events = client.collect({short_id, huge_id, make_id("img"), make_id("ok")}, k_wait, 500ms);
  for (const auto& id : {short_id, huge_id, make_id("img")}) {
    ASSERT_EQ(events[id].exit_code, 125) << id.printable();
    EXPECT_TRUE(events[id].err.starts_with("planificador: ")) << events[id].err;
    EXPECT_TRUE(events[id].err.ends_with("\n"));
    EXPECT_EQ(events[id].frames.size(), 2U);
  }
  EXPECT_EQ(events[make_id("img")].err, "planificador: no runner for image `cobol`\n");
  EXPECT_EQ(events[make_id("ok")].out, "fine\n");
  EXPECT_EQ(events[make_id("ok")].exit_code, 0);
  EXPECT_FALSE(events.contains(make_id("multi")));
  EXPECT_FALSE(events.contains(make_id("sc")));
  EXPECT_EQ(events.size(), 4U);
}

TEST(DaemonFake, TwoHundredTasksEachAnsweredExactlyOnce) {
  Daemon daemon(4, 1000);
  auto client = daemon.client();
  std::vector<protocol::TaskId> ids;
  for (std::size_t i = 0; i < 200; ++i) {
    ids.push_back(make_id("many", i));
    client.send(submit(ids.back(), "print(" + std::to_string(i) + ")\n",
                       i % 2 == 0 ? std::optional<std::string>("{}") : std::nullopt));
  }
  auto events = client.collect(ids, 60s, 500ms);
  EXPECT_EQ(events.size(), 200U);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& task = events[ids[i]];
    EXPECT_EQ(task.exits, 1U) << i;
    EXPECT_EQ(task.after_exit, 0U) << i;
    EXPECT_EQ(task.out, std::to_string(i) + "\n");
    EXPECT_EQ(task.report.has_value(), i % 2 == 0);
  }
  EXPECT_LE(daemon.backend.max_concurrent(), 4U);
}

TEST(DaemonFake, CancelQueuedAndRunningFromIntakeAndControl) {
  Daemon daemon(2);
  auto client = daemon.client(true);
  client.send(submit(make_id("run-a"), "print(a)\nblock\n"));
  client.send(submit(make_id("run-b"), "block\n"));
  ASSERT_TRUE(daemon.backend.wait_running(2, k_wait));
  client.send(submit(make_id("queued-a"), "print(never)\n"));
  client.send(submit(make_id("queued-b"), "print(never)\n", "{}"));
  // Both queued before the cancels go out: one of them comes over control, which nothing
  // orders after intake.
  ASSERT_TRUE(wait_until([&] { return daemon.scheduler->queued() == 2; }, k_wait));
  client.send(protocol::encode(protocol::Cancel{make_id("queued-a")}));
  client.send_control(protocol::encode(protocol::Cancel{make_id("queued-b")}));
  auto queued = client.collect({make_id("queued-a"), make_id("queued-b")}, k_wait);
  EXPECT_EQ(queued[make_id("queued-a")].exit_code, 130);
  EXPECT_EQ(queued[make_id("queued-b")].exit_code, 130);
  EXPECT_EQ(queued[make_id("queued-a")].err, "planificador: cancelled\n");
  ASSERT_TRUE(queued[make_id("queued-b")].report);
  EXPECT_EQ(nlohmann::json::parse(*queued[make_id("queued-b")].report)["status"], "cancelled");

  const auto cancelled_at = std::chrono::steady_clock::now();
  client.send(protocol::encode(protocol::Cancel{make_id("run-a")}));
  client.send_control(protocol::encode(protocol::Cancel{make_id("run-b")}));
  auto running = client.collect({make_id("run-a"), make_id("run-b")}, k_wait);
  EXPECT_LT(std::chrono::steady_clock::now() - cancelled_at, 5s);
  EXPECT_EQ(running[make_id("run-a")].out, "a\n");
  EXPECT_EQ(running[make_id("run-a")].exit_code, 130);
  EXPECT_EQ(running[make_id("run-b")].exit_code, 130);
  for (const auto& id : daemon.backend.started()) {
    EXPECT_TRUE(id == make_id("run-a") || id == make_id("run-b")) << id.printable();
  }
}

TEST(DaemonFake, SlowConsumerBlocksWorkersAndLosesNothing) {
  constexpr std::size_t k_queue = 16;
  Daemon daemon(2, 1000, k_queue);
  const auto events_endpoint = daemon.transport->events_endpoint();
  ZmqClient producer(daemon.transport->intake_endpoint(), "tcp://127.0.0.1:1");  // no events
  std::vector<protocol::TaskId> ids;
  for (std::size_t i = 0; i < 6; ++i) {
    ids.push_back(make_id("flood", i));
    producer.send(submit(ids.back(), "flood 200 1000\nprint(end)\n"));
  }
  ASSERT_TRUE(wait_until([&] { return daemon.queue.size() == k_queue; }, k_wait));
  // Workers are blocked: the queue is at its bound and ZeroMQ has no peer to buffer for.
  EXPECT_LE(daemon.queue.high_water(), k_queue + 3);
  EXPECT_EQ(daemon.queue.size(), k_queue);
  ZmqClient consumer(daemon.transport->intake_endpoint(), events_endpoint);
  auto events = consumer.collect(ids, 60s);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& task = events[ids[i]];
    ASSERT_EQ(task.exit_code, 0) << i;
    ASSERT_EQ(task.out.size(), 200U * 1000U + 4U);
    for (std::size_t chunk = 0; chunk < 200; ++chunk) {
      ASSERT_EQ(task.out[chunk * 1000], static_cast<char>('a' + chunk % 26));
    }
    EXPECT_TRUE(task.out.ends_with("end\n"));
  }
  EXPECT_LE(daemon.queue.high_water(), k_queue + 3);
}

TEST(DaemonFake, DrainAnswersEveryTaskInFlight) {
  auto daemon = std::make_unique<Daemon>(2);
  auto client = daemon->client();
  std::vector<protocol::TaskId> ids;
  for (std::size_t i = 0; i < 6; ++i) {
    ids.push_back(make_id("drain", i));
    client.send(submit(ids.back(), i < 2 ? "block\n" : "print(x)\nsleep 5000\n"));
  }
  ASSERT_TRUE(daemon->backend.wait_running(2, k_wait));
  // The other four are in the scheduler's queue, not still on their way through intake.
  ASSERT_TRUE(wait_until([&] { return daemon->scheduler->queued() == 4; }, k_wait));
  daemon->scheduler->drain(300ms);
  auto events = client.collect(ids, k_wait);
  for (const auto& id : ids) {
    EXPECT_EQ(events[id].exits, 1U) << id.printable();
    EXPECT_TRUE(events[id].exit_code == 130 || events[id].exit_code == 125)
        << id.printable() << " " << events[id].exit_code.value_or(-1);
  }
  daemon.reset();
}

// docs/protocol.md, "The client endpoint": each connection receives its own tasks' events
// and nothing else, neither another connection's nor those of SPEC's intake.
TEST(DaemonFake, ClientEndpointSendsEachConnectionItsOwnTasksOnly) {
  Daemon daemon(2);
  auto first = daemon.dealer();
  auto second = daemon.dealer();
  auto silent = daemon.dealer();
  auto spec = daemon.client();
  std::vector<protocol::TaskId> first_ids;
  std::vector<protocol::TaskId> second_ids;
  for (std::size_t i = 0; i < 10; ++i) {
    first_ids.push_back(make_id("first", i));
    first.send(submit(first_ids.back(), "print(one" + std::to_string(i) + ")\n"));
    second_ids.push_back(make_id("second", i));
    second.send(submit(second_ids.back(), "print(two" + std::to_string(i) + ")\nerr e\n", "{}"));
  }
  const auto spec_id = make_id("spec");
  spec.send(submit(spec_id, "print(spec)\n"));
  const auto got_first = first.collect(first_ids, k_wait, 300ms);
  const auto got_second = second.collect(second_ids, k_wait, 300ms);
  ASSERT_EQ(got_first.size(), first_ids.size()) << "another connection's task reached it";
  ASSERT_EQ(got_second.size(), second_ids.size()) << "another connection's task reached it";
  for (std::size_t i = 0; i < 10; ++i) {
    const auto& one = got_first.at(first_ids[i]);
    EXPECT_EQ(one.out, "one" + std::to_string(i) + "\n");
    EXPECT_EQ(one.exits, 1U);
    EXPECT_EQ(one.after_exit, 0U);
    const auto& two = got_second.at(second_ids[i]);
    EXPECT_EQ(two.out, "two" + std::to_string(i) + "\n");
    EXPECT_EQ(two.err, "e\n");
    EXPECT_TRUE(two.report.has_value()) << "SUBMIT_EXT's REPORT comes before EXITED";
    EXPECT_EQ(two.exits, 1U);
  }
  const auto got_spec = spec.collect({spec_id}, k_wait, 300ms);
  EXPECT_EQ(got_spec.size(), 1U) << "SPEC's events socket saw a client connection's task";
  EXPECT_EQ(got_spec.at(spec_id).out, "spec\n");
  EXPECT_TRUE(silent.drain(300ms).empty()) << "a connection that submitted nothing got events";
  EXPECT_TRUE(wait_until([&] { return daemon.outbox.connections() == 0; }, k_wait))
      << "a connection's state outlived its tasks";
}

TEST(DaemonFake, ClientCancelEndsOnlyTheConnectionsOwnTask) {
  Daemon daemon(2);
  auto owner = daemon.dealer();
  auto other = daemon.dealer();
  const auto id = make_id("mine");
  owner.send(submit(id, "block\n"));
  ASSERT_TRUE(daemon.backend.wait_running(1, k_wait));
  other.send(protocol::encode(protocol::Cancel{id}));
  // The same id from another connection is a duplicate: dropped, the owner unaffected.
  other.send(submit(id, "print(stolen)\n"));
  EXPECT_TRUE(other.drain(500ms).empty());
  EXPECT_EQ(daemon.scheduler->running(), 1U) << "another connection's CANCEL ended the task";
  owner.send(protocol::encode(protocol::Cancel{id}));
  const auto events = owner.collect_one(id, k_wait);
  EXPECT_EQ(events.exit_code, 130);
  EXPECT_EQ(events.exits, 1U);
  EXPECT_EQ(events.out, "");
}

TEST(DaemonFake, ClientConnectionGoneCancelsItsTasks) {
  Daemon daemon(2);
  {
    auto leaving = daemon.dealer();
    leaving.send(submit(make_id("orphan"), "sleep 300\nprint(x)\nblock\n"));
    ASSERT_TRUE(daemon.backend.wait_running(1, k_wait));
  }
  // `block` ends only by a cancel: the one the daemon makes when it finds the connection
  // gone as it sends `x`.
  EXPECT_TRUE(wait_until(
      [&] { return daemon.scheduler->running() == 0 && daemon.outbox.connections() == 0; },
      k_wait));
  auto next = daemon.dealer();
  const auto id = make_id("after");
  next.send(submit(id, "print(fine)\n"));
  EXPECT_EQ(next.collect_one(id, k_wait).out, "fine\n");
}

// A connection that does not read fills its own queue and holds up its own task only. The
// flood outgrows what the kernel buffers between the two (the client's receive buffer is
// fixed at 64 KiB; the daemon's send buffer grows to tcp_wmem's 4 MiB at most).
TEST(DaemonFake, SlowClientHoldsUpOnlyItsOwnTasksAndLosesNothing) {
  constexpr std::size_t k_queue = 16;
  constexpr std::size_t k_chunks = 2000;
  constexpr std::size_t k_chunk = 4000;
  Daemon daemon(2, 1000, k_queue);
  auto slow = daemon.dealer(4, 65536);
  auto quick = daemon.dealer();
  const auto flood = make_id("flood");
  slow.send(submit(flood, "flood " + std::to_string(k_chunks) + " " + std::to_string(k_chunk) +
                              "\nprint(end)\n"));
  ASSERT_TRUE(wait_until([&] { return daemon.outbox.size() >= k_queue; }, k_wait));
  EXPECT_EQ(daemon.scheduler->running(), 1U) << "the flood's worker waits";
  const auto id = make_id("quick");
  quick.send(submit(id, "print(quick)\n"));
  const auto answered = quick.collect_one(id, k_wait);
  EXPECT_EQ(answered.out, "quick\n");
  EXPECT_LE(daemon.outbox.size(), k_queue + 1) << "the slow connection's queue is bounded";
  const auto events = slow.collect_one(flood, 60s);
  ASSERT_EQ(events.exit_code, 0);
  ASSERT_EQ(events.out.size(), k_chunks * k_chunk + 4);
  for (std::size_t chunk = 0; chunk < k_chunks; ++chunk) {
    ASSERT_EQ(events.out[chunk * k_chunk], static_cast<char>('a' + chunk % 26)) << chunk;
  }
  EXPECT_TRUE(events.out.ends_with("end\n"));
  EXPECT_EQ(daemon.outbox.discarded(), 0U);
}

}  // namespace
}  // namespace planificador
