#include "planificador/backend/docker/container.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <mutex>
#include <poll.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "planificador/os/unix_socket.hpp"
#include "planificador/sandbox/wire.hpp"

namespace planificador::backend::docker {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t k_log_tail_bytes = 600;

// An engine call's failure as acquire() reports it: kind engine, or not_found when the
// engine has no such image (only the create can say so).
tl::unexpected<Error> engine_error(const Error& error, bool create) {
  const bool no_image = create && error.kind == ErrorKind::not_found;
  return fail(no_image ? ErrorKind::not_found : ErrorKind::engine, error.message, error.code);
}

Result<void> make_run_dir(const std::string& path, std::uint32_t uid) {
  std::error_code error;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), error);
  if (error) {
    return fail("create `" + path + "`: " + error.message());
  }
  std::filesystem::remove_all(path, error);  // a leftover of a reused name
  // The helper (the container's uid) creates its socket here; nobody else may look in.
  if (::mkdir(path.c_str(), 0700) != 0) {
    return fail_errno("mkdir `" + path + "`");
  }
  if (::chown(path.c_str(), uid, uid) != 0) {
    return fail_errno("chown `" + path + "`");
  }
  return {};
}

std::string tail(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  if (text.size() > k_log_tail_bytes) {
    text.erase(0, text.size() - k_log_tail_bytes);
  }
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

}  // namespace

void ContainerRegistry::add(const std::string& id) {
  const std::scoped_lock lock(m_mutex);
  m_ids.insert(id);
}

void ContainerRegistry::remove(const std::string& id) {
  const std::scoped_lock lock(m_mutex);
  m_ids.erase(id);
}

std::vector<std::string> ContainerRegistry::ids() const {
  const std::scoped_lock lock(m_mutex);
  return {m_ids.begin(), m_ids.end()};
}

std::optional<std::uint32_t> ContainerRegistry::lease_uid() {
  const std::scoped_lock lock(m_mutex);
  for (std::uint32_t tried = 0; tried < m_uids; ++tried) {
    const std::uint32_t uid = m_first_uid + (m_next + tried) % m_uids;
    if (m_leased.insert(uid).second) {
      m_next = (m_next + tried + 1) % m_uids;
      return uid;
    }
  }
  return std::nullopt;
}

void ContainerRegistry::release_uid(std::uint32_t uid) {
  const std::scoped_lock lock(m_mutex);
  m_leased.erase(uid);
}

std::pair<std::uint32_t, std::uint32_t> uid_range_of(std::string_view instance) {
  constexpr std::uint32_t k_first = 1'000'000'000;
  constexpr std::uint32_t k_block = 4096;
  constexpr std::uint32_t k_blocks = 65536;
  std::uint32_t hash = 2166136261U;  // FNV-1a
  for (const char c : instance) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 16777619U;
  }
  return {k_first + (hash % k_blocks) * k_block, k_block};
}

Container::Container(Container&& other) noexcept
    : m_engine(other.m_engine),
      m_registry(other.m_registry),
      m_run_dir(std::move(other.m_run_dir)),
      m_id(std::exchange(other.m_id, {})),
      m_socket(std::move(other.m_socket)),
      m_cgroup(std::move(other.m_cgroup)),
      m_uid(std::exchange(other.m_uid, std::nullopt)),
      m_killed(other.m_killed) {
  other.m_run_dir.clear();
}

Container::~Container() { release(); }

