#include "fleet_cluster.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <regex>
#include <signal.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "process_log.hpp"
#include "wait.hpp"

#include "planificador/broker/admin_client.hpp"

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A drain lets running tasks finish within their grace and then flushes for up to 10 s.
constexpr auto k_drain_timeout = 40s;
constexpr auto k_broker_start = 10s;

int status_code(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

// Returns true once `pid` (a child) has exited, without reaping it (waitid(2), WNOWAIT), so
// that its owner can still collect the status.
bool has_exited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

// The shipped config with every runner's first pattern also offered as `pattern@name`.
std::string with_private_patterns(const std::string& shipped, const std::string& name) {
  static const std::regex k_match("^match = \\[\\s*\"([^\"]*)\"");
  std::istringstream in(shipped);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    out += std::regex_replace(line, k_match, "match = [\"$1\", \"$1@" + name + "\"",
                              std::regex_constants::format_first_only) +
           "\n";
  }
  return out;
}

// Returns the pids of processes whose command line mentions `needle`.
std::vector<pid_t> processes_mentioning(const std::string& needle) {
  std::vector<pid_t> found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    const std::string cmdline = read_text_file(entry.path().string() + "/cmdline");
    if (cmdline.find(needle) != std::string::npos) {
      found.push_back(static_cast<pid_t>(std::stol(name)));
    }
  }
  return found;
}

}  // namespace

std::unique_ptr<FleetCluster> FleetCluster::start(FleetSettings settings, std::string& error) {
  std::unique_ptr<FleetCluster> cluster(new FleetCluster());
  cluster->m_settings = std::move(settings);
  // Short: the daemons' state directories live below it (socket paths, see FleetDaemonSpec).
  std::string pattern = (fs::temp_directory_path() / "plf-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    error = "mkdtemp failed";
    return nullptr;
  }
  cluster->m_dir = pattern;
  cluster->m_torn_down = false;
  if (error = cluster->start_broker(k_broker_start); !error.empty()) {
    return nullptr;
  }
  for (const auto& spec : cluster->m_settings.daemons) {
    cluster->m_members.push_back(Member{spec, {}, nullptr, "", "", false});
    if (error = cluster->launch(cluster->m_members.back(), false); !error.empty()) {
      return nullptr;
    }
  }
  std::vector<std::string> names;
  for (const auto& member : cluster->m_members) {
    names.push_back(member.spec.name);
  }
  if (!cluster->wait_joined(names, cluster->m_settings.join_timeout)) {
    error = "the broker does not list every daemon:\n" + cluster->logs();
    return nullptr;
  }
  return cluster;
}

FleetCluster::~FleetCluster() { (void)tear_down(); }

std::string FleetCluster::write_broker_config() const {
  auto endpoint = [](const std::string& known) {
    return known.empty() ? std::string("tcp://127.0.0.1:0") : known;
  };
  std::ostringstream config;
  config << "[broker]\n"
         << "intake = \"" << endpoint(m_intake) << "\"\n"
         << "events = \"" << endpoint(m_events) << "\"\n"
         << "control = \"" << endpoint(m_control) << "\"\n"
         << "workers = \"" << endpoint(m_workers) << "\"\n"
         << "admin = \"" << endpoint(m_admin) << "\"\n"
         << "clients = \"" << endpoint(m_clients) << "\"\n"
         << "backlog = " << m_settings.backlog << "\n"
         << "heartbeat_ms = " << m_settings.heartbeat_ms << "\n"
         << "heartbeat_misses = " << m_settings.heartbeat_misses << "\n"
         << "unserved_ms = " << m_settings.unserved_ms << "\n"
         << "dispatch_attempts = " << m_settings.dispatch_attempts << "\n"
         << "grace_ms = " << m_settings.broker_grace_ms << "\n\n"
         << "[curve]\n"
         << (m_settings.curve.empty() ? "plaintext = true\n" : m_settings.curve) << "\n"
         << "[log]\nlevel = \"debug\"\n";
  const std::string path = m_dir + "/broker.toml";
  std::ofstream(path) << config.str();
  return path;
}

