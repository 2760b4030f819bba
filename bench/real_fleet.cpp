#include "real_fleet.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace planificador::bench {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The shipped config.toml up to its first runner ([server] is replaced by DaemonProcess),
// the plain link (one host), and the bench's two runners.
std::string runner_config(const Options& options) {
  std::string text = read_file(options.source_dir + "/config.toml");
  const auto runners = text.find("[[runner]]");
  if (text.empty() || runners == std::string::npos) {
    throw std::runtime_error("no [[runner]] in " + options.source_dir + "/config.toml");
  }
  text.resize(runners);
  const std::string pool = std::to_string(options.workers);
  text += "[link]\nplaintext = true\n\n";
  text +=
      "[[runner]]\nmatch = [\"true\"]\nimage = \"planificador/bash\"\nfile = \"main\"\n"
      "run = [\"/bin/true\"]\npool = " +
      pool + "\nisolation = \"fast\"\n\n";
  text +=
      "[[runner]]\nmatch = [\"sleep\"]\nimage = \"planificador/bash\"\nfile = \"main.sh\"\n"
      "run = [\"bash\", \"main.sh\"]\npool = " +
      pool +
      "\nisolation = \"fast\"\n"
      "limits = { wall_ms = 3600000, cpu_ms = 3600000 }\n";
  return text;
}

std::string make_temp_dir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "planificador-fleet-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + " failed");
  }
  return pattern;
}

}  // namespace

RealFleet::RealFleet(const Options& options) : m_options(options), m_dir(make_temp_dir()) {
  m_config = m_dir + "/runners.toml";
  std::ofstream(m_config) << runner_config(options);
  testing::BrokerSettings settings;
  settings.bin_dir = options.bin_dir;
  settings.heartbeat_ms = options.heartbeat_ms;
  settings.heartbeat_misses = options.heartbeat_misses;
  settings.backlog = 10000;
  settings.grace_ms = 2000;
  settings.unserved_ms = 30000;
  settings.control = false;
  settings.log_level = "info";  // the harness reads the bound endpoints from the log
  std::string error;
  if (!m_broker.start(settings, error)) {
    std::filesystem::remove_all(m_dir);
    throw std::runtime_error("broker: " + error);
  }
}

RealFleet::~RealFleet() {
  keep_logs();
  // Daemons first, while the broker still runs: a fleet member drains and says BYE.
  m_members.clear();
  m_direct.clear();
  std::error_code ignored;
  std::filesystem::remove_all(m_dir, ignored);
}

void RealFleet::keep_logs() const {
  if (m_options.logs_dir.empty()) {
    return;
  }
  std::error_code error;
  std::filesystem::create_directories(m_options.logs_dir, error);
  std::ofstream(m_options.logs_dir + "/broker.log") << m_broker.log();
  for (std::size_t i = 0; i < m_members.size(); ++i) {
    if (m_members[i]) {
      std::ofstream(m_options.logs_dir + "/" + m_names[i] + ".log") << m_members[i]->log();
    }
  }
  for (std::size_t i = 0; i < m_direct.size(); ++i) {
    std::ofstream(m_options.logs_dir + "/bench-direct-" + std::to_string(i + 1) + ".log")
        << m_direct[i]->log();
  }
  (void)std::printf("  logs of the broker and the daemons kept in %s\n",
                    m_options.logs_dir.c_str());
}

testing::DaemonSettings RealFleet::settings(const std::string& name,
                                            const std::string& broker) const {
  testing::DaemonSettings settings;
  settings.bin_dir = m_options.bin_dir;
  settings.shipped_config = m_config;
  settings.workers = m_options.workers;
  // Every burst is queued at once in a direct daemon (the broker bounds its own).
  settings.backlog = std::max<std::size_t>(1000, 2 * m_options.throughput_tasks);
  settings.grace_ms = 2000;
  settings.control = false;
  settings.executor = name;
  if (!broker.empty()) {
    settings.extra_server = "broker = \"" + broker + "\"";
  }
  return settings;
}

std::unique_ptr<testing::DaemonProcess> RealFleet::start(const testing::DaemonSettings& settings) {
  check_interrupted();
  std::string error;
  auto daemon = testing::DaemonProcess::start(settings, error, 120s);
  if (!daemon) {
    throw std::runtime_error("daemon " + settings.executor + ": " + error);
  }
  return daemon;
}

testing::DaemonProcess& RealFleet::start_direct(const std::string& name) {
  return *m_direct.emplace_back(start(settings(name, "")));
}

testing::DaemonProcess& RealFleet::join(const std::string& name) {
  auto& daemon = *m_members.emplace_back(start(settings(name, m_broker.workers())));
  m_names.push_back(name);
  if (!daemon.wait_for_log("joined the fleet", 60s)) {
    throw std::runtime_error("daemon " + name + " did not join the fleet:\n" + daemon.log());
  }
  return daemon;
}

Clock::time_point RealFleet::kill(std::size_t index) {
  const auto at = Clock::now();
  (void)m_members.at(index)->kill_now();
  return at;
}

void RealFleet::replace(std::size_t index) {
  m_members.at(index).reset();  // removes the killed daemon's containers and directory
  auto& daemon = *(m_members[index] = start(settings(m_names[index], m_broker.workers())));
  if (!daemon.wait_for_log("joined the fleet", 60s)) {
    throw std::runtime_error("daemon " + m_names[index] + " did not join the fleet again");
  }
}

std::string real_missing(const Options& options) {
  std::string missing;
  for (const char* binary : {"planificador", "planificador-broker", "planificador-sandboxd"}) {
    if (::access((options.bin_dir + "/" + binary).c_str(), X_OK) != 0) {
      missing += std::string(" ") + options.bin_dir + "/" + binary + ";";
    }
  }
  if (testing::run_command({"docker", "version", "--format", "{{.Server.Version}}"}, "", 30s)
          .exit_code != 0) {
    missing += " a running Docker engine;";
  } else if (testing::run_command({"docker", "image", "inspect", "planificador/bash"}, "", 30s)
                 .exit_code != 0) {
    missing += " the image planificador/bash (scripts/setup.sh);";
  }
  return missing;
}

void warm_up(Client& client, const std::string& what) {
  const auto deadline = Clock::now() + 120s;
  while (!client.run_one("true", "x\n", 30s)) {
    if (Clock::now() > deadline) {
      throw std::runtime_error(what + ": no task succeeded within two minutes");
    }
  }
  std::vector<double> recent;
  while (Clock::now() < deadline) {
    recent.push_back(client.run_one("true", "x\n", 30s).value_or(1e9));
    if (recent.size() > 10) {
      recent.erase(recent.begin());
    }
    if (recent.size() == 10 &&
        *std::max_element(recent.begin(), recent.end()) <= 3 * median(recent)) {
      return;
    }
  }
}

}  // namespace planificador::bench
