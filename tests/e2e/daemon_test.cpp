// The real `planificador` binary, real sockets on ephemeral ports, the real engine and
// runner images.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <thread>

#include "daemon_process.hpp"
#include "fake_backend.hpp"
#include "wait.hpp"
#include "zmq_client.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "planificador/protocol/codec.hpp"

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto k_task_wait = 120s;

DaemonSettings settings(std::size_t workers = 2) {
  DaemonSettings s;
  s.bin_dir = test_binary_dir();
  s.shipped_config = test_source_dir() + "/config.toml";
  s.workers = workers;
  return s;
}

std::unique_ptr<DaemonProcess> start(const DaemonSettings& s) {
  std::string error;
  auto daemon = DaemonProcess::start(s, error);
  EXPECT_NE(daemon, nullptr) << error;
  return daemon;
}

std::string submit(const protocol::TaskId& id, const std::string& image, const std::string& code,
                   std::optional<std::string> options = std::nullopt) {
  return protocol::encode(protocol::Submit{id, image, code, std::move(options)});
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int v : values) {
    out += static_cast<char>(v);
  }
  return out;
}

TEST(DaemonCli, VersionAndCheckConfig) {
  const std::string bin = test_binary_dir() + "/planificador";
  const auto version = run_command({bin, "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, std::string("planificador ") + "0.1.0\n");

  const std::string shipped = test_source_dir() + "/config.toml";
  const auto ok = run_command({bin, "--check-config", shipped});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, shipped + ": ok\n");

  const auto bad_path = std::filesystem::temp_directory_path() / "planificador-bad-config.toml";
  std::ifstream in(shipped);
  std::ofstream out(bad_path);
  std::string line;
  std::size_t line_number = 0;
  std::size_t bad_line = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.starts_with("workers")) {
      line = "workers = \"many\"";
      bad_line = line_number;
    }
    out << line << '\n';
  }
  out.close();
  ASSERT_NE(bad_line, 0U);
  const auto bad = run_command({bin, "--check-config", bad_path.string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find(bad_path.string() + ":" + std::to_string(bad_line) + ":"),
            std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("workers"), std::string::npos) << bad.err;
  std::filesystem::remove(bad_path);

  EXPECT_EQ(run_command({bin, "--no-such-flag"}).exit_code, 2);
  EXPECT_EQ(run_command({bin, "--config", "/nonexistent/config.toml"}).exit_code, 2);
}

// Sends SPEC's worked example (python, print(1)) under `id` and checks its two answers
// byte for byte.
void expect_worked_example_on(DaemonProcess& daemon, const std::string& id) {
  ZmqClient client(daemon.intake(), daemon.events());
  client.send(bytes({0x00}) + id + bytes({0, 0, 0, 6, 0, 0, 0, 9}) + "python" + "print(1)\n");
  const auto events = client.collect_one(*protocol::TaskId::from_bytes(id), k_task_wait);
  ASSERT_EQ(events.frames.size(), 2U) << daemon.log();
  EXPECT_EQ(events.frames[0], bytes({0x01}) + id + bytes({0, 0, 0, 2}) + "1\n");
  EXPECT_EQ(events.frames[1], bytes({0x03}) + id + bytes({0, 0, 0, 0}));
}

void expect_worked_example(const DaemonSettings& daemon_settings, const std::string& id) {
  auto daemon = start(daemon_settings);
  ASSERT_NE(daemon, nullptr);
  expect_worked_example_on(*daemon, id);
}

TEST(DaemonE2e, SpecWorkedExampleByteForByte) {
  PLANIFICADOR_REQUIRE_E2E();
  expect_worked_example(settings(), "0123456789abcdef0123456789abcdef");
}

TEST(DaemonE2e, ServesWithAnExecutorNameLongerThanASocketAddressHolds) {
  PLANIFICADOR_REQUIRE_E2E();
  // The name appears twice in every helper socket path, which then passes the 107 bytes a
  // unix socket address holds: the daemon reaches the socket through its directory.
  auto long_named = settings();
  long_named.executor = std::string(60, 'x');
  expect_worked_example(long_named, "long-executor-name-0123456789abc");
}

