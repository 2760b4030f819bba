#include "planificador/backend/docker/exec_session.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "planificador/os/fd.hpp"
#include "planificador/sandbox/messages.hpp"
#include "planificador/sandbox/wire.hpp"

namespace planificador::backend::docker {
namespace {

using protocol::Stream;

// How long a wait for something that should come at once may take before the test fails
// instead of hanging.
constexpr std::chrono::seconds k_patience{10};
constexpr int k_patience_ms = 10'000;
// A wall limit no test that expects a normal end comes near.
constexpr std::uint64_t k_ample_wall_ms = 20'000;
constexpr int k_sigkill_status = SIGKILL;  // waitpid()'s status of a process killed by SIGKILL

// A cgroup v1 directory of plain files, the ones os::Cgroup reads during an exec.
class FakeCgroup {
 public:
  FakeCgroup() : m_dir(make_dir()), m_cgroup(os::CgroupPaths{os::CgroupVersion::v1, m_dir, m_dir}) {
    set("cpuacct.usage", 0);
    set("memory.failcnt", 0);
    set("memory.usage_in_bytes", 0);
    set("memory.limit_in_bytes", k_limit);
  }
  FakeCgroup(const FakeCgroup&) = delete;
  FakeCgroup& operator=(const FakeCgroup&) = delete;
  ~FakeCgroup() { std::filesystem::remove_all(m_dir); }

  // Rewrites `name` in place: the Cgroup keeps its descriptors open, so a new file under
  // the same name would not be seen.
  void set(const std::string& name, std::uint64_t value) const {
    std::ofstream(m_dir + "/" + name, std::ios::trunc) << value << "\n";
  }
  [[nodiscard]] const os::Cgroup& cgroup() const { return m_cgroup; }

  static constexpr std::uint64_t k_limit = 1 << 20;

 private:
  static std::string make_dir() {
    char pattern[] = "/tmp/planificador-exec-session-XXXXXX";
    const char* dir = ::mkdtemp(pattern);
    EXPECT_NE(dir, nullptr) << "mkdtemp: " << std::strerror(errno);
    return dir == nullptr ? std::string("/nonexistent") : std::string(dir);
  }

  std::string m_dir;
  os::Cgroup m_cgroup;
};

// Records what run_exec() delivers; the fake helper waits on it to order its writes.
class RecordingSink final : public OutputSink {
 public:
  void output(Stream stream, std::string_view bytes) override {
    const std::lock_guard lock(m_mutex);
    m_chunks.push_back(Chunk{stream, std::string(bytes)});
    m_bytes += bytes.size();
    m_changed.notify_all();
  }

  // Returns true once `bytes` in all were delivered, false after k_patience.
  bool wait_for_bytes(std::size_t bytes) {
    std::unique_lock lock(m_mutex);
    return m_changed.wait_for(lock, k_patience, [&] { return m_bytes >= bytes; });
  }
  [[nodiscard]] std::vector<Chunk> chunks() const {
    const std::lock_guard lock(m_mutex);
    return m_chunks;
  }
  [[nodiscard]] std::string text(Stream stream) const {
    const std::lock_guard lock(m_mutex);
    std::string all;
    for (const auto& chunk : m_chunks) {
      if (chunk.stream == stream) {
        all += chunk.bytes;
      }
    }
    return all;
  }

 private:
  mutable std::mutex m_mutex;
  std::condition_variable m_changed;
  std::vector<Chunk> m_chunks;
  std::size_t m_bytes = 0;
};

// planificador-sandboxd's side of one exec, as a test's script plays it: the exec with its
// three descriptors, the program's output and stdin, the answers.
class HelperSide {
 public:
  explicit HelperSide(os::Fd socket) : m_socket(std::move(socket)) {}

  // Receives the exec and takes its descriptors; false when none came or it did not decode.
  bool receive_exec() {
    auto message = receive();
    if (!message) {
      ADD_FAILURE() << "no exec from the daemon";
      return false;
    }
    auto exec = sandbox::decode<sandbox::ExecRequest>(*message);
    if (!exec) {
      ADD_FAILURE() << exec.error().message;
      return false;
    }
    m_exec = std::move(*exec);
    m_stdin = std::move(message->fds[0]);
    m_stdout = std::move(message->fds[1]);
    m_stderr = std::move(message->fds[2]);
    return true;
  }
  [[nodiscard]] const std::optional<sandbox::ExecRequest>& exec() const { return m_exec; }

