#include "docker_harness.hpp"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string_view>
#include <unistd.h>

#include "wait.hpp"

#include "planificador/backend/docker/docker_backend.hpp"

namespace planificador::testing {

void RecordingSink::output(protocol::Stream stream, std::string_view bytes) {
  const std::scoped_lock lock(m_mutex);
  m_chunks.push_back(Chunk{stream, std::string(bytes), Clock::now()});
}

std::vector<Chunk> RecordingSink::chunks() const {
  const std::scoped_lock lock(m_mutex);
  return m_chunks;
}

namespace {

// How long a container removed behind its task's outcome may take to be gone.
constexpr std::chrono::milliseconds k_removal_bound{30000};

std::string unique_instance() {
  std::random_device random;
  std::ostringstream name;
  name << "it" << ::getpid() << "-" << std::hex << (random() & 0xffffU);
  return name.str();
}

}  // namespace

std::string test_helper(const std::string& binary_dir) {
  const char* helper = std::getenv("PLANIFICADOR_HELPER");
  return helper != nullptr && *helper != '\0' ? std::string(helper)
                                              : binary_dir + "/bin/planificador-sandboxd";
}

DockerHarness::DockerHarness(const std::string& source_dir, const std::string& binary_dir)
    : DockerHarness(source_dir, binary_dir, {}) {}

DockerHarness::DockerHarness(const std::string& source_dir, const std::string& binary_dir,
                             const std::function<void(config::Config&)>& adjust)
    : m_instance(unique_instance()) {
  auto loaded = config::load(source_dir + "/config.toml");
  if (!loaded) {
    m_missing = "config.toml: " + loaded.error().message;
    return;
  }
  m_config = std::move(*loaded);
  m_config.docker.helper = test_helper(binary_dir);
  m_config.server.state_dir = "/tmp/planificador-it";
  // ctest runs the execution suites once per isolation mode (tests/CMakeLists.txt).
  if (const char* mode = std::getenv("PLANIFICADOR_TEST_ISOLATION");
      mode != nullptr && std::string_view(mode) == "fast") {
    for (auto& runner : m_config.runners) {
      runner.isolation = config::Isolation::fast;
    }
  }
  if (adjust) {
    adjust(m_config);
  }
  m_engine = std::make_unique<backend::docker::EngineClient>(m_config.docker.socket);
  if (::access(m_config.docker.helper.c_str(), X_OK) != 0) {
    m_missing = "helper " + m_config.docker.helper + " (build planificador-sandboxd)";
    return;
  }
  if (auto ping = m_engine->ping(); !ping) {
    m_missing = "Docker engine: " + ping.error().message + " (run scripts/engine.sh)";
    return;
  }
  std::set<std::string> images;
  for (const auto& runner : m_config.runners) {
    images.insert(runner.image);
  }
  for (const auto& image : images) {
    auto exists = m_engine->image_exists(image);
    if (!exists || !*exists) {
      m_missing += (m_missing.empty() ? "image " : ", image ") + image;
    }
  }
  if (!m_missing.empty()) {
    m_missing += " (run scripts/images.sh)";
    return;
  }
  m_backend = backend::docker::make_docker_backend(m_config, m_instance);
  if (auto started = m_backend->start(); !started) {
    m_missing = "backend start: " + started.error().message;
  }
}

DockerHarness::~DockerHarness() {
  if (m_backend) {
    m_backend->stop();
  }
}

Outcome DockerHarness::run(const std::string& image, const std::string& code,
                           protocol::TaskOptions options,
                           const std::function<void(config::Limits&)>& adjust,
                           const os::Event* cancel, RecordingSink* live) {
  backend::TaskSpec spec;
  static std::atomic<std::uint64_t> counter = 0;
  const std::string id = "task-" + std::to_string(++counter);
  std::copy(id.begin(), id.end(), spec.id.bytes.begin());
  spec.runner = config::match_runner(m_config, image);
  spec.code = code;
  spec.options = std::move(options);
  if (spec.runner != nullptr) {
    spec.limits = spec.runner->limits;
  }
  if (adjust) {
    adjust(spec.limits);
  }
  RecordingSink own;
  RecordingSink& sink = live != nullptr ? *live : own;
  const os::Event never;
  Outcome outcome;
  outcome.started = Clock::now();
  outcome.result = m_backend->run(spec, sink, cancel != nullptr ? *cancel : never);
  outcome.returned = Clock::now();
  outcome.chunks = sink.chunks();
  for (const auto& chunk : outcome.chunks) {
    (chunk.stream == protocol::Stream::out ? outcome.out : outcome.err) += chunk.bytes;
  }
  return outcome;
}

std::vector<backend::docker::ContainerSummary> DockerHarness::leftovers() const {
  std::vector<backend::docker::ContainerSummary> left;
  auto list = [&] {
    left.clear();
    auto listed = m_engine->list_by_label("org.planificador.instance=" + m_instance);
    if (!listed) {
      return true;  // the engine does not answer: nothing to report here
    }
    for (auto& container : *listed) {
      // A runner's warm pool keeps its containers between tasks by design; stop() removes
      // them (checked by the pool tests).
      const auto task = container.labels.find("org.planificador.task");
      if (task == container.labels.end() || task->second != "pool") {
        left.push_back(std::move(container));
      }
    }
    return left.empty();
  };
  // A fresh container is removed behind its task's outcome (ContainerReaper): what counts is
  // that it goes, within a bound.
  (void)wait_until(list, k_removal_bound, std::chrono::milliseconds(50));
  return left;
}

std::vector<backend::docker::ContainerSummary> DockerHarness::containers() const {
  if (!m_engine) {
    return {};
  }
  auto listed = m_engine->list_by_label("org.planificador.instance=" + m_instance);
  return listed ? std::move(*listed) : std::vector<backend::docker::ContainerSummary>{};
}

std::optional<backend::docker::PoolStats> DockerHarness::pool_stats(
    const std::string& docker_image) const {
  if (!m_backend) {
    return std::nullopt;
  }
  return backend::docker::docker_pool_stats(*m_backend, docker_image);
}

std::string read_source_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace planificador::testing
