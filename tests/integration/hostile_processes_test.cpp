// Hostile programs against process isolation: signals to everything in reach, processes
// meant to outlive the task, and the kernel interfaces that reach into other processes
// or around seccomp (ptrace, io_uring, TIOCSTI), and the mounts and namespaces only the
// sandbox's setup may make. When a task ends, none of its processes
// may remain on the host, nor be visible to the next task of the same container.

#include <csignal>
#include <optional>

#include "hostile_fixture.hpp"

namespace planificador::testing {
namespace {

using protocol::Status;
using namespace std::chrono_literals;

class HostileProcesses : public HostileTest {
 protected:
  // Runs `program` with `marker` as its argument (its lingering processes carry it), then
  // checks that it ended normally, that no process with the marker remains on the host,
  // and that the next task on the same runner (`finder`) sees none.
  void expect_nothing_survives(const std::string& image, const std::string& program,
                               const std::string& finder, const std::string& expected_out) {
    const std::string marker = unique_marker();
    protocol::TaskOptions options;
    options.args = {marker};
    const auto outcome =
        attack(image, program, options, [](auto& limits) { limits.wall_ms = 10000; });
    EXPECT_EQ(outcome.result.status, Status::exited) << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 0);
    EXPECT_EQ(outcome.out, expected_out) << outcome.err;
    // Well before the wall limit: lingering processes do not hold the task open.
    EXPECT_LT(outcome.elapsed(), 6s);
    EXPECT_EQ(host_processes_with_argument(marker), 0) << "a process of the task survived";

    protocol::TaskOptions look;
    look.stdin_data = marker + "\n";
    const auto next = attack(image, finder, look);
    EXPECT_EQ(next.result.status, Status::exited) << describe(next);
    EXPECT_EQ(next.out, "done\n") << "the next task sees a process of the previous one";
  }

  // A program that reports each attempt and exits 0 when every one was refused.
  Outcome expect_refused(const std::string& image, const std::string& program,
                         const std::string& success_word) {
    auto outcome = attack(image, program);
    EXPECT_EQ(outcome.result.status, Status::exited) << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 0) << outcome.out;
    EXPECT_EQ(outcome.out.find(success_word), std::string::npos) << outcome.out;
    EXPECT_NE(outcome.out.find("refused"), std::string::npos) << outcome.out;
    return outcome;
  }
};

// kill(-1, SIGKILL) reaches every process the task may signal: in its PID namespace that
// is its own tree and the sandbox's stub, never the helper. Killing the stub ends the
// task by that signal; either way the outcome is the program's own, not an executor one.
TEST_P(HostileProcesses, KillMinusNineMinusOne) {
  const auto outcome =
      attack("bash", "kill_everything.sh", {}, [](auto& limits) { limits.wall_ms = 5000; });
  if (outcome.result.status == Status::signaled) {
    EXPECT_EQ(outcome.result.signal, 9) << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 137);
    EXPECT_TRUE(outcome.result.diagnostic.empty()) << outcome.result.diagnostic;
  } else {
    EXPECT_EQ(outcome.result.status, Status::exited) << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 0);
  }
  EXPECT_LT(outcome.elapsed(), 4s);
}

// Signals to PID 1 (bwrap's init inside the sandbox; the helper, the container's PID 1,
// is outside the task's PID namespace and cannot be named) and to every other visible pid.
TEST_P(HostileProcesses, SignalsToPidOneAndEveryVisibleProcess) {
  const auto outcome =
      attack("bash", "signal_init.sh", {}, [](auto& limits) { limits.wall_ms = 5000; });
  EXPECT_TRUE(outcome.result.status == Status::exited || outcome.result.status == Status::signaled)
      << describe(outcome);
  EXPECT_TRUE(outcome.result.diagnostic.empty()) << outcome.result.diagnostic;
  EXPECT_NE(outcome.out.find("still here"), std::string::npos) << outcome.out;
  EXPECT_LT(outcome.elapsed(), 4s);
}

TEST_P(HostileProcesses, SetsidSleepersDoNotOutliveTheTask) {
  // Two sleepers, one fully detached and one holding stdout; both carry the marker.
  const std::string marker = unique_marker();
  protocol::TaskOptions options;
  options.args = {marker, marker};
  const auto outcome =
      attack("bash", "setsid_sleeper.sh", options, [](auto& limits) { limits.wall_ms = 10000; });
  EXPECT_EQ(outcome.result.status, Status::exited) << describe(outcome);
  EXPECT_EQ(outcome.out, "started\n");
  EXPECT_LT(outcome.elapsed(), 6s);
  EXPECT_EQ(host_processes_with_argument(marker), 0) << "a sleeper survived";
  protocol::TaskOptions look;
  look.stdin_data = marker + "\n";
  const auto next = attack("bash", "find_process.sh", look);
  EXPECT_EQ(next.out, "done\n") << "the next task sees a sleeper of the previous one";
}