  template <class T>
  void send(const T& answer) {
    if (auto sent = sandbox::send(m_socket.get(), answer); !sent) {
      ADD_FAILURE() << "helper send: " << sent.error().message;
    }
  }
  void send_started() { send(sandbox::Started{2}); }
  void send_exited(int wait_status) { send(sandbox::Exited{wait_status, {}, false}); }

  // Writes all of `bytes` as the program, to its stdout (or its stderr).
  void write(Stream stream, std::string_view bytes) {
    const int fd = stream == Stream::out ? m_stdout.get() : m_stderr.get();
    while (!bytes.empty()) {
      const ssize_t written = ::write(fd, bytes.data(), bytes.size());
      if (written < 0 && errno == EINTR) {
        continue;
      }
      if (written < 0) {
        ADD_FAILURE() << "write to the program's pipe: " << std::strerror(errno);
        return;
      }
      bytes.remove_prefix(static_cast<std::size_t>(written));
    }
  }
  // Reads the program's stdin to its end.
  std::string read_stdin() {
    std::string all;
    std::array<char, 4096> buffer{};
    for (;;) {
      pollfd entry{m_stdin.get(), POLLIN, 0};
      if (::poll(&entry, 1, k_patience_ms) != 1) {
        ADD_FAILURE() << "stdin neither fed nor closed";
        return all;
      }
      const ssize_t got = ::read(m_stdin.get(), buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) {
        continue;
      }
      if (got <= 0) {
        return all;
      }
      all.append(buffer.data(), static_cast<std::size_t>(got));
    }
  }
  // Returns true when the daemon's next message is a kill.
  bool wait_for_kill() {
    auto message = receive();
    if (!message) {
      ADD_FAILURE() << "no kill from the daemon";
      return false;
    }
    if (!sandbox::decode<sandbox::KillRequest>(*message)) {
      ADD_FAILURE() << "expected a kill, got " << sandbox::describe(*message);
      return false;
    }
    return true;
  }
  // Waits for the daemon to close the connection, failing on any message before that.
  void expect_no_more_messages() {
    while (auto message = receive()) {
      ADD_FAILURE() << "unexpected message " << sandbox::describe(*message);
    }
  }
  // The program's tree is gone: every writer of its pipes (and its stdin reader) closed.
  void close_pipes() {
    m_stdin.reset();
    m_stdout.reset();
    m_stderr.reset();
  }
  // The helper is gone (the container was killed).
  void close_socket() { m_socket.reset(); }

 private:
  // Returns the daemon's next message, or nullopt once it closed the connection.
  std::optional<sandbox::Message> receive() {
    pollfd entry{m_socket.get(), POLLIN, 0};
    if (::poll(&entry, 1, k_patience_ms) != 1) {
      ADD_FAILURE() << "the daemon neither wrote nor closed the connection";
      return std::nullopt;
    }
    auto message = sandbox::receive_message(m_socket.get());
    if (!message) {
      return std::nullopt;
    }
    return std::move(*message);
  }

  os::Fd m_socket;
  std::optional<sandbox::ExecRequest> m_exec;
  os::Fd m_stdin;
  os::Fd m_stdout;
  os::Fd m_stderr;
};

// A fake helper on one end of a socket pair, running `script` on a thread of its own.
class FakeHelper {
 public:
  explicit FakeHelper(std::function<void(HelperSide&)> script) {
    std::array<int, 2> ends{-1, -1};
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends.data()), 0)
        << "socketpair: " << std::strerror(errno);
    m_daemon.reset(ends[0]);
    m_side.emplace(os::Fd(ends[1]));
    m_thread = std::thread([this, script = std::move(script)] {
      script(*m_side);
      // Whatever the script left undone, the helper is gone now: a failed script ends
      // the exec instead of hanging it.
      m_side->close_pipes();
      m_side->close_socket();
    });
  }
  FakeHelper(const FakeHelper&) = delete;
  FakeHelper& operator=(const FakeHelper&) = delete;
  ~FakeHelper() { join(); }

