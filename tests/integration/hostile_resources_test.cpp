// Hostile programs against the resource limits (SPEC §3): processes, memory, output, disk
// and time. Each attack must end with its limit's exit code and diagnostic, in every pool
// mode, and leave the backend serving.

#include <algorithm>
#include <fstream>
#include <iostream>
#include <regex>
#include <sys/resource.h>

#include "hostile_fixture.hpp"

namespace planificador::testing {
namespace {

using protocol::Status;
using namespace std::chrono_literals;

constexpr std::uint64_t k_memory_bytes = std::uint64_t{128} << 20;
constexpr std::uint64_t k_pids = 32;
constexpr std::uint64_t k_output_bytes = std::uint64_t{16} << 20;
constexpr std::uint64_t k_flood_limit = 100000;
constexpr std::size_t k_long_line = std::size_t{10} * 1000 * 1000;

class HostileResources : public HostileTest {
 protected:
  // The memory and pids limits are the runners' own (not lowered per task): a task that
  // asks for less runs in a fresh container, which would skip the warm pool. A large
  // output limit lets one 10 MB line through whole; the floods lower it per task.
  void configure(config::Config& config) const override {
    for (auto& runner : config.runners) {
      runner.limits.memory_bytes = k_memory_bytes;
      runner.limits.pids = k_pids;
      runner.limits.output_bytes = k_output_bytes;
    }
  }

  // A fork bomb (argv[1] marks its processes): held by the pids limit until the wall
  // clock ends it, and not one of its processes survives on the host.
  void expect_fork_bomb_contained(const std::string& image, const std::string& program) {
    const std::string marker = unique_marker();
    protocol::TaskOptions options;
    options.args = {marker};
    const auto outcome =
        attack(image, program, options, [](auto& limits) { limits.wall_ms = 2000; });
    EXPECT_EQ(outcome.result.status, Status::time_limit) << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 124);
    EXPECT_EQ(outcome.result.diagnostic, "time limit of 2000 ms exceeded");
    EXPECT_LT(outcome.elapsed(), 15s);
    EXPECT_EQ(host_processes_with_argument(marker), 0) << "a fork bomb process survived";
  }

  void expect_memory_limit(const std::string& image, const std::string& program) {
    const auto outcome = attack(image, program);
    EXPECT_EQ(outcome.result.status, Status::memory_limit) << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 137);
    EXPECT_EQ(outcome.result.diagnostic,
              "memory limit of " + std::to_string(k_memory_bytes) + " bytes exceeded");
    EXPECT_EQ(outcome.out.find("allocated"), std::string::npos) << outcome.out;
    EXPECT_LT(outcome.elapsed(), 20s);
  }

  // The limit counts stdout and stderr together, cuts exactly at it, in chunks of at most
  // chunk_bytes, none empty.
  void expect_output_limit(const Outcome& outcome, std::uint64_t limit) {
    EXPECT_EQ(outcome.result.status, Status::output_limit) << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 153);
    EXPECT_EQ(outcome.result.diagnostic,
              "output limit of " + std::to_string(limit) + " bytes exceeded");
    EXPECT_EQ(outcome.out.size() + outcome.err.size(), limit);
    EXPECT_EQ(outcome.result.output_bytes, limit);
    for (const auto& chunk : outcome.chunks) {
      EXPECT_FALSE(chunk.bytes.empty());
      EXPECT_LE(chunk.bytes.size(), harness().config().output.chunk_bytes);
    }
    EXPECT_LT(outcome.elapsed(), 10s);
  }

  Outcome flood(const std::string& image, const std::string& program) {
    return attack(image, program, {}, [](auto& limits) { limits.output_bytes = k_flood_limit; });
  }

  // Within the limit, one 10 MB line arrives byte for byte, cut into bounded chunks.
  void expect_long_line_whole(const std::string& image, const std::string& program) {
    const auto outcome = attack(image, program);
    EXPECT_EQ(outcome.result.status, Status::exited) << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 0);
    EXPECT_EQ(outcome.out.size(), k_long_line + 1);
    EXPECT_TRUE(outcome.out == std::string(k_long_line, 'x') + "\n") << "the line's bytes differ";
    for (const auto& chunk : outcome.chunks) {
      EXPECT_FALSE(chunk.bytes.empty());
      EXPECT_LE(chunk.bytes.size(), harness().config().output.chunk_bytes);
    }
  }

  void expect_cpu_limit(const std::string& image, const std::string& program) {
    const auto outcome = attack(image, program, {}, [](auto& limits) {
      limits.cpu_ms = 1000;
      limits.wall_ms = 8000;
    });
    EXPECT_EQ(outcome.result.status, Status::cpu_limit) << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 152);
    EXPECT_EQ(outcome.result.diagnostic, "CPU time limit of 1000 ms exceeded");
    EXPECT_GE(outcome.result.cpu_ms, 1000U);
    EXPECT_LT(outcome.elapsed(), 10s);
  }

  // A sleeper uses no CPU: the wall clock ends it even though its CPU allowance (twice
  // the wall time, more than one core can use) is never reached.
  void expect_wall_limit(const std::string& image, const std::string& program) {
    const auto outcome = attack(image, program, {}, [](auto& limits) {
      limits.wall_ms = 1000;
      limits.cpu_ms = 2000;
    });
    EXPECT_EQ(outcome.result.status, Status::time_limit) << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 124);
    EXPECT_EQ(outcome.result.diagnostic, "time limit of 1000 ms exceeded");
    EXPECT_GE(outcome.result.wall_ms, 1000U);
    EXPECT_LT(outcome.elapsed(), 6s);
  }
};

