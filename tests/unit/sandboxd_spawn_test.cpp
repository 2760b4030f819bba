// The zygote's program start, on the host: spawn_program's child runs exactly what it was
// given, as execvp would find it, with nothing of its parent's state.
#include <array>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sched.h>
#include <string>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "spawn.hpp"
#include "task_filter.hpp"
#include <gtest/gtest.h>

#include "planificador/os/fd.hpp"

namespace planificador::sandboxd {
namespace {

using Strings = std::vector<std::string>;

TEST(ExecCandidates, ANameWithASlashIsTheOnlyCandidate) {
  EXPECT_EQ(exec_candidates("./main", {"PATH=/usr/bin"}), Strings{"./main"});
  EXPECT_EQ(exec_candidates("/bin/true", {}), Strings{"/bin/true"});
}

TEST(ExecCandidates, SearchesTheProgramsPathNotTheCallers) {
  EXPECT_EQ(exec_candidates("python3", {"HOME=/work", "PATH=/opt/x/bin:/usr/bin"}),
            (Strings{"/opt/x/bin/python3", "/usr/bin/python3"}));
}

TEST(ExecCandidates, DefaultsLikeExecvpAndTakesEmptyEntriesAsTheCurrentDirectory) {
  EXPECT_EQ(exec_candidates("sh", {"HOME=/work"}), (Strings{"/bin/sh", "/usr/bin/sh"}));
  EXPECT_EQ(exec_candidates("a", {"PATH=:/bin:"}), (Strings{"a", "/bin/a", "a"}));
}

struct Outcome {
  int status = -1;
  std::string out;
  std::string err;
};

std::string drain(os::Fd fd) {
  std::string text;
  std::array<char, 4096> buffer{};
  ssize_t got = 0;
  while ((got = ::read(fd.get(), buffer.data(), buffer.size())) > 0) {
    text.append(buffer.data(), static_cast<std::size_t>(got));
  }
  return text;
}

SpawnRequest request_of(Strings argv, Strings env) {
  SpawnRequest request;
  request.argv = std::move(argv);
  request.env = std::move(env);
  return request;
}

Outcome run(SpawnRequest request, const std::string& input = "") {
  std::array<int, 2> in{}, out{}, err{};
  EXPECT_EQ(::pipe2(in.data(), O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(out.data(), O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(err.data(), O_CLOEXEC), 0);
  request.fds = {in[0], out[1], err[1]};
  auto pid = spawn_program(request);
  for (const int fd : {in[0], out[1], err[1]}) {
    ::close(fd);
  }
  EXPECT_TRUE(pid) << (pid ? "" : pid.error().message);
  EXPECT_EQ(::write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  ::close(in[1]);
  Outcome outcome;
  outcome.out = drain(os::Fd(out[0]));
  outcome.err = drain(os::Fd(err[0]));
  if (pid) {
    EXPECT_EQ(::waitpid(*pid, &outcome.status, 0), *pid);
  }
  return outcome;
}

int exit_code(const Outcome& outcome) {
  return WIFEXITED(outcome.status) ? WEXITSTATUS(outcome.status) : -1;
}

const Strings k_env{"PATH=/usr/bin:/bin", "ONLY=this"};

TEST(SpawnProgram, RunsWithExactlyItsEnvironmentAndPipes) {
  auto outcome =
      run(request_of({"sh", "-c", "cat; env | sort; echo to-err >&2"}, k_env), "input\n");
  EXPECT_EQ(exit_code(outcome), 0);
  EXPECT_EQ(outcome.out, "input\nONLY=this\nPATH=/usr/bin:/bin\nPWD=" +
                             std::filesystem::current_path().string() + "\n");
  EXPECT_EQ(outcome.err, "to-err\n");
}

TEST(SpawnProgram, LeavesNoOtherDescriptorOpenAndStartsItsOwnSession) {
  auto outcome = run(request_of({"sh", "-c",
                                 "ls /proc/self/fd | sort -n | tr '\\n' ' '; "
                                 "test \"$(ps -o sid= $$)\" -eq $$ && echo leader"},
                                k_env));
  // 0 1 2, and the descriptor ls opens to read the directory.
  EXPECT_EQ(outcome.out, "0 1 2 3 leader\n") << outcome.err;
}

TEST(SpawnProgram, StartsWithNoSignalBlocked) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  ASSERT_EQ(::sigprocmask(SIG_BLOCK, &set, nullptr), 0);
  auto outcome = run(request_of({"grep", "^SigBlk", "/proc/self/status"}, k_env));
  ASSERT_EQ(::sigprocmask(SIG_UNBLOCK, &set, nullptr), 0);
  EXPECT_EQ(outcome.out, "SigBlk:\t0000000000000000\n");
}

TEST(SpawnProgram, SetsTheCpuBackstop) {
  auto request = request_of({"sh", "-c", "ulimit -t; ulimit -H -t"}, k_env);
  request.rlimit_cpu_s = 3;
  EXPECT_EQ(run(request).out, "3\n4\n");
}

TEST(SpawnProgram, AnswersLikeAShellWhenTheProgramCannotRun) {
  auto missing = run(request_of({"no-such-program-anywhere"}, k_env));
  EXPECT_EQ(exit_code(missing), 127);
  EXPECT_EQ(missing.err, "cannot execute `no-such-program-anywhere`: No such file or directory\n");

  const auto dir =
      std::filesystem::temp_directory_path() / ("spawn-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto plain = dir / "plain";
  std::ofstream(plain) << "echo from a script without a shebang\n";
  std::filesystem::permissions(plain, std::filesystem::perms::owner_all);
  const auto denied = dir / "denied";
  std::ofstream(denied) << "#!/bin/sh\necho never\n";
  std::filesystem::permissions(denied, std::filesystem::perms::owner_read);

  auto script = run(request_of({plain.string()}, k_env));
  EXPECT_EQ(exit_code(script), 0);
  EXPECT_EQ(script.out, "from a script without a shebang\n");

  auto found = run(request_of({"plain"}, {"PATH=/nowhere:" + dir.string()}));
  EXPECT_EQ(found.out, "from a script without a shebang\n") << found.err;

  // No execute bit at all: refused even to root.
  auto refused = run(request_of({denied.string()}, k_env));
  EXPECT_EQ(exit_code(refused), 126);
  EXPECT_NE(refused.err.find("Permission denied"), std::string::npos) << refused.err;
  std::filesystem::remove_all(dir);
}

// The "Seccomp_filters:" count of /proc/self/status (0 when the line is missing).
int seccomp_filters(const std::string& status) {
  const auto at = status.find("Seccomp_filters:");
  return at == std::string::npos ? 0 : std::stoi(status.substr(at + 16));
}

TEST(SpawnProgram, RunsUnderTheTaskFilter) {
  std::ifstream own("/proc/self/status");
  const std::string mine((std::istreambuf_iterator<char>(own)), std::istreambuf_iterator<char>());
  auto outcome = run(request_of({"cat", "/proc/self/status"}, k_env));
  EXPECT_NE(outcome.out.find("Seccomp:\t2\n"), std::string::npos) << outcome.out;
  EXPECT_EQ(seccomp_filters(outcome.out), seccomp_filters(mine) + 1);
}

// What a program may no longer do under the filter, each checked in a child of the test
// (root on the host, where without the filter most of it would succeed).
int refused_in_child(int (*attempt)()) {
  const pid_t child = ::fork();
  if (child == 0) {
    const auto program = task_filter();
    const sock_fprog filter{static_cast<unsigned short>(program.size()),
                            const_cast<sock_filter*>(program.data())};
    if (install_task_filter(filter) != 0) {
      ::_exit(100);
    }
    errno = 0;
    const int result = attempt();
    ::_exit(result == -1 ? (errno & 0x7f) : 101);
  }
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, 0), child);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(TaskFilter, RefusesMountsNamespacesAndTheHostName) {
  ASSERT_FALSE(task_filter().empty()) << "no filter for this architecture";
  EXPECT_EQ(refused_in_child([] { return ::unshare(CLONE_NEWNS); }), EPERM);
  EXPECT_EQ(refused_in_child([] { return ::unshare(CLONE_NEWUSER); }), EPERM);
  EXPECT_EQ(refused_in_child([] { return ::mount("none", "/mnt", "tmpfs", 0, nullptr); }), EPERM);
  EXPECT_EQ(refused_in_child([] { return ::umount2("/proc", MNT_DETACH); }), EPERM);
  EXPECT_EQ(refused_in_child([] { return ::chroot("/"); }), EPERM);
  EXPECT_EQ(refused_in_child([] { return ::sethostname("x", 1); }), EPERM);
  EXPECT_EQ(refused_in_child([] {
              const int fd = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
              return fd < 0 ? 0 : ::setns(fd, 0);
            }),
            EPERM);
  EXPECT_EQ(refused_in_child([] {
              return static_cast<int>(::syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0));
            }),
            EPERM);
  EXPECT_EQ(refused_in_child([] { return static_cast<int>(::syscall(SYS_clone3, nullptr, 0)); }),
            ENOSYS);
  EXPECT_EQ(refused_in_child([] {
              unsigned long context = 0;
              return static_cast<int>(::syscall(SYS_io_setup, 128, &context));
            }),
            ENOSYS);
#if defined(__x86_64__)
  EXPECT_EQ(refused_in_child([] { return static_cast<int>(::syscall(SYS_getpid | 0x40000000)); }),
            ENOSYS);
#endif
}

TEST(TaskFilter, LeavesProcessesAndThreadsAlone) {
  // fork, then a thread (glibc's clone3 answers ENOSYS and it falls back to clone).
  EXPECT_EQ(refused_in_child([] {
              const pid_t pid = ::fork();
              if (pid == 0) {
                ::_exit(0);
              }
              int status = 1;
              if (pid < 0 || ::waitpid(pid, &status, 0) != pid || status != 0) {
                return 0;
              }
              bool ran = false;
              std::thread([&] { ran = true; }).join();
              errno = ran ? 1 : 0;
              return -1;
            }),
            1);
}

}  // namespace
}  // namespace planificador::sandboxd