  [[nodiscard]] int socket() const { return m_daemon.get(); }
  // Closes the daemon's end (as the backend does after an exec's task) and waits for the
  // script to end; the side may be looked at then.
  const HelperSide& join() {
    m_daemon.reset();
    if (m_thread.joinable()) {
      m_thread.join();
    }
    return *m_side;
  }

 private:
  os::Fd m_daemon;
  std::optional<HelperSide> m_side;
  std::thread m_thread;
};

class RunExec : public ::testing::Test {
 protected:
  // The daemon blocks SIGPIPE; a write to a closed pipe or socket is then EPIPE.
  static void SetUpTestSuite() { (void)std::signal(SIGPIPE, SIG_IGN); }

  static ExecRequest request(std::uint64_t wall_ms, std::uint64_t cpu_ms = 10'000) {
    ExecRequest exec;
    exec.argv = {"/usr/bin/prog", "--flag"};
    exec.env = {"LANG=C.UTF-8"};
    exec.wall_ms = wall_ms;
    exec.cpu_ms = cpu_ms;
    return exec;
  }

  Result<ExecResult> run(FakeHelper& helper, const ExecRequest& exec) {
    const ExecEnvironment environment{helper.socket(), &m_cgroup.cgroup(), &m_sink, &m_cancel,
                                      [this] { on_container_kill(); }};
    auto result = run_exec(environment, exec, m_budget);
    helper.join();
    return result;
  }

  // Returns true once the exec killed the container, false after k_patience.
  bool wait_for_container_kill() {
    std::unique_lock lock(m_mutex);
    return m_killed.wait_for(lock, k_patience, [&] { return m_container_kills > 0; });
  }
  int container_kills() {
    const std::lock_guard lock(m_mutex);
    return m_container_kills;
  }

  FakeCgroup m_cgroup;
  RecordingSink m_sink;
  os::Event m_cancel;
  OutputBudget m_budget{1 << 20, 0, 65536, 0};

 private:
  void on_container_kill() {
    const std::lock_guard lock(m_mutex);
    ++m_container_kills;
    m_killed.notify_all();
  }

  std::mutex m_mutex;
  std::condition_variable m_killed;
  int m_container_kills = 0;
};

TEST_F(RunExec, DeliversOutputInArrivalOrderThenTheExitStatus) {
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    side.send_started();
    EXPECT_EQ(side.read_stdin(), "");  // no stdin: closed at once
    side.write(Stream::out, "hello\n");
    ASSERT_TRUE(m_sink.wait_for_bytes(6));
    side.write(Stream::err, "oops\n");
    ASSERT_TRUE(m_sink.wait_for_bytes(11));
    side.write(Stream::out, "bye\n");
    side.close_pipes();
    side.send_exited(3 << 8);
    side.expect_no_more_messages();
  });
  ExecRequest exec = request(k_ample_wall_ms, 1500);
  exec.files = {sandbox::File{"main.py", "print(1)\n", 0755}};
  const auto result = run(helper, exec);

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->verdict, Verdict::none);
  EXPECT_EQ(result->wait_status, std::optional<int>(3 << 8));
  EXPECT_EQ(result->error, "");
  EXPECT_FALSE(result->rejected);
  EXPECT_EQ(m_sink.chunks(),
            (std::vector<Chunk>{
                {Stream::out, "hello\n"}, {Stream::err, "oops\n"}, {Stream::out, "bye\n"}}));
  EXPECT_EQ(m_budget.delivered, 15U);
  EXPECT_EQ(m_budget.frames, 3U);
  EXPECT_EQ(container_kills(), 0);

  const auto& sent = helper.join().exec();
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->argv, exec.argv);
  EXPECT_EQ(sent->env, exec.env);
  EXPECT_EQ(sent->rlimit_cpu_s, std::optional<std::uint64_t>(rlimit_cpu_seconds(1500)));
  EXPECT_EQ(sent->files, exec.files);
}

