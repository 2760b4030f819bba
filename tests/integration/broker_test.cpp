// The real planificador-broker binary on 127.0.0.1 with fake daemons (DEALERs speaking the
// worker link) and real clients: routing, lost daemons, CURVE on both sides, the admin
// socket and `planctl fleet`, backpressure, and the drain on SIGTERM.

#include <filesystem>
#include <fstream>
#include <signal.h>
#include <thread>
#include <unistd.h>

#include "broker_process.hpp"
#include "daemon_process.hpp"
#include "event_collector.hpp"
#include "fake_executor.hpp"
#include "wait.hpp"
#include "zmq_client.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "planificador/broker/admin_client.hpp"
#include "planificador/broker/fleet_view.hpp"
#include "planificador/protocol/codec.hpp"
#include "planificador/transport/client.hpp"
#include "planificador/transport/curve_keys.hpp"

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;
namespace curve = transport::curve;
using protocol::TaskId;

constexpr unsigned char k_submit = 0x00;

TaskId id_of(int n) {
  char text[33];
  (void)std::snprintf(text, sizeof text, "broker-it-%022d", n);
  return *TaskId::from_bytes(std::string_view(text, 32));
}

std::string submit(int n, const std::string& code, bool extended = false) {
  return protocol::encode(protocol::Submit{
      id_of(n), "bash", code, extended ? std::optional<std::string>("{}") : std::nullopt});
}

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_settings.bin_dir = test_binary_dir();
    ASSERT_EQ(::access((m_settings.bin_dir + "/planificador-broker").c_str(), X_OK), 0)
        << "build planificador-broker first (" << m_settings.bin_dir << ")";
  }

  void start() {
    std::string error;
    ASSERT_TRUE(m_broker.start(m_settings, error)) << error;
  }

  FakeExecutorOptions executor(const std::string& name, std::uint32_t slots) const {
    FakeExecutorOptions options;
    options.endpoint = m_broker.workers();
    options.name = name;
    options.slots = slots;
    return options;
  }

  // Writes a key pair as `name`.key / `name`.pub in the broker's directory.
  curve::KeyPair keys(const std::string& name) const {
    auto pair = curve::generate_key_pair();
    EXPECT_TRUE(pair) << pair.error().message;
    EXPECT_TRUE(curve::write_key_files(m_broker.dir() + "/" + name, *pair, name));
    return *pair;
  }

  void allow(const std::string& file, const std::vector<curve::KeyPair>& allowed) const {
    std::ofstream out(m_broker.dir() + "/" + file);
    for (const auto& pair : allowed) {
      out << pair.public_key << " allowed\n";
    }
  }

  [[nodiscard]] broker::FleetView fleet_view() const {
    auto answer = broker::query_admin(m_broker.admin(), {}, 5s);
    EXPECT_TRUE(answer) << answer.error().message;
    auto view = broker::from_json(answer ? *answer : "{}");
    EXPECT_TRUE(view) << view.error().message;
    return view ? *view : broker::FleetView{};
  }

  [[nodiscard]] std::string code_file(const std::string& code) const {
    std::string path = m_broker.dir() + "/code.txt";
    std::ofstream(path) << code;
    return path;
  }

  BrokerSettings m_settings;
  BrokerProcess m_broker;
};

TEST_F(BrokerTest, RoutesTasksAndAnswersEachExactlyOnce) {
  start();
  FakeExecutor a(executor("a", 2));
  FakeExecutor b(executor("b", 2));
  ASSERT_TRUE(a.wait_welcomed(5s));
  ASSERT_TRUE(b.wait_welcomed(5s));
  EXPECT_NE(a.epoch(), 0U);
  EXPECT_EQ(a.epoch(), b.epoch());
  ZmqClient client(m_broker.intake(), m_broker.events());
  std::vector<TaskId> ids;
  for (int i = 0; i < 40; ++i) {
    client.send(submit(i, "run", i % 3 == 0));
    ids.push_back(id_of(i));
  }
  const auto results = client.collect(ids, 10s);
  std::map<std::string, int> by_executor;
  for (const auto& id : ids) {
    const auto& task = results.at(id);
    EXPECT_EQ(task.exits, 1U) << id.printable();
    EXPECT_EQ(task.after_exit, 0U);
    EXPECT_EQ(task.exit_code, 0);
    ++by_executor[task.out];
  }
  EXPECT_GT(by_executor["ran a\n"], 0);
  EXPECT_GT(by_executor["ran b\n"], 0);
  EXPECT_EQ(by_executor["ran a\n"] + by_executor["ran b\n"], 40);
}

