#include "planificador/backend/docker/docker_backend.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "planificador/backend/docker/container.hpp"
#include "planificador/backend/docker/container_reaper.hpp"
#include "planificador/backend/docker/engine_client.hpp"
#include "planificador/backend/docker/orphan_sweeper.hpp"
#include "planificador/backend/docker/outcome.hpp"
#include "planificador/backend/docker/pool.hpp"
#include "planificador/backend/docker/runtime_check.hpp"
#include "planificador/backend/docker/seccomp_profile.hpp"
#include "planificador/backend/docker/task_run.hpp"

namespace planificador::backend::docker {
namespace {

using protocol::Status;

// Writes into a pipe whose reader is gone raise SIGPIPE; a run keeps it blocked in its
// own thread and discards any it caused, so EPIPE is all it sees (man 7 signal, "thread-
// directed" signals).
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &m_previous);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;
  ~SigpipeBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    const timespec zero{0, 0};
    while (sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &m_previous, nullptr);
  }

 private:
  sigset_t m_previous{};
};

Result<std::string> resolve_helper(const config::Docker& docker) {
  std::string path = docker.helper;
  if (path.empty()) {
    std::error_code error;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
    if (error) {
      return fail("read `/proc/self/exe`: " + error.message());
    }
    path = (self.parent_path() / "planificador-sandboxd").string();
  }
  if (::access(path.c_str(), X_OK) != 0) {
    return fail_errno("sandbox helper `" + path + "`");
  }
  return path;
}

// Copies the helper into the state directory and returns the copy's path. The engine
// resolves bind-mount sources on the host, and the state directory is the one path a
// containerized daemon shares with the host (README: running the daemon in a container);
// a copy also keeps serving if the build tree is replaced while the daemon runs.
Result<std::string> stage_helper(const config::Docker& docker, const std::string& state_dir,
                                 const std::string& instance) {
  auto source = resolve_helper(docker);
  if (!source) {
    return source;
  }
  namespace fs = std::filesystem;
  const std::string target = state_dir + "/" + instance + ".sandboxd";
  const std::string partial = target + ".partial";
  std::error_code error;
  fs::create_directories(state_dir, error);
  if (!error) {
    fs::copy_file(*source, partial, fs::copy_options::overwrite_existing, error);
  }
  if (!error) {
    fs::permissions(partial,
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                        fs::perms::others_read | fs::perms::others_exec,
                    error);
  }
  if (!error) {
    fs::rename(partial, target, error);
  }
  if (error) {
    return fail("copy sandbox helper `" + *source + "` to `" + target + "`: " + error.message(),
                error.value());
  }
  return target;
}