TEST_F(RunExec, FeedsStdinToTheProgram) {
  std::string input(200'000, '\0');
  for (std::size_t i = 0; i < input.size(); ++i) {
    input[i] = static_cast<char>('a' + i % 26);
  }
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    side.send_started();
    const std::string got = side.read_stdin();
    side.write(Stream::out, got);  // cat
    side.close_pipes();
    side.send_exited(0);
    side.expect_no_more_messages();
  });
  ExecRequest exec = request(k_ample_wall_ms);
  exec.stdin_data = input;
  const auto result = run(helper, exec);

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->verdict, Verdict::none);
  EXPECT_EQ(result->wait_status, std::optional<int>(0));
  EXPECT_TRUE(m_sink.text(Stream::out) == input) << m_sink.text(Stream::out).size() << " bytes";
  for (const auto& chunk : m_sink.chunks()) {
    EXPECT_FALSE(chunk.bytes.empty());
    EXPECT_LE(chunk.bytes.size(), m_budget.chunk_bytes);
  }
}

TEST_F(RunExec, AProgramThatNeverEndsIsATimeLimitAndIsKilled) {
  bool killed = false;
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    side.send_started();
    killed = side.wait_for_kill();
    side.close_pipes();
    side.send_exited(k_sigkill_status);
    side.expect_no_more_messages();
  });
  const auto result = run(helper, request(200));

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(killed);
  EXPECT_EQ(result->verdict, Verdict::time_limit);
  EXPECT_EQ(result->wait_status, std::optional<int>(k_sigkill_status));
  EXPECT_EQ(result->error, "");
  EXPECT_EQ(container_kills(), 0);
}

TEST_F(RunExec, AHelperThatIgnoresTheKillHasTheContainerKilled) {
  bool killed = false;
  bool container_killed = false;
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    side.send_started();
    killed = side.wait_for_kill();
    container_killed = wait_for_container_kill();
    // The container, the helper and the program with it, is gone.
    side.close_pipes();
    side.close_socket();
  });
  const auto result = run(helper, request(100));

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(killed);
  EXPECT_TRUE(container_killed);
  EXPECT_EQ(container_kills(), 1);
  EXPECT_EQ(result->verdict, Verdict::time_limit);
  EXPECT_EQ(result->wait_status, std::nullopt);
  EXPECT_EQ(result->error, "sandbox helper connection lost: connection closed");
}

TEST_F(RunExec, AHelperConnectionLostMidExecIsAnError) {
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    side.send_started();
    side.write(Stream::out, "partial");
    side.close_pipes();
    side.close_socket();
  });
  const auto result = run(helper, request(k_ample_wall_ms));

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->error, "sandbox helper connection lost: connection closed");
  EXPECT_EQ(result->wait_status, std::nullopt);
  EXPECT_EQ(result->verdict, Verdict::none);
  EXPECT_EQ(m_sink.text(Stream::out), "partial");  // what the program wrote is still delivered
  EXPECT_EQ(container_kills(), 0);
}

TEST_F(RunExec, AnExitedWithAnErrorIsTheExecsError) {
  const std::string why = "exec `/usr/bin/prog`: No such file or directory";
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    side.close_pipes();
    side.send(sandbox::Exited{std::nullopt, why, false});  // without Started: nothing ran
    side.expect_no_more_messages();
  });
  const auto result = run(helper, request(k_ample_wall_ms));

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->error, why);
  EXPECT_FALSE(result->rejected);
  EXPECT_EQ(result->wait_status, std::nullopt);
  EXPECT_EQ(result->verdict, Verdict::none);
}

TEST_F(RunExec, ARejectedFileIsRejected) {
  const std::string why = "file `../x`: path escapes the work directory";
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    side.close_pipes();
    side.send(sandbox::Exited{std::nullopt, why, true});
    side.expect_no_more_messages();
  });
  const auto result = run(helper, request(k_ample_wall_ms));

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->rejected);
  EXPECT_EQ(result->error, why);
  EXPECT_EQ(result->wait_status, std::nullopt);
}

TEST_F(RunExec, AFailedReplyInsteadOfExitedIsItsError) {
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    side.close_pipes();
    side.send(sandbox::Reply{false, false, "exec: a program is running"});
    side.expect_no_more_messages();
  });
  const auto result = run(helper, request(k_ample_wall_ms));

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->error, "exec: a program is running");
  EXPECT_EQ(result->wait_status, std::nullopt);
}

TEST_F(RunExec, AnUnexpectedAnswerIsAnError) {
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    side.close_pipes();
    side.send(sandbox::Ready{});
    side.expect_no_more_messages();
  });
  const auto result = run(helper, request(k_ample_wall_ms));

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->error, R"(unexpected answer from the sandbox helper: {"event":"ready"})");
  EXPECT_EQ(result->wait_status, std::nullopt);
}

