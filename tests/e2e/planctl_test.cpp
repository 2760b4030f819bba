// planctl against the real daemon, real engine and runner images: over the client endpoint
// (docs/protocol.md), as planctl talks by default, and over SPEC's sockets.

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "daemon_process.hpp"
#include "swarm_cluster.hpp"
#include "wait.hpp"
#include "zmq_client.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "planificador/protocol/runners.hpp"

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class Planctl : public ::testing::Test {
 protected:
  void SetUp() override {
    PLANIFICADOR_REQUIRE_E2E();
    DaemonSettings s;
    s.bin_dir = test_binary_dir();
    s.shipped_config = test_source_dir() + "/config.toml";
    std::string error;
    m_daemon = DaemonProcess::start(s, error);
    ASSERT_NE(m_daemon, nullptr) << error;
    m_dir = fs::temp_directory_path() / ("planctl-e2e-" + std::to_string(::getpid()));
    fs::create_directories(m_dir);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(m_dir, ignored);
  }

  std::string write(const std::string& name, const std::string& content) {
    const auto path = (m_dir / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  // `planctl run` on the daemon's client endpoint.
  std::vector<std::string> planctl(std::vector<std::string> args) {
    std::vector<std::string> argv{test_binary_dir() + "/planctl", "run", "--endpoint",
                                  m_daemon->clients()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  // `planctl run` on SPEC's intake and events.
  std::vector<std::string> planctl_spec(std::vector<std::string> args) {
    std::vector<std::string> argv{test_binary_dir() + "/planctl",
                                  "run",
                                  "--intake",
                                  m_daemon->intake(),
                                  "--events",
                                  m_daemon->events()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  std::unique_ptr<DaemonProcess> m_daemon;
  fs::path m_dir;
};

// Starts `argv` with stdout and stderr to `log`; returns its pid.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& arg : argv) {
      args.push_back(const_cast<char*>(arg.c_str()));
    }
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

bool wait_for_text(const std::string& path, const std::string& text, std::chrono::seconds timeout) {
  return wait_until(
      [&] {
        std::ifstream in(path);
        std::stringstream content;
        content << in.rdbuf();
        return content.str().find(text) != std::string::npos;
      },
      timeout, 50ms);
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST_F(Planctl, OutputAndExitCodeMatchALocalRun) {
  const std::string script =
      "echo to stdout\necho to stderr >&2\nprintf '\\x00\\x01\\xfe\\xff\\r\\n'\n"
      "for i in 1 2 3; do echo line $i; done\nexit 7\n";
  const auto path = write("main.sh", script);
  const auto local = run_command({"bash", path});
  const auto remote = run_command(planctl({"--image", "bash", path}));
  EXPECT_EQ(local.exit_code, 7);
  EXPECT_EQ(remote.exit_code, local.exit_code) << remote.err;
  EXPECT_EQ(remote.out, local.out);
  EXPECT_EQ(remote.err, local.err);

  const auto over_spec = run_command(planctl_spec({"--image", "bash", path}));
  EXPECT_EQ(over_spec.exit_code, 7) << over_spec.err;
  EXPECT_EQ(over_spec.out, local.out);
  EXPECT_EQ(over_spec.err, local.err);

  const auto python = write("main.py", "import sys\nprint('py', sum(range(10)))\nsys.exit(4)\n");
  const auto local_py = run_command({"python3", python});
  const auto remote_py = run_command(planctl({"--image", "python", "-"}),
                                     "import sys\nprint('py', sum(range(10)))\nsys.exit(4)\n");
  EXPECT_EQ(remote_py.exit_code, local_py.exit_code);
  EXPECT_EQ(remote_py.out, local_py.out);
}

TEST_F(Planctl, OptionsReachTheProgramAndReportIsPrinted) {
  const auto input = write("input.txt", "from stdin\n");
  const auto extra = write("data.bin", std::string("\x00\x01"
                                                   "data",
                                                   6));
  const auto program = write("main.py",
                             "import sys, os\n"
                             "print(sys.stdin.read().strip())\n"
                             "print(sys.argv[1:])\n"
                             "print(os.environ.get('GREETING'))\n"
                             "print(open('renamed.bin','rb').read())\n");
  const auto result =
      run_command(planctl({"--image", "python", "--stdin", input, "--arg", "a1", "--arg", "a 2",
                           "--env", "GREETING=hola", "--file", extra + ":renamed.bin", "--limit",
                           "wall_ms=5000", "--report", program}));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "from stdin\n['a1', 'a 2']\nhola\nb'\\x00\\x01data'\n");
  const auto last_line = result.err.substr(result.err.rfind('{'));
  const auto report = nlohmann::json::parse(last_line);
  EXPECT_EQ(report["status"], "exited");
  EXPECT_EQ(report["exit_code"], 0);
  EXPECT_EQ(report["executor"], "e2e-host");
  // Before the JSON, a line for a person.
  EXPECT_NE(result.err.find("planctl: exited 0 · wall "), std::string::npos) << result.err;

  const auto over =
      run_command(planctl({"--image", "python", "--limit", "wall_ms=999999999", program}));
  EXPECT_EQ(over.exit_code, 125);
  EXPECT_NE(over.err.find("planificador: options.limits.wall_ms"), std::string::npos) << over.err;
  EXPECT_EQ(run_command(planctl({"--image", "nope", program})).exit_code, 125);
  EXPECT_EQ(run_command(planctl({"--image", "python", "--limit", "bogus=1", program})).exit_code,
            2);
}

TEST_F(Planctl, CtrlCCancelsTheTask) {
  const auto program =
      write("sleep.py", "import time\nprint('started', flush=True)\ntime.sleep(60)\n");
  // On the client endpoint the CANCEL goes over the task's own connection; on SPEC's
  // sockets, to intake.
  for (const bool spec : {false, true}) {
    const auto log = (m_dir / ("run-" + std::to_string(spec) + ".log")).string();
    const auto argv = spec ? planctl_spec({"--image", "python", program})
                           : planctl({"--image", "python", program});
    const pid_t pid = spawn(argv, log);
    ASSERT_TRUE(wait_for_text(log, "started", 60s)) << spec;
    const auto interrupted = std::chrono::steady_clock::now();
    ::kill(pid, SIGINT);
    EXPECT_EQ(wait_exit(pid), 130) << spec;
    EXPECT_LT(std::chrono::steady_clock::now() - interrupted, 6s);
    EXPECT_TRUE(wait_for_text(log, "planificador: cancelled", 1s)) << spec;
  }
}

// Twenty planctl runs at once on one daemon: each prints exactly its own task's output,
// line by line as the program wrote it. (On SPEC's events socket, a PUSH, they would deal
// each other's frames out among themselves and hang.) A reader connected to the client
// endpoint with no task of its own receives nothing meanwhile.
TEST_F(Planctl, ConcurrentRunsEachGetExactlyTheirOwnOutput) {
  constexpr int k_runs = 20;
  // The reader asks one thing of its own (RUNNERS), so the daemon knows its connection.
  ZmqClient idle(ClientEndpoint{m_daemon->clients()});
  idle.send(protocol::encode_runners_request(protocol::TaskId::random()));
  std::vector<pid_t> pids;
  std::vector<std::string> logs;
  for (int run = 0; run < k_runs; ++run) {
    const auto program =
        write("concurrent-" + std::to_string(run) + ".sh",
              "for i in 1 2 3 4; do echo \"run " + std::to_string(run) +
                  " line $i\"; sleep 0.05; done\necho \"run " + std::to_string(run) +
                  " err\" >&2\nexit " + std::to_string(run % 5) + "\n");
    logs.push_back((m_dir / ("concurrent-" + std::to_string(run) + ".log")).string());
    pids.push_back(spawn(planctl({"--image", "bash", "--timeout", "120", program}), logs.back()));
  }
  for (int run = 0; run < k_runs; ++run) {
    EXPECT_EQ(wait_exit(pids[run]), run % 5) << "run " << run;
    std::ifstream in(logs[run]);
    std::stringstream text;
    text << in.rdbuf();
    std::string expected;
    for (int line = 1; line <= 4; ++line) {
      expected += "run " + std::to_string(run) + " line " + std::to_string(line) + "\n";
    }
    expected += "run " + std::to_string(run) + " err\n";
    EXPECT_EQ(text.str(), expected) << "run " << run;
  }
  const auto received = idle.drain(500ms);
  ASSERT_EQ(received.size(), 1U) << "a reader without tasks received others' events";
  EXPECT_EQ(received[0].front(), '\x20') << "its one frame is the RUNNERS answer";
}

TEST_F(Planctl, CancelSubcommandThroughControlAndTimeout) {
  const auto program =
      write("sleep.py", "import time\nprint('started', flush=True)\ntime.sleep(60)\n");
  const auto log = (m_dir / "run.log").string();
  const std::string id = "cancel-me-0123456789abcdef012345";
  const pid_t pid = spawn(planctl({"--image", "python", "--id", id, program}), log);
  ASSERT_TRUE(wait_for_text(log, "started", 60s));
  const auto cancel =
      run_command({test_binary_dir() + "/planctl", "cancel", id, "--control", m_daemon->control()});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(wait_exit(pid), 130);

  const auto timed_out = run_command(planctl({"--image", "python", "--timeout", "2", program}));
  EXPECT_EQ(timed_out.exit_code, 124);
  EXPECT_NE(timed_out.err.find("planctl: timed out"), std::string::npos);
}

// No daemon at the endpoints: ZeroMQ would queue the task and wait for a peer for ever.
// planctl says within --connect-timeout that nothing answers there and exits 1, as its help
// promises, for run and for cancel. A program that hung would be killed by run_command
// after 60 s and report 128 + 9 instead.
// planctl runners asks over SPEC's own sockets (RUNNERS, docs/protocol.md) and lists what
// the shipped config runs; --json is the GET /v1/runners body.
TEST_F(Planctl, RunnersListsWhatTheDaemonRuns) {
  const std::vector<std::string> base{test_binary_dir() + "/planctl",
                                      "runners",
                                      "--intake",
                                      m_daemon->intake(),
                                      "--events",
                                      m_daemon->events()};
  // The same listing over the client endpoint.
  const auto over_endpoint = run_command(
      {test_binary_dir() + "/planctl", "runners", "--endpoint", m_daemon->clients(), "--json"});
  ASSERT_EQ(over_endpoint.exit_code, 0) << over_endpoint.err;
  EXPECT_EQ(nlohmann::json::parse(over_endpoint.out)["runners"].size(), 5U) << over_endpoint.out;
  const auto table = run_command(base);
  EXPECT_EQ(table.exit_code, 0) << table.err;
  for (const char* line : {"python, python3*\n", "planificador/c", ", compiles\n",
                           "node, javascript, js\n", "memory 256 MiB"}) {
    EXPECT_NE(table.out.find(line), std::string::npos) << line << " in\n" << table.out;
  }
  auto with_json = base;
  with_json.emplace_back("--json");
  const auto json = run_command(with_json);
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto runners = nlohmann::json::parse(json.out)["runners"];
  ASSERT_EQ(runners.size(), 5U) << json.out;
  EXPECT_EQ(runners[0]["match"][0], "python");
  EXPECT_EQ(runners[1]["compiles"], true);
  EXPECT_EQ(runners[3]["limits"]["wall_ms"], 10000);
  // The daemon still runs tasks after answering.
  const auto path = write("after.sh", "echo still here\n");
  const auto after = run_command(planctl({"--image", "bash", path}));
  EXPECT_EQ(after.out, "still here\n") << after.err;
}

TEST(PlanctlWithoutADaemon, SaysNothingAnswersAtIntakeAndExits1) {
  PLANIFICADOR_REQUIRE_E2E();
  const std::string intake = "tcp://127.0.0.1:" + std::to_string(loopback_port());
  const std::string events = "tcp://127.0.0.1:" + std::to_string(loopback_port());
  const std::string planctl = test_binary_dir() + "/planctl";
  const auto run = run_command({planctl, "run", "--image", "bash", "--intake", intake, "--events",
                                events, "--connect-timeout", "2", "-"},
                               "echo never\n", 60s);
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_NE(run.err.find("nothing answers at `" + intake + "` within 2 s"), std::string::npos)
      << run.err;
  EXPECT_EQ(run.out, "");
  const auto cancel = run_command(
      {planctl, "cancel", "0123456789abcdef0123456789abcdef", "--intake", intake}, "", 60s);
  EXPECT_EQ(cancel.exit_code, 1) << cancel.err;
  EXPECT_NE(cancel.err.find("nothing answers at `" + intake + "`"), std::string::npos)
      << cancel.err;
  const auto runners = run_command(
      {planctl, "runners", "--intake", intake, "--events", events, "--connect-timeout", "2"}, "",
      60s);
  EXPECT_EQ(runners.exit_code, 1) << runners.err;
  EXPECT_NE(runners.err.find("nothing answers at `" + intake + "` within 2 s"), std::string::npos)
      << runners.err;
  // And by default, on the client endpoint.
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(loopback_port());
  const auto by_default = run_command(
      {planctl, "run", "--image", "bash", "--endpoint", endpoint, "--connect-timeout", "2", "-"},
      "echo never\n", 60s);
  EXPECT_EQ(by_default.exit_code, 1) << by_default.err;
  EXPECT_NE(by_default.err.find("nothing answers at `" + endpoint +
                                "` within 2 s (is the daemon running, and is that its client "
                                "endpoint, server.clients?)"),
            std::string::npos)
      << by_default.err;
}

}  // namespace
}  // namespace planificador::testing
