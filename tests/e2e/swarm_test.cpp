// deploy/stack.yml on a one-node Docker Swarm of the test's own (a private engine; the
// machine's main engine never enters swarm mode): the image of the top-level Dockerfile,
// the broker and the global daemon service with CURVE keys as Docker secrets, a task
// through the broker, a daemon container killed and replaced by Swarm, a task again.

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "daemon_process.hpp"
#include "e2e_common.hpp"
#include "event_collector.hpp"
#include "fake_backend.hpp"
#include "swarm_cluster.hpp"
#include "wait.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "planificador/broker/admin_client.hpp"
#include "planificador/broker/fleet_view.hpp"

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* k_image = "planificador/daemon:swarm-e2e";
constexpr const char* k_stack = "plnf";
constexpr const char* k_broker_service = "plnf_broker";
constexpr const char* k_daemon_service = "plnf_daemon";
// Short: the daemon's sockets live under it (107 bytes at most, with the instance name).
constexpr const char* k_state_dir = "/run/plnf-swarm";
constexpr auto k_wait = 120s;

// What the top-level Dockerfile copies in, and nothing else: the work tree's build
// directories would make the context gigabytes. The layer cache is the main engine's.
std::string build_image() {
  const std::string context =
      "Dockerfile CMakeLists.txt cmake include src images/seccomp.json config.toml deploy";
  const auto built =
      run_command({"sh", "-c",
                   "tar -C '" + test_source_dir() + "' --owner=0 --group=0 --numeric-owner -c " +
                       context + " | docker build -q --force-rm -t " + k_image + " -"},
                  "", 30min);
  return built.exit_code == 0 ? "" : "docker build: " + built.out + built.err;
}

