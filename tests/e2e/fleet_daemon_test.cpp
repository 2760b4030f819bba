// The real `planificador` binary as a member of a fleet: its worker link connected to a
// ROUTER in the test playing the broker (docs/fleet.md), with the real engine and the
// bash runner only.

#include <filesystem>
#include <fstream>
#include <httplib.h>
#include <map>
#include <signal.h>

#include "daemon_process.hpp"
#include "e2e_common.hpp"
#include "fake_backend.hpp"
#include "router_broker.hpp"
#include <gtest/gtest.h>

#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/link.hpp"
#include "planificador/transport/curve_keys.hpp"

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;
namespace link = protocol::link;

constexpr auto k_task_wait = 120s;
constexpr std::uint64_t k_epoch = 0x0123456789abcdefULL;

unsigned char type(link::Type value) { return static_cast<unsigned char>(value); }
unsigned char type(protocol::MessageType value) { return static_cast<unsigned char>(value); }

// A daemon of the bash runner alone whose [server] names `broker` over plaintext.
DaemonSettings fleet_settings(const std::string& tag, const RouterBroker& broker,
                              std::size_t workers) {
  auto settings = e2e_settings(tag, workers);
  settings.runner_images = {"planificador/bash"};
  settings.control = false;
  // backlog 0: a fleet daemon's queue is bounded by its credit, not by server.backlog.
  settings.backlog = 0;
  settings.extra_server =
      "pool = 1\nbroker = \"" + broker.endpoint() + "\"\n\n[link]\nplaintext = true\n";
  return settings;
}

std::unique_ptr<DaemonProcess> start(const DaemonSettings& settings) {
  std::string error;
  auto daemon = DaemonProcess::start(settings, error);
  EXPECT_NE(daemon, nullptr) << error;
  return daemon;
}

link::Ready ready_of(const std::optional<std::string>& frame) {
  EXPECT_TRUE(frame.has_value()) << "no READY";
  if (!frame) {
    return {};
  }
  auto decoded = link::decode_from_daemon(*frame);
  EXPECT_TRUE(decoded) << decoded.error().message;
  return decoded ? std::get<link::Ready>(*decoded) : link::Ready{};
}

std::optional<protocol::TaskId> id_in(const std::string& frame) {
  return frame.size() > protocol::k_task_id_size
             ? protocol::TaskId::from_bytes(frame.substr(1, protocol::k_task_id_size))
             : std::nullopt;
}

// Everything the daemon said over the link, in order, with a view per task.
struct Heard {
  std::vector<std::string> frames;
  std::map<protocol::TaskId, std::vector<unsigned char>> types;  // per task, in order
  std::map<protocol::TaskId, std::string> out;
  std::map<protocol::TaskId, std::int32_t> exit_code;
  std::size_t running = 0;  // STARTED and not yet EXITED
  std::size_t running_max = 0;

  void add(const std::string& frame) {
    frames.push_back(frame);
    const auto id = id_in(frame);
    if (type_of(frame) == type(link::Type::heartbeat) || !id ||
        type_of(frame) == type(link::Type::ready)) {
      return;
    }
    types[*id].push_back(type_of(frame));
    if (type_of(frame) == type(link::Type::started)) {
      running_max = std::max(running_max, ++running);
    } else if (type_of(frame) == type(protocol::MessageType::exited) && running > 0) {
      --running;
    }
    if (auto message = protocol::decode_outbound(frame)) {
      if (const auto* append = std::get_if<protocol::Append>(&*message);
          append && append->stream == protocol::Stream::out) {
        out[*id] += append->text;
      } else if (const auto* exited = std::get_if<protocol::Exited>(&*message)) {
        exit_code[*id] = exited->exit_code;
      }
    }
  }
  // Receives until `done` holds or `timeout` passed; returns whether it holds.
  template <class Done>
  bool until(RouterBroker& broker, std::chrono::milliseconds timeout, Done done) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return false;
      }
      if (auto frame = broker.receive(200ms)) {
        add(*frame);
      }
    }
    return true;
  }
};