Result<Container> Container::acquire(const EngineClient& engine, ContainerRegistry& registry,
                                     const ContainerSpec& spec, const std::string& name,
                                     const os::Event& cancel,
                                     std::chrono::milliseconds ready_timeout) {
  Container container(engine, registry, spec.run_dir);
  container.m_uid = registry.lease_uid();
  if (!container.m_uid) {
    return fail("every uid of this daemon's range is in use by a container");
  }
  if (auto made = make_run_dir(spec.run_dir, *container.m_uid); !made) {
    return fail(made.error().message, made.error().code);
  }
  auto id = engine.create(container_create_body(spec, *container.m_uid), name);
  if (!id) {
    return engine_error(id.error(), true);
  }
  container.m_id = *id;
  registry.add(container.m_id);
  if (auto started = engine.start(container.m_id); !started) {
    return engine_error(started.error(), false);
  }
  PLAN_TRY(container.wait_ready(cancel, ready_timeout));
  auto info = engine.inspect(container.m_id);
  if (!info) {
    return engine_error(info.error(), false);
  }
  const auto pid = info->value(nlohmann::json::json_pointer("/State/Pid"), std::int64_t{0});
  const auto parent =
      info->value(nlohmann::json::json_pointer("/HostConfig/CgroupParent"), std::string());
  auto cgroup =
      os::Cgroup::of_container(container.m_id, static_cast<pid_t>(pid), parent, spec.cgroups);
  if (!cgroup) {
    return fail("cgroup of container " + container.m_id.substr(0, 12) + ": " +
                cgroup.error().message);
  }
  container.m_cgroup = std::move(*cgroup);
  // Before any task runs: only sockets made after the limit is set are charged.
  const std::uint64_t memory = spec.limits.memory_bytes + k_helper_memory_headroom;
  if (auto limited = container.m_cgroup.limit_socket_memory(memory); !limited) {
    static std::once_flag warned;
    std::call_once(warned, [&] {
      spdlog::warn("socket buffers are not charged to the task's memory limit: {}",
                   limited.error().message);
    });
  }
  // After the socket limit, which decides whether the socket files are read at all.
  container.m_cgroup.open_files();
  return container;
}

Result<void> Container::wait_ready(const os::Event& cancel, std::chrono::milliseconds timeout) {
  const std::string path = m_run_dir + "/" + sandbox::k_socket_name;
  const auto start = Clock::now();
  auto next_check = start + std::chrono::milliseconds(100);
  auto pause = std::chrono::milliseconds(2);
  for (;;) {
    auto connection = os::connect_unix(path);
    if (connection) {
      m_socket = std::move(*connection);
      return {};
    }
    if (connection.error().code != ENOENT && connection.error().code != ECONNREFUSED) {
      return fail(connection.error().message, connection.error().code);
    }
    if (cancel.is_set()) {
      return fail(ErrorKind::cancelled, "cancelled");
    }
    const auto now = Clock::now();
    if (now >= next_check) {
      next_check = now + std::chrono::milliseconds(100);
      auto info = m_engine->inspect(m_id);
      if (info && !info->value(nlohmann::json::json_pointer("/State/Running"), false)) {
        return fail(exit_diagnostic());
      }
    }
    if (now - start >= timeout) {
      return fail("sandbox helper did not listen on `" + path + "` within " +
                  std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

std::string Container::exit_diagnostic() const {
  std::string message = "sandbox helper exited";
  if (auto info = m_engine->inspect(m_id)) {
    message +=
        " with code " + std::to_string(info->value(nlohmann::json::json_pointer("/State/ExitCode"),
                                                   std::int64_t{-1}));
  }
  if (auto logs = m_engine->logs(m_id)) {
    const std::string text = tail(logs->err + logs->out);
    if (!text.empty()) {
      message += ": " + text;
    }
  }
  return message;
}

void Container::kill() const {
  if (m_id.empty()) {
    return;
  }
  m_killed = true;
  if (auto killed = m_engine->kill(m_id); !killed) {
    spdlog::warn("kill container {}: {}", m_id.substr(0, 12), killed.error().message);
  }
}

bool Container::connection_quiet() const {
  if (!m_socket) {
    return false;
  }
  pollfd fd{m_socket.get(), POLLIN, 0};
  const int ready = ::poll(&fd, 1, 0);
  return ready == 0;
}

bool Container::stopped_within(std::chrono::milliseconds timeout) const {
  if (m_id.empty()) {
    return true;
  }
  return m_engine->wait(m_id, timeout).has_value();
}

void Container::release() noexcept {
  m_socket.reset();
  if (!m_id.empty()) {
    if (auto removed = m_engine->remove(m_id); !removed) {
      spdlog::warn("remove container {}: {}", m_id.substr(0, 12), removed.error().message);
      m_registry->note_removal_failed();
    }
    m_registry->remove(m_id);
    m_id.clear();
  }
  if (!m_run_dir.empty()) {
    std::error_code error;
    std::filesystem::remove_all(m_run_dir, error);
    m_run_dir.clear();
  }
  // Only once the container is gone (or handed to the sweeper): no process runs as it.
  if (m_uid) {
    m_registry->release_uid(*m_uid);
    m_uid.reset();
  }
}

}  // namespace planificador::backend::docker
