// The Docker backend's warm pool against the real engine, runner images and helper: reuse
// without leaks between tasks, replacement of broken containers, per-task figures.

#include "planificador/backend/docker/pool.hpp"

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <unistd.h>

#include "docker_harness.hpp"
#include "wait.hpp"
#include <gtest/gtest.h>

#include "planificador/backend/docker/docker_backend.hpp"

namespace planificador::testing {
namespace {

using backend::docker::PoolStats;
using protocol::Status;
using namespace std::chrono_literals;

std::string unique_instance() {
  static int counter = 0;
  return "pool" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

// A Docker backend of its own, with pool sizes set per test.
class PoolBackend {
 public:
  explicit PoolBackend(const std::function<void(config::Runner&)>& adjust)
      : m_instance(unique_instance()), m_config(load()), m_engine(m_config.docker.socket) {
    for (auto& runner : m_config.runners) {
      runner.pool = 0;
      adjust(runner);
    }
    m_backend = backend::docker::make_docker_backend(m_config, m_instance);
    m_started = m_backend->start().has_value();
  }
  PoolBackend(const PoolBackend&) = delete;
  PoolBackend& operator=(const PoolBackend&) = delete;
  ~PoolBackend() { m_backend->stop(); }

  [[nodiscard]] bool started() const { return m_started; }
  backend::Backend& backend() { return *m_backend; }
  const backend::docker::EngineClient& engine() const { return m_engine; }

  [[nodiscard]] std::string image_of(const std::string& name) const {
    const auto* runner = config::match_runner(m_config, name);
    return runner != nullptr ? runner->image : std::string();
  }

  [[nodiscard]] PoolStats stats(const std::string& name) const {
    return backend::docker::docker_pool_stats(*m_backend, image_of(name)).value_or(PoolStats{});
  }

  // Waits until the pool of `name` has `count` idle containers.
  [[nodiscard]] bool wait_idle(const std::string& name, std::size_t count,
                               std::chrono::milliseconds timeout = 60s) const {
    return wait_until([&] { return stats(name).idle == count; }, timeout, 20ms);
  }

  // Every container of this backend (pooled or not).
  [[nodiscard]] std::vector<backend::docker::ContainerSummary> containers() const {
    auto listed = m_engine.list_by_label("org.planificador.instance=" + m_instance);
    return listed ? *listed : std::vector<backend::docker::ContainerSummary>{};
  }

  // `live`, when given, receives the output as it comes (for a test that waits on it).
  Outcome run(const std::string& name, const std::string& code,
              const std::function<void(config::Limits&)>& adjust = {},
              RecordingSink* live = nullptr) {
    backend::TaskSpec spec;
    const std::string id = "pool-task-" + std::to_string(++m_tasks);
    std::copy(id.begin(), id.end(), spec.id.bytes.begin());
    spec.runner = config::match_runner(m_config, name);
    spec.code = code;
    spec.limits = spec.runner->limits;
    if (adjust) {
      adjust(spec.limits);
    }
    RecordingSink own;
    RecordingSink& sink = live != nullptr ? *live : own;
    const os::Event never;
    Outcome outcome;
    outcome.started = Clock::now();
    outcome.result = m_backend->run(spec, sink, never);
    outcome.returned = Clock::now();
    outcome.chunks = sink.chunks();
    for (const auto& chunk : outcome.chunks) {
      (chunk.stream == protocol::Stream::out ? outcome.out : outcome.err) += chunk.bytes;
    }
    return outcome;
  }

 private:
  static config::Config load() {
    auto loaded = config::load(std::string(PLANIFICADOR_SOURCE_DIR) + "/config.toml");
    config::Config config = loaded ? std::move(*loaded) : config::Config{};
    config.docker.helper = test_helper(PLANIFICADOR_BINARY_DIR);
    config.server.state_dir = "/tmp/planificador-it";
    return config;
  }

  std::string m_instance;
  config::Config m_config;
  backend::docker::EngineClient m_engine;
  std::unique_ptr<backend::Backend> m_backend;
  bool m_started = false;
  std::uint64_t m_tasks = 0;
};

// What is missing for real runs (engine, helper, runner images); "" when ready.
const std::string& missing() {
  static const std::string text = [] {
    auto loaded = config::load(std::string(PLANIFICADOR_SOURCE_DIR) + "/config.toml");
    if (!loaded) {
      return "config.toml: " + loaded.error().message;
    }
    const std::string helper = test_helper(PLANIFICADOR_BINARY_DIR);
    if (::access(helper.c_str(), X_OK) != 0) {
      return "helper " + helper + " (build planificador-sandboxd)";
    }
    const backend::docker::EngineClient engine(loaded->docker.socket);
    if (auto ping = engine.ping(); !ping) {
      return "Docker engine: " + ping.error().message + " (run scripts/engine.sh)";
    }
    for (const auto& runner : loaded->runners) {
      auto exists = engine.image_exists(runner.image);
      if (!exists || !*exists) {
        return "image " + runner.image + " (run scripts/images.sh)";
      }
    }
    return std::string();
  }();
  return text;
}

// Every pool test runs once per isolation mode.
class PoolTest : public ::testing::TestWithParam<config::Isolation> {
 protected:
  void SetUp() override { PLANIFICADOR_REQUIRE_NOTHING_MISSING(missing()); }

  // A backend whose runner matching `name` keeps a pool of `size` (others none).
  static std::unique_ptr<PoolBackend> with_pool(const std::string& name, std::size_t size,
                                                std::size_t max_tasks = 200) {
    auto pool = std::make_unique<PoolBackend>([&](config::Runner& runner) {
      runner.isolation = GetParam();
      if (std::find(runner.match.begin(), runner.match.end(), name) != runner.match.end()) {
        runner.pool = size;
        runner.max_tasks = max_tasks;
      }
    });
    EXPECT_TRUE(pool->started());
    EXPECT_TRUE(pool->wait_idle(name, size)) << "the pool of " << name << " did not fill";
    return pool;
  }
};

TEST_P(PoolTest, HelloWorldOnEveryRunnerThroughThePool) {
  PoolBackend pools([](config::Runner& runner) {
    runner.pool = 1;
    runner.isolation = GetParam();
  });
  ASSERT_TRUE(pools.started());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"python", "print('hello')\n"},
      {"c", "#include <stdio.h>\nint main(void){puts(\"hello\");return 0;}\n"},
      {"cpp", "#include <iostream>\nint main(){std::cout<<\"hello\\n\";}\n"},
      {"bash", "echo hello\n"},
      {"node", "console.log('hello')\n"}};
  for (const auto& [name, code] : cases) {
    ASSERT_TRUE(pools.wait_idle(name, 1)) << name;
    for (int round = 0; round < 2; ++round) {
      const auto outcome = pools.run(name, code);
      EXPECT_EQ(outcome.result.status, Status::exited) << name << outcome.result.diagnostic;
      EXPECT_EQ(outcome.out, "hello\n") << name;
      std::printf("[ timing ] %s hello world through the pool: %lld ms\n", name.c_str(),
                  static_cast<long long>(outcome.elapsed().count()));
    }
    const auto stats = pools.stats(name);
    EXPECT_EQ(stats.served, 2U) << name;
    EXPECT_EQ(stats.reused, 1U) << name;
    EXPECT_EQ(stats.retired, 0U) << name;
  }
}

TEST_P(PoolTest, FilesOfOneTaskAreNeverSeenByTheNext) {
  auto pool = with_pool("bash", 1);
  const std::string write =
      "for d in /tmp /dev/shm /var/tmp \"$PWD\" /dev /dev/mqueue \"$HOME\" /; do\n"
      "  echo secret > \"$d/pool-leak-marker\" 2>/dev/null && echo \"wrote $d\"\n"
      "done\n";
  const std::string look =
      "for d in /tmp /dev/shm /var/tmp \"$PWD\" /dev /dev/mqueue \"$HOME\" /; do\n"
      "  if [ -e \"$d/pool-leak-marker\" ]; then echo \"found $d\"; fi\n"
      "done\n"
      "echo checked\n";
  for (int round = 0; round < 5; ++round) {
    const auto wrote = pool->run("bash", write);
    EXPECT_EQ(wrote.result.status, Status::exited) << wrote.err;
    EXPECT_NE(wrote.out.find("wrote /tmp"), std::string::npos) << wrote.out;
    EXPECT_NE(wrote.out.find("wrote /dev/shm"), std::string::npos) << wrote.out;
    const auto looked = pool->run("bash", look);
    EXPECT_EQ(looked.out, "checked\n") << "round " << round;
  }
  const auto stats = pool->stats("bash");
  EXPECT_EQ(stats.created, 1U) << "every task ran in the one warm container";
  EXPECT_EQ(stats.served, 10U);
  EXPECT_EQ(stats.reused, 9U);
  EXPECT_EQ(stats.retired, 0U);
}

TEST_P(PoolTest, ABackgroundProcessNeverOutlivesItsTask) {
  auto pool = with_pool("bash", 1);
  // The sleeper keeps writing a marker into the work directory and /dev/shm.
  const auto left = pool->run(
      "bash",
      "dir=\"$PWD\"\n"
      "setsid bash -c \"for i in \\$(seq 1 200); do echo alive > $dir/sleeper-marker;"
      " echo alive > /dev/shm/sleeper-marker; sleep 0.05; done\" </dev/null >/dev/null 2>&1 &\n"
      "sleep 0.3\n"
      "cat sleeper-marker\n");
  EXPECT_EQ(left.result.status, Status::exited) << left.err;
  EXPECT_EQ(left.out, "alive\n");
  const auto next = pool->run("bash",
                              "sleep 1\n"
                              "ls -a \"$PWD\" /dev/shm | grep sleeper-marker || echo none\n");
  EXPECT_EQ(next.out, "none\n") << next.err;
  EXPECT_EQ(pool->stats("bash").created, 1U);
  EXPECT_EQ(pool->stats("bash").reused, 1U);
}

TEST_P(PoolTest, KillEverythingInsideLeavesThePoolHealthy) {
  auto pool = with_pool("bash", 1);
  // How the killer itself ends is the sandbox's business (its own init may die first);
  // here it matters that it is answered and that the container serves on, clean.
  const auto killer = pool->run("bash", "kill -9 -1; echo survived\n");
  EXPECT_LT(killer.elapsed(), 20s);
  EXPECT_EQ(pool->stats("bash").retired, 0U) << killer.result.diagnostic;
  ASSERT_TRUE(pool->wait_idle("bash", 1));
  for (int round = 0; round < 3; ++round) {
    const auto after = pool->run("bash", "echo hello\n");
    EXPECT_EQ(after.result.status, Status::exited) << after.result.diagnostic;
    EXPECT_EQ(after.out, "hello\n");
  }
  EXPECT_EQ(pool->stats("bash").served, 4U);
  EXPECT_EQ(pool->stats("bash").created, 1U);
}

std::vector<std::string> pooled_ids(const PoolBackend& pool) {
  std::vector<std::string> ids;
  for (const auto& container : pool.containers()) {
    if (container.state == "running") {
      ids.push_back(container.id);
    }
  }
  return ids;
}

TEST_P(PoolTest, AContainerKilledWhileIdleIsReplaced) {
  auto pool = with_pool("bash", 1);
  const auto before = pooled_ids(*pool);
  ASSERT_EQ(before.size(), 1U);
  ASSERT_TRUE(pool->engine().kill(before[0]).has_value());
  ASSERT_TRUE(wait_until([&] { return pool->stats("bash").retired == 1; }, 30s, 20ms));
  ASSERT_TRUE(pool->wait_idle("bash", 1));
  const auto after = pooled_ids(*pool);
  ASSERT_EQ(after.size(), 1U);
  EXPECT_NE(after[0], before[0]);
  const auto outcome = pool->run("bash", "echo hello\n");
  EXPECT_EQ(outcome.result.status, Status::exited) << outcome.result.diagnostic;
  EXPECT_EQ(outcome.out, "hello\n");
}

TEST_P(PoolTest, AContainerKilledDuringATaskAnswersItAndIsReplaced) {
  auto pool = with_pool("bash", 1);
  const auto before = pooled_ids(*pool);
  ASSERT_EQ(before.size(), 1U);
  Outcome outcome;
  RecordingSink live;
  std::thread task([&] { outcome = pool->run("bash", "echo started; sleep 30\n", {}, &live); });
  ASSERT_TRUE(wait_until([&] { return pool->stats("bash").busy == 1; }, 10s, 20ms));
  // The kill lands in the program, not in the sandbox's setup: it has printed.
  EXPECT_TRUE(wait_until([&] { return !live.chunks().empty(); }, 20s, 20ms));
  ASSERT_TRUE(pool->engine().kill(before[0]).has_value());
  task.join();
  EXPECT_EQ(outcome.result.status, Status::error);
  EXPECT_EQ(outcome.result.exit_code, 125);
  EXPECT_NE(outcome.result.diagnostic.find("sandbox container died"), std::string::npos)
      << outcome.result.diagnostic;
  EXPECT_LT(outcome.elapsed(), 20s);
  ASSERT_TRUE(pool->wait_idle("bash", 1));
  const auto after = pooled_ids(*pool);
  ASSERT_EQ(after.size(), 1U);
  EXPECT_NE(after[0], before[0]);
  EXPECT_EQ(pool->run("bash", "echo hello\n").out, "hello\n");
}

TEST_P(PoolTest, MemoryPeakIsPerTask) {
  auto pool = with_pool("python", 1);
  const auto big = pool->run("python", "data = b'x' * (120 << 20)\nprint(len(data))\n");
  EXPECT_EQ(big.result.status, Status::exited) << big.err;
  EXPECT_GE(big.result.memory_peak_bytes, std::uint64_t{120} << 20);
  const auto small = pool->run("python", "print(1)\n");
  EXPECT_EQ(small.result.status, Status::exited) << small.err;
  EXPECT_GT(small.result.memory_peak_bytes, 0U);
  EXPECT_LT(small.result.memory_peak_bytes, std::uint64_t{60} << 20);
  EXPECT_EQ(pool->stats("python").reused, 1U) << "both tasks ran in the same container";
}

TEST_P(PoolTest, ALowerMemoryLimitGetsAFreshContainerHeldToIt) {
  auto pool = with_pool("python", 1);
  const auto outcome = pool->run("python", "data = b'x' * (120 << 20)\nprint(len(data))\n",
                                 [](config::Limits& limits) { limits.memory_bytes = 64 << 20; });
  EXPECT_EQ(outcome.result.status, Status::memory_limit) << outcome.result.diagnostic;
  EXPECT_EQ(pool->stats("python").served, 0U);
  const auto fitting = pool->run("python", "print('ok')\n");
  EXPECT_EQ(fitting.out, "ok\n");
  EXPECT_EQ(pool->stats("python").served, 1U);
}

TEST_P(PoolTest, AnOutOfMemoryTaskRetiresItsContainer) {
  auto pool = with_pool("python", 1);
  const auto hog = pool->run("python", "data = b'x' * (1 << 30)\nprint(len(data))\n");
  EXPECT_EQ(hog.result.status, Status::memory_limit) << hog.result.diagnostic;
  EXPECT_EQ(pool->stats("python").retired, 1U);
  ASSERT_TRUE(pool->wait_idle("python", 1));
  EXPECT_EQ(pool->run("python", "print('ok')\n").out, "ok\n");
  EXPECT_EQ(pool->stats("python").created, 2U);
}

TEST_P(PoolTest, ATaskStoppedAtItsTimeLimitLeavesItsContainerReusable) {
  auto pool = with_pool("bash", 1);
  const auto slow =
      pool->run("bash", "sleep 30\n", [](config::Limits& limits) { limits.wall_ms = 500; });
  EXPECT_EQ(slow.result.status, Status::time_limit) << slow.result.diagnostic;
  EXPECT_EQ(pool->run("bash", "echo hello\n").out, "hello\n");
  const auto stats = pool->stats("bash");
  EXPECT_EQ(stats.retired, 0U);
  EXPECT_EQ(stats.reused, 1U);
}

TEST_P(PoolTest, AContainerIsRetiredAfterMaxTasks) {
  auto pool = with_pool("bash", 1, 3);
  for (int task = 0; task < 7; ++task) {
    ASSERT_TRUE(pool->wait_idle("bash", 1));
    EXPECT_EQ(pool->run("bash", "echo hello\n").out, "hello\n");
  }
  ASSERT_TRUE(pool->wait_idle("bash", 1));
  const auto stats = pool->stats("bash");
  EXPECT_EQ(stats.served, 7U);
  EXPECT_EQ(stats.retired, 2U);
  EXPECT_EQ(stats.created, 3U);
  // The retired ones are removed in the background: none is left behind.
  EXPECT_TRUE(wait_until([&] { return pool->containers().size() == 1; }, 30s, 20ms))
      << pool->containers().size() << " containers";
}

// Pool 0: the task's outcome comes back before its container is removed (the removal runs
// behind it), the removal still happens, and a stop right after a task removes the
// container it did not wait for.
TEST_P(PoolTest, PoolZeroRemovesBehindItsTasksAndOnStop) {
  auto pool = with_pool("bash", 0);
  for (int task = 0; task < 3; ++task) {
    EXPECT_EQ(pool->run("bash", "echo fresh\n").out, "fresh\n");
  }
  EXPECT_TRUE(wait_until([&] { return pool->containers().empty(); }, 30s, 20ms))
      << pool->containers().size() << " containers";
  EXPECT_EQ(pool->run("bash", "echo last\n").out, "last\n");
  pool->backend().stop();
  EXPECT_TRUE(pool->containers().empty()) << pool->containers().size() << " left after stop";
}

TEST_P(PoolTest, StopRemovesEveryContainer) {
  auto pool = with_pool("bash", 2);
  EXPECT_EQ(pool->run("bash", "echo hello\n").out, "hello\n");
  ASSERT_TRUE(pool->wait_idle("bash", 2));
  EXPECT_EQ(pool->containers().size(), 2U);
  pool->backend().stop();
  EXPECT_TRUE(pool->containers().empty());
  const auto refused = pool->run("bash", "echo hello\n");
  EXPECT_EQ(refused.result.status, Status::error);
}

// The four writable directories stay between tasks (the sandbox binds them); what a task
// can record on a directory itself, extended attributes and times, is cleared too.
TEST_P(PoolTest, MetadataOnTheWritableDirectoriesIsNeverSeenByTheNext) {
  auto pool = with_pool("python", 1);
  const auto left = pool->run("python",
                              "import os\n"
                              "for d in ['/tmp', '/dev/shm', '/var/tmp', os.getcwd()]:\n"
                              "    os.setxattr(d, 'user.leak', b'secret')\n"
                              "    os.utime(d, (1234567, 1234567))\n"
                              "print('left')\n");
  EXPECT_EQ(left.out, "left\n") << left.err;
  const auto looked =
      pool->run("python",
                "import os\n"
                "for d in ['/tmp', '/dev/shm', '/var/tmp', os.getcwd()]:\n"
                "    print(os.listxattr(d), int(os.stat(d).st_mtime) == 1234567)\n");
  EXPECT_EQ(looked.out, "[] False\n[] False\n[] False\n[] False\n") << looked.err;
  EXPECT_EQ(pool->stats("python").created, 1U);
}

// System V IPC objects and POSIX message queues outlive the processes that made them; in
// fast mode the IPC namespace is shared by every task of the container, so the zygote
// removes them between tasks.
TEST_P(PoolTest, IpcObjectsOfOneTaskAreNeverSeenByTheNext) {
  auto pool = with_pool("c", 1);
  const std::string leave =
      "#include <fcntl.h>\n#include <mqueue.h>\n#include <stdio.h>\n#include <sys/shm.h>\n"
      "#include <sys/msg.h>\n#include <sys/sem.h>\n"
      "int main(void){\n"
      "  int shm = shmget(0x5eed, 4096, IPC_CREAT | 0600);\n"
      "  int msg = msgget(0x5eed, IPC_CREAT | 0600);\n"
      "  int sem = semget(0x5eed, 1, IPC_CREAT | 0600);\n"
      "  mqd_t mq = mq_open(\"/planificador-leak\", O_CREAT | O_RDWR, 0600, NULL);\n"
      "  printf(\"%d %d %d %d\\n\", shm >= 0, msg >= 0, sem >= 0, mq != (mqd_t)-1);\n"
      "  return 0;\n}\n";
  const std::string look =
      "#include <fcntl.h>\n#include <mqueue.h>\n#include <stdio.h>\n#include <sys/shm.h>\n"
      "#include <sys/msg.h>\n#include <sys/sem.h>\n"
      "int main(void){\n"
      "  printf(\"%d %d %d %d\\n\", shmget(0x5eed, 0, 0) >= 0, msgget(0x5eed, 0) >= 0,\n"
      "         semget(0x5eed, 0, 0) >= 0,\n"
      "         mq_open(\"/planificador-leak\", O_RDONLY) != (mqd_t)-1);\n"
      "  return 0;\n}\n";
  const auto left = pool->run("c", leave);
  EXPECT_EQ(left.out, "1 1 1 1\n") << left.err << left.result.diagnostic;
  const auto looked = pool->run("c", look);
  EXPECT_EQ(looked.out, "0 0 0 0\n") << looked.err << looked.result.diagnostic;
  EXPECT_EQ(pool->stats("c").created, 1U) << "both tasks ran in the one warm container";
}

// The sandbox's PID 1 is the zygote: a task can neither kill it nor read its memory,
// environment or descriptors, and the container serves on.
TEST_P(PoolTest, TheSandboxInitIsOutOfATasksReach) {
  auto pool = with_pool("bash", 1);
  const auto attack = pool->run("bash",
                                "kill -9 1 2>/dev/null; kill -TERM 1 2>/dev/null\n"
                                "head -c 1 /proc/1/mem >/dev/null 2>&1 && echo read-mem\n"
                                "cat /proc/1/environ >/dev/null 2>&1 && echo read-environ\n"
                                "ls /proc/1/fd >/dev/null 2>&1 && echo read-fds\n"
                                "echo done\n");
  EXPECT_EQ(attack.result.status, Status::exited) << attack.result.diagnostic;
  EXPECT_EQ(attack.out, "done\n");
  const auto after = pool->run("bash", "echo hello\n");
  EXPECT_EQ(after.out, "hello\n") << after.result.diagnostic;
  EXPECT_EQ(pool->stats("bash").created, 1U);
  EXPECT_EQ(pool->stats("bash").retired, 0U);
}

// Fast mode keeps one sandbox for many tasks; strict starts a new one for each. The start
// time of the sandbox's PID 1 (field 22 of /proc/1/stat) tells them apart.
TEST_P(PoolTest, FastKeepsItsSandboxStrictRenewsIt) {
  auto pool = with_pool("bash", 1);
  // Every program has PID, mount, IPC and network namespaces of its own; the sandbox's UTS
  // namespace is what a kept sandbox shares between its tasks.
  const std::string read_uts = "readlink /proc/self/ns/uts\n";
  const auto first = pool->run("bash", read_uts);
  // The second task takes the pool's one container once it is back (renewed, in strict).
  ASSERT_TRUE(pool->wait_idle("bash", 1));
  const auto second = pool->run("bash", read_uts);
  ASSERT_FALSE(first.out.empty()) << first.err;
  if (GetParam() == config::Isolation::fast) {
    EXPECT_EQ(first.out, second.out);
  } else {
    EXPECT_NE(first.out, second.out);
  }
  EXPECT_EQ(pool->stats("bash").created, 1U);
}

INSTANTIATE_TEST_SUITE_P(Isolation, PoolTest,
                         ::testing::Values(config::Isolation::strict, config::Isolation::fast),
                         [](const ::testing::TestParamInfo<config::Isolation>& mode) {
                           return mode.param == config::Isolation::fast ? "fast" : "strict";
                         });

}  // namespace
}  // namespace planificador::testing