TEST_P(HostileResources, ForkBombInC) { expect_fork_bomb_contained("c", "fork_bomb.c"); }

TEST_P(HostileResources, ForkBombInBash) { expect_fork_bomb_contained("bash", "fork_bomb.sh"); }

TEST_P(HostileResources, MemoryBombMalloc) { expect_memory_limit("c", "memory_bomb.c"); }

TEST_P(HostileResources, MemoryBombMmap) { expect_memory_limit("c", "memory_bomb_mmap.c"); }

TEST_P(HostileResources, MemoryBombPython) { expect_memory_limit("python", "memory_bomb.py"); }

TEST_P(HostileResources, MemoryBombInAChildProcess) {
  expect_memory_limit("python", "memory_bomb_child.py");
}

TEST_P(HostileResources, MemoryBombNodeBuffer) {
  expect_memory_limit("node", "memory_bomb_buffer.js");
}

TEST_P(HostileResources, MemoryBombNodeArrayBuffer) {
  expect_memory_limit("node", "memory_bomb_arraybuffer.js");
}

// Socket buffers are memory: on cgroup v1 they are charged apart from the memory counter
// and the kernel refuses them at a limit of their own rather than kill, so the daemon
// ends the task when memory and socket buffers together cross the limit.
TEST_P(HostileResources, LoopbackSocketBuffers) { expect_memory_limit("c", "socket_buffers.c"); }

// Returns the CPU time this process (the test, with the backend in it) used so far.
std::chrono::milliseconds own_cpu_time() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto ms = [](const timeval& time) {
    return std::chrono::milliseconds(time.tv_sec * 1000 + time.tv_usec / 1000);
  };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

// One byte at a time, alternating stdout and stderr, each waited for until the daemon read
// it: such a pipe is read again only at the next flush, so the program pays with its own
// wall time, the wall limit ends it on time, and neither the daemon's CPU nor the frames
// grow with the bytes (before: a frame per byte, seconds of the daemon's CPU per MiB).
TEST_P(HostileResources, OneByteWritesWaitedForCostTheTaskNotTheDaemon) {
  protocol::TaskOptions options;
  options.args = {"wait"};
  const auto cpu_before = own_cpu_time();
  const auto outcome = attack("c", "alternating_bytes.c", options, [](auto& limits) {
    limits.wall_ms = 3000;
    limits.cpu_ms = 10000;
  });
  const auto cpu_used = own_cpu_time() - cpu_before;
  EXPECT_EQ(outcome.result.status, Status::time_limit) << describe(outcome);
  EXPECT_LT(outcome.elapsed(), 6s) << "the wall limit stretched";
  // At most 8 runs per 10 ms flush window; a frame per byte would be ~1,000 per 10 ms.
  EXPECT_LT(outcome.chunks.size(), 3000U) << "bytes: " << outcome.out.size() + outcome.err.size();
  EXPECT_LT(cpu_used, 1500ms) << outcome.chunks.size() << " chunks";
  EXPECT_EQ(outcome.out.find_first_not_of('o'), std::string::npos);
  EXPECT_EQ(outcome.err.find_first_not_of('e'), std::string::npos);
}

// The same without waiting: the pipes fill, reads are large, and what one flush holds goes
// out as a few frames, every byte in order within its stream.
TEST_P(HostileResources, OneByteWritesUnwaitedAreCoalesced) {
  const auto outcome = attack("c", "alternating_bytes.c", {}, [](auto& limits) {
    limits.wall_ms = 20000;
    limits.cpu_ms = 20000;
  });
  EXPECT_EQ(outcome.result.status, Status::exited) << describe(outcome);
  EXPECT_EQ(outcome.out, std::string(std::size_t{1} << 19, 'o'));
  EXPECT_EQ(outcome.err, std::string(std::size_t{1} << 19, 'e'));
  EXPECT_LT(outcome.chunks.size(), 20000U);
}

// A task's memory peak is its own: page cache the previous task of the container left
// (the kernel resets a peak to the usage at that moment, cache included) is not in it.
TEST_P(HostileResources, PageCacheOfAnEarlierTaskIsNotInThePeak) {
  // Pages are charged to the first cgroup that reads them: the image's files must not be
  // in the host's page cache already, or no task would be charged for them.
  ASSERT_TRUE(std::ofstream("/proc/sys/vm/drop_caches") << "1\n") << "the test runs as root";
  const auto filled = attack("bash", "fill_page_cache.sh");
  ASSERT_EQ(filled.out, "read\n") << describe(filled);
  const auto echo = run_code("bash", "echo hi\n");
  EXPECT_EQ(echo.out, "hi\n");
  EXPECT_GT(echo.result.memory_peak_bytes, 0U);
  EXPECT_LT(echo.result.memory_peak_bytes, std::uint64_t{24} << 20)
      << "the first task's peak was " << filled.result.memory_peak_bytes;
  std::cout << "[figure] " << to_string(mode()) << ": peak after reading files "
            << filled.result.memory_peak_bytes << ", of the next echo "
            << echo.result.memory_peak_bytes << "\n";
}

