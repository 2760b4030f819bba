#pragma once
// Runs tasks through the real Docker backend (real engine, runner images, helper) and
// records what comes out, for the integration tests.

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "skip.hpp"
#include <gtest/gtest.h>

#include "planificador/backend/backend.hpp"
#include "planificador/backend/docker/engine_client.hpp"
#include "planificador/backend/docker/pool.hpp"
#include "planificador/config/config.hpp"

namespace planificador::testing {

using Clock = std::chrono::steady_clock;

struct Chunk {
  protocol::Stream stream;
  std::string bytes;
  Clock::time_point at;
};

// An OutputSink that keeps every chunk with the time it arrived.
class RecordingSink final : public backend::OutputSink {
 public:
  void output(protocol::Stream stream, std::string_view bytes) override;
  [[nodiscard]] std::vector<Chunk> chunks() const;

 private:
  mutable std::mutex m_mutex;
  std::vector<Chunk> m_chunks;
};

struct Outcome {
  backend::TaskResult result;
  std::vector<Chunk> chunks;
  std::string out;
  std::string err;
  Clock::time_point started;
  Clock::time_point returned;
  [[nodiscard]] std::chrono::milliseconds elapsed() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(returned - started);
  }
};

// Returns the helper the tests' containers run: $PLANIFICADOR_HELPER when set (a sanitizer
// build's own helper is not static and would not start inside a runner image), else
// `binary_dir`/bin/planificador-sandboxd.
[[nodiscard]] std::string test_helper(const std::string& binary_dir);

class DockerHarness {
 public:
  // Loads `source_dir`/config.toml, with the helper from `binary_dir`/bin and a private
  // state directory; the instance name is unique to this process.
  DockerHarness(const std::string& source_dir, const std::string& binary_dir);
  // The same, then `adjust` edits the loaded configuration (pool sizes, isolation, runner
  // limits) before the backend is made from it.
  DockerHarness(const std::string& source_dir, const std::string& binary_dir,
                const std::function<void(config::Config&)>& adjust);
  DockerHarness(const DockerHarness&) = delete;
  DockerHarness& operator=(const DockerHarness&) = delete;
  ~DockerHarness();

  // Returns what is missing for real runs (engine, helper, images), or "" when ready.
  [[nodiscard]] const std::string& missing() const { return m_missing; }

  // Runs `code` on the runner matching `image`; `adjust` may lower the limits. Safe to call
  // from several threads at once (tasks then run concurrently). `live`, when given, receives
  // the output as it comes, for a test that waits on it from another thread.
  Outcome run(const std::string& image, const std::string& code, protocol::TaskOptions options = {},
              const std::function<void(config::Limits&)>& adjust = {},
              const os::Event* cancel = nullptr, RecordingSink* live = nullptr);

  // Returns the containers that still carry this harness's instance label, apart from
  // those a runner's warm pool keeps (label org.planificador.task=pool).
  [[nodiscard]] std::vector<backend::docker::ContainerSummary> leftovers() const;

  // Returns every container that carries this harness's instance label, warm ones included.
  [[nodiscard]] std::vector<backend::docker::ContainerSummary> containers() const;

  // Returns the warm-pool counters of the runner whose Docker image is `docker_image`, or
  // nullopt when that runner has no pool.
  [[nodiscard]] std::optional<backend::docker::PoolStats> pool_stats(
      const std::string& docker_image) const;

  [[nodiscard]] const std::string& instance() const { return m_instance; }
  [[nodiscard]] config::Config& config() { return m_config; }
  [[nodiscard]] backend::Backend& backend() { return *m_backend; }

 private:
  std::string m_instance;
  config::Config m_config;
  std::string m_missing;
  std::unique_ptr<backend::docker::EngineClient> m_engine;
  std::unique_ptr<backend::Backend> m_backend;
};

// Reads a file of the source tree (a hostile program).
[[nodiscard]] std::string read_source_file(const std::string& path);

}  // namespace planificador::testing

// Skips the test when the real engine, images or helper are missing; under CI it fails.
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define PLANIFICADOR_REQUIRE_DOCKER(harness) \
  PLANIFICADOR_REQUIRE_NOTHING_MISSING((harness).missing())