TEST_F(BrokerTest, ASilentDaemonIsLostAndItsTasksAnsweredOrRunElsewhere) {
  start();
  FakeExecutor a(executor("a", 2));
  ASSERT_TRUE(a.wait_welcomed(5s));
  ZmqClient client(m_broker.intake(), m_broker.events());
  client.send(submit(1, "start@a"));  // STARTED on a, then a goes silent
  client.send(submit(2, "hold@a"));   // accepted by a, never started; runs on b
  ASSERT_TRUE(a.wait_for(k_submit, 2, 5s));
  FakeExecutor b(executor("b", 2));
  ASSERT_TRUE(b.wait_welcomed(5s));
  const auto silent_since = std::chrono::steady_clock::now();
  a.set_silent(true);
  const auto results = client.collect({id_of(1), id_of(2)}, 5s);
  const auto took = std::chrono::steady_clock::now() - silent_since;
  ASSERT_EQ(results.count(id_of(1)), 1U) << m_broker.log();
  ASSERT_EQ(results.count(id_of(2)), 1U) << m_broker.log();
  const auto& started = results.at(id_of(1));
  EXPECT_EQ(started.exit_code, 125);
  EXPECT_EQ(started.err, "planificador: executor a lost\n");
  EXPECT_EQ(started.exits, 1U);
  const auto& unstarted = results.at(id_of(2));
  EXPECT_EQ(unstarted.exit_code, 0);
  EXPECT_EQ(unstarted.out, "ran b\n");
  // 200 ms x 3 misses, a tick, and room for a loaded machine.
  EXPECT_LT(took, 2s);
  EXPECT_TRUE(m_broker.wait_for_log("executor a lost", 1s));
  EXPECT_EQ(fleet_view().lost_total, 1U);
}

TEST_F(BrokerTest, OnlyDaemonKeysOfTheAllowListJoin) {
  const auto broker_keys = keys("broker");
  const auto good = keys("good");
  const auto bad = keys("bad");
  allow("workers.allow", {good});
  m_settings.curve = "key = \"@DIR@/broker.key\"\nworkers_allow = \"@DIR@/workers.allow\"\n";
  start();
  auto options = executor("good", 1);
  options.server_key = broker_keys.public_key;
  options.public_key = good.public_key;
  options.secret_key = good.secret_key;
  FakeExecutor accepted(options);
  options.name = "bad";
  options.public_key = bad.public_key;
  options.secret_key = bad.secret_key;
  FakeExecutor refused(options);
  FakeExecutor plain(executor("plain", 1));
  EXPECT_TRUE(accepted.wait_welcomed(5s));
  EXPECT_TRUE(m_broker.wait_for_log("refused a daemon with CURVE key " + bad.public_key, 5s))
      << m_broker.log();
  EXPECT_FALSE(refused.wait_welcomed(300ms));
  EXPECT_FALSE(plain.wait_welcomed(10ms));
  const auto view = fleet_view();
  ASSERT_EQ(view.executors.size(), 1U);
  EXPECT_EQ(view.executors[0].name, "good");
}

