#include "daemon_process.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <poll.h>
#include <regex>
#include <signal.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "process_log.hpp"
#include "wait.hpp"

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Returns `isolation = "…"` for every runner when $PLANIFICADOR_TEST_ISOLATION names a
// mode (ctest runs the execution and daemon suites once per mode), else "".
std::string isolation_override() {
  const char* mode = std::getenv("PLANIFICADOR_TEST_ISOLATION");
  return mode != nullptr && *mode != '\0' ? "isolation = \"" + std::string(mode) + "\"\n" : "";
}

// Returns the shipped config.toml without its [server] and [http] tables, with `socket` as the
// [docker] socket when not empty, and only the [[runner]] tables of `images` when not empty.
std::string shipped_without_server(const std::string& path, const std::string& socket = "",
                                   const std::vector<std::string>& images = {}) {
  std::istringstream in(read_text_file(path));
  std::string out;
  std::string table;  // the [[runner]] table being read, kept until its image is known
  std::string line;
  bool in_server = false;
  bool in_runner = false;
  bool keep_runner = true;
  auto end_runner = [&] {
    if (in_runner && keep_runner) {
      out += table;
    }
    table.clear();
  };
  while (std::getline(in, line)) {
    if (line.starts_with("[") && !line.starts_with("[runner.")) {
      end_runner();
      in_server = line.starts_with("[server]") || line.starts_with("[http]");
      in_runner = line.starts_with("[[runner]]");
      keep_runner = images.empty();
    }
    if (in_server) {
      continue;
    }
    if (!socket.empty() && line.starts_with("socket =")) {
      line = "socket = \"" + socket + "\"";
    }
    if (!in_runner) {
      out += line + "\n";
      continue;
    }
    table += line + "\n";
    if (line.starts_with("[[runner]]")) {
      table += isolation_override();
    }
    for (const auto& image : images) {
      if (line.starts_with("image = \"" + image + "\"")) {
        keep_runner = true;
      }
    }
  }
  end_runner();
  return out;
}

int status_code(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

std::optional<int> wait_pid(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      return status_code(status);
    }
    if (done < 0 || std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(10ms);
  }
}

std::string match(const std::string& log, const std::string& pattern) {
  std::smatch found;
  if (std::regex_search(log, found, std::regex(pattern))) {
    return found[1].str();
  }
  return "";
}

}  // namespace

std::string binary_dir(const std::string& build_dir) {
  if (const char* bin = std::getenv("PLANIFICADOR_BIN"); bin != nullptr && *bin != '\0') {
    return bin;
  }
  return build_dir + "/bin";
}

std::string e2e_missing(const std::string& bin_dir) {
  // The engine and images do not change during a test run; ask once.
  static std::mutex mutex;
  static std::map<std::string, std::string> cache;
  const std::lock_guard lock(mutex);
  if (const auto found = cache.find(bin_dir); found != cache.end()) {
    return found->second;
  }
  std::string& missing = cache[bin_dir];
  for (const char* binary : {"planificador", "planctl", "planificador-sandboxd"}) {
    if (::access((bin_dir + "/" + binary).c_str(), X_OK) != 0) {
      missing += std::string(" binary ") + binary + ";";
    }
  }
  if (run_command({"docker", "version", "--format", "{{.Server.Version}}"}, "", 20s).exit_code !=
      0) {
    missing += " docker engine;";
  }
  for (const char* runner : {"python", "c", "cpp", "bash", "node"}) {
    const std::string image = std::string("planificador/") + runner;
    if (run_command({"docker", "image", "inspect", image}, "", 20s).exit_code != 0) {
      missing += " image " + image + ";";
    }
  }
  return missing;
}

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input,
                          std::chrono::milliseconds timeout) {
  int in_pipe[2];
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return {};
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    std::vector<char*> args;
    for (const auto& arg : argv) {
      args.push_back(const_cast<char*>(arg.c_str()));
    }
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  std::thread writer([&] {
    std::size_t done = 0;
    while (done < input.size()) {
      const auto n = ::write(in_pipe[1], input.data() + done, input.size() - done);
      if (n <= 0) {
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    ::close(in_pipe[1]);
  });
  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (::poll(fds, 2, 100) <= 0) {
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP)) != 0) {
        char buffer[65536];
        const auto n = ::read(fds[i].fd, buffer, sizeof buffer);
        if (n <= 0) {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open_fds;
        } else {
          (i == 0 ? result.out : result.err).append(buffer, static_cast<std::size_t>(n));
        }
      }
    }
  }
  auto status = wait_pid(pid, std::max(std::chrono::milliseconds(1000),
                                       std::chrono::duration_cast<std::chrono::milliseconds>(
                                           deadline - std::chrono::steady_clock::now())));
  if (!status) {
    ::kill(pid, SIGKILL);
    status = wait_pid(pid, 10s);
  }
  writer.join();
  for (const auto& fd : fds) {
    if (fd.fd >= 0) {
      ::close(fd.fd);
    }
  }
  result.exit_code = status.value_or(-1);
  return result;
}

