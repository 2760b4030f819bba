#include <csignal>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "planificador/backend/docker/outcome.hpp"

namespace planificador::backend::docker {
namespace {

using protocol::Status;

// Raw wait statuses as waitpid(2) encodes them.
int exited_with(int code) { return code << 8; }
int killed_by(int signal) { return signal; }

config::Limits limits() {
  config::Limits limits;
  limits.wall_ms = 2000;
  limits.cpu_ms = 1000;
  limits.memory_bytes = 67108864;
  limits.output_bytes = 1024;
  return limits;
}

ExecResult ended(int wait_status, Verdict verdict = Verdict::none) {
  ExecResult exec;
  exec.verdict = verdict;
  exec.wait_status = wait_status;
  exec.wall_ms = 31;
  exec.cpu_ns = 12500000;
  return exec;
}

TEST(RunOutcome, ExitedWithTheProgramsCode) {
  const auto result = run_outcome(ended(exited_with(3)), false, limits());
  EXPECT_EQ(result.status, Status::exited);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_FALSE(result.signal);
  EXPECT_TRUE(result.diagnostic.empty());
  EXPECT_EQ(result.wall_ms, 31U);
  EXPECT_EQ(result.cpu_ms, 12U);
}

TEST(RunOutcome, SignalIsDistinguishedFromTheSameExitCode) {
  const auto signaled = run_outcome(ended(killed_by(SIGSEGV)), false, limits());
  EXPECT_EQ(signaled.status, Status::signaled);
  EXPECT_EQ(signaled.exit_code, 139);
  EXPECT_EQ(signaled.signal, SIGSEGV);
  const auto exited = run_outcome(ended(exited_with(139)), false, limits());
  EXPECT_EQ(exited.status, Status::exited);
  EXPECT_EQ(exited.exit_code, 139);
  EXPECT_FALSE(exited.signal);
}

TEST(RunOutcome, OurVerdictWinsOverWhatTheKillLooksLike) {
  const auto time = run_outcome(ended(killed_by(SIGKILL), Verdict::time_limit), true, limits());
  EXPECT_EQ(time.status, Status::time_limit);
  EXPECT_EQ(time.exit_code, 124);
  EXPECT_EQ(time.diagnostic, "time limit of 2000 ms exceeded");
  const auto output =
      run_outcome(ended(killed_by(SIGKILL), Verdict::output_limit), false, limits());
  EXPECT_EQ(output.exit_code, 153);
  EXPECT_EQ(output.diagnostic, "output limit of 1024 bytes exceeded");
  const auto cpu = run_outcome(ended(killed_by(SIGKILL), Verdict::cpu_limit), false, limits());
  EXPECT_EQ(cpu.exit_code, 152);
  EXPECT_EQ(cpu.diagnostic, "CPU time limit of 1000 ms exceeded");
  const auto memory =
      run_outcome(ended(killed_by(SIGKILL), Verdict::memory_limit), false, limits());
  EXPECT_EQ(memory.status, Status::memory_limit);
  EXPECT_EQ(memory.exit_code, 137);
  EXPECT_EQ(memory.diagnostic,
            "memory limit of " + std::to_string(limits().memory_bytes) + " bytes exceeded");
  const auto cancelled =
      run_outcome(ended(killed_by(SIGKILL), Verdict::cancelled), false, limits());
  EXPECT_EQ(cancelled.status, Status::cancelled);
  EXPECT_EQ(cancelled.exit_code, 130);
}

TEST(RunOutcome, OomKillIsMemoryLimitWhateverTheStatus) {
  for (const int status : {killed_by(SIGKILL), exited_with(1)}) {
    const auto result = run_outcome(ended(status), true, limits());
    EXPECT_EQ(result.status, Status::memory_limit);
    EXPECT_EQ(result.exit_code, 137);
    EXPECT_EQ(result.diagnostic, "memory limit of 67108864 bytes exceeded");
  }
}

TEST(RunOutcome, RlimitCpuSignalCountsOnlyWhenTheCpuWasUsed) {
  auto exec = ended(killed_by(SIGXCPU));
  exec.cpu_ns = 1200000000;
  EXPECT_EQ(run_outcome(exec, false, limits()).status, Status::cpu_limit);
  exec.cpu_ns = 100000000;
  EXPECT_EQ(run_outcome(exec, false, limits()).status, Status::signaled);
}

TEST(RunOutcome, NoWaitStatusIsAnError) {
  ExecResult exec;
  exec.error = "bwrap: Creating new namespace failed";
  const auto result = run_outcome(exec, false, limits());
  EXPECT_EQ(result.status, Status::error);
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_EQ(result.diagnostic, "bwrap: Creating new namespace failed");
}

TEST(CompileOutcome, SuccessLetsTheRunGoOn) {
  EXPECT_FALSE(compile_outcome(ended(exited_with(0)), false, limits()));
}

TEST(CompileOutcome, FailureCarriesTheCompilersCode) {
  const auto result = compile_outcome(ended(exited_with(1)), false, limits());
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, Status::compile_error);
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_EQ(result->diagnostic, "compilation failed with exit code 1");
}

TEST(CompileOutcome, LimitsApplyToTheCompilerToo) {
  const auto result =
      compile_outcome(ended(killed_by(SIGKILL), Verdict::time_limit), false, limits());
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, Status::time_limit);
  EXPECT_EQ(result->exit_code, 124);
}

TEST(RlimitCpuSeconds, RoundsUpAndAddsASecond) {
  EXPECT_EQ(rlimit_cpu_seconds(1000), 2U);
  EXPECT_EQ(rlimit_cpu_seconds(1001), 3U);
  EXPECT_EQ(rlimit_cpu_seconds(1), 2U);
}

}  // namespace
}  // namespace planificador::backend::docker
