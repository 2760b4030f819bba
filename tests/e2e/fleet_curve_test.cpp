// CURVE in a real fleet (docs/fleet.md §8): keys made by `planctl keygen`, the broker with
// allow-lists for the worker link and for its client sockets, real daemons on 127.0.0.1. A
// daemon whose key is not listed never joins (and the broker names its key); the listed one
// serves; a client whose key is not listed is refused, a listed one served, through a CURVE
// ZeroMQ client and through `planctl run`.

#include <algorithm>
#include <fstream>
#include <map>
#include <thread>

#include "e2e_common.hpp"
#include "fleet_cluster.hpp"
#include "fleet_traffic.hpp"
#include "zmq_client.hpp"
#include <gtest/gtest.h>
#include <zmq.hpp>

#include "planificador/protocol/codec.hpp"
#include "planificador/transport/curve_keys.hpp"

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;
using protocol::TaskId;

// A client of the broker's client sockets as a CURVE client: PUSH to intake, PULL from
// events, the events folded per task as ZmqClient does.
class CurveClient {
 public:
  CurveClient(const FleetCluster& cluster, const transport::CurveClient& keys) {
    for (auto* socket : {&m_intake, &m_events}) {
      socket->set(zmq::sockopt::linger, 0);
      EXPECT_TRUE(transport::apply_curve(socket->handle(), keys));
    }
    m_intake.connect(cluster.intake());
    m_events.connect(cluster.events());
  }
  void send(const std::string& frame) {
    (void)m_intake.send(zmq::buffer(frame), zmq::send_flags::none);
  }
  // Receives until every id EXITED or `timeout`, then `quiet` more.
  std::map<TaskId, TaskEvents> collect(const std::vector<TaskId>& ids,
                                       std::chrono::milliseconds timeout,
                                       std::chrono::milliseconds quiet = 300ms) {
    auto done = [&] {
      return std::all_of(ids.begin(), ids.end(),
                         [&](const TaskId& id) { return m_tasks[id].exits > 0; });
    };
    const auto deadline = Clock::now() + timeout;
    std::optional<Clock::time_point> until;
    while (Clock::now() < (until ? *until : deadline)) {
      if (!until && done()) {
        until = Clock::now() + quiet;
      }
      zmq::pollitem_t item{m_events.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, 20ms) == 0) {
        continue;
      }
      zmq::message_t message;
      while (m_events.recv(message, zmq::recv_flags::dontwait)) {
        record(message.to_string());
      }
    }
    return m_tasks;
  }

 private:
  void record(const std::string& frame) {
    auto decoded = protocol::decode_outbound(frame);
    if (!decoded) {
      return;
    }
    auto& task = m_tasks[std::visit([](const auto& m) { return m.id; }, *decoded)];
    task.after_exit += task.exits != 0 ? 1 : 0;
    if (const auto* append = std::get_if<protocol::Append>(&*decoded)) {
      (append->stream == protocol::Stream::out ? task.out : task.err) += append->text;
    } else if (const auto* report = std::get_if<protocol::Report>(&*decoded)) {
      task.report = report->json;
    } else if (const auto* exited = std::get_if<protocol::Exited>(&*decoded)) {
      task.exit_code = exited->exit_code;
      ++task.exits;
    }
  }

  zmq::context_t m_context{1};
  zmq::socket_t m_intake{m_context, zmq::socket_type::push};
  zmq::socket_t m_events{m_context, zmq::socket_type::pull};
  std::map<TaskId, TaskEvents> m_tasks;
};

