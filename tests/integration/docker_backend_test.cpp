// The Docker backend against the real engine, the runner images and planificador-sandboxd.

#include "planificador/backend/docker/docker_backend.hpp"

#include <atomic>
#include <filesystem>
#include <thread>

#include "docker_harness.hpp"
#include "wait.hpp"
#include <gtest/gtest.h>

namespace planificador::testing {
namespace {

using protocol::Status;
using namespace std::chrono_literals;

DockerHarness& harness() {
  static DockerHarness instance(PLANIFICADOR_SOURCE_DIR, PLANIFICADOR_BINARY_DIR);
  return instance;
}

class DockerBackendTest : public ::testing::Test {
 protected:
  void SetUp() override { PLANIFICADOR_REQUIRE_DOCKER(harness()); }
  void TearDown() override {
    if (harness().missing().empty()) {
      EXPECT_TRUE(harness().leftovers().empty()) << "a container of this test remains";
    }
  }
  static Outcome run(const std::string& image, const std::string& code,
                     protocol::TaskOptions options = {},
                     const std::function<void(config::Limits&)>& adjust = {},
                     const os::Event* cancel = nullptr, RecordingSink* live = nullptr) {
    return harness().run(image, code, std::move(options), adjust, cancel, live);
  }
};

struct HelloCase {
  const char* image;
  const char* code;
};

class HelloWorld : public DockerBackendTest, public ::testing::WithParamInterface<HelloCase> {};

TEST_P(HelloWorld, PrintsAndExitsZero) {
  const auto outcome = run(GetParam().image, GetParam().code);
  EXPECT_EQ(outcome.result.status, Status::exited) << outcome.result.diagnostic << outcome.err;
  EXPECT_EQ(outcome.result.exit_code, 0);
  EXPECT_EQ(outcome.out, "hello\n");
  EXPECT_EQ(outcome.result.output_bytes, 6U);
  EXPECT_GT(outcome.result.memory_peak_bytes, 0U);
  std::printf("[ timing ] %s hello world: run() took %lld ms (program wall %llu ms)\n",
              GetParam().image, static_cast<long long>(outcome.elapsed().count()),
              static_cast<unsigned long long>(outcome.result.wall_ms));
}

INSTANTIATE_TEST_SUITE_P(
    EveryRunner, HelloWorld,
    ::testing::Values(
        HelloCase{"python", "print('hello')\n"},
        HelloCase{"c", "#include <stdio.h>\nint main(void){puts(\"hello\");return 0;}\n"},
        HelloCase{"cpp", "#include <iostream>\nint main(){std::cout<<\"hello\\n\";}\n"},
        HelloCase{"bash", "echo hello\n"}, HelloCase{"node", "console.log('hello')\n"}),
    [](const auto& param_info) { return std::string(param_info.param.image); });

TEST_F(DockerBackendTest, StdinArgsAndEnvReachTheProgram) {
  protocol::TaskOptions options;
  options.stdin_data = std::string(300000, 'x') + "\nend";
  options.args = {"--flag", "two words"};
  options.env = {{"GREETING", "hola"}};
  const auto outcome = run("python",
                           "import os, sys\n"
                           "data = sys.stdin.read()\n"
                           "print(len(data), data[-3:], sys.argv[1:], os.environ['GREETING'])\n",
                           options);
  EXPECT_EQ(outcome.result.status, Status::exited) << outcome.err;
  EXPECT_EQ(outcome.out, "300004 end ['--flag', 'two words'] hola\n");
}

TEST_F(DockerBackendTest, NoStdinMeansEofAtOnce) {
  const auto outcome = run("bash", "cat; echo done\n");
  EXPECT_EQ(outcome.result.exit_code, 0);
  EXPECT_EQ(outcome.out, "done\n");
}

TEST_F(DockerBackendTest, ExtraFilesLandBesideTheCode) {
  protocol::TaskOptions options;
  options.files = {{"input.txt", "uno\ndos\n"}, {"blob.bin", std::string("\0\xff", 2)}};
  const auto outcome = run(
      "python", "print(open('input.txt').read().split(), open('blob.bin','rb').read())\n", options);
  EXPECT_EQ(outcome.out, "['uno', 'dos'] b'\\x00\\xff'\n") << outcome.err;
}

TEST_F(DockerBackendTest, FilePathEscapingTheWorkDirectoryIsRejected) {
  protocol::TaskOptions options;
  options.files = {{"../escape.txt", "x"}};
  const auto outcome = run("python", "print(1)\n", options);
  EXPECT_EQ(outcome.result.status, Status::rejected);
  EXPECT_EQ(outcome.result.exit_code, 125);
  EXPECT_FALSE(outcome.result.diagnostic.empty());
  EXPECT_TRUE(outcome.out.empty());
}

TEST_F(DockerBackendTest, ExitCodeIsTheProgramsOwn) {
  const auto outcome = run("bash", "echo out; echo err >&2; exit 3\n");
  EXPECT_EQ(outcome.result.status, Status::exited);
  EXPECT_EQ(outcome.result.exit_code, 3);
  EXPECT_EQ(outcome.out, "out\n");
  EXPECT_EQ(outcome.err, "err\n");
  EXPECT_TRUE(outcome.result.diagnostic.empty());
}

TEST_F(DockerBackendTest, WallLimitKillsASleeper) {
  const auto outcome = run("bash", "sleep 30\n", {}, [](auto& limits) { limits.wall_ms = 1000; });
  EXPECT_EQ(outcome.result.status, Status::time_limit);
  EXPECT_EQ(outcome.result.exit_code, 124);
  EXPECT_EQ(outcome.result.diagnostic, "time limit of 1000 ms exceeded");
  EXPECT_GE(outcome.result.wall_ms, 1000U);
  EXPECT_LT(outcome.result.wall_ms, 5000U);
}

TEST_F(DockerBackendTest, CpuLimitKillsABusyLoop) {
  const auto outcome = run("python", "while True:\n    pass\n", {}, [](auto& limits) {
    limits.cpu_ms = 1000;
    limits.wall_ms = 20000;
  });
  EXPECT_EQ(outcome.result.status, Status::cpu_limit) << outcome.result.diagnostic;
  EXPECT_EQ(outcome.result.exit_code, 152);
  EXPECT_EQ(outcome.result.diagnostic, "CPU time limit of 1000 ms exceeded");
  EXPECT_GE(outcome.result.cpu_ms, 1000U);
  EXPECT_LT(outcome.result.wall_ms, 10000U);
}

TEST_F(DockerBackendTest, SleepingIsNotCpuTime) {
  const auto outcome = run("bash", "sleep 3; echo awake\n", {}, [](auto& limits) {
    limits.cpu_ms = 1000;
    limits.wall_ms = 10000;
  });
  EXPECT_EQ(outcome.result.status, Status::exited) << outcome.result.diagnostic;
  EXPECT_EQ(outcome.out, "awake\n");
  EXPECT_LT(outcome.result.cpu_ms, 1000U);
  EXPECT_GE(outcome.result.wall_ms, 3000U);
}

TEST_F(DockerBackendTest, MemoryLimitIsDecidedFromTheOomCounter) {
  const auto outcome = run("python", "x = b'x' * (1 << 30)\nprint(len(x))\n", {},
                           [](auto& limits) { limits.memory_bytes = 64 << 20; });
  EXPECT_EQ(outcome.result.status, Status::memory_limit)
      << outcome.result.diagnostic << outcome.err;
  EXPECT_EQ(outcome.result.exit_code, 137);
  EXPECT_EQ(outcome.result.diagnostic, "memory limit of 67108864 bytes exceeded");
  EXPECT_TRUE(outcome.out.empty());
}

TEST_F(DockerBackendTest, OutputLimitDeliversExactlyTheAllowance) {
  const auto outcome = run("bash", "yes\n", {}, [](auto& limits) { limits.output_bytes = 1024; });
  EXPECT_EQ(outcome.result.status, Status::output_limit);
  EXPECT_EQ(outcome.result.exit_code, 153);
  EXPECT_EQ(outcome.result.diagnostic, "output limit of 1024 bytes exceeded");
  EXPECT_EQ(outcome.out.size(), 1024U);
  EXPECT_EQ(outcome.result.output_bytes, 1024U);
  std::string expected;
  while (expected.size() < 1024) {
    expected += "y\n";
  }
  EXPECT_EQ(outcome.out, expected.substr(0, 1024));
}

// The program writes past the limit (less than a pipe holds) and ends before the daemon
// reads: the output is still cut at the limit and the task still ends at 153.
TEST_F(DockerBackendTest, OutputOverTheLimitWrittenJustBeforeTheExitIsAnOutputLimit) {
  const auto outcome = run("bash", "printf '%.0sab' $(seq 600)\nexit 0\n", {},
                           [](auto& limits) { limits.output_bytes = 1024; });
  EXPECT_EQ(outcome.result.status, Status::output_limit) << outcome.result.diagnostic;
  EXPECT_EQ(outcome.result.exit_code, 153);
  EXPECT_EQ(outcome.out.size(), 1024U);
}

TEST_F(DockerBackendTest, OutputExactlyAtTheLimitIsFine) {
  const auto outcome = run("bash", "printf '%.0sab' $(seq 512)\n", {},
                           [](auto& limits) { limits.output_bytes = 1024; });
  EXPECT_EQ(outcome.result.status, Status::exited) << outcome.result.diagnostic;
  EXPECT_EQ(outcome.out.size(), 1024U);
}

TEST_F(DockerBackendTest, SignalAndTheSameExitCodeAreDistinguished) {
  const auto segv = run("c", "#include <signal.h>\nint main(void){raise(SIGSEGV);return 0;}\n");
  EXPECT_EQ(segv.result.status, Status::signaled) << segv.result.diagnostic << segv.err;
  EXPECT_EQ(segv.result.exit_code, 139);
  EXPECT_EQ(segv.result.signal, 11);
  const auto exited = run("c", "#include <stdlib.h>\nint main(void){exit(139);}\n");
  EXPECT_EQ(exited.result.status, Status::exited) << exited.result.diagnostic << exited.err;
  EXPECT_EQ(exited.result.exit_code, 139);
  EXPECT_FALSE(exited.result.signal);
}

TEST_F(DockerBackendTest, CompileFailureReportsTheCompiler) {
  const auto outcome = run("c", "int main(void) { return nope; }\n");
  EXPECT_EQ(outcome.result.status, Status::compile_error);
  EXPECT_EQ(outcome.result.exit_code, 1);
  EXPECT_EQ(outcome.result.diagnostic, "compilation failed with exit code 1");
  EXPECT_NE(outcome.err.find("nope"), std::string::npos) << outcome.err;
  EXPECT_TRUE(outcome.out.empty());
}

TEST_F(DockerBackendTest, CancelStopsARunningTaskQuickly) {
  const os::Event cancel;
  RecordingSink live;
  std::atomic<bool> returned{false};
  Clock::time_point cancelled_at;
  std::thread canceller([&] {
    // The cancel lands in the running program (it has printed), not in the sandbox's setup.
    (void)wait_until([&] { return !live.chunks().empty() || returned.load(); }, 60s, 10ms);
    cancelled_at = Clock::now();
    cancel.set();
  });
  const auto outcome = run("bash", "echo started; sleep 30\n", {}, {}, &cancel, &live);
  returned = true;
  canceller.join();
  EXPECT_EQ(outcome.result.status, Status::cancelled);
  EXPECT_EQ(outcome.result.exit_code, 130);
  EXPECT_EQ(outcome.result.diagnostic, "cancelled");
  EXPECT_EQ(outcome.out, "started\n");
  EXPECT_LT(outcome.returned - cancelled_at, 1000ms);
}

TEST_F(DockerBackendTest, BinaryOutputIsIntact) {
  const auto outcome =
      run("python", "import sys\nsys.stdout.buffer.write(bytes(range(256)) * 3)\n");
  std::string expected;
  for (int round = 0; round < 3; ++round) {
    for (int byte = 0; byte < 256; ++byte) {
      expected.push_back(static_cast<char>(byte));
    }
  }
  EXPECT_EQ(outcome.out, expected);
}

TEST_F(DockerBackendTest, LargeOutputIsChunkedAndExact) {
  const auto outcome =
      run("python",
          "import sys\n"
          "sys.stdout.buffer.write(b''.join(b'%09d\\n' % i for i in range(50000)))\n");
  ASSERT_EQ(outcome.result.status, Status::exited) << outcome.err;
  std::string expected;
  for (int i = 0; i < 50000; ++i) {
    const std::string number = std::to_string(i);
    expected += std::string(9 - number.size(), '0') + number + "\n";
  }
  ASSERT_EQ(outcome.out.size(), 500000U);
  EXPECT_EQ(outcome.out, expected);
  for (const auto& chunk : outcome.chunks) {
    EXPECT_FALSE(chunk.bytes.empty());
    EXPECT_LE(chunk.bytes.size(), 65536U);
  }
}

TEST_F(DockerBackendTest, OutputIsStreamedWhileTheProgramRuns) {
  const auto outcome = run("python",
                           "import sys, time\n"
                           "print('first', flush=True)\n"
                           "time.sleep(1)\n"
                           "print('second')\n");
  ASSERT_EQ(outcome.out, "first\nsecond\n");
  ASSERT_FALSE(outcome.chunks.empty());
  EXPECT_EQ(outcome.chunks.front().bytes, "first\n");
  EXPECT_GE(outcome.returned - outcome.chunks.front().at, 800ms);
}

TEST_F(DockerBackendTest, ConcurrentTasksDoNotMix) {
  Outcome first;
  Outcome second;
  std::thread other([&] { first = run("bash", "for i in 1 2 3; do echo a$i; done\n"); });
  second = run("python", "for i in range(3): print('b%d' % i)\n");
  other.join();
  EXPECT_EQ(first.out, "a1\na2\na3\n");
  EXPECT_EQ(second.out, "b0\nb1\nb2\n");
}

// Runs `code` on `config`'s first runner through `backend`, to its end.
backend::TaskResult run_first_runner(backend::Backend& backend, const config::Config& config,
                                     const std::string& code) {
  backend::TaskSpec spec;
  spec.runner = &config.runners[0];
  spec.limits = config.runners[0].limits;
  spec.code = code;
  RecordingSink sink;
  const os::Event cancel;
  return backend.run(spec, sink, cancel);
}

TEST(DockerBackendFailures, MissingImageAnswersWithADiagnostic) {
  PLANIFICADOR_REQUIRE_DOCKER(harness());
  config::Config config = harness().config();
  config.runners.resize(1);
  config.runners[0].match = {"ghost"};
  config.runners[0].image = "planificador/does-not-exist";
  auto backend = backend::docker::make_docker_backend(config, harness().instance() + "-m");
  EXPECT_TRUE(backend->start());
  const auto result = run_first_runner(*backend, config, "x");
  EXPECT_EQ(result.status, Status::error);
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_EQ(result.diagnostic,
            "image planificador/does-not-exist is missing; run scripts/images.sh");
}

TEST(DockerBackendFailures, AbsentEngineAnswersWithADiagnostic) {
  PLANIFICADOR_REQUIRE_DOCKER(harness());
  config::Config config = harness().config();
  config.docker.socket = "/tmp/planificador-no-engine.sock";
  auto backend = backend::docker::make_docker_backend(config, harness().instance() + "-a");
  const auto started = backend->start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("engine unavailable"), std::string::npos);
  const auto result = run_first_runner(*backend, config, "print(1)\n");
  EXPECT_EQ(result.status, Status::error);
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_TRUE(result.diagnostic.starts_with("engine unavailable: ")) << result.diagnostic;
  EXPECT_NE(result.diagnostic.find("/tmp/planificador-no-engine.sock"), std::string::npos)
      << result.diagnostic;
}

TEST(DockerBackendFailures, UnknownRuntimeIsRefusedAtStartWithADiagnostic) {
  PLANIFICADOR_REQUIRE_DOCKER(harness());
  config::Config config = harness().config();
  config.docker.runtime = "no-such-runtime";
  auto backend = backend::docker::make_docker_backend(config, harness().instance() + "-r");
  const auto started = backend->start();
  ASSERT_FALSE(started);
  const std::string expected =
      "docker.runtime `no-such-runtime` is not one of the engine's runtimes (";
  EXPECT_TRUE(started.error().message.starts_with(expected)) << started.error().message;
  EXPECT_NE(started.error().message.find("runc"), std::string::npos) << started.error().message;
  const auto result = run_first_runner(*backend, config, "print(1)\n");
  EXPECT_EQ(result.status, Status::error);
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_TRUE(result.diagnostic.starts_with(expected)) << result.diagnostic;
}

// A container's helper socket lies under state_dir/<instance>/<container>: with a long
// state directory and executor name its path exceeds what a socket address holds (107
// bytes), and the daemon reaches it through its directory instead.
TEST(DockerBackendPaths, LongStateDirectoryAndInstanceNameStillServe) {
  PLANIFICADOR_REQUIRE_DOCKER(harness());
  config::Config config = harness().config();
  config.runners.resize(1);  // python
  config.runners[0].pool = 1;
  config.server.state_dir = "/tmp/planificador-it-" + std::string(90, 'd');
  const std::string instance = harness().instance() + "-" + std::string(80, 'e');
  {
    auto backend = backend::docker::make_docker_backend(config, instance);
    ASSERT_TRUE(backend->start());
    for (int task = 0; task < 2; ++task) {  // a fresh start, then the warm container
      const auto result = run_first_runner(*backend, config, "print('served')\n");
      EXPECT_EQ(result.status, Status::exited) << result.diagnostic;
      EXPECT_EQ(result.exit_code, 0) << result.diagnostic;
    }
    backend->stop();
  }
  std::error_code ignored;
  std::filesystem::remove_all(config.server.state_dir, ignored);
}

}  // namespace
}  // namespace planificador::testing