TEST(FleetDaemonE2e, ReadyThenTasksOnCreditWithStartedBeforeTheirEvents) {
  PLANIFICADOR_REQUIRE_E2E();
  RouterBroker broker;
  auto settings = fleet_settings("fleet", broker, 2);
  settings.http_listen = "127.0.0.1:0";
  auto daemon = start(settings);
  ASSERT_NE(daemon, nullptr);
  const auto ready = ready_of(broker.receive_type(type(link::Type::ready), 30s));
  EXPECT_EQ(ready.version, link::k_version);
  EXPECT_EQ(ready.slots, 2U);
  EXPECT_EQ(ready.free, 2U);
  EXPECT_EQ(ready.epoch, 0U);
  EXPECT_EQ(ready.name, "e2e-fleet");
  EXPECT_EQ(ready.build, "0.1.0");
  EXPECT_EQ(ready.patterns, (std::vector<std::string>{"bash", "sh"}));
  EXPECT_TRUE(ready.held.empty());
  broker.send(link::encode(link::Welcome{link::k_version, k_epoch, 1000, 3}));

  // Four tasks, sent only against credit: one per free slot, one more per EXITED.
  Heard heard;
  std::size_t sent = 0;
  std::vector<protocol::TaskId> ids;
  for (std::size_t i = 0; i < 4; ++i) {
    ids.push_back(make_id("fleet", i));
  }
  const bool all_done = heard.until(broker, k_task_wait, [&] {
    while (ready.free + heard.exit_code.size() > sent && sent < ids.size()) {
      broker.send(submit_frame(ids[sent], "bash", "echo task " + std::to_string(sent) + "\n"));
      ++sent;
    }
    return heard.exit_code.size() == ids.size();
  });
  ASSERT_TRUE(all_done) << daemon->log();
  EXPECT_LE(heard.running_max, 2U) << "more tasks running than slots";
  const std::vector<unsigned char> life{type(link::Type::started),
                                        type(protocol::MessageType::append_out),
                                        type(protocol::MessageType::exited)};
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(heard.types[ids[i]], life) << i;
    EXPECT_EQ(heard.out[ids[i]], "task " + std::to_string(i) + "\n");
    EXPECT_EQ(heard.exit_code[ids[i]], 0);
  }

  // UNKNOWN: READY lists the running task, started, with the epoch of the WELCOME.
  const auto sleeper = make_id("sleeper");
  broker.send(submit_frame(sleeper, "bash", "echo up\nsleep 60\n", "{}"));
  ASSERT_TRUE(heard.until(broker, k_task_wait, [&] { return heard.out[sleeper] == "up\n"; }));
  broker.send(link::encode(link::Unknown{k_epoch}));
  const auto again = ready_of(broker.receive_type(type(link::Type::ready), 10s));
  EXPECT_EQ(again.epoch, k_epoch);
  EXPECT_EQ(again.free, 1U);
  EXPECT_EQ(again.held, (std::vector<link::HeldTask>{{sleeper, true, true}}));
  broker.send(link::encode(link::Welcome{link::k_version, k_epoch, 1000, 3}));
  broker.send(protocol::encode(protocol::Cancel{sleeper}));
  ASSERT_TRUE(heard.until(broker, 30s, [&] { return heard.exit_code.contains(sleeper); }));
  EXPECT_EQ(heard.exit_code[sleeper], 130);
  EXPECT_EQ(heard.types[sleeper].back(), type(protocol::MessageType::exited));
  EXPECT_NE(daemon->log().find("joined the fleet at " + broker.endpoint()), std::string::npos);

  // A fleet member's HTTP API serves what operators read, and no intake of its own: its
  // tasks come from the broker (docs/configuration.md, [http]).
  ASSERT_NE(daemon->http_port(), 0) << daemon->log();
  httplib::Client http("127.0.0.1", daemon->http_port());
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto runners = http.Get("/v1/runners");
  ASSERT_TRUE(runners);
  EXPECT_NE(runners->body.find(R"("match":["bash","sh"])"), std::string::npos) << runners->body;
  auto run = http.Post("/v1/run", R"({"image":"bash","code":"echo no"})", "application/json");
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, 404);
  EXPECT_NE(run->body.find("serves the fleet of " + broker.endpoint()), std::string::npos)
      << run->body;
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("planificador_tasks_total{runner=\"bash\",status=\"exited\"} 4\n"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(
      metrics->body.find("planificador_tasks_total{runner=\"bash\",status=\"cancelled\"} 1\n"),
      std::string::npos);
}