TEST(FleetCurveTest, OnlyListedDaemonsJoinAndOnlyListedClientsAreServed) {
  PLANIFICADOR_REQUIRE_E2E();
  TempDir keys("plf-keys-");
  ASSERT_FALSE(keys.path().empty());
  const std::string planctl = test_binary_dir() + "/planctl";
  for (const char* name : {"broker", "listed", "unlisted", "client", "stranger"}) {
    const auto made = run_command({planctl, "keygen", keys.path() + "/" + name});
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  const auto load = [&](const std::string& name) {
    auto pair = transport::curve::load_key_pair(keys.path() + "/" + name + ".key");
    EXPECT_TRUE(pair) << pair.error().message;
    return pair ? *pair : transport::curve::KeyPair{};
  };
  const auto broker = load("broker");
  const auto unlisted = load("unlisted");
  const auto client = load("client");
  const auto stranger = load("stranger");
  // Allow-lists made of .pub files, as an operator concatenates them.
  const auto read = [&](const std::string& name) {
    std::ifstream in(keys.path() + "/" + name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  std::ofstream(keys.path() + "/workers.allow") << "# the fleet's daemons\n" << read("listed.pub");
  std::ofstream(keys.path() + "/clients.allow") << read("client.pub");

  auto settings = fleet_settings(
      {fleet_daemon("e2e-k", 2, {"planificador/bash"}, keys.path() + "/listed.key")});
  settings.curve = "key = \"" + keys.path() + "/broker.key\"\nworkers_allow = \"" + keys.path() +
                   "/workers.allow\"\nclients_allow = \"" + keys.path() + "/clients.allow\"\n";
  settings.broker_public_key = keys.path() + "/broker.pub";
  settings.admin_curve = {broker.public_key, client.public_key, client.secret_key};
  std::string error;
  auto cluster = FleetCluster::start(settings, error);
  ASSERT_NE(cluster, nullptr) << error;
  EXPECT_NE(cluster->daemon_log(0).find("(CURVE)"), std::string::npos);

  // The daemon whose key is not on workers_allow never joins; the broker names its key.
  const auto refused = cluster->add_daemon(
      fleet_daemon("e2e-u", 1, {"planificador/bash"}, keys.path() + "/unlisted.key"), error, false);
  ASSERT_TRUE(refused) << error;
  EXPECT_TRUE(
      cluster->wait_broker_log("refused a daemon with CURVE key " + unlisted.public_key, 10s))
      << cluster->broker_log();
  EXPECT_FALSE(cluster->wait_view(
      [](const broker::FleetView& view) {
        return FleetCluster::executor(view, "e2e-u").has_value();
      },
      2s));
  const auto view = cluster->view();
  ASSERT_TRUE(view);
  ASSERT_EQ(view->executors.size(), 1U);
  EXPECT_EQ(view->executors[0].name, "e2e-k");

  // A listed client is served, by the listed daemon, exactly once per task.
  {
    CurveClient listed(*cluster, {broker.public_key, client.public_key, client.secret_key});
    std::vector<TaskId> ids;
    for (std::size_t i = 0; i < 4; ++i) {
      ids.push_back(fleet_id("curve", i));
      listed.send(submit_frame(ids.back(), "bash", "echo curve " + std::to_string(i) + "\n",
                               i % 2 == 0 ? std::optional<std::string>("{}") : std::nullopt));
    }
    auto results = listed.collect(ids, 60s);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const auto& task = results[ids[i]];
      EXPECT_EQ(task.exits, 1U) << i;
      EXPECT_EQ(task.after_exit, 0U) << i;
      EXPECT_EQ(task.exit_code, 0) << i << ": " << task.err;
      EXPECT_EQ(task.out, "curve " + std::to_string(i) + "\n");
      if (i % 2 == 0) {
        EXPECT_EQ(report_field(task.report, "executor"), "e2e-k");
      }
    }
    EXPECT_EQ(results.size(), ids.size()) << "events for tasks never sent";
  }

  // planctl as an unlisted client is refused (the broker names its key); as the listed one
  // it is served. One at a time: two events consumers would share the events.
  const std::string code = keys.path() + "/code.sh";
  std::ofstream(code) << "echo planctl\n";
  const auto run = [&](const std::string& key) {
    return run_command({planctl, "run", "--image", "bash", "--intake", cluster->intake(),
                        "--events", cluster->events(), "--timeout", "1", "--curve-server-key",
                        keys.path() + "/broker.pub", "--curve-key", key, code},
                       "", 30s);
  };
  const auto strange = run(keys.path() + "/stranger.key");
  EXPECT_NE(strange.exit_code, 0);
  EXPECT_TRUE(strange.out.empty()) << strange.out;
  EXPECT_TRUE(
      cluster->wait_broker_log("refused a client with CURVE key " + stranger.public_key, 5s))
      << cluster->broker_log();
  const auto served = run(keys.path() + "/client.key");
  EXPECT_EQ(served.exit_code, 0) << served.err;
  EXPECT_EQ(served.out, "planctl\n");

  // The refused daemon says where to look, and never held a task: SIGKILL spares it the
  // flush it would wait out.
  EXPECT_TRUE(cluster->daemon(*refused).wait_for_log(
      "is link.broker_key the broker's key, and this daemon's key on its allow-list?", 10s))
      << cluster->daemon_log(*refused);
  EXPECT_EQ(cluster->kill(*refused), 137);
  EXPECT_EQ(cluster->tear_down(), "");
}

}  // namespace
}  // namespace planificador::testing