TEST_P(HostileResources, OutputFloodOnStdoutBash) {
  const auto outcome = flood("bash", "output_flood.sh");
  expect_output_limit(outcome, k_flood_limit);
  EXPECT_TRUE(outcome.err.empty());
}

TEST_P(HostileResources, OutputFloodOnStdoutNode) {
  const auto outcome = flood("node", "output_flood.js");
  expect_output_limit(outcome, k_flood_limit);
  EXPECT_TRUE(outcome.err.empty());
}

TEST_P(HostileResources, OutputFloodOnStderr) {
  const auto outcome = flood("bash", "output_flood_stderr.sh");
  expect_output_limit(outcome, k_flood_limit);
  EXPECT_TRUE(outcome.out.empty());
}

TEST_P(HostileResources, OutputFloodOnBothStreamsPython) {
  expect_output_limit(flood("python", "output_flood_both.py"), k_flood_limit);
}

TEST_P(HostileResources, OutputFloodOnBothStreamsC) {
  const auto outcome = flood("c", "output_flood_both.c");
  expect_output_limit(outcome, k_flood_limit);
  EXPECT_FALSE(outcome.out.empty());
  EXPECT_FALSE(outcome.err.empty());
}

TEST_P(HostileResources, TenMegabyteLineIsCutAtTheLimit) {
  const std::uint64_t limit = std::uint64_t{1} << 20;
  const auto outcome =
      attack("python", "long_line.py", {}, [&](auto& limits) { limits.output_bytes = limit; });
  expect_output_limit(outcome, limit);
  EXPECT_EQ(outcome.out, std::string(limit, 'x'));
}

TEST_P(HostileResources, TenMegabyteLineInPythonArrivesWhole) {
  expect_long_line_whole("python", "long_line.py");
}

TEST_P(HostileResources, TenMegabyteLineInCArrivesWhole) {
  expect_long_line_whole("c", "long_line.c");
}

// Every writable place shares one size-limited tmpfs: the first fill takes it all, the
// others are already full, `/` is read-only. The program leaves its files behind; a
// second run must find the space free again (in a warm container: it was wiped).
TEST_P(HostileResources, DiskFillOfEveryWritablePlace) {
  for (int round = 1; round <= 2; ++round) {
    const auto outcome = attack("python", "disk_fill.py");
    ASSERT_EQ(outcome.result.status, Status::exited) << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 0) << outcome.err;
    for (const char* place : {"/work", "/tmp", "/var/tmp", "/dev/shm"}) {
      const std::regex full(std::string("(^|\n)") + place + ": (ENOSPC|EDQUOT) after \\d+ MiB");
      EXPECT_TRUE(std::regex_search(outcome.out, full)) << place << " in round " << round << ":\n"
                                                        << outcome.out;
    }
    EXPECT_NE(outcome.out.find("\n/: EROFS after 0 MiB"), std::string::npos) << outcome.out;
    std::smatch first;
    ASSERT_TRUE(std::regex_search(outcome.out, first, std::regex("^/work: \\w+ after (\\d+) MiB")))
        << outcome.out;
    EXPECT_GE(std::stoi(first[1]), 48) << "round " << round << " found the space taken";
  }
}

TEST_P(HostileResources, BusyLoopInCHitsTheCpuLimit) { expect_cpu_limit("c", "busy_loop.c"); }

TEST_P(HostileResources, BusyLoopInPythonHitsTheCpuLimit) {
  expect_cpu_limit("python", "busy_loop.py");
}

TEST_P(HostileResources, BusyLoopInNodeHitsTheCpuLimit) {
  expect_cpu_limit("node", "busy_loop.js");
}

TEST_P(HostileResources, BusyLoopInBashHitsTheCpuLimit) {
  expect_cpu_limit("bash", "busy_loop.sh");
}

TEST_P(HostileResources, SleepInCHitsTheWallLimit) { expect_wall_limit("c", "sleep_forever.c"); }

TEST_P(HostileResources, SleepInPythonHitsTheWallLimit) {
  expect_wall_limit("python", "sleep_forever.py");
}

TEST_P(HostileResources, SleepInNodeHitsTheWallLimit) {
  expect_wall_limit("node", "sleep_forever.js");
}

TEST_P(HostileResources, SleepInBashHitsTheWallLimit) {
  expect_wall_limit("bash", "sleep_forever.sh");
}

PLANIFICADOR_HOSTILE_MODES(HostileResources);

}  // namespace
}  // namespace planificador::testing