std::unique_ptr<DaemonProcess> DaemonProcess::start(const DaemonSettings& settings,
                                                    std::string& error,
                                                    std::chrono::milliseconds timeout) {
  std::unique_ptr<DaemonProcess> daemon(new DaemonProcess());
  std::string pattern = (fs::temp_directory_path() / "planificador-e2e-XXXXXX").string();
  if (!settings.directory.empty()) {
    daemon->m_dir = settings.directory;
    daemon->m_keep_dir = true;
  } else if (::mkdtemp(pattern.data()) == nullptr) {
    error = "mkdtemp failed";
    return nullptr;
  } else {
    daemon->m_dir = pattern;
  }
  daemon->m_docker_socket = settings.docker_socket;
  fs::create_directories(daemon->m_dir + "/state");
  std::ostringstream config;
  config << "[server]\n"
         << "intake = \"tcp://127.0.0.1:0\"\n"
         << "events = \"tcp://127.0.0.1:0\"\n"
         << "control = \"" << (settings.control ? "tcp://127.0.0.1:0" : "") << "\"\n"
         << "clients = \"tcp://127.0.0.1:0\"\n"
         << "connect = false\n"
         << "workers = " << settings.workers << "\n"
         << "backlog = " << settings.backlog << "\n"
         << "executor = \"" << settings.executor << "\"\n"
         << "grace_ms = " << settings.grace_ms << "\n"
         << "state_dir = \"" << daemon->m_dir << "/state\"\n"
         << settings.extra_server << "\n\n"
         << "[http]\nlisten = \"" << settings.http_listen << "\"\n\n"
         << shipped_without_server(settings.shipped_config, settings.docker_socket,
                                   settings.runner_images)
         << "\n"
         << settings.extra_tables;
  const std::string config_path = daemon->m_dir + "/config.toml";
  std::ofstream(config_path) << config.str();
  const std::string log_path = daemon->m_dir + "/daemon.log";
  const std::string binary = settings.bin_dir + "/planificador";
  // A restart in a kept directory must not find the previous run's "serving as".
  std::error_code renamed;
  fs::rename(log_path, log_path + ".previous", renamed);
  daemon->m_pid = ::fork();
  if (daemon->m_pid == 0) {
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ::dup2(log, 2);
    ::dup2(log, 1);
    ::execl(binary.c_str(), binary.c_str(), "--config", config_path.c_str(), "--log-level", "debug",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string log = daemon->log();
    if (log.find("serving as") != std::string::npos) {
      daemon->m_intake = match(log, "intake bound to (\\S+)");
      daemon->m_events = match(log, "events bound to (\\S+)");
      daemon->m_control = match(log, "control bound to (\\S+)");
      daemon->m_clients = match(log, "clients bound to (\\S+)");
      daemon->m_instance = match(log, "\\(instance (\\S+)\\)");
      const std::string http = match(log, "http bound to \\S+:(\\d+)");
      daemon->m_http_port = http.empty() ? 0 : std::stoi(http);
      return daemon;
    }
    if (auto status = daemon->wait(0ms)) {
      error = "daemon exited with " + std::to_string(*status) + ":\n" + log;
      return nullptr;
    }
    std::this_thread::sleep_for(20ms);
  }
  error = "daemon not ready in time:\n" + daemon->log();
  return nullptr;
}

DaemonProcess::~DaemonProcess() {
  // A drain removes the daemon's containers (its warm pools too); SIGKILL is the fallback,
  // after which whatever it left is removed here, so no test leaks containers.
  if (m_pid > 0 && !m_reaped && !terminate(30s)) {
    ::kill(m_pid, SIGKILL);
    (void)wait(10s);
  }
  if (!m_instance.empty()) {
    const std::string host = docker_host();
    for (const auto& id : containers_of(m_instance, host)) {
      std::vector<std::string> argv{"docker"};
      if (!host.empty()) {
        argv.insert(argv.end(), {"-H", host});
      }
      argv.insert(argv.end(), {"rm", "-f", id});
      (void)run_command(argv);
    }
  }
  if (!m_keep_dir) {
    std::error_code ignored;
    fs::remove_all(m_dir, ignored);
  }
}

std::string DaemonProcess::docker_host() const {
  if (m_docker_socket.empty() || m_docker_socket == "/var/run/docker.sock") {
    return "";
  }
  return "unix://" + m_docker_socket;
}

bool DaemonProcess::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const {
  return wait_until([&] { return log().find(text) != std::string::npos; }, timeout, 50ms);
}

std::optional<int> DaemonProcess::kill_now(std::chrono::milliseconds timeout) {
  if (m_reaped) {
    return std::nullopt;
  }
  ::kill(m_pid, SIGKILL);
  return wait(timeout);
}

bool DaemonProcess::running() { return !m_reaped && !wait(0ms).has_value(); }

std::optional<int> DaemonProcess::wait(std::chrono::milliseconds timeout) {
  if (m_reaped) {
    return std::nullopt;
  }
  auto status = wait_pid(m_pid, timeout);
  m_reaped = status.has_value();
  return status;
}

std::optional<int> DaemonProcess::terminate(std::chrono::milliseconds timeout) {
  ::kill(m_pid, SIGTERM);
  return wait(timeout);
}

std::string DaemonProcess::log() const { return read_text_file(m_dir + "/daemon.log"); }

std::vector<std::string> containers_of(const std::string& instance,
                                       const std::string& docker_host) {
  std::vector<std::string> argv{"docker"};
  if (!docker_host.empty()) {
    argv.insert(argv.end(), {"-H", docker_host});
  }
  argv.insert(argv.end(), {"ps", "-aq", "--no-trunc", "--filter",
                           "label=org.planificador.instance=" + instance});
  const auto result = run_command(argv, "", 30s);
  std::vector<std::string> ids;
  std::istringstream lines(result.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty()) {
      ids.push_back(line);
    }
  }
  return ids;
}

}  // namespace planificador::testing