// A second daemon started with the very same config is refused before it touches
// anything: the first one keeps its containers and serves on.
TEST(DaemonE2e, ASecondDaemonOfTheSameInstanceIsRefusedAndTouchesNothing) {
  PLANIFICADOR_REQUIRE_E2E();
  std::string error;
  auto first = DaemonProcess::start(settings(), error);
  ASSERT_NE(first, nullptr) << error;
  // The pools warm up after the daemon serves: wait for the first of their containers.
  std::vector<std::string> containers;
  (void)wait_until(
      [&] {
        containers = containers_of(first->instance());
        return !containers.empty();
      },
      60s, 100ms);
  ASSERT_FALSE(containers.empty());

  const auto second = run_command(
      {settings().bin_dir + "/planificador", "--config", first->config_path()}, "", 60s);
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("another planificador serves instance `" + first->instance() + "`"),
            std::string::npos)
      << second.err;
  EXPECT_EQ(second.err.find("removing leftover container"), std::string::npos) << second.err;

  // Every container the first daemon had is still there (its pools may have grown since).
  const auto after = containers_of(first->instance());
  for (const auto& id : containers) {
    EXPECT_NE(std::find(after.begin(), after.end(), id), after.end()) << "removed: " << id;
  }
  expect_worked_example_on(*first, "second-daemon-refused-0123456789");
  EXPECT_EQ(first->terminate(60s), 0) << first->log();
}

TEST(DaemonE2e, EveryRunnerSaysHello) {
  PLANIFICADOR_REQUIRE_E2E();
  auto daemon = start(settings());
  ASSERT_NE(daemon, nullptr);
  ZmqClient client(daemon->intake(), daemon->events());
  const std::vector<std::pair<std::string, std::string>> programs{
      {"python", "print('hello')\n"},
      {"c", "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n"},
      {"cpp", "#include <iostream>\nint main() { std::cout << \"hello\" << std::endl; }\n"},
      {"bash", "echo hello\n"},
      {"node", "console.log('hello');\n"},
  };
  std::vector<protocol::TaskId> ids;
  for (std::size_t i = 0; i < programs.size(); ++i) {
    ids.push_back(make_id(programs[i].first, i));
    client.send(submit(ids.back(), programs[i].first, programs[i].second));
  }
  auto events = client.collect(ids, k_task_wait);
  for (std::size_t i = 0; i < programs.size(); ++i) {
    const auto& task = events[ids[i]];
    EXPECT_EQ(task.exit_code, 0) << programs[i].first << ": " << task.err;
    EXPECT_EQ(task.out, "hello\n") << programs[i].first;
    EXPECT_EQ(task.exits, 1U);
  }
}

TEST(DaemonE2e, MalformedInputThenANormalTask) {
  PLANIFICADOR_REQUIRE_E2E();
  auto daemon = start(settings());
  ASSERT_NE(daemon, nullptr);
  ZmqClient client(daemon->intake(), daemon->events());
  const auto short_id = make_id("short");
  auto one_short = submit(short_id, "python", "print(1)\n");
  one_short.pop_back();
  const auto huge_id = make_id("huge");
  auto huge = submit(huge_id, "python", "x");
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
  client.send_multipart({submit(make_id("multi"), "python", "print(1)\n"), "x"});
  client.send(submit(make_id("img"), "cobol", "x"));
  client.send(submit(make_id("opt"), "python", "x", R"({"stdn":"x"})"));
  client.send(submit(make_id("ok"), "python", "print('fine')\n"));
  const std::vector<protocol::TaskId> answered{short_id, huge_id, make_id("img"), make_id("opt")};
  auto ids = answered;
  ids.push_back(make_id("ok"));
  auto events = client.collect(ids, k_task_wait, 500ms);
  for (const auto& id : answered) {
    EXPECT_EQ(events[id].exit_code, 125) << id.printable();
    EXPECT_TRUE(events[id].err.starts_with("planificador: ")) << events[id].err;
  }
  ASSERT_TRUE(events[make_id("opt")].report);
  EXPECT_EQ(nlohmann::json::parse(*events[make_id("opt")].report)["status"], "rejected");
  EXPECT_EQ(events[make_id("ok")].out, "fine\n");
  EXPECT_EQ(events[make_id("ok")].exit_code, 0);
  EXPECT_FALSE(events.contains(make_id("multi")));
  EXPECT_EQ(events.size(), ids.size());
  EXPECT_NE(daemon->log().find("dropped"), std::string::npos);
}

TEST(DaemonE2e, TwoHundredTasksAtOnce) {
  PLANIFICADOR_REQUIRE_E2E();
  auto daemon = start(settings(2));
  ASSERT_NE(daemon, nullptr);
  ZmqClient client(daemon->intake(), daemon->events());
  std::vector<protocol::TaskId> ids;
  for (std::size_t i = 0; i < 200; ++i) {
    ids.push_back(make_id("many", i));
    client.send(submit(ids.back(), "bash", "echo " + std::to_string(i) + "\n"));
  }
  auto events = client.collect(ids, 1200s, 1s);
  EXPECT_EQ(events.size(), 200U);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& task = events[ids[i]];
    EXPECT_EQ(task.exits, 1U) << i;
    EXPECT_EQ(task.after_exit, 0U) << i;
    EXPECT_EQ(task.exit_code, 0) << i << ": " << task.err;
    EXPECT_EQ(task.out, std::to_string(i) + "\n") << i;
  }
}

