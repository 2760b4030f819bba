#include "private_engine.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <signal.h>
#include <sstream>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "daemon_process.hpp"
#include "resource_watch.hpp"

#include "planificador/backend/docker/engine_client.hpp"

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// How long start() waits for another test process that holds the engine.
constexpr auto k_lock_wait = 15min;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// Stops a dockerd an earlier run of this helper started and could not stop (the test was
// killed). Only a process whose command line names our exec root is touched.
void stop_stale_engine(const PrivateEngineSettings& settings) {
  const std::string pid_text = read_file(settings.run_dir + "/docker.pid");
  const pid_t pid = static_cast<pid_t>(std::atoi(pid_text.c_str()));
  if (pid <= 0 || !alive(pid)) {
    return;
  }
  const std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  if (cmdline.find(settings.run_dir + "/exec") == std::string::npos) {
    return;
  }
  ::kill(pid, SIGTERM);
  const auto deadline = Clock::now() + 30s;
  while (alive(pid) && Clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  if (alive(pid)) {
    ::kill(pid, SIGKILL);
  }
}

std::optional<int> wait_child(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      return status;
    }
    if (done < 0 || Clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(20ms);
  }
}

std::string image_id(const std::string& host, const std::string& image) {
  std::vector<std::string> argv{"docker"};
  if (!host.empty()) {
    argv.insert(argv.end(), {"-H", host});
  }
  argv.insert(argv.end(), {"image", "inspect", "--format", "{{.Id}}", image});
  const auto result = run_command(argv, "", 60s);
  return result.exit_code == 0 ? result.out : "";
}

}  // namespace

PrivateEngine::PrivateEngine(PrivateEngineSettings settings)
    : m_settings(std::move(settings)), m_socket(m_settings.run_dir + "/docker.sock") {}