Result<std::string> resolve_seccomp(const config::Docker& docker) {
  if (docker.seccomp.empty()) {
    return std::string(builtin_seccomp_profile());
  }
  std::ifstream file(docker.seccomp);
  if (!file) {
    return fail_errno("open seccomp profile `" + docker.seccomp + "`");
  }
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string missing_image_message(const std::string& image) {
  return "image " + image + " is missing; run scripts/images.sh";
}

class DockerBackend final : public Backend {
 public:
  DockerBackend(const config::Config& config, std::string instance)
      : m_config(config),
        m_instance(std::move(instance)),
        m_engine(config.docker.socket),
        m_state_dir(config.server.state_dir + "/" + m_instance),
        m_registry(uid_range_of(m_instance).first, uid_range_of(m_instance).second),
        m_sweeper(m_engine, m_registry, m_instance),
        m_reaper(2 * config.server.workers) {}

  ~DockerBackend() override { stop(); }

  Result<void> start() override;
  TaskResult run(const TaskSpec& spec, OutputSink& sink, const os::Event& cancel) override;
  void stop() override;

  [[nodiscard]] BackendState state() const override;

  // The pool counters of the first runner whose image is `image`, if it has a pool.
  [[nodiscard]] std::optional<PoolStats> pool_stats(const std::string& image) const;

 private:
  std::optional<TaskResult> precheck(const TaskSpec& spec);
  TaskResult container_failure(const Error& error, const std::string& image);
  void reap();
  Result<void> prepare();
  Result<void> load_files();
  void start_pools();
  [[nodiscard]] Pool* pool_for(const TaskSpec& spec) const;
  TaskResult run_fresh(const TaskSpec& spec, OutputSink& sink, const os::Event& cancel);
  TaskResult run_pooled(Pool& pool, const TaskSpec& spec, OutputSink& sink,
                        const os::Event& cancel);

  const config::Config& m_config;
  std::string m_instance;
  EngineClient m_engine;
  std::string m_state_dir;
  ContainerRegistry m_registry;
  OrphanSweeper m_sweeper;
  std::atomic<std::uint64_t> m_counter{0};
  // Guards m_missing_images, and m_pools' assignment against pool_stats().
  mutable std::mutex m_mutex;
  std::set<std::string> m_missing_images;
  // The four below are written only by an attempt of start(), which m_readiness runs
  // alone, and read by run() once m_readiness says ready (its mutex publishes them) and by
  // stop() once m_readiness.stop() has waited out the attempt in flight.
  std::string m_helper;                  // the staged copy of planificador-sandboxd
  std::optional<std::string> m_seccomp;  // the profile's JSON
  std::map<const config::Runner*, std::unique_ptr<Pool>> m_pools;
  os::CgroupLayout m_cgroups;  // from the engine's GET /info
  Readiness m_readiness;
  // Removes the fresh containers of pool 0 after their task (destroyed first: its
  // containers use the engine client and the registry).
  ContainerReaper m_reaper;
};

// The daemon's starter calls it again after a failure until the engine answers; a task
// never does (precheck() only reads m_readiness), so a task never waits behind an attempt.
Result<void> DockerBackend::start() {
  return m_readiness.attempt([this] { return prepare(); });
}

// Staged and loaded once: a later attempt after a failure further on does not copy the
// helper again. Both happen here, not in the constructor, so a missing helper or profile is
// one more reason start() gives, retried like an absent engine.
Result<void> DockerBackend::load_files() {
  if (m_helper.empty()) {
    auto staged = stage_helper(m_config.docker, m_config.server.state_dir, m_instance);
    PLAN_TRY(staged);
    m_helper = std::move(*staged);
  }
  if (!m_seccomp) {
    auto seccomp = resolve_seccomp(m_config.docker);
    PLAN_TRY(seccomp);
    m_seccomp = std::move(*seccomp);
  }
  return {};
}

// One attempt of start(), the only one in flight (m_readiness). A stop() meanwhile waits
// for it, so it gives up between engine calls rather than make what stop() then undoes.
Result<void> DockerBackend::prepare() {
  if (auto loaded = load_files(); !loaded) {
    return loaded;
  }
  if (auto ping = m_engine.ping(); !ping) {
    return fail("engine unavailable: " + ping.error().message);
  }
  if (m_readiness.stopping()) {
    return fail(std::string(Readiness::k_stopped));
  }
  // Refused before any container is made: with a runtime the sandbox cannot start under,
  // every task would wait out the helper's start and fail.
  if (auto info = m_engine.info(); !info) {
    spdlog::warn("read the engine's runtimes and cgroup layout: {}", info.error().message);
  } else if (auto usable = check_runtime(m_config.docker.runtime, info->runtimes); !usable) {
    return usable;
  } else {
    m_cgroups = info->cgroups;
  }
  reap();
  if (m_readiness.stopping()) {
    return fail(std::string(Readiness::k_stopped));
  }
  std::set<std::string> images;
  for (const auto& runner : m_config.runners) {
    images.insert(runner.image);
  }
  for (const auto& image : images) {
    auto exists = m_engine.image_exists(image);
    if (exists && !*exists) {
      spdlog::warn("{}", missing_image_message(image));
      const std::scoped_lock lock(m_mutex);
      m_missing_images.insert(image);
    } else if (!exists) {
      spdlog::warn("inspect image {}: {}", image, exists.error().message);
    }
  }
  start_pools();
  m_sweeper.start();
  return {};
}

void DockerBackend::start_pools() {
  std::map<const config::Runner*, std::unique_ptr<Pool>> pools;
  for (std::size_t index = 0; index < m_config.runners.size(); ++index) {
    const auto& runner = m_config.runners[index];
    if (runner.pool == 0) {
      continue;
    }
    PoolSettings settings{ContainerSpec{runner.image,
                                        m_instance,
                                        k_pooled_task_label,
                                        m_helper,
                                        {},
                                        *m_seccomp,
                                        runner.limits,
                                        m_config.docker,
                                        m_cgroups},
                          "planificador-" + m_instance + "-r" + std::to_string(index) + "-w",
                          m_state_dir,
                          runner.pool,
                          runner.max_tasks,
                          runner.isolation};
    auto pool = std::make_unique<Pool>(m_engine, m_registry, std::move(settings));
    pool->start();
    pools.emplace(&runner, std::move(pool));
  }
  const std::scoped_lock lock(m_mutex);
  m_pools = std::move(pools);
}

// Under m_mutex: a test may ask while an attempt of start() is making the pools.
BackendState DockerBackend::state() const {
  BackendState state;
  state.not_ready = m_readiness.not_ready();
  if (auto pinged = m_engine.ping(); !pinged) {
    state.engine_down = pinged.error().message;
  }
  const std::scoped_lock lock(m_mutex);
  // m_pools is keyed by address; the config's order is what an operator reads.
  for (const auto& runner : m_config.runners) {
    const auto found = m_pools.find(&runner);
    if (found == m_pools.end()) {
      if (runner.pool > 0) {
        state.pools.push_back({&runner});
      }
      continue;
    }
    const PoolStats stats = found->second->stats();
    state.pools.push_back({&runner, stats.idle, stats.busy, stats.created, stats.retired});
  }
  return state;
}

std::optional<PoolStats> DockerBackend::pool_stats(const std::string& image) const {
  const std::scoped_lock lock(m_mutex);
  for (const auto& [runner, pool] : m_pools) {
    if (runner->image == image) {
      return pool->stats();
    }
  }
  return std::nullopt;
}

// A warm container is held to the runner's memory and pids limits; a task that asked for
// less gets a fresh container made with its own limits, so the kernel still enforces them.
Pool* DockerBackend::pool_for(const TaskSpec& spec) const {
  const auto found = m_pools.find(spec.runner);
  if (found == m_pools.end()) {
    return nullptr;
  }
  const auto& limits = spec.runner->limits;
  if (spec.limits.memory_bytes < limits.memory_bytes || spec.limits.pids < limits.pids) {
    return nullptr;
  }
  return found->second.get();
}

// Containers and state directories a crashed run of this instance left behind.
void DockerBackend::reap() {
  auto leftovers = m_engine.list_by_label(std::string(k_instance_label) + "=" + m_instance);
  if (!leftovers) {
    spdlog::warn("list leftover containers: {}", leftovers.error().message);
  } else {
    for (const auto& container : *leftovers) {
      spdlog::info("removing leftover container {}", container.id.substr(0, 12));
      if (auto removed = m_engine.remove(container.id); !removed) {
        spdlog::warn("remove container {}: {}", container.id.substr(0, 12),
                     removed.error().message);
      }
    }
  }
  std::error_code error;
  std::filesystem::remove_all(m_state_dir, error);
  if (error) {
    spdlog::warn("remove `{}`: {}", m_state_dir, error.message());
  }
}

std::optional<TaskResult> DockerBackend::precheck(const TaskSpec& spec) {
  if (spec.runner == nullptr) {
    return failed_outcome(Status::error, "no runner for the task");
  }
  // The reason itself is the diagnostic ("engine unavailable: connect `…`: …"): a task
  // is never the one to start the backend, the daemon's starter retries.
  if (auto why = m_readiness.not_ready()) {
    return failed_outcome(Status::error, *why);
  }
  const std::string& image = spec.runner->image;
  {
    const std::scoped_lock lock(m_mutex);
    if (!m_missing_images.contains(image)) {
      return std::nullopt;
    }
  }
  // It may have been built since; look again rather than trusting the first answer.
  auto exists = m_engine.image_exists(image);
  if (exists && *exists) {
    const std::scoped_lock lock(m_mutex);
    m_missing_images.erase(image);
    return std::nullopt;
  }
  return failed_outcome(Status::error, missing_image_message(image));
}

TaskResult DockerBackend::container_failure(const Error& error, const std::string& image) {
  switch (error.kind) {
    case ErrorKind::cancelled:
      return TaskResult{Status::cancelled, 130, std::nullopt, "cancelled"};
    case ErrorKind::engine:
    case ErrorKind::not_found:
      break;
    default:  // the run directory, the helper or the cgroup
      return failed_outcome(Status::error, error.message);
  }
  if (auto ping = m_engine.ping(); !ping) {
    m_sweeper.engine_lost();
    return failed_outcome(Status::error, "engine unavailable: " + ping.error().message);
  }
  if (error.kind == ErrorKind::not_found) {  // the create found no such image
    const std::scoped_lock lock(m_mutex);
    m_missing_images.insert(image);
    return failed_outcome(Status::error, missing_image_message(image));
  }
  return failed_outcome(Status::error, "engine: " + error.message);
}

TaskResult DockerBackend::run(const TaskSpec& spec, OutputSink& sink, const os::Event& cancel) {
  if (auto refused = precheck(spec)) {
    return *refused;
  }
  if (cancel.is_set()) {
    return TaskResult{Status::cancelled, 130, std::nullopt, "cancelled"};
  }
  try {
    const SigpipeBlock sigpipe;
    if (Pool* pool = pool_for(spec)) {
      return run_pooled(*pool, spec, sink, cancel);
    }
    return run_fresh(spec, sink, cancel);
  } catch (const std::exception& error) {
    spdlog::error("task {}: {}", spec.id.printable(), error.what());
    return failed_outcome(Status::error, std::string("internal error: ") + error.what());
  }
}

TaskResult DockerBackend::run_fresh(const TaskSpec& spec, OutputSink& sink,
                                    const os::Event& cancel) {
  const std::string name = "planificador-" + m_instance + "-" + std::to_string(++m_counter);
  ContainerSpec container_spec{
      spec.runner->image, m_instance,  spec.id.hex(),   m_helper, m_state_dir + "/" + name,
      *m_seccomp,         spec.limits, m_config.docker, m_cgroups};
  auto container = Container::acquire(m_engine, m_registry, container_spec, name, cancel);
  if (!container) {
    return container_failure(container.error(), spec.runner->image);
  }
  TaskResult result = run_task(*container, spec, sink, cancel, m_config.output.chunk_bytes,
                               m_config.output.flush_ms);
  // The outcome is known: the client need not wait for the removal.
  m_reaper.retire(std::move(*container));
  return result;
}

// One task on a warm container. The container goes back to the pool (which has it reset)
// only when nothing abnormal happened; anything else retires it.
TaskResult DockerBackend::run_pooled(Pool& pool, const TaskSpec& spec, OutputSink& sink,
                                     const os::Event& cancel) {
  auto leased = pool.take(cancel);
  if (!leased) {
    return run_fresh(spec, sink, cancel);
  }
  Container& container = leased->container;
  const std::uint64_t oom_before = container.cgroup().oom_kills().value_or(0);
  TaskResult result = run_task(container, spec, sink, cancel, m_config.output.chunk_bytes,
                               m_config.output.flush_ms);
  ++leased->tasks;
  // An executor failure is an anomaly: whatever caused it, the container is not trusted.
  bool reusable = !container.killed() && result.status != Status::error;
  if (auto oom = container.cgroup().oom_kills(); !oom || *oom > oom_before) {
    reusable = false;  // the OOM killer may have hit the helper itself
  }
  // The engine may still call a container running for a moment after its kill.
  if (result.status == Status::error && container.stopped_within(std::chrono::seconds(2))) {
    result.exit_code = 125;
    result.diagnostic = "sandbox container died (" + result.diagnostic + ")";
  }
  pool.give_back(std::move(leased), reusable);
  return result;
}

void DockerBackend::stop() {
  // From here on no attempt of start() runs: what the last one made is ours to undo.
  m_readiness.stop();
  m_sweeper.stop();
  for (auto& entry : m_pools) {
    entry.second->stop();
  }
  m_reaper.stop();
  for (const auto& id : m_registry.ids()) {
    if (auto removed = m_engine.remove(id); !removed) {
      spdlog::warn("remove container {}: {}", id.substr(0, 12), removed.error().message);
    }
  }
  std::error_code error;
  std::filesystem::remove_all(m_state_dir, error);
  // The staged copy of the helper goes too: every start makes a new one.
  if (!m_helper.empty()) {
    std::filesystem::remove(m_helper, error);
  }
}

}  // namespace

std::optional<PoolStats> docker_pool_stats(const Backend& backend, const std::string& image) {
  const auto* docker = dynamic_cast<const DockerBackend*>(&backend);
  if (docker == nullptr) {
    return std::nullopt;
  }
  return docker->pool_stats(image);
}

std::unique_ptr<Backend> make_docker_backend(const config::Config& config, std::string instance) {
  return std::make_unique<DockerBackend>(config, std::move(instance));
}

}  // namespace planificador::backend::docker
