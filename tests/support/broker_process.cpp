#include "broker_process.hpp"

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

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;

std::string config_text(const BrokerSettings& settings, const std::string& dir) {
  std::ostringstream config;
  config << "[broker]\n"
         << "intake = \"tcp://127.0.0.1:0\"\n"
         << "events = \"tcp://127.0.0.1:0\"\n"
         << "control = \"" << (settings.control ? "tcp://127.0.0.1:0" : "") << "\"\n"
         << "workers = \"tcp://127.0.0.1:0\"\n"
         << "admin = \"" << (settings.admin ? "tcp://127.0.0.1:0" : "") << "\"\n"
         << "backlog = " << settings.backlog << "\n"
         << "heartbeat_ms = " << settings.heartbeat_ms << "\n"
         << "heartbeat_misses = " << settings.heartbeat_misses << "\n"
         << "unserved_ms = " << settings.unserved_ms << "\n"
         << "grace_ms = " << settings.grace_ms << "\n\n"
         << "[curve]\n"
         << (settings.curve.empty() ? "plaintext = true\n"
                                    : replace_all(settings.curve, "@DIR@", dir))
         << "\n[log]\nlevel = \"" << settings.log_level << "\"\n";
  return config.str();
}

}  // namespace

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

BrokerProcess::BrokerProcess() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "planificador-broker-XXXXXX").string();
  if (::mkdtemp(pattern.data()) != nullptr) {
    m_dir = pattern;
  }
}

BrokerProcess::~BrokerProcess() {
  if (m_pid > 0 && !m_reaped && !stop(SIGKILL, 10s)) {
    ::kill(m_pid, SIGKILL);
  }
  if (!m_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(m_dir, ignored);
  }
}

bool BrokerProcess::start(const BrokerSettings& settings, std::string& error,
                          std::chrono::milliseconds timeout) {
  const std::string config_path = m_dir + "/broker.toml";
  std::ofstream(config_path) << config_text(settings, m_dir);
  const std::string log_path = m_dir + "/broker.log";
  const std::string binary = settings.bin_dir + "/planificador-broker";
  m_pid = ::fork();
  if (m_pid == 0) {
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ::dup2(log, 2);
    ::dup2(log, 1);
    ::execl(binary.c_str(), binary.c_str(), "--config", config_path.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = log();
    if (text.find("broker serving") != std::string::npos) {
      m_intake = bound_endpoint(text, "intake");
      m_events = bound_endpoint(text, "events");
      m_control = bound_endpoint(text, "control");
      m_workers = bound_endpoint(text, "workers");
      m_admin = bound_endpoint(text, "admin");
      return true;
    }
    int status = 0;
    if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_reaped = true;
      error = "broker exited with status " + std::to_string(status) + ":\n" + text;
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
  error = "broker not serving in time:\n" + log();
  return false;
}

std::optional<int> BrokerProcess::stop(int signal, std::chrono::milliseconds timeout) {
  if (m_pid <= 0 || m_reaped) {
    return std::nullopt;
  }
  ::kill(m_pid, signal);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_reaped = true;
      if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
      }
      return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
    }
    std::this_thread::sleep_for(10ms);
  }
  return std::nullopt;
}

std::string BrokerProcess::log() const { return read_text_file(m_dir + "/broker.log"); }

bool BrokerProcess::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const {
  return wait_until([&] { return log().find(text) != std::string::npos; }, timeout, 20ms);
}

std::size_t BrokerProcess::rss_kib() const {
  std::ifstream status("/proc/" + std::to_string(m_pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stoul(line.substr(6));
    }
  }
  return 0;
}

}  // namespace planificador::testing