TEST_F(BrokerTest, ClientsAllowRefusesOtherClients) {
  const auto broker_keys = keys("broker");
  const auto client_keys = keys("client");
  const auto stranger = keys("stranger");
  allow("clients.allow", {client_keys});
  m_settings.curve =
      "key = \"@DIR@/broker.key\"\nclients_allow = \"@DIR@/clients.allow\"\nplaintext = true\n";
  m_settings.admin = false;
  start();
  FakeExecutor a(executor("a", 2));
  ASSERT_TRUE(a.wait_welcomed(5s));
  // A client the broker refuses never gets its SUBMIT through: the daemon sees nothing.
  auto answered = [&](const transport::CurveClient& keys, int n) {
    zmq::context_t context(1);
    zmq::socket_t intake(context, zmq::socket_type::push);
    zmq::socket_t events(context, zmq::socket_type::pull);
    for (auto* socket : {&intake, &events}) {
      socket->set(zmq::sockopt::linger, 0);  // a refused client's SUBMIT is not waited for
      EXPECT_TRUE(transport::apply_curve(socket->handle(), keys));
    }
    intake.connect(m_broker.intake());
    events.connect(m_broker.events());
    (void)intake.send(zmq::buffer(submit(n, "run")), zmq::send_flags::none);
    zmq::pollitem_t item{events.handle(), 0, ZMQ_POLLIN, 0};
    return zmq::poll(&item, 1, 500ms) > 0;
  };
  EXPECT_FALSE(answered({broker_keys.public_key, stranger.public_key, stranger.secret_key}, 1));
  EXPECT_TRUE(m_broker.wait_for_log("refused a client with CURVE key " + stranger.public_key, 5s))
      << m_broker.log();
  EXPECT_FALSE(answered({}, 2));
  EXPECT_TRUE(a.received(k_submit).empty());
  EXPECT_TRUE(
      answered({broker_keys.public_key, client_keys.public_key, client_keys.secret_key}, 3));

  const std::string planctl = m_settings.bin_dir + "/planctl";
  const std::string code = code_file("run");
  const std::vector<std::string> argv{
      planctl,           "run",       "--image", "bash", "--intake", m_broker.intake(), "--events",
      m_broker.events(), "--timeout", "10",      code};
  auto with = [&](std::vector<std::string> extra) {
    auto full = argv;
    full.insert(full.end() - 1, extra.begin(), extra.end());
    return run_command(full, "", 20s);
  };
  const auto right = with({"--curve-server-key", m_broker.dir() + "/broker.pub", "--curve-key",
                           m_broker.dir() + "/client.key"});
  EXPECT_EQ(right.exit_code, 0) << right.err;
  EXPECT_EQ(right.out, "ran a\n");
  const auto half = with({"--curve-key", m_broker.dir() + "/client.key"});
  EXPECT_EQ(half.exit_code, 2) << half.err;
  EXPECT_EQ(a.received(k_submit).size(), 2U);
}

