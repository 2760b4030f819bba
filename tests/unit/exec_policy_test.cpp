#include "planificador/backend/docker/exec_policy.hpp"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace planificador::backend::docker {
namespace {

using protocol::Stream;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using TimePoint = ExecPolicy::TimePoint;

// The policy reads no clock: every test's time is this point plus what it advances.
const TimePoint t0{std::chrono::hours(1)};

constexpr std::uint64_t k_ms = 1'000'000;  // nanoseconds of CPU time
constexpr std::uint64_t k_big = std::uint64_t{1} << 30;

Error io_error() { return Error{"read `cpuacct.usage`: Input/output error", EIO}; }

// The figures of a running program well within its CPU time and memory.
CgroupReadings within(std::uint64_t cpu_ns = 0) {
  CgroupReadings read;
  read.cpu_ns = Result<std::uint64_t>(cpu_ns);
  read.over_memory = Result<bool>(false);
  return read;
}

CgroupReadings thrash_figures(std::uint64_t hits, bool pinned) {
  CgroupReadings read;
  read.limit_hits = Result<std::uint64_t>(hits);
  read.pinned = Result<bool>(pinned);
  return read;
}

bool none(const Actions& actions) {
  return !actions.flush && actions.emit.empty() && !actions.kill_program &&
         !actions.kill_container && !actions.give_up;
}

// A policy with its budget, started at t0.
struct Exec {
  explicit Exec(ExecLimits limits, OutputBudget start_budget = {k_big, 0, 65536, 0},
                std::uint64_t cpu_base = 0, std::uint64_t hits_base = 0)
      : budget(start_budget), policy(limits, budget, t0, cpu_base, hits_base) {}
  OutputBudget budget;
  ExecPolicy policy;
};

OutputBudget held_for(std::uint64_t flush_ms, std::size_t chunk_bytes = 65536) {
  return OutputBudget{k_big, 0, chunk_bytes, flush_ms};
}

// --- wall clock and kill escalation ---

TEST(ExecPolicyTime, WallDeadlineEndsItAsTimeLimitAndKillsTheProgram) {
  Exec exec({100, 1000});
  EXPECT_EQ(exec.policy.wall_deadline(), t0 + milliseconds(100));
  EXPECT_TRUE(none(exec.policy.check(t0 + milliseconds(99), within())));
  EXPECT_EQ(exec.policy.verdict(), Verdict::none);
  EXPECT_TRUE(exec.policy.watches_cancel());

  const Actions actions = exec.policy.check(t0 + milliseconds(100), {});
  EXPECT_TRUE(actions.kill_program);
  EXPECT_FALSE(actions.kill_container);
  EXPECT_FALSE(actions.flush);
  EXPECT_EQ(exec.policy.verdict(), Verdict::time_limit);
  EXPECT_FALSE(exec.policy.watches_cancel());
  // Decided once: later checks ask for no second kill.
  EXPECT_TRUE(none(exec.policy.check(t0 + milliseconds(101), {})));
}

TEST(ExecPolicyKill, AnUnconfirmedKillEscalatesToTheContainerAfterTheGraceOnce) {
  Exec exec({100, 1000});
  const TimePoint decided = t0 + milliseconds(100);
  ASSERT_TRUE(exec.policy.check(decided, {}).kill_program);
  EXPECT_TRUE(none(exec.policy.check(decided + ExecPolicy::k_kill_grace - nanoseconds(1), {})));

  const Actions escalated = exec.policy.check(decided + ExecPolicy::k_kill_grace, {});
  EXPECT_TRUE(escalated.kill_container);
  EXPECT_FALSE(escalated.kill_program);
  exec.policy.container_killed(decided + ExecPolicy::k_kill_grace);
  EXPECT_TRUE(none(exec.policy.check(decided + std::chrono::seconds(5), {})));
  EXPECT_EQ(exec.policy.verdict(), Verdict::time_limit);
}

TEST(ExecPolicyKill, EscalatesOnceEvenBeforeTheShellReportsTheContainerKill) {
  Exec exec({100, 1000});
  ASSERT_TRUE(exec.policy.check(t0 + milliseconds(100), {}).kill_program);
  EXPECT_TRUE(exec.policy.check(t0 + milliseconds(1100), {}).kill_container);
  EXPECT_TRUE(none(exec.policy.check(t0 + milliseconds(1101), {})));
}

TEST(ExecPolicyKill, AnExitWithinTheGraceLeavesTheContainerAlone) {
  Exec exec({100, 1000});
  ASSERT_TRUE(exec.policy.check(t0 + milliseconds(100), {}).kill_program);
  exec.policy.exited();
  EXPECT_TRUE(none(exec.policy.check(t0 + std::chrono::seconds(3), {})));
  EXPECT_EQ(exec.policy.verdict(), Verdict::time_limit);
}

// --- CPU time and memory ---

TEST(ExecPolicyCpu, CpuTimeIsNeededOnlyEveryPollInterval) {
  const std::uint64_t base = 5000 * k_ms;
  Exec exec({10'000, 100}, {}, base);
  EXPECT_EQ(exec.policy.needed(t0, {}), std::nullopt);
  EXPECT_EQ(exec.policy.needed(t0 + milliseconds(14), {}), std::nullopt);
  EXPECT_EQ(exec.policy.needed(t0 + ExecPolicy::k_cpu_poll, {}), Reading::cpu_ns);

  CgroupReadings read;
  read.cpu_ns = Result<std::uint64_t>(base + 99 * k_ms);
  EXPECT_EQ(exec.policy.needed(t0 + ExecPolicy::k_cpu_poll, read), Reading::over_memory);
  read.over_memory = Result<bool>(false);
  EXPECT_EQ(exec.policy.needed(t0 + ExecPolicy::k_cpu_poll, read), std::nullopt);
  EXPECT_TRUE(none(exec.policy.check(t0 + ExecPolicy::k_cpu_poll, read)));

  // The next look is k_cpu_poll after that check; before it, even a reading over the
  // limit is not looked at.
  const TimePoint next = t0 + 2 * ExecPolicy::k_cpu_poll;
  EXPECT_EQ(exec.policy.needed(next - nanoseconds(1), {}), std::nullopt);
  EXPECT_TRUE(none(exec.policy.check(next - nanoseconds(1), within(base + 500 * k_ms))));
  EXPECT_EQ(exec.policy.verdict(), Verdict::none);
  EXPECT_EQ(exec.policy.needed(next, {}), Reading::cpu_ns);
}

TEST(ExecPolicyCpu, CpuTimeAtTheLimitSinceTheBaseIsACpuLimit) {
  const std::uint64_t base = 5000 * k_ms;
  Exec exec({10'000, 100}, {}, base);
  const TimePoint now = t0 + ExecPolicy::k_cpu_poll;
  CgroupReadings read;
  read.cpu_ns = Result<std::uint64_t>(base + 100 * k_ms);
  // Over the CPU limit the thrash figures are what decides, not memory.
  EXPECT_EQ(exec.policy.needed(now, read), Reading::limit_hits);
  read.limit_hits = Result<std::uint64_t>(0);
  EXPECT_EQ(exec.policy.needed(now, read), Reading::pinned);
  read.pinned = Result<bool>(false);
  EXPECT_EQ(exec.policy.needed(now, read), std::nullopt);

  const Actions actions = exec.policy.check(now, read);
  EXPECT_TRUE(actions.kill_program);
  EXPECT_FALSE(actions.kill_container);
  EXPECT_EQ(exec.policy.verdict(), Verdict::cpu_limit);
}

TEST(ExecPolicyCpu, CpuTimeJustUnderTheLimitOrBelowTheBaseIsNotOver) {
  const std::uint64_t base = 5000 * k_ms;
  Exec exec({10'000, 100}, {}, base);
  EXPECT_TRUE(none(exec.policy.check(t0 + milliseconds(15), within(base + 100 * k_ms - 1))));
  // A counter below the base (the cgroup was replaced) says nothing of this exec.
  EXPECT_TRUE(none(exec.policy.check(t0 + milliseconds(30), within(200 * k_ms))));
  EXPECT_EQ(exec.policy.verdict(), Verdict::none);
}

TEST(ExecPolicyMemory, OverTheMemoryLimitIsAMemoryLimit) {
  Exec exec({10'000, 100});
  CgroupReadings read = within(10 * k_ms);
  read.over_memory = Result<bool>(true);
  const Actions actions = exec.policy.check(t0 + milliseconds(15), read);
  EXPECT_TRUE(actions.kill_program);
  EXPECT_EQ(exec.policy.verdict(), Verdict::memory_limit);
}

TEST(ExecPolicyReadings, AFailedReadingCountsAsNotOver) {
  Exec exec({100, 10});
  const TimePoint now = t0 + milliseconds(15);
  CgroupReadings read;
  read.cpu_ns = Result<std::uint64_t>(tl::unexpected(io_error()));
  EXPECT_EQ(exec.policy.needed(now, read), Reading::over_memory);
  read.over_memory = Result<bool>(tl::unexpected(io_error()));
  EXPECT_EQ(exec.policy.needed(now, read), std::nullopt);
  EXPECT_TRUE(none(exec.policy.check(now, read)));
  // Figures not read at all count the same.
  EXPECT_TRUE(none(exec.policy.check(t0 + milliseconds(30), {})));
  EXPECT_EQ(exec.policy.verdict(), Verdict::none);

  // Out of time with the thrash figures failing: a plain time limit.
  CgroupReadings thrash;
  thrash.limit_hits = Result<std::uint64_t>(tl::unexpected(io_error()));
  thrash.pinned = Result<bool>(tl::unexpected(io_error()));
  EXPECT_TRUE(exec.policy.check(t0 + milliseconds(100), thrash).kill_program);
  EXPECT_EQ(exec.policy.verdict(), Verdict::time_limit);
}

TEST(ExecPolicyReadings, NothingIsNeededAfterAVerdictOrAnExit) {
  Exec decided({100, 1000});
  ASSERT_TRUE(decided.policy.cancel(t0).kill_program);
  EXPECT_EQ(decided.policy.needed(t0 + milliseconds(200), {}), std::nullopt);

  Exec ended({100, 1000});
  ended.policy.exited();
  EXPECT_TRUE(ended.policy.has_exited());
  EXPECT_EQ(ended.policy.needed(t0 + milliseconds(200), {}), std::nullopt);
}

// --- thrashing at the memory limit ---

TEST(ExecPolicyThrash, OutOfTimeNeedsTheThrashFiguresAndNoCpuTime) {
  Exec exec({100, 1000}, {}, 0, 1000);
  const TimePoint now = t0 + milliseconds(100);
  CgroupReadings read;
  EXPECT_EQ(exec.policy.needed(now, read), Reading::limit_hits);
  read.limit_hits = Result<std::uint64_t>(1000);
  EXPECT_EQ(exec.policy.needed(now, read), Reading::pinned);
  read.pinned = Result<bool>(true);
  EXPECT_EQ(exec.policy.needed(now, read), std::nullopt);
}

TEST(ExecPolicyThrash, OutOfTimePinnedAfterManyLimitHitsIsAMemoryLimit) {
  Exec exec({100, 1000}, {}, 0, 1000);
  const auto hits = 1000 + ExecPolicy::k_thrash_hits + 1;
  EXPECT_TRUE(exec.policy.check(t0 + milliseconds(100), thrash_figures(hits, true)).kill_program);
  EXPECT_EQ(exec.policy.verdict(), Verdict::memory_limit);
}

TEST(ExecPolicyThrash, KThrashHitsDuringTheExecIsNotYetThrashing) {
  Exec exec({100, 1000}, {}, 0, 1000);
  const auto hits = 1000 + ExecPolicy::k_thrash_hits;
  EXPECT_TRUE(exec.policy.check(t0 + milliseconds(100), thrash_figures(hits, true)).kill_program);
  EXPECT_EQ(exec.policy.verdict(), Verdict::time_limit);
}

TEST(ExecPolicyThrash, ManyHitsWithoutBeingPinnedIsATimeLimit) {
  Exec exec({100, 1000}, {}, 0, 1000);
  EXPECT_TRUE(exec.policy.check(t0 + milliseconds(100), thrash_figures(5000, false)).kill_program);
  EXPECT_EQ(exec.policy.verdict(), Verdict::time_limit);

  Exec unreadable({100, 1000}, {}, 0, 1000);
  CgroupReadings read = thrash_figures(5000, true);
  read.pinned = Result<bool>(tl::unexpected(io_error()));
  EXPECT_TRUE(unreadable.policy.check(t0 + milliseconds(100), read).kill_program);
  EXPECT_EQ(unreadable.policy.verdict(), Verdict::time_limit);
}

TEST(ExecPolicyThrash, HitsFromBeforeTheExecDoNotCount) {
  Exec exec({100, 1000}, {}, 0, 5000);
  EXPECT_TRUE(exec.policy.check(t0 + milliseconds(100), thrash_figures(5050, true)).kill_program);
  EXPECT_EQ(exec.policy.verdict(), Verdict::time_limit);
}

TEST(ExecPolicyThrash, OutOfCpuTimeWhileThrashingIsAMemoryLimit) {
  Exec exec({10'000, 100}, {}, 0, 0);
  CgroupReadings read = thrash_figures(ExecPolicy::k_thrash_hits + 1, true);
  read.cpu_ns = Result<std::uint64_t>(100 * k_ms);
  EXPECT_TRUE(exec.policy.check(t0 + milliseconds(15), read).kill_program);
  EXPECT_EQ(exec.policy.verdict(), Verdict::memory_limit);
}

// --- the output allowance ---

TEST(ExecPolicyOutput, ReadSizeIsOneMoreThanTheAllowanceAtMostABuffer) {
  Exec small({1000, 1000}, {10, 0, 4096, 0});
  EXPECT_EQ(small.policy.read_size(), 11U);
  Exec large({1000, 1000}, {k_big, 0, 4096, 0});
  EXPECT_EQ(large.policy.read_size(), 4096U);
  // The allowance is the task's: what an earlier exec delivered is spent.
  Exec later({1000, 1000}, {10, 7, 4096, 0});
  EXPECT_EQ(later.policy.read_size(), 4U);
  Exec spent({1000, 1000}, {10, 12, 4096, 0});
  EXPECT_EQ(spent.policy.read_size(), 1U);
}

TEST(ExecPolicyOutput, CutsExactlyAtTheLimitThenDiscards) {
  Exec exec({1000, 1000}, {10, 0, 4096, 0});
  const Actions first = exec.policy.read(t0, Pipe::out, "abcd");
  EXPECT_TRUE(first.flush);
  EXPECT_EQ(first.emit, (std::vector<Chunk>{{Stream::out, "abcd"}}));
  EXPECT_FALSE(first.kill_program);
  EXPECT_TRUE(none(exec.policy.flushed(t0, {}, {})));
  EXPECT_EQ(exec.policy.read_size(), 7U);

  // 8 bytes with 6 allowed: the 6 go out, and the verdict follows their delivery.
  const Actions over = exec.policy.read(t0, Pipe::err, "efghijkl");
  EXPECT_TRUE(over.flush);
  EXPECT_EQ(over.emit, (std::vector<Chunk>{{Stream::err, "efghij"}}));
  EXPECT_FALSE(over.kill_program);
  EXPECT_EQ(exec.budget.delivered, 10U);
  EXPECT_EQ(exec.policy.verdict(), Verdict::none);
  const Actions after = exec.policy.flushed(t0, {}, {});
  EXPECT_TRUE(after.kill_program);
  EXPECT_EQ(exec.policy.verdict(), Verdict::output_limit);

  EXPECT_EQ(exec.policy.read_size(), 4096U);
  EXPECT_TRUE(none(exec.policy.read(t0, Pipe::out, "more")));
  EXPECT_EQ(exec.budget.delivered, 10U);
  EXPECT_EQ(exec.budget.frames, 2U);
}

TEST(ExecPolicyOutput, ExactlyTheLimitIsNoVerdictUntilOneByteMore) {
  Exec exec({1000, 1000}, {10, 0, 4096, 0});
  const Actions all = exec.policy.read(t0, Pipe::out, "0123456789");
  EXPECT_EQ(all.emit, (std::vector<Chunk>{{Stream::out, "0123456789"}}));
  EXPECT_TRUE(none(exec.policy.flushed(t0, {}, {})));
  EXPECT_EQ(exec.policy.verdict(), Verdict::none);
  EXPECT_EQ(exec.policy.read_size(), 1U);

  const Actions one_more = exec.policy.read(t0, Pipe::err, "x");
  EXPECT_FALSE(one_more.flush);
  EXPECT_TRUE(one_more.emit.empty());
  EXPECT_TRUE(one_more.kill_program);
  EXPECT_EQ(exec.policy.verdict(), Verdict::output_limit);
  EXPECT_EQ(exec.budget.delivered, 10U);
}

TEST(ExecPolicyOutput, HeldOutputOverTheLimitIsDecidedAtOnceAndFlushedCut) {
  Exec exec({1000, 1000}, {5, 0, 4096, 10});
  const Actions over = exec.policy.read(t0, Pipe::out, "abcdefg");
  EXPECT_FALSE(over.flush);
  EXPECT_TRUE(over.kill_program);
  EXPECT_EQ(exec.policy.verdict(), Verdict::output_limit);
  EXPECT_EQ(exec.policy.flush().emit, (std::vector<Chunk>{{Stream::out, "abcde"}}));
  EXPECT_TRUE(none(exec.policy.flushed(t0, {}, {})));
  EXPECT_EQ(exec.budget.delivered, 5U);
}

TEST(ExecPolicyOutput, MergedOutputIsStderr) {
  Exec exec({1000, 1000, true});
  EXPECT_EQ(exec.policy.read(t0, Pipe::out, "x").emit, (std::vector<Chunk>{{Stream::err, "x"}}));
  EXPECT_EQ(exec.policy.read(t0, Pipe::err, "y").emit, (std::vector<Chunk>{{Stream::err, "y"}}));
}

// The program wrote past its allowance and ended before the daemon read it: what it wrote
// is cut at the limit and the task still ends as an output limit, with nothing to kill.
TEST(ExecPolicyOutput, AfterTheExitOutputBeyondTheLimitIsCutAndStillAnOutputLimit) {
  Exec exec({1000, 1000}, {3, 0, 4096, 0});
  exec.policy.exited();
  const Actions over = exec.policy.read(t0, Pipe::out, "abcdef");
  EXPECT_EQ(over.emit, (std::vector<Chunk>{{Stream::out, "abc"}}));
  EXPECT_FALSE(over.kill_program);
  EXPECT_TRUE(none(exec.policy.flushed(t0, {}, {})));
  EXPECT_EQ(exec.policy.verdict(), Verdict::output_limit);
}

TEST(ExecPolicyOutput, AfterTheExitOutputWithinTheLimitIsNoVerdict) {
  Exec exec({1000, 1000}, {3, 0, 4096, 0});
  exec.policy.exited();
  EXPECT_EQ(exec.policy.read(t0, Pipe::out, "abc").emit,
            (std::vector<Chunk>{{Stream::out, "abc"}}));
  EXPECT_EQ(exec.policy.verdict(), Verdict::none);
}

// --- the flush schedule ---

TEST(ExecPolicyFlush, ZeroFlushMsDeliversEachReadAtOnce) {
  Exec exec({1000, 1000}, held_for(0));
  const Actions out = exec.policy.read(t0, Pipe::out, "a");
  EXPECT_TRUE(out.flush);
  EXPECT_EQ(out.emit, (std::vector<Chunk>{{Stream::out, "a"}}));
  EXPECT_FALSE(exec.policy.flush_due(t0 + std::chrono::hours(1)));
  EXPECT_EQ(exec.policy.read(t0, Pipe::err, "b").emit, (std::vector<Chunk>{{Stream::err, "b"}}));
  EXPECT_EQ(exec.budget.frames, 2U);
}

TEST(ExecPolicyFlush, HoldsOutputUntilFlushMsAfterItsOldestByte) {
  Exec exec({1000, 1000}, held_for(10));
  EXPECT_TRUE(none(exec.policy.read(t0, Pipe::out, "a")));
  EXPECT_TRUE(none(exec.policy.read(t0 + milliseconds(5), Pipe::out, "b")));
  EXPECT_FALSE(exec.policy.flush_due(t0 + milliseconds(10) - nanoseconds(1)));
  EXPECT_TRUE(exec.policy.flush_due(t0 + milliseconds(10)));

  const Actions flushed = exec.policy.flush();
  EXPECT_TRUE(flushed.flush);
  EXPECT_EQ(flushed.emit, (std::vector<Chunk>{{Stream::out, "ab"}}));
  EXPECT_FALSE(exec.policy.flush_due(t0 + std::chrono::hours(1)));
  EXPECT_EQ(exec.budget.frames, 1U);
  // Nothing held: a flush takes nothing and costs no frame.
  const Actions empty = exec.policy.flush();
  EXPECT_TRUE(empty.flush);
  EXPECT_TRUE(empty.emit.empty());
  EXPECT_EQ(exec.budget.frames, 1U);
}

TEST(ExecPolicyFlush, KeepsArrivalOrderAndMergesAdjacentReadsOfAStream) {
  Exec exec({1000, 1000}, held_for(10));
  for (const auto& [pipe, bytes] : std::vector<std::pair<Pipe, std::string>>{{Pipe::out, "a"},
                                                                             {Pipe::out, "b"},
                                                                             {Pipe::err, "c"},
                                                                             {Pipe::err, "d"},
                                                                             {Pipe::out, "e"}}) {
    ASSERT_TRUE(none(exec.policy.read(t0, pipe, bytes)));
  }
  EXPECT_EQ(exec.policy.flush().emit,
            (std::vector<Chunk>{{Stream::out, "ab"}, {Stream::err, "cd"}, {Stream::out, "e"}}));
  EXPECT_EQ(exec.budget.frames, 3U);
}

TEST(ExecPolicyFlush, HeldOutputOfChunkBytesGoesOutAtOnceInChunks) {
  Exec exec({1000, 1000}, held_for(10, 4));
  EXPECT_TRUE(none(exec.policy.read(t0, Pipe::out, "abc")));
  const Actions full = exec.policy.read(t0, Pipe::out, "defg");
  EXPECT_TRUE(full.flush);
  EXPECT_EQ(full.emit, (std::vector<Chunk>{{Stream::out, "abcd"}, {Stream::out, "efg"}}));
  EXPECT_EQ(exec.budget.frames, 2U);
  EXPECT_FALSE(exec.policy.flush_due(t0 + milliseconds(10)));
}

TEST(ExecPolicyFlush, BeyondEightRunsOutputJoinsTheLastRunOfItsStream) {
  Exec exec({1000, 1000}, held_for(10));
  const std::string bytes = "0123456789A";
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_TRUE(none(exec.policy.read(t0, i % 2 == 0 ? Pipe::out : Pipe::err, bytes.substr(i, 1))));
  }
  const Actions flushed = exec.policy.flush();
  ASSERT_EQ(flushed.emit.size(), ExecPolicy::k_max_runs_per_flush);
  EXPECT_EQ(flushed.emit, (std::vector<Chunk>{{Stream::out, "0"},
                                              {Stream::err, "1"},
                                              {Stream::out, "2"},
                                              {Stream::err, "3"},
                                              {Stream::out, "4"},
                                              {Stream::err, "5"},
                                              {Stream::out, "68A"},
                                              {Stream::err, "79"}}));
}

// --- resting pipes ---

TEST(ExecPolicyRest, ASmallReadRestsItsPipeUntilTheNextFlush) {
  Exec exec({1000, 1000}, held_for(10));
  ASSERT_TRUE(
      none(exec.policy.read(t0, Pipe::out, std::string(ExecPolicy::k_small_read - 1, 'o'))));
  EXPECT_TRUE(exec.policy.resting(Pipe::out));
  EXPECT_FALSE(exec.policy.resting(Pipe::err));
  ASSERT_TRUE(none(exec.policy.read(t0, Pipe::err, std::string(ExecPolicy::k_small_read, 'e'))));
  EXPECT_FALSE(exec.policy.resting(Pipe::err));
  (void)exec.policy.flush();
  EXPECT_FALSE(exec.policy.resting(Pipe::out));
}

TEST(ExecPolicyRest, NoPipeRestsWhenEveryReadGoesOutAtOnce) {
  Exec exec({1000, 1000}, held_for(0));
  ASSERT_TRUE(exec.policy.read(t0, Pipe::out, "x").flush);
  EXPECT_FALSE(exec.policy.resting(Pipe::out));
}

TEST(ExecPolicyRest, NoPipeRestsWhileDraining) {
  Exec exec({1000, 1000}, held_for(10));
  ASSERT_TRUE(none(exec.policy.read(t0, Pipe::err, "x")));
  ASSERT_TRUE(exec.policy.resting(Pipe::err));
  exec.policy.exited();
  exec.policy.start_drain(t0 + milliseconds(1));
  EXPECT_FALSE(exec.policy.resting(Pipe::err));
}

// --- frames and the events consumer ---

TEST(ExecPolicyFrames, MoreFramesThanMaxFramesIsAFrameLimit) {
  Exec exec({1000, 1000}, {k_big, 0, 65536, 0, 2});
  for (const char* bytes : {"a", "b"}) {
    ASSERT_TRUE(exec.policy.read(t0, Pipe::out, bytes).flush);
    EXPECT_TRUE(none(exec.policy.flushed(t0, {}, {})));
  }
  const Actions third = exec.policy.read(t0, Pipe::out, "c");
  EXPECT_EQ(third.emit, (std::vector<Chunk>{{Stream::out, "c"}}));
  EXPECT_EQ(exec.policy.verdict(), Verdict::none);
  EXPECT_TRUE(exec.policy.flushed(t0, {}, {}).kill_program);
  EXPECT_EQ(exec.policy.verdict(), Verdict::frame_limit);
  EXPECT_EQ(exec.budget.frames, 3U);
}

TEST(ExecPolicyFrames, EveryChunkOfAFlushIsAFrame) {
  Exec exec({1000, 1000}, {k_big, 0, 2, 10, 2});
  const Actions full = exec.policy.read(t0, Pipe::out, "abcde");
  EXPECT_EQ(full.emit,
            (std::vector<Chunk>{{Stream::out, "ab"}, {Stream::out, "cd"}, {Stream::out, "e"}}));
  EXPECT_TRUE(exec.policy.flushed(t0, {}, {}).kill_program);
  EXPECT_EQ(exec.policy.verdict(), Verdict::frame_limit);
}

TEST(ExecPolicyConsumer, TheConsumersWaitMovesTheWallDeadlineLessTheProgramsCpu) {
  Exec exec({100, 1000});
  ASSERT_TRUE(exec.policy.read(t0 + milliseconds(10), Pipe::out, "x").flush);
  EXPECT_TRUE(none(exec.policy.flushed(t0 + milliseconds(40), milliseconds(30), milliseconds(10))));
  EXPECT_EQ(exec.policy.wall_deadline(), t0 + milliseconds(120));
  EXPECT_TRUE(none(exec.policy.check(t0 + milliseconds(119), within())));
  EXPECT_TRUE(exec.policy.check(t0 + milliseconds(120), {}).kill_program);
  EXPECT_EQ(exec.policy.verdict(), Verdict::time_limit);
}

TEST(ExecPolicyConsumer, AShortWaitOrOneTheProgramRanThroughMovesNothing) {
  Exec exec({100, 1000});
  EXPECT_TRUE(none(exec.policy.flushed(t0, ExecPolicy::k_blocked_min, {})));
  EXPECT_EQ(exec.policy.wall_deadline(), t0 + milliseconds(100));
  EXPECT_TRUE(none(exec.policy.flushed(t0, milliseconds(20), milliseconds(25))));
  EXPECT_EQ(exec.policy.wall_deadline(), t0 + milliseconds(100));
  const auto just_over = ExecPolicy::k_blocked_min + nanoseconds(1);
  EXPECT_TRUE(none(exec.policy.flushed(t0, just_over, {})));
  EXPECT_EQ(exec.policy.wall_deadline(), t0 + milliseconds(100) + just_over);
}

// --- cancel and exit ---

TEST(ExecPolicyCancel, CancelIsCancelledAndKillsTheProgram) {
  Exec exec({1000, 1000});
  EXPECT_TRUE(exec.policy.watches_cancel());
  const TimePoint now = t0 + milliseconds(5);
  const Actions actions = exec.policy.cancel(now);
  EXPECT_TRUE(actions.kill_program);
  EXPECT_FALSE(actions.kill_container);
  EXPECT_EQ(exec.policy.verdict(), Verdict::cancelled);
  EXPECT_FALSE(exec.policy.watches_cancel());
  EXPECT_TRUE(none(exec.policy.cancel(now)));
  // The kill a cancel asked for escalates like any other.
  EXPECT_TRUE(exec.policy.check(now + ExecPolicy::k_kill_grace, {}).kill_container);
}

TEST(ExecPolicyCancel, ACancelAfterAVerdictChangesNothing) {
  Exec exec({100, 1000});
  ASSERT_TRUE(exec.policy.check(t0 + milliseconds(100), {}).kill_program);
  EXPECT_FALSE(exec.policy.watches_cancel());
  EXPECT_TRUE(none(exec.policy.cancel(t0 + milliseconds(101))));
  EXPECT_EQ(exec.policy.verdict(), Verdict::time_limit);
}

TEST(ExecPolicyExit, NoVerdictIsTakenAfterTheExit) {
  Exec exec({100, 10}, {1, 0, 4096, 0});
  exec.policy.exited();
  EXPECT_TRUE(exec.policy.has_exited());
  CgroupReadings over = within(1000 * k_ms);
  over.over_memory = Result<bool>(true);
  EXPECT_TRUE(none(exec.policy.check(t0 + std::chrono::seconds(1), over)));
  EXPECT_TRUE(none(exec.policy.cancel(t0 + std::chrono::seconds(1))));
  EXPECT_FALSE(exec.policy.read(t0, Pipe::out, "x").kill_program);
  EXPECT_TRUE(none(exec.policy.flushed(t0, {}, {})));
  EXPECT_EQ(exec.policy.verdict(), Verdict::none);
}

// --- the drain ---

TEST(ExecPolicyDrain, KillsTheContainerAfterTheGraceThenGivesUpTwoGracesLater) {
  Exec exec({1000, 1000});
  EXPECT_TRUE(none(exec.policy.drain_check(t0 + std::chrono::seconds(10))));  // not draining
  exec.policy.exited();
  const TimePoint drained = t0 + milliseconds(50);
  exec.policy.start_drain(drained);
  EXPECT_TRUE(none(exec.policy.drain_check(drained + ExecPolicy::k_drain_grace - nanoseconds(1))));

  const Actions escalated = exec.policy.drain_check(drained + ExecPolicy::k_drain_grace);
  EXPECT_TRUE(escalated.kill_container);
  EXPECT_FALSE(escalated.give_up);
  const TimePoint killed = drained + ExecPolicy::k_drain_grace + milliseconds(5);
  exec.policy.container_killed(killed);

  EXPECT_TRUE(
      none(exec.policy.drain_check(killed + 2 * ExecPolicy::k_drain_grace - nanoseconds(1))));
  const Actions given_up = exec.policy.drain_check(killed + 2 * ExecPolicy::k_drain_grace);
  EXPECT_TRUE(given_up.give_up);
  EXPECT_FALSE(given_up.kill_container);
}

TEST(ExecPolicyDrain, WakesForItsOwnDeadlinesWithoutThePollCap) {
  Exec exec({1000, 1000}, held_for(10));
  exec.policy.exited();
  const TimePoint drained = t0 + milliseconds(50);
  exec.policy.start_drain(drained);
  EXPECT_EQ(exec.policy.next_wakeup(), drained + ExecPolicy::k_drain_grace);
  EXPECT_EQ(exec.policy.poll_timeout_ms(drained + microseconds(500)), 1000);

  // Held output wakes it for its flush first.
  ASSERT_TRUE(none(exec.policy.read(drained + milliseconds(1), Pipe::out, "x")));
  EXPECT_EQ(exec.policy.next_wakeup(), drained + milliseconds(11));
  (void)exec.policy.flush();

  ASSERT_TRUE(exec.policy.drain_check(drained + ExecPolicy::k_drain_grace).kill_container);
  const TimePoint killed = drained + ExecPolicy::k_drain_grace + milliseconds(3);
  exec.policy.container_killed(killed);
  EXPECT_EQ(exec.policy.next_wakeup(), killed + 2 * ExecPolicy::k_drain_grace);
}

// --- wakeups ---

TEST(ExecPolicyWakeup, TheWallDeadlineRoundedUpAndCappedAtTheCpuPoll) {
  Exec exec({100, 1000});
  EXPECT_EQ(exec.policy.next_wakeup(), t0 + milliseconds(100));
  EXPECT_EQ(exec.policy.poll_timeout_ms(t0), static_cast<int>(ExecPolicy::k_cpu_poll.count()));
  EXPECT_EQ(exec.policy.poll_timeout_ms(t0 + microseconds(90'500)), 10);
  EXPECT_EQ(exec.policy.poll_timeout_ms(t0 + milliseconds(100) - nanoseconds(1)), 1);
  EXPECT_EQ(exec.policy.poll_timeout_ms(t0 + milliseconds(100)), 0);
  EXPECT_EQ(exec.policy.poll_timeout_ms(t0 + std::chrono::seconds(5)), 0);
}

TEST(ExecPolicyWakeup, HeldOutputWakesForItsFlush) {
  Exec exec({1000, 1000}, held_for(10));
  ASSERT_TRUE(none(exec.policy.read(t0 + milliseconds(1), Pipe::err, "x")));
  EXPECT_EQ(exec.policy.next_wakeup(), t0 + milliseconds(11));
  EXPECT_EQ(exec.policy.poll_timeout_ms(t0 + microseconds(4250)), 7);
  (void)exec.policy.flush();
  EXPECT_EQ(exec.policy.next_wakeup(), t0 + milliseconds(1000));
}

TEST(ExecPolicyWakeup, AfterAVerdictItWakesForTheKillGrace) {
  Exec exec({100, 1000});
  ASSERT_TRUE(exec.policy.check(t0 + milliseconds(100), {}).kill_program);
  const TimePoint grace_over = t0 + milliseconds(100) + ExecPolicy::k_kill_grace;
  EXPECT_EQ(exec.policy.next_wakeup(), grace_over);
  EXPECT_EQ(exec.policy.poll_timeout_ms(t0 + milliseconds(101)),
            static_cast<int>(ExecPolicy::k_cpu_poll.count()));
  EXPECT_EQ(exec.policy.poll_timeout_ms(grace_over - microseconds(300)), 1);
  EXPECT_EQ(exec.policy.poll_timeout_ms(grace_over), 0);
}

TEST(ExecPolicyWakeup, AfterTheContainerKillNoPassedDeadlineMakesThePollSpin) {
  Exec exec({100, 1000});
  ASSERT_TRUE(exec.policy.check(t0 + milliseconds(100), {}).kill_program);
  const TimePoint grace_over = t0 + milliseconds(100) + ExecPolicy::k_kill_grace;
  ASSERT_TRUE(exec.policy.check(grace_over, {}).kill_container);
  exec.policy.container_killed(grace_over);
  // Only the helper's answer (or its connection closing) is awaited now, at the poll pace.
  EXPECT_EQ(exec.policy.poll_timeout_ms(grace_over + milliseconds(1)),
            static_cast<int>(ExecPolicy::k_cpu_poll.count()));
}

}  // namespace
}  // namespace planificador::backend::docker
