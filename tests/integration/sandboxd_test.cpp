// The real planificador-sandboxd on the host, with the installed bwrap.
#include <chrono>
#include <csignal>
#include <set>
#include <span>
#include <sys/wait.h>
#include <thread>

#include "sandboxd_harness.hpp"

namespace planificador::sandbox::testing {
namespace {

class Sandboxd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(m_helper.socket)) << "the helper did not come up";
    m_connection = m_helper.connect();
  }
  int connection() const { return m_connection.get(); }

  HelperProcess m_helper;
  os::Fd m_connection;
};

TEST_F(Sandboxd, RunsHelloWorldAsTheSandboxUser) {
  auto result = run(connection(), {"sh", "-c", "echo hello; id -u; id -g; pwd; hostname"});
  EXPECT_EQ(result.started["event"], "started");
  EXPECT_GT(result.started["pid"].get<int>(), 0);
  EXPECT_EQ(result.exited["event"], "exited");
  ASSERT_TRUE(WIFEXITED(result.status()));
  EXPECT_EQ(WEXITSTATUS(result.status()), 0);
  EXPECT_EQ(result.out, "hello\n1000\n1000\n/work\nsandbox\n");
  EXPECT_EQ(result.err, "");
}

TEST_F(Sandboxd, ReportsExitCodes) {
  for (const int code : {0, 1, 3, 127, 139, 255}) {
    auto result = run(connection(), {"sh", "-c", "exit " + std::to_string(code)});
    ASSERT_TRUE(WIFEXITED(result.status())) << result.exited;
    EXPECT_EQ(WEXITSTATUS(result.status()), code);
  }
}

TEST_F(Sandboxd, ReportsTheExactSignalNotBwrapsFoldedCode) {
  auto killed = run(connection(), {"sh", "-c", "kill -SEGV $$"});
  ASSERT_TRUE(WIFSIGNALED(killed.status())) << killed.exited;
  EXPECT_EQ(WTERMSIG(killed.status()), SIGSEGV);
  EXPECT_FALSE(WCOREDUMP(killed.status())) << "RLIMIT_CORE is 0";

  // A real invalid memory access, not a sent signal.
  auto crashed = run(connection(), {"python3", "-c", "import ctypes; ctypes.string_at(0)"});
  ASSERT_TRUE(WIFSIGNALED(crashed.status())) << crashed.exited << crashed.err;
  EXPECT_EQ(WTERMSIG(crashed.status()), SIGSEGV);

  auto exited = run(connection(), {"sh", "-c", "exit 139"});
  ASSERT_TRUE(WIFEXITED(exited.status()));
  EXPECT_EQ(WEXITSTATUS(exited.status()), 139);
  EXPECT_NE(exited.status(), killed.status());
}

TEST_F(Sandboxd, PassesStdinAndSeparatesStdoutFromStderr) {
  auto result = run(connection(), {"sh", "-c", "tr a-z A-Z; echo oops >&2"}, "some input\n");
  EXPECT_EQ(result.out, "SOME INPUT\n");
  EXPECT_EQ(result.err, "oops\n");
}

TEST_F(Sandboxd, GivesExactlyTheRequestedEnvironment) {
  auto result = run(connection(), {"sh", "-c", "env | sort"}, "", {"LANG=C.UTF-8", "X=a=b"});
  EXPECT_EQ(result.out,
            "HOME=/work\nLANG=C.UTF-8\n"
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nPWD=/work\n"
            "X=a=b\n");
}