// A second engine of its own next to the engine-fault tests' one: its own bridge, run and
// data directories (the data root is the image cache between runs). No registry is
// reachable, so task containers start from the loaded images without a pull attempt.
PrivateEngineSettings engine_settings() {
  PrivateEngineSettings settings;
  settings.run_dir = "/run/plnf-swarm-engine";
  settings.data_root = "/var/lib/plnf-swarm-engine";
  settings.bridge = "plnf-swarm0";
  settings.environment = {"DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1"};
  return settings;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool sets_key(const std::string& line, const std::string& key) {
  if (!line.starts_with(key)) {
    return false;
  }
  const auto rest = line.find_first_not_of(' ', key.size());
  return rest != std::string::npos && line[rest] == '=';
}

// Returns the TOML `text` with each line that sets a key of `lines` replaced by that
// key's text (which may hold more lines), and, when `runner_image` is given, only the
// [[runner]] tables of that image.
std::string rewritten(const std::string& text, const std::map<std::string, std::string>& lines,
                      const std::string& runner_image = "") {
  std::istringstream in(text);
  std::string out;
  std::string runner;
  bool in_runner = false;
  auto flush_runner = [&] {
    if (runner.find("image = \"" + runner_image + "\"") != std::string::npos) {
      out += runner;
    }
    runner.clear();
  };
  for (std::string line; std::getline(in, line);) {
    for (const auto& [key, replacement] : lines) {
      if (sets_key(line, key)) {
        line = replacement;
      }
    }
    if (!runner_image.empty() && line.starts_with("[")) {
      if (in_runner && !line.starts_with("[runner.")) {
        flush_runner();
        in_runner = false;
      }
      in_runner = in_runner || line.starts_with("[[runner]]");
    }
    (in_runner ? runner : out) += line + '\n';
  }
  if (in_runner) {
    flush_runner();
  }
  return out;
}

struct Ports {
  int intake = loopback_port();
  int events = loopback_port();
  int workers = loopback_port();
  int admin = loopback_port();
};

std::string loopback(int port) { return "tcp://127.0.0.1:" + std::to_string(port); }

// The shipped stack configs, moved to free loopback ports, a short heartbeat and grace,
// one worker with a pool of one, the bash runner only.
void write_configs(const std::string& dir, const Ports& ports) {
  std::ofstream(dir + "/broker.toml")
      << rewritten(read_text(test_source_dir() + "/deploy/stack-broker.toml"),
                   {{"intake", "intake = \"" + loopback(ports.intake) + "\""},
                    {"events", "events = \"" + loopback(ports.events) + "\""},
                    {"workers", "workers = \"" + loopback(ports.workers) + "\""},
                    {"admin", "admin = \"" + loopback(ports.admin) + "\""},
                    {"heartbeat_ms", "heartbeat_ms = 200"},
                    {"grace_ms", "grace_ms = 1000"}});
  std::ofstream(dir + "/daemon.toml") << rewritten(
      read_text(test_source_dir() + "/deploy/daemon.toml"),
      {{"broker", "broker = \"tcp://planificador-broker:" + std::to_string(ports.workers) + "\""},
       {"state_dir", std::string("state_dir = \"") + k_state_dir + "\""},
       {"workers", "workers = 1\npool = 1"},
       {"grace_ms", "grace_ms = 2000"}},
      "planificador/bash");
}

// Fresh key pairs (planctl keygen) as the stack's secrets: the daemons' allow-list is the
// one daemon key the global service shares.
std::string create_secrets(const PrivateSwarm& swarm, const std::string& dir) {
  for (const char* name : {"broker", "daemon"}) {
    const auto made = run_command({test_binary_dir() + "/planctl", "keygen", dir + "/" + name});
    if (made.exit_code != 0) {
      return "planctl keygen: " + made.out + made.err;
    }
  }
  const std::array<std::pair<const char*, const char*>, 4> secrets{{
      {"planificador_broker_key", "broker.key"},
      {"planificador_broker_pub", "broker.pub"},
      {"planificador_daemon_key", "daemon.key"},
      {"planificador_workers_allow", "daemon.pub"},
  }};
  for (const auto& [name, file] : secrets) {
    if (auto error = swarm.create_secret(name, dir + "/" + file); !error.empty()) {
      return error;
    }
  }
  return "";
}

std::string host_name() {
  std::array<char, 256> name{};
  return ::gethostname(name.data(), name.size() - 1) == 0 ? name.data() : "";
}

// Returns the broker's admin view, nullopt while it does not answer.
std::optional<broker::FleetView> fleet_view(const std::string& admin) {
  const auto answer = broker::query_admin(admin, transport::CurveClient{}, 1s);
  if (!answer) {
    return std::nullopt;
  }
  auto view = broker::from_json(*answer);
  return view ? std::optional(std::move(*view)) : std::nullopt;
}

// True when the broker's admin view lists `name` ready, with its one slot free.
bool listed(const std::string& admin, const std::string& name) {
  const auto view = fleet_view(admin);
  if (!view) {
    return false;
  }
  for (const auto& executor : view->executors) {
    if (executor.name == name && executor.slots == 1 && executor.free == 1 && !executor.draining &&
        !executor.blocked) {
      return true;
    }
  }
  return false;
}

// How often the waits below ask again: each question is a docker call or an admin query,
// far slower than the helper's default step.
constexpr auto k_poll = 100ms;

std::string container_log(const PrivateSwarm& swarm, const std::string& id) {
  const auto logs = swarm.docker({"logs", id}, 30s);
  return logs.out + logs.err;
}

// The bind source of the state directory, which a Swarm bind mount needs to exist.
class StateDir {
 public:
  StateDir() { fs::create_directories(k_state_dir, m_error); }
  ~StateDir() { fs::remove_all(k_state_dir, m_error); }
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;

 private:
  std::error_code m_error;
};

class SwarmStack : public ::testing::Test {
 protected:
  // The private swarm with both images loaded, the stack's secrets and the broker's node
  // label; then deploy/stack.yml with the test's configs. Returns when the broker lists the
  // daemon, named after the node (over CURVE, with the secrets' keys).
  void deploy(const std::string& dir) {
    auto at = Clock::now();
    std::string error;
    m_swarm = PrivateSwarm::start(engine_settings(), error);
    ASSERT_NE(m_swarm, nullptr) << error;
    ASSERT_EQ(m_swarm->engine().load_image(k_image), "");
    ASSERT_EQ(m_swarm->engine().load_image("planificador/bash"), "");
    // The image cache is kept between runs; earlier builds of the image are not.
    (void)m_swarm->docker({"image", "prune", "-f"}, 120s);
    print_figure("engine, images and swarm ready ms", std::to_string(ms_since(at)));
    write_configs(dir, m_ports);
    ASSERT_EQ(create_secrets(*m_swarm, dir), "");
    ASSERT_EQ(m_swarm->label_node("planificador.broker=true"), "");
    at = Clock::now();
    ASSERT_EQ(m_swarm->deploy(test_source_dir() + "/deploy/stack.yml", k_stack,
                              {std::string("PLANIFICADOR_IMAGE=") + k_image,
                               "PLANIFICADOR_BROKER_ADDR=127.0.0.1",
                               "PLANIFICADOR_BROKER_CONFIG=" + dir + "/broker.toml",
                               "PLANIFICADOR_DAEMON_CONFIG=" + dir + "/daemon.toml",
                               std::string("PLANIFICADOR_STATE_DIR=") + k_state_dir,
                               "PLANIFICADOR_ENGINE_SOCKET=" + m_swarm->engine().socket(),
                               "PLANIFICADOR_RESTART_DELAY=0s"}),
              "");
    ASSERT_TRUE(wait_until([&] { return listed(admin(), host_name()); }, k_wait, k_poll))
        << describe();
    print_figure("deploy -> daemon listed by the broker ms", std::to_string(ms_since(at)));
  }

  // A SUBMIT_EXT through the broker: its output, EXITED 0, and REPORT's executor the node.
  void expect_task_runs(EventCollector& events, IntakeSender& intake, const std::string& tag) {
    const auto id = make_id("swarm-" + tag);
    const auto at = Clock::now();
    ASSERT_TRUE(intake.send(submit_frame(id, "bash", "echo hello from the swarm\n", "{}")));
    ASSERT_TRUE(events.wait_exited({id}, k_wait)) << describe();
    print_figure(tag + " task ms", std::to_string(ms_since(at)));
    const auto task = events.task(id);
    EXPECT_EQ(task.out, "hello from the swarm\n") << task.err;
    EXPECT_EQ(task.exit_code, 0) << task.err << describe();
    EXPECT_EQ(task.exits, 1U);
    ASSERT_TRUE(task.report.has_value());
    const auto report = nlohmann::json::parse(*task.report, nullptr, false);
    EXPECT_EQ(report.value("executor", ""), host_name()) << *task.report;
  }

  // `docker kill` of the daemon's container: Swarm starts a new one, which joins the fleet
  // and is listed again (the old one never joins again).
  void kill_daemon_and_see_it_replaced() {
    const auto before = m_swarm->running_tasks(k_daemon_service);
    ASSERT_EQ(before.size(), 1U) << describe();
    const auto at = Clock::now();
    const auto killed = m_swarm->docker({"kill", before[0]}, 30s);
    ASSERT_EQ(killed.exit_code, 0) << killed.err;
    std::string replacement;
    ASSERT_TRUE(wait_until(
        [&] {
          const auto now = m_swarm->running_tasks(k_daemon_service);
          replacement = now.size() == 1 && now[0] != before[0] ? now[0] : "";
          return !replacement.empty();
        },
        k_wait, k_poll))
        << describe();
    print_figure("kill -> new daemon container ms", std::to_string(ms_since(at)));
    ASSERT_TRUE(wait_until(
        [&] {
          return container_log(*m_swarm, replacement).find("joined the fleet at") !=
                     std::string::npos &&
                 listed(admin(), host_name());
        },
        k_wait, k_poll))
        << describe();
    print_figure("kill -> new daemon listed ms", std::to_string(ms_since(at)));
  }

  // The killed daemon's warm container is reaped by its successor (the same instance).
  void expect_one_pool_container() {
    const auto pooled = [&] {
      return m_swarm->docker({"ps", "-aq", "--filter", "label=org.planificador.task=pool"}, 30s)
          .out;
    };
    EXPECT_TRUE(wait_until(
        [&] {
          const std::string ids = pooled();
          return std::count(ids.begin(), ids.end(), '\n') == 1;
        },
        30s, k_poll))
        << pooled() << describe();
  }

  // The daemons first, while the broker can still take their BYE (a daemon whose broker
  // is gone waits for it to flush its last frames); both drain on SIGTERM and exit 0. Then
  // the stack, the swarm and the engine, and nothing of them is left on the host.
  void stop_and_clean_up() {
    auto at = Clock::now();
    EXPECT_EQ(m_swarm->stop_tasks(k_daemon_service, 20s), std::vector<int>{0}) << describe();
    EXPECT_TRUE(wait_until(
        [&] {
          const auto view = fleet_view(admin());
          return view && view->executors.empty();
        },
        10s, k_poll))
        << "the daemon did not leave the fleet" << describe();
    EXPECT_EQ(m_swarm->stop_tasks(k_broker_service, 20s), std::vector<int>{0}) << describe();
    EXPECT_EQ(m_swarm->remove_stack(k_stack, 60s), "") << describe();
    print_figure("stop, stack rm -> no container left ms", std::to_string(ms_since(at)));
    at = Clock::now();
    EXPECT_EQ(m_swarm->tear_down(), "");
    print_figure("swarm leave, engine stop, host cleanup ms", std::to_string(ms_since(at)));
  }

  [[nodiscard]] std::string admin() const { return loopback(m_ports.admin); }

  [[nodiscard]] std::string describe() const {
    return m_swarm == nullptr
               ? ""
               : m_swarm->describe(k_broker_service) + m_swarm->describe(k_daemon_service);
  }

  const Ports m_ports;
  StateDir m_state_dir;
  std::unique_ptr<PrivateSwarm> m_swarm;
};

TEST_F(SwarmStack, BrokerAndGlobalDaemonServeTasksAndSwarmReplacesAKilledDaemon) {
  PLANIFICADOR_REQUIRE_E2E();
  const auto test_at = Clock::now();
  ASSERT_EQ(build_image(), "");
  print_figure("image build ms", std::to_string(ms_since(test_at)));
  const TempDir dir("planificador-swarm-");
  ASSERT_FALSE(dir.path().empty());
  deploy(dir.path());
  ASSERT_FALSE(HasFatalFailure());

  EventCollector events(loopback(m_ports.events));
  IntakeSender intake(loopback(m_ports.intake));
  expect_task_runs(events, intake, "first");
  ASSERT_FALSE(HasFatalFailure());
  kill_daemon_and_see_it_replaced();
  ASSERT_FALSE(HasFatalFailure());
  expect_task_runs(events, intake, "after-kill");
  ASSERT_FALSE(HasFatalFailure());
  expect_one_pool_container();
  EXPECT_EQ(events.undecodable(), 0U);

  stop_and_clean_up();
  print_figure("total ms", std::to_string(ms_since(test_at)));
}

}  // namespace
}  // namespace planificador::testing