std::string FleetCluster::start_broker(std::chrono::milliseconds timeout) {
  const std::string config = write_broker_config();
  const std::string log_path = m_dir + "/broker.log";
  if (m_broker_runs > 0) {
    std::error_code ignored;
    fs::rename(log_path, log_path + "." + std::to_string(m_broker_runs), ignored);
  }
  ++m_broker_runs;
  const std::string binary = m_settings.bin_dir + "/planificador-broker";
  m_broker_pid = ::fork();
  if (m_broker_pid == 0) {
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::execl(binary.c_str(), binary.c_str(), "--config", config.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (m_broker_pid < 0) {
    return "fork failed";
  }
  m_broker_reaped = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = broker_log();
    if (text.find("broker serving") != std::string::npos) {
      if (m_intake.empty()) {
        m_intake = bound_endpoint(text, "intake");
        m_events = bound_endpoint(text, "events");
        m_control = bound_endpoint(text, "control");
        m_workers = bound_endpoint(text, "workers");
        m_admin = bound_endpoint(text, "admin");
        m_clients = bound_endpoint(text, "clients");
        (void)write_broker_config();  // a restart binds these very endpoints
      }
      return "";
    }
    int status = 0;
    if (::waitpid(m_broker_pid, &status, WNOHANG) == m_broker_pid) {
      m_broker_reaped = true;
      return "broker exited with " + std::to_string(status_code(status)) + ":\n" + text;
    }
    std::this_thread::sleep_for(10ms);
  }
  return "broker not serving in time:\n" + broker_log();
}

bool FleetCluster::broker_running() {
  if (m_broker_reaped) {
    return false;
  }
  int status = 0;
  if (::waitpid(m_broker_pid, &status, WNOHANG) == m_broker_pid) {
    m_broker_reaped = true;
  }
  return !m_broker_reaped;
}

void FleetCluster::signal_broker(int signal) const {
  if (!m_broker_reaped) {
    ::kill(m_broker_pid, signal);
  }
}

std::string FleetCluster::broker_log() const { return read_text_file(m_dir + "/broker.log"); }

bool FleetCluster::wait_broker_log(const std::string& text,
                                   std::chrono::milliseconds timeout) const {
  return wait_until([&] { return broker_log().find(text) != std::string::npos; }, timeout, 20ms);
}

std::optional<int> FleetCluster::stop_broker(int signal, std::chrono::milliseconds timeout) {
  if (m_broker_reaped) {
    return std::nullopt;
  }
  ::kill(m_broker_pid, signal);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    if (::waitpid(m_broker_pid, &status, WNOHANG) == m_broker_pid) {
      m_broker_reaped = true;
      return status_code(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(5ms);
  }
}

std::string FleetCluster::restart_broker() {
  if (!m_broker_reaped) {
    return "the broker still runs";
  }
  // The old listening sockets are gone with the process; an endpoint still refused is
  // retried for a while rather than failing the test on a slow kernel.
  std::string error;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    error = start_broker(k_broker_start);
    if (error.empty() || error.find("Address already in use") == std::string::npos) {
      return error;
    }
    std::this_thread::sleep_for(100ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return error;
}

std::optional<broker::FleetView> FleetCluster::view(std::chrono::milliseconds timeout) const {
  auto answer = broker::query_admin(m_admin, m_settings.admin_curve, timeout);
  if (!answer) {
    return std::nullopt;
  }
  auto parsed = broker::from_json(*answer);
  if (!parsed) {
    return std::nullopt;
  }
  return *parsed;
}

bool FleetCluster::wait_view(const std::function<bool(const broker::FleetView&)>& done,
                             std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (const auto current = view(std::clamp(left, 100ms, 2000ms)); current && done(*current)) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(20ms);
  }
}

bool FleetCluster::wait_joined(const std::vector<std::string>& names,
                               std::chrono::milliseconds timeout) const {
  return wait_view(
      [&](const broker::FleetView& current) {
        for (const auto& name : names) {
          const auto found = executor(current, name);
          if (!found || found->draining) {
            return false;
          }
        }
        return true;
      },
      timeout);
}

std::optional<broker::ExecutorView> FleetCluster::executor(const broker::FleetView& view,
                                                           const std::string& name) {
  for (const auto& entry : view.executors) {
    if (entry.name == name) {
      return entry;
    }
  }
  return std::nullopt;
}

std::string FleetCluster::launch(Member& member, bool wait_join) {
  const std::size_t index = static_cast<std::size_t>(&member - m_members.data());
  const std::string dir = m_dir + "/d" + std::to_string(index);
  if (member.settings.directory.empty()) {
    fs::create_directories(dir);
    std::ofstream(dir + "/shipped.toml")
        << with_private_patterns(read_text_file(m_settings.shipped_config), member.spec.name);
    DaemonSettings& settings = member.settings;
    settings.bin_dir = m_settings.bin_dir;
    settings.shipped_config = dir + "/shipped.toml";
    settings.workers = member.spec.workers;
    settings.backlog = 0;  // a fleet daemon's queue is bounded by its credit
    settings.grace_ms = member.spec.grace_ms;
    settings.control = false;
    settings.executor = member.spec.name;
    settings.runner_images = member.spec.images;
    settings.directory = dir;
    std::string link = "plaintext = true\n";
    if (!member.spec.key_file.empty()) {
      link = "key = \"" + member.spec.key_file + "\"\nbroker_key = \"" +
             m_settings.broker_public_key + "\"\n";
    }
    settings.extra_server = "pool = " + std::to_string(member.spec.workers) + "\nbroker = \"" +
                            m_workers + "\"\n\n[link]\n" + link;
  }
  std::string error;
  member.process = DaemonProcess::start(member.settings, error);
  if (!member.process) {
    return "daemon " + member.spec.name + " did not start: " + error;
  }
  member.instance = member.process->instance();
  member.stopped = false;
  if (wait_join && !wait_joined({member.spec.name}, m_settings.join_timeout)) {
    return "the broker does not list daemon " + member.spec.name + ":\n" + logs();
  }
  return "";
}

std::optional<std::size_t> FleetCluster::add_daemon(const FleetDaemonSpec& spec, std::string& error,
                                                    bool wait_join) {
  m_members.push_back(Member{spec, {}, nullptr, "", "", false});
  error = launch(m_members.back(), wait_join);
  if (!error.empty()) {
    return std::nullopt;
  }
  return m_members.size() - 1;
}

std::string FleetCluster::daemon_log(std::size_t i) const {
  const Member& member = m_members.at(i);
  return member.process ? member.process->log() : member.last_log;
}

void FleetCluster::signal(std::size_t i, int signal) {
  Member& member = m_members.at(i);
  if (!member.process) {
    return;
  }
  ::kill(member.process->pid(), signal);
  if (signal == SIGSTOP) {
    member.stopped = true;
  } else if (signal == SIGCONT) {
    member.stopped = false;
  }
}

std::optional<int> FleetCluster::kill(std::size_t i) {
  Member& member = m_members.at(i);
  if (!member.process) {
    return std::nullopt;
  }
  member.stopped = false;
  return member.process->kill_now();
}

std::optional<int> FleetCluster::terminate(std::size_t i, std::chrono::milliseconds timeout) {
  Member& member = m_members.at(i);
  if (!member.process) {
    return std::nullopt;
  }
  return member.process->terminate(timeout);
}

bool FleetCluster::running(std::size_t i) {
  Member& member = m_members.at(i);
  return member.process && member.process->running();
}

std::string FleetCluster::restart(std::size_t i, bool wait_join) {
  Member& member = m_members.at(i);
  if (member.process) {
    if (member.stopped) {
      signal(i, SIGCONT);
    }
    if (member.process->running() && !member.process->terminate(k_drain_timeout)) {
      (void)member.process->kill_now();
    }
    member.last_log = member.process->log();
    member.process.reset();  // removes what a killed daemon left of its containers
  }
  return launch(member, wait_join);
}

std::string FleetCluster::logs() const {
  std::string text = "--- broker\n" + broker_log();
  for (std::size_t i = 0; i < m_members.size(); ++i) {
    const std::string log = daemon_log(i);
    text += "--- daemon " + m_members[i].spec.name + " (last 3000 bytes)\n" +
            log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
  }
  return text;
}

std::string FleetCluster::tear_down() {
  if (m_torn_down || m_dir.empty()) {
    return "";
  }
  m_torn_down = true;
  std::string problems = drain_daemons();
  problems += end_broker();
  problems += sweep();
  // For a post-mortem: PLANIFICADOR_KEEP_FLEET=1 keeps the configs and logs.
  if (const char* keep = std::getenv("PLANIFICADOR_KEEP_FLEET"); keep != nullptr && *keep == '1') {
    std::fprintf(stderr, "fleet cluster kept in %s\n", m_dir.c_str());
  } else {
    std::error_code ignored;
    fs::remove_all(m_dir, ignored);
  }
  return problems;
}

// Every daemon drains at once: one SIGTERM each (a second one would cut the drain short).
std::string FleetCluster::drain_daemons() {
  std::vector<Member*> draining;
  for (auto& member : m_members) {
    if (!member.process || !member.process->running()) {
      continue;
    }
    if (member.stopped) {
      ::kill(member.process->pid(), SIGCONT);
      member.stopped = false;
    }
    ::kill(member.process->pid(), SIGTERM);
    draining.push_back(&member);
  }
  std::string problems;
  const auto deadline = std::chrono::steady_clock::now() + k_drain_timeout;
  for (Member* member : draining) {
    // One deadline for them all: they drain at the same time.
    const auto time_left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    (void)wait_until([&] { return has_exited(member->process->pid()); }, time_left, 20ms);
    // The process is a zombie by now (or late): this SIGTERM reaches nothing, the wait reaps.
    const auto status = member->process->terminate(1s);
    if (!status) {
      problems += "daemon " + member->spec.name + " did not exit within 40 s of SIGTERM; ";
      (void)member->process->kill_now();
    } else if (*status != 0) {
      problems += "daemon " + member->spec.name + " exited " + std::to_string(*status) + "; ";
    } else if (const auto left = containers_of(member->instance); !left.empty()) {
      problems += "daemon " + member->spec.name + " drained but left " +
                  std::to_string(left.size()) + " containers; ";
    }
  }
  return problems;
}

std::string FleetCluster::end_broker() {
  if (m_broker_reaped) {
    return "";
  }
  ::kill(m_broker_pid, SIGCONT);  // in case a test left it stopped
  const auto status = stop_broker(SIGTERM, 15s);
  if (!status) {
    (void)stop_broker(SIGKILL, 10s);
    return "the broker did not exit within 15 s of SIGTERM; ";
  }
  return *status == 0 ? "" : "the broker exited " + std::to_string(*status) + "; ";
}

// What the daemons a test killed left is removed (DaemonProcess does); anything beyond that
// is a finding, removed too.
std::string FleetCluster::sweep() {
  std::string problems;
  for (auto& member : m_members) {
    member.process.reset();
    if (member.instance.empty()) {
      continue;
    }
    if (const auto left = containers_of(member.instance); !left.empty()) {
      problems += std::to_string(left.size()) + " containers of " + member.instance + " left; ";
      for (const auto& id : left) {
        (void)run_command({"docker", "rm", "-f", id});
      }
    }
  }
  for (const pid_t pid : processes_mentioning(m_dir)) {
    problems += "process " + std::to_string(pid) + " of the cluster left; ";
    ::kill(pid, SIGKILL);
  }
  return problems;
}

}  // namespace planificador::testing
