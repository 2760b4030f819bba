#include "resource_watch.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "daemon_process.hpp"

namespace planificador::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<pid_t> all_pids() {
  std::vector<pid_t> pids;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
      pids.push_back(static_cast<pid_t>(std::stol(name)));
    }
  }
  return pids;
}

// /var/run is a symlink to /run; mountinfo names the resolved path.
std::string resolved_run_path(std::string path) {
  if (path.starts_with("/var/run/")) {
    path.erase(0, 4);
  }
  return path;
}

}  // namespace

std::vector<std::string> docker_argv(const std::string& docker_host,
                                     std::vector<std::string> args) {
  std::vector<std::string> argv{"docker"};
  if (!docker_host.empty()) {
    argv.insert(argv.end(), {"-H", docker_host});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::optional<std::uint64_t> proc_status_kb(pid_t pid, std::string_view field) {
  std::istringstream lines(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(lines, line)) {
    if (line.starts_with(prefix)) {
      return std::stoull(line.substr(prefix.size()));
    }
  }
  return std::nullopt;
}

std::optional<std::size_t> open_fd_count(pid_t pid) {
  std::error_code error;
  fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", error);
  if (error) {
    return std::nullopt;
  }
  std::size_t count = 0;
  for (; it != fs::directory_iterator(); it.increment(error)) {
    ++count;
  }
  return count;
}

std::map<std::string, std::size_t> open_fd_targets(pid_t pid) {
  std::map<std::string, std::size_t> targets;
  std::error_code error;
  fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", error);
  for (; !error && it != fs::directory_iterator(); it.increment(error)) {
    std::string target = fs::read_symlink(it->path(), error).string();
    if (error) {
      error.clear();
      continue;
    }
    // "socket:[1234]" and "anon_inode:[eventfd]" name a kind; a path names itself.
    if (const auto bracket = target.find(":["); bracket != std::string::npos) {
      target.resize(bracket);
    }
    ++targets[target];
  }
  return targets;
}

std::vector<pid_t> pids_with_cmdline(std::string_view needle) {
  std::vector<pid_t> found;
  for (const pid_t pid : all_pids()) {
    std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos) {
      found.push_back(pid);
    }
  }
  return found;
}

std::vector<pid_t> pids_in_containers(const std::set<std::string>& ids) {
  std::vector<pid_t> found;
  for (const pid_t pid : all_pids()) {
    const std::string cgroup = read_file("/proc/" + std::to_string(pid) + "/cgroup");
    for (const auto& id : ids) {
      if (!id.empty() && cgroup.find(id) != std::string::npos) {
        found.push_back(pid);
        break;
      }
    }
  }
  return found;
}

std::set<std::string> mount_points() {
  std::set<std::string> points;
  std::istringstream lines(read_file("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string field;
    for (int i = 0; i < 5 && fields >> field; ++i) {
    }
    points.insert(field);
  }
  return points;
}

RssSampler::RssSampler(pid_t pid, std::chrono::milliseconds interval)
    : m_pid(pid), m_interval(interval) {
  m_thread = std::thread([this] {
    while (!m_stop.load()) {
      if (auto rss = proc_status_kb(m_pid, "VmRSS")) {
        m_peak.store(std::max(m_peak.load(), *rss));
        ++m_samples;
      }
      std::this_thread::sleep_for(m_interval);
    }
  });
}

RssSampler::~RssSampler() { stop(); }

void RssSampler::stop() {
  m_stop.store(true);
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

ContainerWatch::ContainerWatch(std::string instance, std::string docker_host,
                               std::chrono::milliseconds interval)
    : m_instance(std::move(instance)), m_host(std::move(docker_host)), m_interval(interval) {
  m_thread = std::thread([this] {
    while (!m_stop.load()) {
      look();
      std::this_thread::sleep_for(m_interval);
    }
  });
}

ContainerWatch::~ContainerWatch() { stop(); }

void ContainerWatch::stop() {
  if (!m_stop.exchange(true) && m_thread.joinable()) {
    m_thread.join();
    look();
  }
}

void ContainerWatch::look() {
  const auto listed =
      run_command(docker_argv(m_host, {"ps", "-q", "--no-trunc", "--filter",
                                       "label=org.planificador.instance=" + m_instance}),
                  "", 30s);
  std::vector<std::string> fresh;
  {
    std::istringstream ids(listed.out);
    std::string id;
    const std::scoped_lock lock(m_mutex);
    while (ids >> id) {
      if (!m_seen.contains(id)) {
        fresh.push_back(id);
      }
    }
  }
  if (fresh.empty()) {
    return;
  }
  std::vector<std::string> args{
      "inspect", "--format",
      "{{.Id}} {{.GraphDriver.Data.MergedDir}} {{.NetworkSettings.SandboxKey}}"};
  args.insert(args.end(), fresh.begin(), fresh.end());
  // A container removed meanwhile makes inspect fail for it only; the others still print.
  const auto inspected = run_command(docker_argv(m_host, args), "", 30s);
  std::istringstream lines(inspected.out);
  std::string line;
  const std::scoped_lock lock(m_mutex);
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    WatchedContainer container;
    fields >> container.id >> container.merged_dir >> container.sandbox_key;
    if (!container.id.empty()) {
      container.sandbox_key = resolved_run_path(container.sandbox_key);
      m_seen.emplace(container.id, container);
    }
  }
}

std::vector<WatchedContainer> ContainerWatch::seen() const {
  const std::scoped_lock lock(m_mutex);
  std::vector<WatchedContainer> containers;
  for (const auto& entry : m_seen) {
    containers.push_back(entry.second);
  }
  return containers;
}

std::vector<std::string> ContainerWatch::leftovers() const {
  const auto containers = seen();
  std::vector<std::string> left;
  std::set<std::string> ids;
  for (const auto& container : containers) {
    ids.insert(container.id);
  }
  const auto existing = run_command(docker_argv(m_host, {"ps", "-aq", "--no-trunc"}), "", 30s);
  for (const auto& id : ids) {
    if (existing.out.find(id) != std::string::npos) {
      left.push_back("container " + id.substr(0, 12) + " still exists");
    }
  }
  const auto mounted = mount_points();
  for (const auto& container : containers) {
    for (const auto& path : {container.merged_dir, container.sandbox_key}) {
      if (path.starts_with("/") && mounted.contains(path)) {
        left.push_back("mount " + path + " of container " + container.id.substr(0, 12));
      }
    }
  }
  for (const pid_t pid : pids_in_containers(ids)) {
    left.push_back("process " + std::to_string(pid) + " (" +
                   read_file("/proc/" + std::to_string(pid) + "/comm") +
                   ") in the cgroup of a container seen");
  }
  return left;
}

}  // namespace planificador::testing