TEST(DaemonE2e, CancelRunningAndQueuedFromIntakeAndControl) {
  PLANIFICADOR_REQUIRE_E2E();
  auto daemon = start(settings(2));
  ASSERT_NE(daemon, nullptr);
  ZmqClient client(daemon->intake(), daemon->events(), daemon->control());
  const std::string sleeper = "import time\nprint('started', flush=True)\ntime.sleep(60)\n";
  const auto run_a = make_id("run-a");
  const auto run_b = make_id("run-b");
  client.send(submit(run_a, "python", sleeper));
  client.send(submit(run_b, "python", sleeper));
  client.send(submit(make_id("queued-a"), "bash", "echo never\n"));
  client.send(submit(make_id("queued-b"), "bash", "echo never\n"));
  // Wait until both sleepers run (their first output arrives).
  const auto deadline = std::chrono::steady_clock::now() + k_task_wait;
  std::map<protocol::TaskId, TaskEvents> seen;
  while (std::chrono::steady_clock::now() < deadline &&
         (seen[run_a].out.empty() || seen[run_b].out.empty())) {
    (void)client.drain(100ms);
    seen = client.collect({}, 0ms, 0ms);
  }
  ASSERT_EQ(seen[run_a].out, "started\n") << daemon->log();
  ASSERT_EQ(seen[run_b].out, "started\n");

  client.send(protocol::encode(protocol::Cancel{make_id("queued-a")}));
  client.send_control(protocol::encode(protocol::Cancel{make_id("queued-b")}));
  auto queued = client.collect({make_id("queued-a"), make_id("queued-b")}, 30s);
  EXPECT_EQ(queued[make_id("queued-a")].exit_code, 130);
  EXPECT_EQ(queued[make_id("queued-b")].exit_code, 130);
  EXPECT_EQ(queued[make_id("queued-a")].out, "");
  EXPECT_EQ(queued[make_id("queued-b")].out, "");

  auto cancelled_at = std::chrono::steady_clock::now();
  client.send(protocol::encode(protocol::Cancel{run_a}));
  auto a = client.collect({run_a}, 30s, 0ms);
  EXPECT_LT(std::chrono::steady_clock::now() - cancelled_at, 1s + 500ms);
  EXPECT_EQ(a[run_a].exit_code, 130);
  EXPECT_TRUE(a[run_a].err.ends_with("planificador: cancelled\n")) << a[run_a].err;

  cancelled_at = std::chrono::steady_clock::now();
  client.send_control(protocol::encode(protocol::Cancel{run_b}));
  auto b = client.collect({run_b}, 30s, 0ms);
  EXPECT_LT(std::chrono::steady_clock::now() - cancelled_at, 1s + 500ms);
  EXPECT_EQ(b[run_b].exit_code, 130);
  EXPECT_EQ(b[run_b].exits, 1U);
}

TEST(DaemonE2e, SigtermWithTasksInFlightAnswersEveryTaskAndLeavesNothing) {
  PLANIFICADOR_REQUIRE_E2E();
  auto s = settings(2);
  s.grace_ms = 1000;
  auto daemon = start(s);
  ASSERT_NE(daemon, nullptr);
  ZmqClient client(daemon->intake(), daemon->events());
  std::vector<protocol::TaskId> ids;
  for (std::size_t i = 0; i < 5; ++i) {
    ids.push_back(make_id("term", i));
    client.send(submit(ids.back(), "python",
                       "import time\nprint('up', flush=True)\ntime.sleep(60)\n", "{}"));
  }
  // Let the first two start.
  const auto deadline = std::chrono::steady_clock::now() + k_task_wait;
  while (std::chrono::steady_clock::now() < deadline) {
    (void)client.drain(100ms);
    auto seen = client.collect({}, 0ms, 0ms);
    if (seen[ids[0]].out == "up\n" && seen[ids[1]].out == "up\n") {
      break;
    }
  }
  ::kill(daemon->pid(), SIGTERM);
  auto events = client.collect(ids, 60s);
  for (const auto& id : ids) {
    EXPECT_EQ(events[id].exits, 1U) << id.printable();
    EXPECT_TRUE(events[id].report.has_value());
    EXPECT_TRUE(events[id].exit_code == 130 || events[id].exit_code == 125)
        << events[id].exit_code.value_or(-1);
  }
  EXPECT_EQ(daemon->terminate(30s), 0) << daemon->log();
  EXPECT_TRUE(containers_of(daemon->instance()).empty()) << daemon->instance();
  EXPECT_FALSE(daemon->instance().empty());
}

}  // namespace
}  // namespace planificador::testing
