#pragma once
// Runs the real planificador-sandboxd on the host (a temp directory as its root, a temp
// socket path, the installed bwrap) and talks to it with the wire functions.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <grp.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "wait.hpp"
#include <gtest/gtest.h>

#include "planificador/os/fd.hpp"
#include "planificador/sandbox/wire.hpp"
#include "planificador/util/base64.hpp"

namespace planificador::sandbox::testing {

inline constexpr uid_t k_unprivileged = 65534;

inline std::string helper_binary() {
  return std::string(PLANIFICADOR_BINARY_DIR) + "/bin/planificador-sandboxd";
}

// The helper as a child process, stopped with SIGTERM at the end.
class HelperProcess {
 public:
  // Starts the helper; `unprivileged` runs it as uid 65534 when the tests run as root,
  // as in a container where it is not root either (the sandbox as the helper builds it
  // needs that: as the host's root, bwrap covers parts of /proc with mounts that forbid
  // each task's own /proc). `extra` is appended to its arguments.
  explicit HelperProcess(bool unprivileged = true, std::vector<std::string> extra = {}) {
    char pattern[] = "/tmp/planificador-sandboxd-XXXXXX";
    m_dir = ::mkdtemp(pattern);
    root = m_dir + "/root";
    outside = m_dir + "/outside";
    socket = m_dir + "/run/sandboxd.sock";
    for (const auto& dir : {root, outside, m_dir + "/run"}) {
      std::filesystem::create_directory(dir);
    }
    const bool drop = unprivileged && ::geteuid() == 0;
    if (drop) {
      ::chmod(m_dir.c_str(), 0755);
      for (const auto& dir : {root, outside, m_dir + "/run"}) {
        (void)!::chown(dir.c_str(), k_unprivileged, k_unprivileged);
      }
    }
    std::vector<std::string> args = {helper_binary(), "--socket", socket, "--root", root};
    args.insert(args.end(), extra.begin(), extra.end());
    pid = ::fork();
    if (pid == 0) {
      if (drop && (::setgroups(0, nullptr) != 0 || ::setgid(k_unprivileged) != 0 ||
                   ::setuid(k_unprivileged) != 0)) {
        ::_exit(120);
      }
      std::vector<char*> argv;
      for (auto& arg : args) {
        argv.push_back(arg.data());
      }
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(121);
    }
    (void)planificador::testing::wait_until([&] { return std::filesystem::exists(socket); },
                                            std::chrono::seconds(20));
  }
  HelperProcess(const HelperProcess&) = delete;
  HelperProcess& operator=(const HelperProcess&) = delete;

  ~HelperProcess() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      (void)wait_exit(std::chrono::seconds(20));
    }
    std::error_code ignored;
    std::filesystem::remove_all(m_dir, ignored);
  }

  // Waits for the helper to exit; returns its wait status, or -1 after `limit` (it is then
  // SIGKILLed).
  int wait_exit(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (true) {
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) {
        pid = -1;
        return status;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        pid = -1;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Returns a new connection to the helper.
  [[nodiscard]] os::Fd connect() const {
    os::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), 0)
        << std::strerror(errno);
    return fd;
  }

  pid_t pid = -1;
  std::string root;     // the helper's --root
  std::string outside;  // a directory outside the root, for escape attempts
  std::string socket;

 private:
  std::string m_dir;
};

// Returns the next message, failing the test on an error.
inline nlohmann::json receive(int connection) {
  auto message = receive_message(connection);
  EXPECT_TRUE(message) << (message ? "" : message.error().message);
  return message ? message->body : nlohmann::json();
}

// Sends `body` and returns the reply.
inline nlohmann::json request(int connection, const nlohmann::json& body) {
  EXPECT_TRUE(send_message(connection, body));
  return receive(connection);
}

inline nlohmann::json file_entry(const std::string& path, const std::string& data) {
  return {{"path", path}, {"data", base64_encode(data)}};
}

