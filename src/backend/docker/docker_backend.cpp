#include "planificador/backend/docker/docker_backend.hpp"

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "planificador/backend/docker/container.hpp"
#include "planificador/backend/docker/engine_client.hpp"
#include "planificador/backend/docker/outcome.hpp"
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
        m_helper(resolve_helper(config.docker)),
        m_seccomp(resolve_seccomp(config.docker)),
        m_state_dir(config.server.state_dir + "/" + m_instance) {}

  ~DockerBackend() override { stop(); }

  Result<void> start() override;
  TaskResult run(const TaskSpec& spec, OutputSink& sink, const os::Event& cancel) override;
  void stop() override;

 private:
  std::optional<TaskResult> precheck(const TaskSpec& spec);
  TaskResult container_failure(const ContainerError& error, const std::string& image);
  void reap();

  const config::Config& m_config;
  std::string m_instance;
  EngineClient m_engine;
  Result<std::string> m_helper;
  Result<std::string> m_seccomp;
  std::string m_state_dir;
  ContainerRegistry m_registry;
  std::atomic<std::uint64_t> m_counter{0};
  std::atomic<bool> m_stopping{false};
  std::mutex m_mutex;
  std::set<std::string> m_missing_images;
};

Result<void> DockerBackend::start() {
  if (!m_helper) {
    return tl::unexpected(m_helper.error());
  }
  if (!m_seccomp) {
    return tl::unexpected(m_seccomp.error());
  }
  if (auto ping = m_engine.ping(); !ping) {
    return fail("engine unavailable: " + ping.error().message);
  }
  reap();
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
  return {};
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
  if (m_stopping) {
    return failed_outcome(Status::error, "shutting down");
  }
  if (!m_helper) {
    return failed_outcome(Status::error, m_helper.error().message);
  }
  if (!m_seccomp) {
    return failed_outcome(Status::error, m_seccomp.error().message);
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

TaskResult DockerBackend::container_failure(const ContainerError& error, const std::string& image) {
  switch (error.kind) {
    case ContainerFailure::cancelled:
      return TaskResult{Status::cancelled, 130, std::nullopt, "cancelled"};
    case ContainerFailure::helper:
      return failed_outcome(Status::error, error.message);
    case ContainerFailure::engine:
      break;
  }
  if (auto ping = m_engine.ping(); !ping) {
    return failed_outcome(Status::error, "engine unavailable: " + ping.error().message);
  }
  if (error.message.find("No such image") != std::string::npos) {
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
    const std::string name = "planificador-" + m_instance + "-" + std::to_string(++m_counter);
    ContainerSpec container_spec{
        spec.runner->image,       m_instance, spec.id.hex(), *m_helper,
        m_state_dir + "/" + name, *m_seccomp, spec.limits,   m_config.docker};
    auto container = Container::acquire(m_engine, m_registry, container_spec, name, cancel);
    if (!container) {
      return container_failure(container.error(), spec.runner->image);
    }
    return run_task(*container, spec, sink, cancel, m_config.output.chunk_bytes);
  } catch (const std::exception& error) {
    spdlog::error("task {}: {}", spec.id.printable(), error.what());
    return failed_outcome(Status::error, std::string("internal error: ") + error.what());
  }
}

void DockerBackend::stop() {
  m_stopping = true;
  for (const auto& id : m_registry.ids()) {
    if (auto removed = m_engine.remove(id); !removed) {
      spdlog::warn("remove container {}: {}", id.substr(0, 12), removed.error().message);
    }
  }
  std::error_code error;
  std::filesystem::remove_all(m_state_dir, error);
}

}  // namespace

std::unique_ptr<Backend> make_docker_backend(const config::Config& config, std::string instance) {
  return std::make_unique<DockerBackend>(config, std::move(instance));
}

}  // namespace planificador::backend::docker