TEST(FleetDaemonE2e, SigtermDrainsGivesBackUnstartedTasksAndSaysByeLast) {
  PLANIFICADOR_REQUIRE_E2E();
  RouterBroker broker;
  auto daemon = start(fleet_settings("drain", broker, 1));
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(broker.receive_type(type(link::Type::ready), 30s));
  broker.send(link::encode(link::Welcome{link::k_version, k_epoch, 1000, 3}));
  const auto running = make_id("running");
  const auto waiting = make_id("waiting");
  broker.send(submit_frame(running, "bash", "echo up\nsleep 2\necho done\n"));
  // Beyond the credit of 1, so that a task waits unstarted in the daemon.
  broker.send(submit_frame(waiting, "bash", "echo never\n"));
  Heard heard;
  ASSERT_TRUE(heard.until(broker, k_task_wait, [&] { return heard.out[running] == "up\n"; }))
      << daemon->log();

  ASSERT_EQ(::kill(daemon->pid(), SIGTERM), 0);
  ASSERT_TRUE(heard.until(broker, 10s, [&] {
    return !heard.frames.empty() && type_of(heard.frames.back()) == type(link::Type::draining);
  }));
  ASSERT_TRUE(heard.until(broker, 10s, [&] { return !heard.types[waiting].empty(); }));
  EXPECT_EQ(heard.types[waiting], std::vector<unsigned char>{type(link::Type::returned)});
  // A SUBMIT still on its way is given back too.
  const auto late = make_id("late");
  broker.send(submit_frame(late, "bash", "echo never\n"));
  ASSERT_TRUE(heard.until(broker, 10s, [&] { return !heard.types[late].empty(); }));
  EXPECT_EQ(heard.types[late], std::vector<unsigned char>{type(link::Type::returned)});

  ASSERT_TRUE(heard.until(broker, 30s, [&] {
    return !heard.frames.empty() && type_of(heard.frames.back()) == type(link::Type::bye);
  })) << daemon->log();
  EXPECT_EQ(heard.out[running], "up\ndone\n");
  EXPECT_EQ(heard.exit_code[running], 0) << "a planned drain cancels nothing within the grace";
  EXPECT_EQ(daemon->terminate(30s), 0) << daemon->log();
  EXPECT_FALSE(broker.receive(300ms).has_value()) << "nothing after BYE";
  EXPECT_TRUE(containers_of(daemon->instance()).empty()) << daemon->instance();
  EXPECT_EQ(daemon->log().find("backlog full"), std::string::npos);
}

TEST(FleetDaemonCli, CheckConfigLoadsTheLinkKeys) {
  const std::string bin = test_binary_dir() + "/planificador";
  TempDir dir("planificador-fleet-cli-");
  ASSERT_FALSE(dir.path().empty());
  const auto keys = transport::curve::generate_key_pair();
  ASSERT_TRUE(keys);
  ASSERT_TRUE(transport::curve::write_key_files(dir.path() + "/daemon", *keys, "the daemon"));
  ASSERT_TRUE(transport::curve::write_key_files(dir.path() + "/broker", *keys, "the broker"));
  const auto write = [&](const std::string& broker_key) {
    const std::string path = dir.path() + "/config.toml";
    std::ofstream(path) << "[server]\nbroker = \"tcp://127.0.0.1:5557\"\n\n[link]\n"
                        << "key = \"" << dir.path() << "/daemon.key\"\n"
                        << "broker_key = \"" << broker_key << "\"\n\n"
                        << "[[runner]]\nmatch = [\"bash\"]\nimage = \"planificador/bash\"\n"
                        << "file = \"main.sh\"\nrun = [\"bash\", \"main.sh\"]\n";
    return path;
  };
  const auto good = write(dir.path() + "/broker.pub");
  const auto ok = run_command({bin, "--check-config", good});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;

  const auto missing = write(dir.path() + "/nobody.pub");
  const auto bad = run_command({bin, "--check-config", missing});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(
      bad.err.starts_with(missing + ":6: link.broker_key: open `" + dir.path() + "/nobody.pub`"))
      << bad.err;
  // A daemon refuses to start on it the same way, before it touches anything.
  const auto refused = run_command({bin, "--config", missing}, "", 30s);
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_EQ(refused.err, bad.err);
}

}  // namespace
}  // namespace planificador::testing