TEST_F(RunExec, OutputIsCutExactlyAtTheLimitOfBothStreamsTogether) {
  m_budget.limit = 1000;
  bool killed = false;
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    side.send_started();
    side.write(Stream::out, std::string(600, 'o'));
    ASSERT_TRUE(m_sink.wait_for_bytes(600));
    side.write(Stream::err, std::string(600, 'e'));
    killed = side.wait_for_kill();
    side.close_pipes();
    side.send_exited(k_sigkill_status);
  });
  const auto result = run(helper, request(k_ample_wall_ms));

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(killed);
  EXPECT_EQ(result->verdict, Verdict::output_limit);
  EXPECT_EQ(m_sink.text(Stream::out), std::string(600, 'o'));
  EXPECT_EQ(m_sink.text(Stream::err), std::string(400, 'e'));
  EXPECT_EQ(m_budget.delivered, 1000U);
}

TEST_F(RunExec, AFloodIsCutExactlyAtTheLimitAndTheRestDiscarded) {
  m_budget.limit = 1000;
  std::string flood(300'000, '\0');
  for (std::size_t i = 0; i < flood.size(); ++i) {
    flood[i] = static_cast<char>(i % 251);
  }
  bool killed = false;
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    side.send_started();
    side.write(Stream::out, flood);  // more than a pipe holds: it is read on after the cut
    killed = side.wait_for_kill();
    side.close_pipes();
    side.send_exited(k_sigkill_status);
  });
  const auto result = run(helper, request(k_ample_wall_ms));

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(killed);
  EXPECT_EQ(result->verdict, Verdict::output_limit);
  EXPECT_TRUE(m_sink.text(Stream::out) == flood.substr(0, 1000));
  EXPECT_EQ(m_sink.text(Stream::out).size(), 1000U);
  EXPECT_EQ(m_budget.delivered, 1000U);
}

TEST_F(RunExec, ACancelIsCancelledAndKillsTheProgram) {
  bool killed = false;
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    side.send_started();
    m_cancel.set();
    killed = side.wait_for_kill();
    side.close_pipes();
    side.send_exited(k_sigkill_status);
    side.expect_no_more_messages();
  });
  const auto result = run(helper, request(k_ample_wall_ms));

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(killed);
  EXPECT_EQ(result->verdict, Verdict::cancelled);
  EXPECT_EQ(result->wait_status, std::optional<int>(k_sigkill_status));
}

TEST_F(RunExec, CpuTimeOverTheLimitInTheCgroupIsACpuLimit) {
  const std::uint64_t base = 1'000'000'000;
  m_cgroup.set("cpuacct.usage", base);
  bool killed = false;
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    m_cgroup.set("cpuacct.usage", base + 60'000'000);
    side.send_started();
    killed = side.wait_for_kill();
    side.close_pipes();
    side.send_exited(k_sigkill_status);
  });
  const auto result = run(helper, request(k_ample_wall_ms, 50));

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(killed);
  EXPECT_EQ(result->verdict, Verdict::cpu_limit);
  EXPECT_EQ(result->cpu_ns, 60'000'000U);  // the cgroup's CPU time since the exec began
}

TEST_F(RunExec, OutOfCpuTimeThrashingAtTheMemoryLimitIsAMemoryLimit) {
  m_cgroup.set("memory.failcnt", 7);  // hits before the exec do not count
  bool killed = false;
  FakeHelper helper([&](HelperSide& side) {
    if (!side.receive_exec()) {
      return;
    }
    // Pinned at the limit after many hits, then out of CPU time: the CPU time is written
    // last, so the check that sees it over sees the memory figures too.
    m_cgroup.set("memory.failcnt", 7 + ExecPolicy::k_thrash_hits + 1);
    m_cgroup.set("memory.usage_in_bytes", FakeCgroup::k_limit);
    m_cgroup.set("cpuacct.usage", 60'000'000);
    side.send_started();
    killed = side.wait_for_kill();
    side.close_pipes();
    side.send_exited(k_sigkill_status);
  });
  const auto result = run(helper, request(k_ample_wall_ms, 50));

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(killed);
  EXPECT_EQ(result->verdict, Verdict::memory_limit);
}

}  // namespace
}  // namespace planificador::backend::docker
