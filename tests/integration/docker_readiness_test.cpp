// The Docker backend's readiness against a fake engine on a unix socket: construction does
// nothing that can fail, start() reports every not-ready reason (helper, seccomp profile,
// engine), a task gets 125 with the reason and never starts the backend itself, and stop()
// is safe against a start() in flight (a stalled engine holds it).

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <unistd.h>

#include "docker_harness.hpp"
#include "fake_engine.hpp"
#include "wait.hpp"
#include <gtest/gtest.h>

#include "planificador/backend/docker/docker_backend.hpp"
#include "planificador/backend/docker/engine_client.hpp"

namespace planificador::backend::docker {
namespace {

using namespace std::chrono_literals;
using protocol::Status;
using test::FakeEngine;
using testing::wait_until;
namespace fs = std::filesystem;

constexpr auto k_wait = 20s;
constexpr auto k_stall = 1500ms;
const std::string k_ping = "/v1.41/_ping";
const std::string k_image = "planificador/python";

bool is_ping(const test::RecordedRequest& request) { return request.target == k_ping; }

// A fake engine, a state directory and a config whose one runner has no pool.
class DockerReadiness : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "planificador-ready-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    m_dir = pattern;
    m_config.server.state_dir = m_dir + "/state";
    m_config.docker.socket = m_engine.socket_path();
    m_config.docker.helper = m_dir + "/sandboxd";
    config::Runner runner;
    runner.match = {"python"};
    runner.image = k_image;
    runner.file = "main.py";
    runner.run = {"python3", "main.py"};
    runner.limits = config::Limits{2000, 2000, std::uint64_t{64} << 20, 16, 4096};
    runner.pool = 0;
    m_config.runners.push_back(runner);
    m_instance = "readiness-" + std::to_string(::getpid());
  }
  void TearDown() override {
    m_backend.reset();
    std::error_code ignored;
    fs::remove_all(m_dir, ignored);
  }

  void write_helper() const {
    std::ofstream(m_config.docker.helper) << "#!/bin/sh\nexit 0\n";
    fs::permissions(m_config.docker.helper, fs::perms::owner_all);
  }
  [[nodiscard]] std::string staged_helper() const {
    return m_config.server.state_dir + "/" + m_instance + ".sandboxd";
  }
  // The engine answers the ping, after `delay`; /info, the containers and the images are
  // unknown routes (404: no runtimes to check, nothing to reap, the image missing).
  void engine_up(std::chrono::milliseconds delay = 0ms) {
    m_engine.on("GET", k_ping, {200, "OK", "text/plain", delay});
  }
  void engine_failing() { m_engine.on("GET", k_ping, {500, R"({"message":"engine on fire"})"}); }
  Backend& make() {
    m_backend = make_docker_backend(m_config, m_instance);
    return *m_backend;
  }
  TaskResult run_task() {
    TaskSpec spec;
    spec.runner = &m_config.runners[0];
    spec.limits = spec.runner->limits;
    spec.code = "print(1)\n";
    testing::RecordingSink sink;
    const os::Event cancel;
    return m_backend->run(spec, sink, cancel);
  }
  // Waits until the fake engine has received `count` pings.
  bool wait_pings(std::size_t count) {
    return wait_until([&] { return pings() >= count; }, k_wait);
  }
  [[nodiscard]] std::size_t pings() const {
    std::size_t count = 0;
    for (const auto& request : m_engine.requests()) {
      count += is_ping(request) ? 1U : 0U;
    }
    return count;
  }

  FakeEngine m_engine;
  std::string m_dir;
  config::Config m_config;
  std::string m_instance;
  std::unique_ptr<Backend> m_backend;
};

TEST_F(DockerReadiness, AMissingHelperOrProfileIsAReasonStartGivesNotAConstructorFailure) {
  m_config.docker.seccomp = m_dir + "/seccomp.json";
  auto& backend = make();
  EXPECT_FALSE(fs::exists(staged_helper())) << "the constructor staged the helper";

  const auto no_helper = backend.start();
  ASSERT_FALSE(no_helper);
  EXPECT_EQ(no_helper.error().message,
            "sandbox helper `" + m_config.docker.helper + "`: No such file or directory");
  auto result = run_task();
  EXPECT_EQ(result.status, Status::error);
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_EQ(result.diagnostic, no_helper.error().message);

  write_helper();
  const auto no_profile = backend.start();
  ASSERT_FALSE(no_profile);
  EXPECT_EQ(no_profile.error().message,
            "open seccomp profile `" + m_config.docker.seccomp + "`: No such file or directory");
  EXPECT_TRUE(fs::exists(staged_helper()));
  result = run_task();
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_EQ(result.diagnostic, no_profile.error().message);
  EXPECT_TRUE(m_engine.requests().empty()) << "the engine was asked before the files loaded";

  std::ofstream(m_config.docker.seccomp) << R"({"defaultAction":"SCMP_ACT_ALLOW"})";
  engine_failing();
  const auto no_engine = backend.start();
  ASSERT_FALSE(no_engine);
  EXPECT_TRUE(no_engine.error().message.starts_with("engine unavailable: "))
      << no_engine.error().message;
  EXPECT_EQ(run_task().diagnostic, no_engine.error().message);

  backend.stop();
  EXPECT_FALSE(fs::exists(staged_helper())) << "stop() left the staged helper";
}

