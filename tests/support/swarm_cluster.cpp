#include "swarm_cluster.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "resource_watch.hpp"

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The bridge an engine in swarm mode makes on the host (for the ingress network's
// sandbox) and keeps there after it stopped.
constexpr const char* k_gwbridge = "docker_gwbridge";

bool host_has_interface(const std::string& name) { return fs::exists("/sys/class/net/" + name); }

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

std::string failure(const std::string& what, const CommandResult& result) {
  return what + " exited " + std::to_string(result.exit_code) + ": " + result.out + result.err;
}

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> found;
  for (std::string word; in >> word;) {
    found.push_back(word);
  }
  return found;
}

}  // namespace

int loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return 0;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

std::unique_ptr<PrivateSwarm> PrivateSwarm::start(PrivateEngineSettings settings,
                                                  std::string& error) {
  std::unique_ptr<PrivateSwarm> swarm(new PrivateSwarm());
  settings.remove_host_state = true;
  swarm->m_settings = settings;
  // A docker_gwbridge the host had before is someone else's; one an earlier run of ours
  // made and could not remove (it crashed) is marked in /run, which a reboot clears
  // together with the interface.
  const std::string marker = settings.run_dir + ".gwbridge";
  swarm->m_gwbridge_ours = !host_has_interface(k_gwbridge) || fs::exists(marker);
  if (swarm->m_gwbridge_ours) {
    std::ofstream(marker) << "docker_gwbridge was made by the private swarm engine\n";
  }
  swarm->m_engine = PrivateEngine::start(error, std::move(settings));
  if (swarm->m_engine == nullptr) {
    return nullptr;
  }
  error = swarm->init();
  if (!error.empty()) {
    return nullptr;
  }
  return swarm;
}

PrivateSwarm::~PrivateSwarm() { (void)tear_down(); }

std::string PrivateSwarm::init() {
  const auto state = docker({"info", "--format", "{{.Swarm.LocalNodeState}}"}, 30s);
  if (state.exit_code != 0) {
    return failure("docker info", state);
  }
  if (trimmed(state.out) != "inactive") {
    // What a crashed earlier run left in the data root: its services, secrets and all.
    (void)docker({"swarm", "leave", "--force"}, 60s);
  }
  const std::string address = "127.0.0.1:" + std::to_string(loopback_port());
  const auto made =
      docker({"swarm", "init", "--advertise-addr", address, "--listen-addr", address}, 60s);
  return made.exit_code == 0 ? "" : failure("docker swarm init", made);
}

CommandResult PrivateSwarm::docker(const std::vector<std::string>& args,
                                   std::chrono::milliseconds timeout,
                                   const std::vector<std::string>& environment) const {
  std::vector<std::string> argv;
  if (!environment.empty()) {
    argv.emplace_back("env");
    argv.insert(argv.end(), environment.begin(), environment.end());
  }
  argv.insert(argv.end(), {"docker", "-H", m_engine->host()});
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, "", timeout);
}

std::string PrivateSwarm::create_secret(const std::string& name, const std::string& path) const {
  const auto made = docker({"secret", "create", name, path}, 30s);
  return made.exit_code == 0 ? "" : failure("docker secret create " + name, made);
}

std::string PrivateSwarm::label_node(const std::string& label) const {
  const auto self = docker({"info", "--format", "{{.Swarm.NodeID}}"}, 30s);
  if (self.exit_code != 0 || trimmed(self.out).empty()) {
    return failure("docker info", self);
  }
  const auto labelled = docker({"node", "update", "--label-add", label, trimmed(self.out)}, 30s);
  return labelled.exit_code == 0 ? "" : failure("docker node update", labelled);
}

std::string PrivateSwarm::deploy(const std::string& stack_file, const std::string& name,
                                 const std::vector<std::string>& environment) {
  const auto deployed = docker(
      {"stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", stack_file, name},
      120s, environment);
  if (deployed.exit_code != 0) {
    return failure("docker stack deploy", deployed);
  }
  m_stacks.push_back(name);
  return "";
}

std::vector<std::string> PrivateSwarm::running_tasks(const std::string& service) const {
  return words(
      docker({"ps", "-q", "--no-trunc", "--filter",
              "label=com.docker.swarm.service.name=" + service, "--filter", "status=running"},
             30s)
          .out);
}

std::string PrivateSwarm::describe(const std::string& service) const {
  const auto tasks = docker({"service", "ps", "--no-trunc", service}, 30s);
  const auto logs = docker({"service", "logs", "--tail", "60", service}, 30s);
  return "\n--- " + service + " tasks:\n" + tasks.out + tasks.err + "--- " + service + " log:\n" +
         logs.out + logs.err;
}

std::vector<int> PrivateSwarm::stop_tasks(const std::string& service,
                                          std::chrono::seconds grace) const {
  std::vector<int> codes;
  for (const auto& id : running_tasks(service)) {
    (void)docker({"stop", "-t", std::to_string(grace.count()), id}, grace + 30s);
    const auto state = docker({"inspect", "-f", "{{.State.ExitCode}}", id}, 30s);
    codes.push_back(state.exit_code == 0 ? std::atoi(state.out.c_str()) : -1);
  }
  return codes;
}

std::string PrivateSwarm::remove_stack(const std::string& name, std::chrono::milliseconds timeout) {
  std::erase(m_stacks, name);
  const auto removed = docker({"stack", "rm", name}, 60s);
  if (removed.exit_code != 0) {
    return failure("docker stack rm", removed);
  }
  const auto deadline = Clock::now() + timeout;
  std::vector<std::string> left = words(docker({"ps", "-aq"}, 30s).out);
  while (!left.empty() && Clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    left = words(docker({"ps", "-aq"}, 30s).out);
  }
  if (left.empty()) {
    return "";
  }
  return "containers left after stack rm: " + docker({"ps", "-a"}, 30s).out;
}

std::string PrivateSwarm::tear_down() {
  if (m_engine == nullptr) {
    return "";
  }
  std::string findings;
  while (!m_stacks.empty()) {
    const std::string name = m_stacks.back();
    findings += remove_stack(name, 60s);
  }
  const auto left = docker({"swarm", "leave", "--force"}, 60s);
  if (left.exit_code != 0) {
    findings += failure("docker swarm leave", left) + "\n";
  }
  if (m_gwbridge_ours) {
    // Through the engine, which made it: its record goes with the interface.
    (void)docker({"network", "rm", k_gwbridge}, 30s);
  }
  m_engine.reset();
  if (m_gwbridge_ours && host_has_interface(k_gwbridge)) {
    (void)run_command({"ip", "link", "del", k_gwbridge}, "", 30s);
  }
  if (m_gwbridge_ours && !host_has_interface(k_gwbridge)) {
    std::error_code ignored;
    fs::remove(m_settings.run_dir + ".gwbridge", ignored);
  }
  if (m_gwbridge_ours && host_has_interface(k_gwbridge)) {
    findings += std::string(k_gwbridge) + " is still on the host\n";
  }
  if (host_has_interface(m_settings.bridge)) {
    findings += "the engine's bridge " + m_settings.bridge + " is still on the host\n";
  }
  for (const auto& point : mount_points()) {
    if (point.starts_with(m_settings.run_dir + "/")) {
      findings += "still mounted: " + point + "\n";
    }
  }
  if (fs::exists(m_settings.run_dir)) {
    findings += m_settings.run_dir + " is still there\n";
  }
  return findings;
}

}  // namespace planificador::testing