TEST_F(BrokerTest, AdminAnswersJsonAndPlanctlFleetShowsIt) {
  start();
  auto options = executor("host-a", 3);
  options.patterns = {"python", "python3*"};
  FakeExecutor a(options);
  FakeExecutor b(executor("host-b", 1));
  ASSERT_TRUE(a.wait_welcomed(5s));
  ASSERT_TRUE(b.wait_welcomed(5s));
  ZmqClient client(m_broker.intake(), m_broker.events());
  client.send(protocol::encode(protocol::Submit{id_of(1), "python", "start", std::nullopt}));
  ASSERT_TRUE(a.wait_for(k_submit, 1, 5s));

  const std::string planctl = m_settings.bin_dir + "/planctl";
  const auto json = run_command({planctl, "fleet", "--admin", m_broker.admin(), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed.at("epoch").get<std::uint64_t>(), a.epoch());
  EXPECT_EQ(parsed.at("running").get<int>(), 1);
  ASSERT_EQ(parsed.at("executors").size(), 2U);
  const auto& first = parsed.at("executors")[0];
  EXPECT_EQ(first.at("name"), "host-a");
  EXPECT_EQ(first.at("slots"), 3);
  EXPECT_EQ(first.at("free"), 2);
  EXPECT_EQ(first.at("running"), 1);
  EXPECT_EQ(first.at("draining"), false);
  EXPECT_EQ(first.at("patterns"), nlohmann::json({"python", "python3*"}));
  EXPECT_TRUE(first.contains("last_seen_ms"));

  const auto table = run_command({planctl, "fleet", "--admin", m_broker.admin()});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("NAME"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("host-a"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("host-b"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("python, python3*"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("running 1"), std::string::npos) << table.out;

  const auto nobody =
      run_command({planctl, "fleet", "--admin", "tcp://127.0.0.1:1", "--timeout", "0.2"});
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_NE(nobody.err.find("no answer"), std::string::npos) << nobody.err;
}

TEST_F(BrokerTest, ASlowEventsConsumerSlowsTheFleetAndLosesNothing) {
  m_settings.backlog = 10000;
  m_settings.log_level = "info";
  start();
  FakeExecutor a(executor("a", 64));
  ASSERT_TRUE(a.wait_welcomed(5s));
  constexpr int k_tasks = 6000;  // 12000 events, three times the broker's events queue
  std::vector<TaskId> ids;
  ids.reserve(k_tasks);
  for (int i = 0; i < k_tasks; ++i) {
    ids.push_back(id_of(i));
  }
  std::thread sender([&] {
    IntakeSender intake(m_broker.intake());
    for (int i = 0; i < k_tasks; ++i) {
      if (!intake.send(submit(i, "run"), 30s)) {
        return;
      }
    }
  });
  // No events consumer yet (the slowest there is): the events queue fills and the broker
  // stops reading the link.
  ASSERT_TRUE(wait_until([&] { return fleet_view().link_paused; }, 10s, 50ms))
      << "the events queue never filled";
  // It stays away for longer than the daemon's lost timeout (3 x 200 ms): the time that
  // passes is what is under test, so it is a sleep.
  std::this_thread::sleep_for(1s);
  auto view = fleet_view();
  EXPECT_EQ(view.lost_total, 0U);
  EXPECT_EQ(view.executors.size(), 1U);
  EventCollector events(m_broker.events(), false);
  EXPECT_TRUE(events.wait_exited(ids, 60s));
  sender.join();
  for (const auto& id : ids) {
    const auto task = events.task(id);
    ASSERT_EQ(task.exits, 1U) << id.printable();
    ASSERT_EQ(task.after_exit, 0U);
    ASSERT_EQ(task.exit_code, 0);
  }
  EXPECT_EQ(events.undecodable(), 0U);
  EXPECT_EQ(fleet_view().lost_total, 0U);
}

TEST_F(BrokerTest, SigtermAnswersQueuedTasksAndLetsRunningOnesFinish) {
  start();
  FakeExecutor a(executor("a", 1));
  ASSERT_TRUE(a.wait_welcomed(5s));
  ZmqClient client(m_broker.intake(), m_broker.events());
  client.send(submit(1, "slow:400"));
  ASSERT_TRUE(a.wait_for(k_submit, 1, 5s));
  client.send(submit(2, "run", true));  // waits in the broker: a has one slot
  (void)wait_until([&] { return fleet_view().queued != 0; }, 1s, 10ms);
  const auto asked = std::chrono::steady_clock::now();
  const auto status = m_broker.stop(SIGTERM, 10s);
  const auto took = std::chrono::steady_clock::now() - asked;
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0);
  EXPECT_LT(took, 2500ms);  // it waited for the task, not for the whole grace period
  const auto results = client.collect({id_of(1), id_of(2)}, 5s);
  EXPECT_EQ(results.at(id_of(1)).exit_code, 0);
  EXPECT_EQ(results.at(id_of(1)).out, "ran a\n");
  const auto& queued = results.at(id_of(2));
  EXPECT_EQ(queued.exit_code, 125);
  EXPECT_EQ(queued.err, "planificador: shutting down\n");
  EXPECT_TRUE(queued.report.has_value());
  EXPECT_EQ(a.received(k_submit).size(), 1U);
}

TEST_F(BrokerTest, MultipartAndMalformedFramesAreDroppedAndLogged) {
  start();
  FakeExecutor a(executor("a", 1));
  ASSERT_TRUE(a.wait_welcomed(5s));
  ZmqClient client(m_broker.intake(), m_broker.events());
  client.send_multipart({submit(1, "run"), "tail"});
  client.send(std::string(5, '\x01'));
  EXPECT_TRUE(m_broker.wait_for_log("dropped a 2-part message on intake", 5s)) << m_broker.log();
  EXPECT_TRUE(m_broker.wait_for_log("dropped: frame of 5 bytes", 5s)) << m_broker.log();
  client.send(submit(2, "run"));
  const auto results = client.collect({id_of(2)}, 5s);
  EXPECT_EQ(results.at(id_of(2)).exit_code, 0);
  EXPECT_EQ(results.count(id_of(1)), 0U);
}

}  // namespace
}  // namespace planificador::testing