TEST_F(DockerReadiness, ATaskGetsTheReasonAndNeverStartsTheBackendItself) {
  write_helper();
  engine_failing();
  auto& backend = make();
  const auto started = backend.start();
  ASSERT_FALSE(started);
  ASSERT_EQ(pings(), 1U);
  // Longer than any retry interval: a task that retried on its own would have by now.
  for (int task = 0; task < 3; ++task) {
    const auto result = run_task();
    EXPECT_EQ(result.status, Status::error);
    EXPECT_EQ(result.exit_code, 125);
    EXPECT_EQ(result.diagnostic, started.error().message);
    EXPECT_NE(result.diagnostic.find("engine on fire"), std::string::npos) << result.diagnostic;
    std::this_thread::sleep_for(600ms);
  }
  EXPECT_EQ(pings(), 1U) << "a task made the backend try start() again";

  // The engine comes back; only the owner's next start() makes the backend ready.
  engine_up();
  EXPECT_EQ(run_task().diagnostic, started.error().message);
  EXPECT_EQ(pings(), 1U);
  ASSERT_TRUE(backend.start());
  // Ready: the task now goes as far as the image (which this engine does not have).
  const auto served = run_task();
  EXPECT_EQ(served.exit_code, 125);
  EXPECT_EQ(served.diagnostic, "image " + k_image + " is missing; run scripts/images.sh");
  EXPECT_TRUE(backend.start());
  EXPECT_EQ(pings(), 2U) << "a start() after ready went to the engine again";

  backend.stop();
  EXPECT_EQ(run_task().diagnostic, "shutting down");
  const auto after_stop = backend.start();
  ASSERT_FALSE(after_stop);
  EXPECT_EQ(after_stop.error().message, "shutting down");
  EXPECT_FALSE(fs::exists(staged_helper()));
}

TEST_F(DockerReadiness, ATaskDuringTheFirstAttemptIsAnsweredAtOnce) {
  write_helper();
  engine_up(k_stall);
  auto& backend = make();
  auto started = std::async(std::launch::async, [&] { return backend.start(); });
  ASSERT_TRUE(wait_pings(1));
  const auto asked_at = std::chrono::steady_clock::now();
  const auto result = run_task();
  EXPECT_LT(std::chrono::steady_clock::now() - asked_at, k_stall / 2)
      << "the task waited behind the start() in flight";
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_EQ(result.diagnostic, "backend not ready: starting");
  ASSERT_EQ(started.wait_for(k_wait), std::future_status::ready);
  EXPECT_TRUE(started.get());
  EXPECT_EQ(run_task().diagnostic, "image " + k_image + " is missing; run scripts/images.sh");
}

TEST_F(DockerReadiness, StopWaitsForAStartInFlightWhichThenGivesUp) {
  write_helper();
  engine_up(k_stall);
  auto& backend = make();
  auto started = std::async(std::launch::async, [&] { return backend.start(); });
  ASSERT_TRUE(wait_pings(1));
  auto stopped = std::async(std::launch::async, [&] { backend.stop(); });
  // Tasks hear of the stop at once; stop() itself waits for the stalled attempt.
  (void)wait_until([&] { return run_task().diagnostic == "shutting down"; }, k_wait);
  EXPECT_EQ(run_task().diagnostic, "shutting down");
  EXPECT_EQ(stopped.wait_for(k_stall / 3), std::future_status::timeout)
      << "stop() returned while a start() was in flight";

  ASSERT_EQ(started.wait_for(k_wait), std::future_status::ready);
  ASSERT_EQ(stopped.wait_for(k_wait), std::future_status::ready);
  const auto outcome = started.get();
  ASSERT_FALSE(outcome) << "the start() that stop() overtook made the backend ready";
  EXPECT_EQ(outcome.error().message, "shutting down");
  // It gave up after the ping: it asked the engine for nothing more (no reap, no sweeper).
  // A sentinel: the fake serves one connection at a time in the order they were made, and
  // stop() has returned, so a request the backend made is recorded before this one.
  const EngineClient sentinel(m_engine.socket_path(), k_wait);
  ASSERT_TRUE(sentinel.image_exists("sentinel"));  // a 404: false, but an answer
  const auto requests = m_engine.requests();
  ASSERT_EQ(requests.size(), 2U) << requests.back().target;
  EXPECT_NE(requests[1].target.find("sentinel"), std::string::npos) << requests[1].target;
  EXPECT_FALSE(fs::exists(staged_helper()));
  EXPECT_FALSE(backend.start());
  EXPECT_EQ(m_engine.requests().size(), 2U);
}

}  // namespace
}  // namespace planificador::backend::docker
