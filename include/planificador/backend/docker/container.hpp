#pragma once
// One task container: created, started and connected to its planificador-sandboxd;
// killed and removed (with its host state directory) when the object goes away.

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "planificador/backend/docker/container_spec.hpp"
#include "planificador/backend/docker/engine_client.hpp"
#include "planificador/os/cgroup.hpp"
#include "planificador/os/event.hpp"
#include "planificador/os/fd.hpp"
#include "planificador/util/result.hpp"

namespace planificador::backend::docker {

// The containers a backend currently owns, so stop() can remove them all, and the uids
// they run as: each container gets a host uid of its own from the backend's range, so the
// kernel's per-user pools (inotify instances and watches, POSIX message queue bytes,
// RLIMIT_NPROC) are never shared between the tasks of two containers.
class ContainerRegistry {
 public:
  // `first_uid`, `uids`: the range containers' uids are leased from.
  explicit ContainerRegistry(std::uint32_t first_uid = 1'000'000'000, std::uint32_t uids = 4096)
      : m_first_uid(first_uid), m_uids(uids) {}

  void add(const std::string& id);
  void remove(const std::string& id);
  // Returns the ids registered now.
  [[nodiscard]] std::vector<std::string> ids() const;
  // Records that the engine failed to remove a container: it is an orphan now, for the
  // sweeper to remove once the engine answers.
  void note_removal_failed() { m_removal_failed.store(true); }
  // Returns whether a removal failed since the last call.
  [[nodiscard]] bool take_removal_failed() { return m_removal_failed.exchange(false); }

  // Returns a uid no other container of the registry runs as, or nullopt when the range is
  // used up.
  [[nodiscard]] std::optional<std::uint32_t> lease_uid();
  // Gives `uid` back once its container is gone.
  void release_uid(std::uint32_t uid);

 private:
  mutable std::mutex m_mutex;
  std::set<std::string> m_ids;
  std::set<std::uint32_t> m_leased;
  std::uint32_t m_first_uid;
  std::uint32_t m_uids;
  std::uint32_t m_next = 0;  // where the search for a free uid starts
  std::atomic<bool> m_removal_failed{false};
};

// Returns the uid range of instance `instance`: 4096 uids from 10^9 on, in one of 65536
// blocks picked by a hash of the name, so that daemons sharing a host rarely share a uid.
[[nodiscard]] std::pair<std::uint32_t, std::uint32_t> uid_range_of(std::string_view instance);

class Container {
 public:
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;
  Container(Container&& other) noexcept;
  Container& operator=(Container&&) = delete;
  ~Container();

  // Creates and starts a container for `spec` named `name`, waits (up to `ready_timeout`)
  // until its helper accepts a connection, and resolves its cgroup. Every failure path
  // removes what was made. `spec.run_dir` is created here. The error's kind says what
  // failed: not_found (the engine has no such image), engine (another engine call),
  // cancelled (`cancel` was set), other (the run directory, the helper, the cgroup).
  [[nodiscard]] static Result<Container> acquire(
      const EngineClient& engine, ContainerRegistry& registry, const ContainerSpec& spec,
      const std::string& name, const os::Event& cancel,
      std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));

  // Kills every process of the container through the engine (the helper included).
  void kill() const;
  // Returns true once kill() was used: the container must not serve another task.
  [[nodiscard]] bool killed() const { return m_killed; }
  // Returns true while the idle connection to the helper is open and silent; false when
  // the helper closed it (it died) or sent something nobody asked for.
  [[nodiscard]] bool connection_quiet() const;
  // Closes the connection to the helper, which then kills whatever the last task left;
  // the container itself stays until it is destroyed.
  void disconnect() { m_socket.reset(); }
  // Returns true when the container has stopped or stops within `timeout`.
  [[nodiscard]] bool stopped_within(std::chrono::milliseconds timeout) const;

  [[nodiscard]] const std::string& id() const { return m_id; }
  [[nodiscard]] int socket() const { return m_socket.get(); }
  [[nodiscard]] os::Cgroup& cgroup() { return m_cgroup; }

 private:
  Container(const EngineClient& engine, ContainerRegistry& registry, std::string run_dir)
      : m_engine(&engine), m_registry(&registry), m_run_dir(std::move(run_dir)) {}

  [[nodiscard]] Result<void> wait_ready(const os::Event& cancel, std::chrono::milliseconds timeout);
  [[nodiscard]] std::string exit_diagnostic() const;
  void release() noexcept;

  const EngineClient* m_engine;
  ContainerRegistry* m_registry;
  std::string m_run_dir;
  std::string m_id;
  os::Fd m_socket;
  os::Cgroup m_cgroup;
  std::optional<std::uint32_t> m_uid;  // leased from the registry
  mutable bool m_killed = false;
};

}  // namespace planificador::backend::docker