// Reads `fd` to EOF; fails the test if EOF does not come within `limit`.
inline std::string read_to_eof(int fd, std::chrono::seconds limit = std::chrono::seconds(20)) {
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd entry{fd, POLLIN, 0};
    if (::poll(&entry, 1, 100) <= 0) {
      continue;
    }
    std::array<char, 4096> buffer{};
    const ssize_t got = ::read(fd, buffer.data(), buffer.size());
    if (got <= 0) {
      return text;
    }
    text.append(buffer.data(), static_cast<std::size_t>(got));
  }
  ADD_FAILURE() << "no EOF within the limit; read so far: " << text;
  return text;
}

// Reads one line from `fd` (for a program that says it is ready).
inline std::string read_line(int fd) {
  std::string line;
  char c = 0;
  while (line.size() < 4096) {
    pollfd entry{fd, POLLIN, 0};
    if (::poll(&entry, 1, 20000) <= 0 || ::read(fd, &c, 1) != 1 || c == '\n') {
      break;
    }
    line += c;
  }
  return line;
}

// A program's stdio pipes, as the daemon holds them.
struct Stdio {
  Stdio() {
    std::array<int, 2> in{}, out{}, err{};
    EXPECT_EQ(::pipe2(in.data(), O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(out.data(), O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err.data(), O_CLOEXEC), 0);
    stdin_read.reset(in[0]);
    stdin_write.reset(in[1]);
    stdout_read.reset(out[0]);
    stdout_write.reset(out[1]);
    stderr_read.reset(err[0]);
    stderr_write.reset(err[1]);
  }
  os::Fd stdin_read, stdin_write, stdout_read, stdout_write, stderr_read, stderr_write;
};

// Sends exec with fresh pipes and gives the helper's ends away; returns the "started" reply.
inline nlohmann::json start(int connection, Stdio& stdio, const std::vector<std::string>& argv,
                            const std::vector<std::string>& env = {}) {
  const std::array<int, 3> fds{stdio.stdin_read.get(), stdio.stdout_write.get(),
                               stdio.stderr_write.get()};
  EXPECT_TRUE(send_message(connection, {{"op", "exec"}, {"argv", argv}, {"env", env}}, fds));
  stdio.stdin_read.reset();
  stdio.stdout_write.reset();
  stdio.stderr_write.reset();
  return receive(connection);
}

struct RunResult {
  nlohmann::json started;
  nlohmann::json exited;
  std::string out;
  std::string err;
  [[nodiscard]] int status() const { return exited.value("wait_status", -1); }
};

// Runs `argv` to its end with `input` on stdin.
inline RunResult run(int connection, const std::vector<std::string>& argv,
                     const std::string& input = "", const std::vector<std::string>& env = {}) {
  Stdio stdio;
  RunResult result;
  result.started = start(connection, stdio, argv, env);
  EXPECT_EQ(::write(stdio.stdin_write.get(), input.data(), input.size()),
            static_cast<ssize_t>(input.size()));
  stdio.stdin_write.reset();
  result.exited =
      result.started.value("event", "") == "started" ? receive(connection) : result.started;
  result.out = read_to_eof(stdio.stdout_read.get());
  result.err = read_to_eof(stdio.stderr_read.get());
  return result;
}

// Returns the pids of live (not zombie) processes whose command line contains `marker`.
inline std::vector<pid_t> processes_with(const std::string& marker) {
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream file(entry.path() / "cmdline", std::ios::binary);
    const std::string cmdline((std::istreambuf_iterator<char>(file)), {});
    const auto pid = static_cast<pid_t>(std::stol(name));
    if (cmdline.find(marker) != std::string::npos && pid != ::getpid() && ::kill(pid, 0) == 0) {
      found.push_back(pid);
    }
  }
  return found;
}

// Returns a sleep duration unique to this test process, to find its sleepers in /proc.
inline std::string unique_sleep(int n) {
  return "100" + std::to_string(n) + "." + std::to_string(::getpid());
}

// Returns the names in `dir`.
inline std::vector<std::string> entries_of(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace planificador::sandbox::testing