std::unique_ptr<PrivateEngine> PrivateEngine::start(std::string& error,
                                                    PrivateEngineSettings settings,
                                                    std::chrono::milliseconds timeout) {
  if (run_command({"dockerd", "--version"}, "", 30s).exit_code != 0) {
    error = "dockerd is not installed";
    return nullptr;
  }
  std::unique_ptr<PrivateEngine> engine(new PrivateEngine(std::move(settings)));
  const auto& run_dir = engine->m_settings.run_dir;
  engine->m_lock_fd = ::open((run_dir + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (engine->m_lock_fd < 0) {
    error = "open `" + run_dir + ".lock`: " + std::strerror(errno);
    return nullptr;
  }
  const auto lock_deadline = Clock::now() + k_lock_wait;
  while (::flock(engine->m_lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (Clock::now() >= lock_deadline) {
      error = "another test process holds `" + run_dir + ".lock`";
      return nullptr;
    }
    std::this_thread::sleep_for(200ms);
  }
  stop_stale_engine(engine->m_settings);
  std::error_code ignored;
  fs::create_directories(run_dir, ignored);
  fs::create_directories(engine->m_settings.data_root, ignored);
  fs::remove(run_dir + "/docker.pid", ignored);
  error = engine->launch(timeout);
  if (!error.empty()) {
    return nullptr;
  }
  // What an earlier run left (dockerd stopped the containers when it started again).
  engine->remove_all_containers();
  return engine;
}

PrivateEngine::~PrivateEngine() {
  if (m_pid <= 0) {
    // Started again only to clean up: a crashed engine leaves its containers behind.
    (void)start_again(60s);
  }
  if (m_pid > 0) {
    remove_all_containers();
    if (!stop(SIGTERM, 30s)) {
      (void)stop(SIGKILL, 10s);
    }
  }
  if (m_pid <= 0 && m_settings.remove_host_state) {
    remove_host_state();
  }
  if (m_lock_fd >= 0) {
    ::close(m_lock_fd);
  }
}

// dockerd leaves the host network namespace bound at exec/netns/default (and, after a
// swarm, more namespace files) mounted when it stops; the directory cannot go while they
// are. Deepest first, detached so a file still held open does not keep it.
void PrivateEngine::remove_host_state() const {
  const std::string prefix = m_settings.run_dir + "/";
  const auto mounts = mount_points();
  for (auto point = mounts.rbegin(); point != mounts.rend(); ++point) {
    if (point->starts_with(prefix)) {
      ::umount2(point->c_str(), MNT_DETACH);
    }
  }
  std::error_code ignored;
  fs::remove_all(m_settings.run_dir, ignored);
  (void)run_command({"ip", "link", "del", m_settings.bridge}, "", 30s);
}

std::string PrivateEngine::launch(std::chrono::milliseconds timeout) {
  const auto& s = m_settings;
  // A bridge of its own: with --bridge=none dockerd deletes the host's docker0 at start,
  // which the machine's main engine needs.
  const std::string bridge =
      "ip link add " + s.bridge + " type bridge 2>/dev/null; ip link set " + s.bridge + " up";
  if (std::system(bridge.c_str()) != 0) {
    return "cannot create bridge " + s.bridge;
  }
  const std::string log_path = s.run_dir + "/dockerd.log";
  const std::vector<std::string> argv{
      "dockerd",
      "--host",
      host(),
      "--data-root",
      s.data_root,
      "--exec-root",
      s.run_dir + "/exec",
      "--pidfile",
      s.run_dir + "/docker.pid",
      "--bridge=" + s.bridge,
      "--iptables=false",
      "--ip6tables=false",
      "--shutdown-timeout=" + std::to_string(s.shutdown_timeout_s),
      "--log-level=warn",
  };
  // Built before fork: the test process has threads, so the child only execs.
  std::vector<char*> args;
  for (const auto& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  std::vector<char*> environment;
  for (char** variable = environ; *variable != nullptr; ++variable) {
    environment.push_back(*variable);
  }
  for (const auto& variable : s.environment) {
    environment.push_back(const_cast<char*>(variable.c_str()));
  }
  environment.push_back(nullptr);
  m_pid = ::fork();
  if (m_pid == 0) {
    // Its own session: a Ctrl-C meant for the test must not stop the engine half-way.
    ::setsid();
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::execvpe(args[0], args.data(), environment.data());
    ::_exit(127);
  }
  if (m_pid < 0) {
    return std::string("fork: ") + std::strerror(errno);
  }
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (answering()) {
      return "";
    }
    if (auto status = wait_child(m_pid, 0ms)) {
      m_pid = -1;
      return "dockerd exited with status " + std::to_string(*status) + ":\n" + log_tail();
    }
    std::this_thread::sleep_for(100ms);
  }
  return "dockerd did not answer within " + std::to_string(timeout.count()) + " ms:\n" + log_tail();
}

bool PrivateEngine::answering() const {
  const backend::docker::EngineClient client(m_socket, 2s);
  return client.ping().has_value();
}

std::string PrivateEngine::log_tail(std::size_t bytes) const {
  const std::string log = read_file(m_settings.run_dir + "/dockerd.log");
  return log.size() > bytes ? log.substr(log.size() - bytes) : log;
}

std::string PrivateEngine::load_image(const std::string& image) const {
  const std::string wanted = image_id("", image);
  if (wanted.empty()) {
    return "image " + image + " is not in the main engine";
  }
  if (image_id(host(), image) == wanted) {
    return "";
  }
  const auto loaded = run_command(
      {"sh", "-c", "docker save '" + image + "' | docker -H '" + host() + "' load"}, "", 10min);
  if (loaded.exit_code != 0 || image_id(host(), image) != wanted) {
    return "loading " + image + " failed: " + loaded.err;
  }
  return "";
}

bool PrivateEngine::stop(int signal, std::chrono::milliseconds timeout) {
  if (m_pid <= 0) {
    return true;
  }
  const auto deadline = Clock::now() + timeout;
  ::kill(m_pid, signal);
  if (!wait_child(m_pid, timeout)) {
    return false;
  }
  m_pid = -1;
  wait_containerd_gone(deadline);
  return true;
}

// dockerd's own containerd outlives a dockerd killed by SIGKILL for a moment, and then
// stays a zombie until init reaps it. A new dockerd that finds its pid file with that pid
// still taken waits for it to answer and gives up after 15 s ("timeout waiting for
// containerd to start"); so wait until the pid is free, and then drop the pid file.
void PrivateEngine::wait_containerd_gone(Clock::time_point deadline) const {
  const std::string containerd = m_settings.run_dir + "/exec/containerd/containerd.toml";
  const std::string pid_file = m_settings.run_dir + "/exec/containerd/containerd.pid";
  const std::string pid_text = read_file(pid_file);
  const std::string proc = "/proc/" + std::to_string(std::atoi(pid_text.c_str()));
  while (!pids_with_cmdline(containerd).empty() || (!pid_text.empty() && fs::exists(proc))) {
    if (Clock::now() >= deadline) {
      for (const pid_t pid : pids_with_cmdline(containerd)) {
        ::kill(pid, SIGKILL);
      }
      if (pids_with_cmdline(containerd).empty()) {
        break;  // a zombie init does not reap, or the pid went to someone else
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  std::error_code ignored;
  fs::remove(pid_file, ignored);
}

std::string PrivateEngine::start_again(std::chrono::milliseconds timeout) {
  if (m_pid > 0) {
    return "dockerd is still running";
  }
  // After a crash dockerd sometimes gives up waiting for its containerd, which is busy
  // cleaning up after the old shims; starting it once more is what an operator would do.
  std::string error;
  for (int attempt = 0; attempt < 3; ++attempt) {
    error = launch(timeout);
    if (error.empty()) {
      return "";
    }
    wait_containerd_gone(Clock::now() + 10s);
  }
  return error;
}

void PrivateEngine::remove_all_containers() const {
  const auto listed = run_command({"docker", "-H", host(), "ps", "-aq"}, "", 60s);
  std::istringstream lines(listed.out);
  std::vector<std::string> argv{"docker", "-H", host(), "rm", "-f"};
  std::string id;
  while (lines >> id) {
    argv.push_back(id);
  }
  if (argv.size() > 5) {
    (void)run_command(argv, "", 120s);
  }
}

}  // namespace planificador::testing
