#pragma once
// A runner's warm pool: containers created exactly as for a fresh task (Container::acquire,
// the runner's own limits), started and connected to their helper, each serving one task
// at a time and reset between tasks. A background thread fills the pool at start and
// refills it whenever a container is retired.
//
// The reset is asked for the moment a task ends and its answer is read when the container
// is next taken (or by the background sweep), so the task's answer never waits for it.
// Isolation "strict" has the helper replace the sandbox (fresh namespaces and directories);
// "fast" has it prove the sandbox empty and wipe its directories in place.
//
// A warm container's memory and pids limits are the runner's. The backend sends a task
// that asked for less to a fresh container made with its own limits instead of updating
// a warm one, so the kernel enforces exactly what the task asked for and a warm container
// never has to be restored afterwards.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "planificador/backend/backend.hpp"
#include "planificador/backend/docker/container.hpp"
#include "planificador/backend/docker/container_spec.hpp"
#include "planificador/backend/docker/engine_client.hpp"
#include "planificador/os/event.hpp"
#include "planificador/util/result.hpp"

namespace planificador::backend::docker {

// The org.planificador.task label of a pooled container: it serves many tasks, so it
// names none of them.
inline constexpr const char* k_pooled_task_label = "pool";

struct PoolSettings {
  ContainerSpec spec;       // the runner's limits; run_dir and task are set per container
  std::string name_prefix;  // containers are named `name_prefix` + a counter
  std::string state_dir;    // host directory under which each container's run_dir goes
  std::size_t size = 0;
  std::size_t max_tasks = 200;
  config::Isolation isolation = config::Isolation::strict;
};

// Counters of one pool, for logs and tests.
struct PoolStats {
  std::size_t idle = 0;     // ready and waiting for a task
  std::size_t busy = 0;     // serving a task
  std::size_t created = 0;  // made ready since start
  std::size_t retired = 0;  // removed after a task or found dead while idle
  std::size_t served = 0;   // tasks run on a pooled container
  std::size_t reused = 0;   // of those, tasks run on a container that had served before
};

struct PooledContainer {
  Container container;
  std::size_t tasks = 0;       // tasks served so far
  bool reset_pending = false;  // a reset was asked for and its answer not read yet
};

class Pool {
 public:
  // `engine` and `registry` must outlive the pool. Does nothing until start().
  Pool(const EngineClient& engine, ContainerRegistry& registry, PoolSettings settings);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool();

  // Starts the background thread that keeps `size` containers ready. Returns at once.
  void start();

  // Returns a ready container, waiting while one is being made (or until `cancel`);
  // nullptr when none is idle or on its way (the caller makes its own) or when stopping.
  [[nodiscard]] std::unique_ptr<PooledContainer> take(const os::Event& cancel);

  // Takes back a container after its task: kept, with its reset asked for, when
  // `reusable` and it may serve more tasks; else disconnected at once (its helper kills
  // what is left) and removed by the background thread, after the refill.
  void give_back(std::unique_ptr<PooledContainer> container, bool reusable);

  // Stops refilling and removes every idle container; containers still serving a task
  // are removed when given back. Idempotent.
  void stop();

  [[nodiscard]] PoolStats stats() const;

 private:
  void fill_loop();
  [[nodiscard]] std::unique_ptr<PooledContainer> make_one();
  void sweep_idle(std::unique_lock<std::mutex>& lock);
  // Hands `container` to the background thread for removal; removes it here when there
  // is none. Called with `lock` held.
  void retire(std::unique_ptr<PooledContainer> container, std::unique_lock<std::mutex>& lock);
  [[nodiscard]] bool ready_to_serve(PooledContainer& container,
                                    std::chrono::milliseconds timeout) const;

  const EngineClient& m_engine;
  ContainerRegistry& m_registry;
  PoolSettings m_settings;
  os::Event m_stop_event;
  mutable std::mutex m_mutex;
  std::condition_variable m_changed;
  std::deque<std::unique_ptr<PooledContainer>> m_idle;
  std::vector<std::unique_ptr<PooledContainer>> m_retiring;  // removed by the filler
  std::size_t m_busy = 0;
  std::size_t m_creating = 0;
  std::size_t m_counter = 0;
  bool m_stopping = false;
  PoolStats m_stats;
  std::thread m_filler;
};

// Asks the helper behind `socket` to reset with `isolation` (kill every process of the
// task, wipe the writable places, renew or clean the sandbox). Returns at once.
[[nodiscard]] Result<void> request_reset(int socket, config::Isolation isolation);

// Waits up to `timeout` for the answer to request_reset(); success only for
// {"ok":true,"clean":true}. Events of a program still running are skipped.
[[nodiscard]] Result<void> await_reset(int socket, std::chrono::milliseconds timeout);

// Returns the pool counters of the Docker backend `backend` for the runner whose image
// is `image`; nullopt when `backend` is not a Docker backend or that runner has no pool.
[[nodiscard]] std::optional<PoolStats> docker_pool_stats(const Backend& backend,
                                                         const std::string& image);

}  // namespace planificador::backend::docker