TEST_F(Sandboxd, StartsTheProgramWithNoSignalBlockedOrIgnored) {
  // The helper ignores SIGPIPE; an ignored disposition survives exec, so the zygote must
  // undo it before any program inherits it.
  auto result = run(connection(), {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"});
  EXPECT_EQ(result.out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST_F(Sandboxd, ReportsAMissingProgramAs127) {
  auto result = run(connection(), {"no-such-program-here"});
  ASSERT_TRUE(WIFEXITED(result.status()));
  EXPECT_EQ(WEXITSTATUS(result.status()), 127);
  EXPECT_NE(result.err.find("no-such-program-here"), std::string::npos);
}

TEST_F(Sandboxd, WritesFilesWithSubdirectoriesAndModes) {
  nlohmann::json run_sh = file_entry("run.sh", "#!/bin/sh\ncat src/data/input.txt\n");
  run_sh["mode"] = 0755;
  const auto reply =
      request(connection(), {{"op", "prepare"},
                             {"files",
                              {run_sh, file_entry("src/data/input.txt", "from a file\n"),
                               file_entry("src/other.txt", "")}}});
  ASSERT_EQ(reply, nlohmann::json({{"ok", true}}));
  auto result = run(connection(), {"sh", "-c", "./run.sh; stat -c '%a %n' run.sh src/other.txt"});
  EXPECT_EQ(result.out, "from a file\n755 run.sh\n644 src/other.txt\n");
}

TEST_F(Sandboxd, WritesTheFilesOfAnExecBeforeItsProgramStarts) {
  Stdio stdio;
  const std::array<int, 3> fds{stdio.stdin_read.get(), stdio.stdout_write.get(),
                               stdio.stderr_write.get()};
  const nlohmann::json exec = {
      {"op", "exec"},
      {"argv", {"sh", "-c", "cat main.sh lib/data"}},
      {"files", {file_entry("main.sh", "echo one\n"), file_entry("lib/data", "two\n")}}};
  ASSERT_TRUE(send_message(connection(), exec, fds));
  stdio.stdin_read.reset();
  stdio.stdout_write.reset();
  stdio.stderr_write.reset();
  stdio.stdin_write.reset();
  EXPECT_EQ(receive(connection())["event"], "started");
  EXPECT_EQ(receive(connection()).value("wait_status", -1), 0);
  EXPECT_EQ(read_to_eof(stdio.stdout_read.get()), "echo one\ntwo\n");
}

TEST_F(Sandboxd, RunsNothingWhenAFileOfTheExecIsRefused) {
  Stdio stdio;
  const std::array<int, 3> fds{stdio.stdin_read.get(), stdio.stdout_write.get(),
                               stdio.stderr_write.get()};
  const nlohmann::json exec = {{"op", "exec"},
                               {"argv", {"sh", "-c", "echo ran"}},
                               {"files", {file_entry("../x", "escaped")}}};
  ASSERT_TRUE(send_message(connection(), exec, fds));
  stdio.stdin_read.reset();
  stdio.stdout_write.reset();
  stdio.stderr_write.reset();
  const auto answer = receive(connection());
  EXPECT_EQ(answer, nlohmann::json({{"event", "exited"},
                                    {"error", "file `../x`: path escapes the work directory"},
                                    {"rejected", true}}));
  EXPECT_EQ(read_to_eof(stdio.stdout_read.get()), "");
  // The connection still serves.
  EXPECT_EQ(run(connection(), {"sh", "-c", "echo still"}).out, "still\n");
}

TEST_F(Sandboxd, RejectsPathsThatEscapeTheWorkDirectory) {
  for (const char* path : {"../x", "/etc/x", "a/../../x", "./x", "", "a//b"}) {
    const auto reply =
        request(connection(), {{"op", "prepare"}, {"files", {file_entry(path, "nope")}}});
    EXPECT_EQ(reply["ok"], false) << path;
    EXPECT_EQ(reply.value("error", ""),
              "file `" + std::string(path) + "`: path escapes the work directory");
  }
  EXPECT_FALSE(std::filesystem::exists(m_helper.root + "/x"));
  EXPECT_TRUE(entries_of(m_helper.root + "/work").empty());
}

TEST_F(Sandboxd, RejectsBadFileEntries) {
  auto reply = request(connection(),
                       {{"op", "prepare"}, {"files", {{{"path", "a"}, {"data", "not base64!"}}}}});
  EXPECT_EQ(reply["ok"], false);
  EXPECT_NE(reply.value("error", "").find("not base64"), std::string::npos);
  nlohmann::json setuid = file_entry("b", "x");
  setuid["mode"] = 04755;
  reply = request(connection(), {{"op", "prepare"}, {"files", {setuid}}});
  EXPECT_EQ(reply["ok"], false);
  reply = request(connection(), {{"op", "prepare"}, {"files", {file_entry("c", "1")}}});
  EXPECT_EQ(reply["ok"], true);
  reply = request(connection(), {{"op", "prepare"}, {"files", {file_entry("c", "2")}}});
  EXPECT_EQ(reply.value("error", ""), "file `c`: already exists");
}

TEST_F(Sandboxd, NeverWritesThroughAPlantedSymlink) {
  const std::string& outside = m_helper.outside;
  auto planted =
      run(connection(), {"sh", "-c",
                         "ln -s " + outside + " dir && ln -s " + outside +
                             "/leaf leaf && mkdir real && ln -s " + outside + " real/inner"});
  ASSERT_EQ(planted.status(), 0) << planted.err;
  for (const char* path : {"dir/x", "leaf", "real/inner/x"}) {
    const auto reply =
        request(connection(), {{"op", "prepare"}, {"files", {file_entry(path, "escaped")}}});
    EXPECT_EQ(reply["ok"], false) << path;
    EXPECT_EQ(reply.value("error", "").rfind("file `" + std::string(path) + "`: ", 0), 0U) << reply;
  }
  EXPECT_TRUE(entries_of(outside).empty()) << "something was written outside the root";
}

TEST_F(Sandboxd, KillsTheWholeTreeIncludingADetachedSleeper) {
  const std::string detached = unique_sleep(1);
  const std::string direct = unique_sleep(2);
  Stdio stdio;
  const auto started =
      start(connection(), stdio,
            {"sh", "-c", "(setsid sleep " + detached + " &); echo ready; exec sleep " + direct});
  ASSERT_EQ(started["event"], "started");
  stdio.stdin_write.reset();
  ASSERT_EQ(read_line(stdio.stdout_read.get()), "ready");
  // The sleepers themselves ("sleep\0<marker>"), not the shell whose command line names
  // both markers too.
  const std::string detached_sleep = std::string("sleep\0", 6) + detached;
  const std::string direct_sleep = std::string("sleep\0", 6) + direct;
  (void)planificador::testing::wait_until(
      [&] {
        return !processes_with(detached_sleep).empty() && !processes_with(direct_sleep).empty();
      },
      std::chrono::seconds(20), std::chrono::milliseconds(10));
  const auto sleepers = processes_with(detached_sleep);
  ASSERT_FALSE(sleepers.empty()) << "the detached sleeper never showed up";

  ASSERT_TRUE(send_message(connection(), {{"op", "kill"}}));
  const auto exited = receive(connection());
  ASSERT_EQ(exited["event"], "exited");
  const int status = exited.value("wait_status", -1);
  ASSERT_TRUE(WIFSIGNALED(status)) << exited;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  // Nothing may survive "exited": not the sleepers, not a writer of the pipes.
  EXPECT_TRUE(processes_with(detached).empty());
  EXPECT_TRUE(processes_with(direct).empty());
  for (const pid_t pid : sleepers) {
    EXPECT_NE(::kill(pid, 0), 0) << pid;
  }
  EXPECT_EQ(read_to_eof(stdio.stdout_read.get(), std::chrono::seconds(5)), "");
  EXPECT_EQ(read_to_eof(stdio.stderr_read.get(), std::chrono::seconds(5)), "");

  // A kill with nothing running is a no-op: the next request is answered normally.
  ASSERT_TRUE(send_message(connection(), {{"op", "kill"}}));
  EXPECT_EQ(run(connection(), {"true"}).status(), 0);
}

TEST_F(Sandboxd, ReportsTheProgramsStatusAndKillsWhatItLeftBehind) {
  const std::string detached = unique_sleep(3);
  const auto begin = std::chrono::steady_clock::now();
  auto result =
      run(connection(), {"sh", "-c", "(setsid sleep " + detached + " &); echo done; exit 7"});
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(30));
  ASSERT_TRUE(WIFEXITED(result.status())) << result.exited;
  EXPECT_EQ(WEXITSTATUS(result.status()), 7);
  EXPECT_EQ(result.out, "done\n");
  EXPECT_TRUE(processes_with(detached).empty());
}

TEST_F(Sandboxd, CompilesThenRunsInTheSameWorkDirectory) {
  auto build =
      run(connection(), {"sh", "-c", "printf '#!/bin/sh\\necho built\\n' > prog && chmod +x prog"});
  ASSERT_EQ(build.status(), 0) << build.err;
  auto result = run(connection(), {"./prog"});
  EXPECT_EQ(result.status(), 0);
  EXPECT_EQ(result.out, "built\n");
}

TEST_F(Sandboxd, ResetWipesEveryWritableDirectory) {
  auto dirty =
      run(connection(), {"sh", "-c",
                         "echo a > /work/w && echo b > /tmp/t && echo c > /dev/shm/s && "
                         "echo d > /var/tmp/v && mkdir -p locked/inner && touch locked/inner/f && "
                         "chmod 000 locked/inner locked && ln -s " +
                             m_helper.outside + " /tmp/escape"});
  ASSERT_EQ(dirty.status(), 0) << dirty.err;
  std::ofstream(m_helper.outside + "/keep") << "precious";
  EXPECT_FALSE(entries_of(m_helper.root + "/shm").empty()) << "/dev/shm is not ours";

  EXPECT_EQ(request(connection(), {{"op", "reset"}}),
            nlohmann::json({{"ok", true}, {"clean", true}}));
  EXPECT_EQ(entries_of(m_helper.root), (std::vector<std::string>{"shm", "tmp", "vartmp", "work"}));
  for (const char* dir : {"shm", "tmp", "vartmp", "work"}) {
    EXPECT_TRUE(entries_of(m_helper.root + "/" + dir).empty()) << dir;
  }
  EXPECT_TRUE(std::filesystem::exists(m_helper.outside + "/keep")) << "a symlink was followed";

  // The same connection serves the next task, which sees nothing of the last one.
  auto after =
      run(connection(), {"find", "/work", "/tmp", "/dev/shm", "/var/tmp", "-mindepth", "1"});
  EXPECT_EQ(after.status(), 0);
  EXPECT_EQ(after.out, "");
}

TEST_F(Sandboxd, EveryStrictResetGivesTheNextTaskNewNamespacesAndNothingOfTheLast) {
  // From the second strict reset on, the helper hands over its standby sandbox: the used
  // one must still be gone entirely, with its detached processes and its files.
  std::set<std::string> seen;
  for (int task = 0; task < 4; ++task) {
    const std::string sleeper = unique_sleep(10 + task);
    auto result =
        run(connection(), {"sh", "-c",
                           "readlink /proc/self/ns/pid /proc/self/ns/mnt /proc/self/ns/net "
                           "/proc/self/ns/ipc /proc/self/ns/uts | tr '\\n' ' '; "
                           "find /work /tmp /dev/shm /var/tmp -mindepth 1 | wc -l; "
                           "echo x > /tmp/left-" +
                               std::to_string(task) +
                               "; "
                               "setsid sleep " +
                               sleeper + " > /dev/null 2>&1 < /dev/null &"});
    ASSERT_EQ(result.status(), 0) << result.err;
    const auto namespaces = result.out.substr(0, result.out.rfind(' '));
    EXPECT_TRUE(seen.insert(namespaces).second) << "task " << task << " reused " << namespaces;
    EXPECT_EQ(result.out.substr(result.out.rfind(' ') + 1), "0\n") << "task " << task;
    EXPECT_EQ(request(connection(), {{"op", "reset"}, {"isolation", "strict"}}),
              nlohmann::json({{"ok", true}, {"clean", true}}));
    EXPECT_TRUE(processes_with(sleeper).empty()) << "task " << task << "'s sleeper survived";
    // The sandbox for the next task and the standby for the reset after it (started right
    // after the answer): two bwraps binding this helper's work directory.
    // While the standby starts, its bwrap forks a second one for a moment: the count must
    // hold at 2 for 50 ms.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int steady = 0;
    while (steady < 5 && std::chrono::steady_clock::now() < deadline) {
      steady = processes_with(m_helper.root + "/work").size() == 2 ? steady + 1 : 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(steady, 5) << "task " << task << ": no standby next to the sandbox";
  }
}

TEST_F(Sandboxd, TreatsAClosedConnectionAsAReset) {
  const std::string sleeper = unique_sleep(4);
  {
    os::Fd first = m_helper.connect();
    m_connection.reset();  // the fixture's connection would hold the helper's attention
    ASSERT_EQ(
        request(first.get(), {{"op", "prepare"}, {"files", {file_entry("secret", "s")}}})["ok"],
        true);
    Stdio stdio;
    ASSERT_EQ(start(first.get(), stdio,
                    {"sh", "-c", "echo > /tmp/t; echo ready; exec sleep " + sleeper})["event"],
              "started");
    ASSERT_EQ(read_line(stdio.stdout_read.get()), "ready");
  }
  // The helper takes the next connection only once the reset is done.
  os::Fd second = m_helper.connect();
  ASSERT_EQ(request(second.get(), {{"op", "prepare"}, {"files", nlohmann::json::array()}})["ok"],
            true);
  EXPECT_TRUE(processes_with(sleeper).empty());
  auto result = run(second.get(), {"find", "/work", "/tmp", "-mindepth", "1"});
  EXPECT_EQ(result.out, "");
}

// Runs a program that reads stdin, writes to both streams and exits 5, and checks all of
// it: the connection still serves after whatever came before.
void expect_still_serves(int connection) {
  auto result = run(connection, {"sh", "-c", "tr a-z A-Z; echo err >&2; exit 5"}, "still here\n");
  EXPECT_EQ(result.started.value("event", ""), "started") << result.started;
  ASSERT_TRUE(WIFEXITED(result.status())) << result.exited;
  EXPECT_EQ(WEXITSTATUS(result.status()), 5);
  EXPECT_EQ(result.out, "STILL HERE\n");
  EXPECT_EQ(result.err, "err\n");
}

// Sends `body` with the first `count` of an exec's three descriptors and returns the
// answer, after checking that the helper kept no copy of them.
nlohmann::json send_exec(int connection, const nlohmann::json& body, std::size_t count = 3) {
  Stdio stdio;
  const std::array<int, 3> fds{stdio.stdin_read.get(), stdio.stdout_write.get(),
                               stdio.stderr_write.get()};
  EXPECT_TRUE(send_message(connection, body, std::span<const int>(fds.data(), count)));
  stdio.stdin_read.reset();
  stdio.stdout_write.reset();
  stdio.stderr_write.reset();
  auto answer = receive(connection);
  EXPECT_EQ(read_to_eof(stdio.stdout_read.get(), std::chrono::seconds(5)), "");
  EXPECT_EQ(read_to_eof(stdio.stderr_read.get(), std::chrono::seconds(5)), "");
  return answer;
}

nlohmann::json refused(const std::string& error) { return {{"ok", false}, {"error", error}}; }

nlohmann::json exited_with(const std::string& error) {
  return {{"event", "exited"}, {"error", error}};
}

TEST_F(Sandboxd, AnswersABodyThatIsNotAJsonObjectAndGoesOn) {
  const std::string invalid = std::string("\0\0\0\4", 4) + "{no}";
  ASSERT_EQ(::write(connection(), invalid.data(), invalid.size()), 8);
  EXPECT_EQ(receive(connection()), refused("sandboxd message: invalid JSON"));
  for (const auto& body : {nlohmann::json::array({"exec", "true"}), nlohmann::json("exec"),
                           nlohmann::json(42), nlohmann::json()}) {
    EXPECT_EQ(request(connection(), body), refused("sandboxd message: not a JSON object")) << body;
  }
  // Even with an exec's descriptors attached it cannot be taken for one: a reply, and the
  // descriptors are not kept.
  EXPECT_EQ(send_exec(connection(), nlohmann::json::array({{{"op", "exec"}}})),
            refused("sandboxd message: not a JSON object"));
  expect_still_serves(connection());
}

TEST_F(Sandboxd, AnswersAnUnknownOrMissingOpAndGoesOn) {
  EXPECT_EQ(request(connection(), {{"op", "launch-missiles"}}),
            refused("unknown op `launch-missiles`"));
  EXPECT_EQ(request(connection(), {{"op", "clean"}}), refused("unknown op `clean`"))
      << "the zygote's op is not the daemon's";
  EXPECT_EQ(request(connection(), nlohmann::json::object()), refused("message without an `op`"));
  EXPECT_EQ(request(connection(), {{"op", 7}, {"files", nlohmann::json::array()}}),
            refused("message without an `op`"));
  expect_still_serves(connection());
}

TEST_F(Sandboxd, AnswersAPrepareWithFilesOfTheWrongTypeAndWritesNone) {
  EXPECT_EQ(request(connection(), {{"op", "prepare"}, {"files", "main.py"}}),
            refused("prepare: `files` is not an array"));
  const auto as_array = nlohmann::json::array({nlohmann::json::array({"main.py", "eA=="})});
  EXPECT_EQ(request(connection(), {{"op", "prepare"}, {"files", as_array}}),
            refused("prepare: a file needs string `path` and `data`"));
  EXPECT_EQ(
      request(connection(), {{"op", "prepare"}, {"files", {{{"path", 5}, {"data", "eA=="}}}}}),
      refused("prepare: a file needs string `path` and `data`"));
  EXPECT_EQ(request(connection(), {{"op", "prepare"}}), refused("prepare: `files` is missing"));
  // A list that does not decode is refused before any of it is written.
  const auto list = nlohmann::json::array({file_entry("first", "1"), nlohmann::json(5)});
  EXPECT_EQ(request(connection(), {{"op", "prepare"}, {"files", list}}),
            refused("prepare: a file needs string `path` and `data`"));
  EXPECT_TRUE(entries_of(m_helper.root + "/work").empty());
  expect_still_serves(connection());
}

TEST_F(Sandboxd, AnswersAnExecWithABadArgvWithAnExitedAndGoesOn) {
  EXPECT_EQ(send_exec(connection(), {{"op", "exec"}, {"argv", "sh -c true"}}),
            exited_with("exec: `argv` is not an array of strings"));
  EXPECT_EQ(send_exec(connection(), {{"op", "exec"}, {"argv", {"sh", 1}}}),
            exited_with("exec: `argv` is not an array of strings"));
  EXPECT_EQ(send_exec(connection(), {{"op", "exec"}, {"argv", nlohmann::json::array()}}),
            exited_with("exec: argv is empty"));
  EXPECT_EQ(send_exec(connection(), {{"op", "exec"}, {"argv", {""}}}),
            exited_with("exec: argv is empty"));
  EXPECT_EQ(send_exec(connection(), {{"op", "exec"}}), exited_with("exec: `argv` is missing"));
  EXPECT_EQ(send_exec(connection(), {{"op", "exec"}, {"argv", {"true"}}, {"rlimit_cpu_s", 0}}),
            exited_with("exec: `rlimit_cpu_s` is not a positive integer"));
  // Not the task's input at fault but the daemon's message: no "rejected", and nothing of
  // the exec is written.
  EXPECT_EQ(send_exec(connection(), {{"op", "exec"},
                                     {"argv", {"true"}},
                                     {"files", {{{"path", "a"}, {"data", "abc"}}}}}),
            exited_with("file `a`: `data` is not base64: length 3 is not a multiple of 4"));
  EXPECT_TRUE(entries_of(m_helper.root + "/work").empty());
  expect_still_serves(connection());
}

TEST_F(Sandboxd, RefusesAnExecWithoutThreeDescriptors) {
  for (const std::size_t count : {0U, 1U, 2U}) {
    EXPECT_EQ(send_exec(connection(), {{"op", "exec"}, {"argv", {"sh", "-c", "echo ran"}}}, count),
              exited_with("exec: expected 3 descriptors (stdin, stdout, stderr), got " +
                          std::to_string(count)));
  }
  expect_still_serves(connection());
}

TEST_F(Sandboxd, RefusesASecondExecWhileOneRuns) {
  Stdio first;
  ASSERT_EQ(start(connection(), first, {"sleep", "1000"})["event"], "started");
  Stdio second;
  const auto reply = start(connection(), second, {"true"});
  EXPECT_EQ(reply["ok"], false);
}

TEST(SandboxdSetup, ReportsBwrapsOwnErrorSeparatelyFromTheTasksStderr) {
  char pattern[] = "/tmp/planificador-fake-bwrap-XXXXXX";
  const std::string dir = ::mkdtemp(pattern);
  const std::string fake = dir + "/bwrap";
  std::ofstream(fake) << "#!/bin/sh\necho 'bwrap: cannot do that' >&2\nexit 1\n";
  ::chmod(fake.c_str(), 0755);
  ::chmod(dir.c_str(), 0755);
  {
    HelperProcess helper(true, {"--bwrap", fake});
    os::Fd connection = helper.connect();
    auto result = run(connection.get(), {"true"});
    // The sandbox never started, so no program did: the exec's only answer is "exited".
    EXPECT_EQ(result.started["event"], "exited");
    EXPECT_EQ(result.exited.value("error", ""),
              "sandbox setup failed: bwrap exited with status 1: bwrap: cannot do that");
    EXPECT_FALSE(result.exited.contains("wait_status"));
    EXPECT_EQ(result.err, "");
  }
  std::filesystem::remove_all(dir);
}

TEST(SandboxdUnprivileged, RunsKillsAndWipesWithoutRoot) {
  HelperProcess helper;
  os::Fd connection = helper.connect();
  auto result = run(connection.get(), {"sh", "-c",
                                       "i=0; while [ $i -lt 300 ]; do mkdir d && cd d || exit 1; "
                                       "i=$((i+1)); done; touch f; chmod 000 . ..; echo deep"});
  ASSERT_EQ(result.status(), 0) << result.err;
  EXPECT_EQ(result.out, "deep\n");
  EXPECT_EQ(request(connection.get(), {{"op", "reset"}}),
            nlohmann::json({{"ok", true}, {"clean", true}}));
  EXPECT_TRUE(entries_of(helper.root + "/work").empty());

  const std::string sleeper = unique_sleep(5);
  Stdio stdio;
  ASSERT_EQ(
      start(connection.get(), stdio,
            {"sh", "-c", "(setsid sleep " + sleeper + " &); echo ready; sleep 1000"})["event"],
      "started");
  ASSERT_EQ(read_line(stdio.stdout_read.get()), "ready");
  ASSERT_TRUE(send_message(connection.get(), {{"op", "kill"}}));
  EXPECT_EQ(receive(connection.get()).value("wait_status", -1), SIGKILL);
  EXPECT_TRUE(processes_with(sleeper).empty());
}

TEST(SandboxdLifecycle, ExitsCleanlyOnSigtermKillingTheTask) {
  HelperProcess helper;
  os::Fd connection = helper.connect();
  const std::string sleeper = unique_sleep(6);
  Stdio stdio;
  ASSERT_EQ(
      start(connection.get(), stdio, {"sh", "-c", "echo ready; exec sleep " + sleeper})["event"],
      "started");
  ASSERT_EQ(read_line(stdio.stdout_read.get()), "ready");
  ASSERT_EQ(::kill(helper.pid, SIGTERM), 0);
  // The program did not end by itself: the answer says the helper was stopped, not that
  // the program died of a SIGKILL.
  const auto exited = receive(connection.get());
  EXPECT_FALSE(exited.contains("wait_status")) << exited.dump();
  EXPECT_EQ(exited.value("error", ""), "sandbox helper stopped by signal 15");
  const int status = helper.wait_exit(std::chrono::seconds(20));
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(processes_with(sleeper).empty());
  EXPECT_FALSE(std::filesystem::exists(helper.socket));
  EXPECT_TRUE(entries_of(helper.root + "/work").empty());
}

}  // namespace
}  // namespace planificador::sandbox::testing