TEST_P(HostileProcesses, ChildrenIgnoringSigtermDoNotOutliveTheTask) {
  expect_nothing_survives("bash", "ignore_sigterm.sh", "find_process.sh", "started\n");
}

TEST_P(HostileProcesses, DoubleForkedDaemonDoesNotOutliveTheTask) {
  expect_nothing_survives("c", "double_fork.c", "find_process.c", "daemonized\n");
}

TEST_P(HostileProcesses, PtraceOfAnotherProcess) {
  expect_refused("c", "ptrace_other.c", "ATTACHED");
}

// PID 1 of the sandbox holds what the task must not have (in a warm sandbox, the
// connection to the helper): its memory and descriptors stay out of reach.
TEST_P(HostileProcesses, TakeoverOfPidOne) {
  const auto outcome = expect_refused("c", "init_takeover.c", "TAKEN");
  EXPECT_NE(outcome.out.find("open /proc/1/mem: refused"), std::string::npos) << outcome.out;
}

// Mounts and new namespaces belong to the sandbox's setup, never to a program: refused, by
// a seccomp filter of the task's own on top of the container's profile.
TEST_P(HostileProcesses, MountsAndNamespaces) {
  const auto outcome = expect_refused("c", "namespace_escape.c", "ESCAPED");
  EXPECT_NE(outcome.out.find("seccomp filters:\t2\n"), std::string::npos) << outcome.out;
}

// A task may reconfigure every process it can name, the sandbox's PID 1 first (in a warm
// sandbox the zygote, which starts every later program): lower its resource limits,
// priority, scheduling policy, affinity and I/O priority. Nothing of it may reach the next
// task of the same container: its program starts with the same settings as before.
TEST_P(HostileProcesses, ReconfiguringPidOneReachesNoLaterTask) {
  const auto before = attack("c", "report_process_settings.c");
  ASSERT_EQ(before.result.status, Status::exited) << describe(before);
  EXPECT_NE(before.out.find("10 KB file: written"), std::string::npos) << before.out;
  const auto attacked = attack("c", "reconfigure_init.c");
  EXPECT_EQ(attacked.result.status, Status::exited) << describe(attacked);
  EXPECT_NE(attacked.out.find("pid 1 RLIMIT_FSIZE 4096: "), std::string::npos) << attacked.out;
  EXPECT_NE(attacked.out.find("done\n"), std::string::npos) << attacked.out;
  const auto after = attack("c", "report_process_settings.c");
  EXPECT_EQ(after.result.status, Status::exited) << describe(after);
  EXPECT_EQ(after.out, before.out) << "a later task inherited the attack";

  // A stack limit of 64 KiB would kill every later Python at its start.
  const auto lowered = run_code("python",
                                "import resource\n"
                                "resource.prlimit(1, resource.RLIMIT_STACK, (65536, 65536))\n"
                                "print('lowered')\n");
  EXPECT_EQ(lowered.out, "lowered\n") << describe(lowered);
  const auto python = run_code("python", "print('alive')\n");
  EXPECT_EQ(python.result.status, Status::exited) << describe(python);
  EXPECT_EQ(python.out, "alive\n");
}

// A program may end the way the daemon's verdicts look to a plain SUBMIT client (exit 137
// with the daemon's memory diagnostic, its own CPU or file-size rlimit, SIGKILL to
// itself); the exit code is the program's own (SPEC §3), but REPORT's status never says
// the daemon ended it, and the daemon adds no diagnostic of its own.
TEST_P(HostileProcesses, ForgedVerdictsDoNotFoolTheReport) {
  struct Case {
    const char* how;
    Status status;
    int exit_code;
    std::optional<int> signal;
  };
  for (const Case& expected :
       {Case{"fake", Status::exited, 137, std::nullopt},
        Case{"cpu", Status::signaled, 137, SIGKILL}, Case{"fsize", Status::signaled, 153, SIGXFSZ},
        Case{"kill", Status::signaled, 137, SIGKILL}}) {
    protocol::TaskOptions options;
    options.args = {expected.how};
    const auto outcome = attack("c", "forge_verdicts.c", options);
    EXPECT_EQ(outcome.result.status, expected.status) << expected.how << ": " << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, expected.exit_code) << expected.how;
    EXPECT_EQ(outcome.result.signal, expected.signal) << expected.how;
    EXPECT_TRUE(outcome.result.diagnostic.empty())
        << expected.how << ": " << outcome.result.diagnostic;
  }
}

TEST_P(HostileProcesses, IoUring) { expect_refused("c", "io_uring.c", "RING"); }

TEST_P(HostileProcesses, TiocstiIntoATerminal) { expect_refused("c", "tiocsti.c", "INJECTED"); }

PLANIFICADOR_HOSTILE_MODES(HostileProcesses);

}  // namespace
}  // namespace planificador::testing
