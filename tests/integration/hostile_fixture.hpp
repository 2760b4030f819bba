#pragma once
// The fixture of the hostile suite (hostile_*_test.cpp): tiny hostile programs from
// tests/hostile/ run through the real Docker backend, each attack in three configurations
// of it, since each reuses containers differently and so leaks differently:
//   fresh  - pool 0, a new container per task;
//   strict - a warm pool, a fresh Bubblewrap sandbox per task;
//   fast   - a warm pool, one prepared sandbox per container and a fork per task (until
//            that lands, the backend runs such runners strict with a warning).
// Each mode is its own test suite (Fresh/…, Strict/…, Fast/…), so one mode's backend and
// warm containers exist at a time and are removed when its suite ends.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <thread>

#include "docker_harness.hpp"
#include "host_probe.hpp"
#include <gtest/gtest.h>

namespace planificador::testing {

// The three configurations every attack runs in (see the top of this file).
enum class PoolMode { fresh, strict, fast };

// Returns "fresh", "strict" or "fast".
inline std::string to_string(PoolMode mode) {
  switch (mode) {
    case PoolMode::fresh:
      return "fresh";
    case PoolMode::strict:
      return "strict";
    case PoolMode::fast:
      return "fast";
  }
  return "unknown";
}

// The test-name suffix of a mode (…/fresh, …/strict, …/fast).
inline std::string mode_name(const ::testing::TestParamInfo<PoolMode>& info) {
  return to_string(info.param);
}

// How GoogleTest prints a mode (in failure messages and the XML output); the name is the
// one GoogleTest looks up.
inline void PrintTo(PoolMode mode, std::ostream* out) {  // NOLINT(readability-identifier-naming)
  *out << to_string(mode);
}

// Returns hostile program tests/hostile/`name`.
inline std::string hostile_program(const std::string& name) {
  return read_source_file(std::string(PLANIFICADOR_SOURCE_DIR) + "/tests/hostile/" + name);
}

class HostileTest : public ::testing::TestWithParam<PoolMode> {
 public:
  // The mode's backend goes with its suite: its warm containers are removed here.
  static void TearDownTestSuite() { harnesses().clear(); }

 protected:
  void SetUp() override { PLANIFICADOR_REQUIRE_DOCKER(harness()); }

  void TearDown() override {
    if (!harness().missing().empty()) {
      return;
    }
    EXPECT_TRUE(harness().leftovers().empty()) << "a task container of this test remains";
    if (pooled()) {
      std::size_t capacity = 0;
      for (const auto& runner : harness().config().runners) {
        capacity += runner.pool;
      }
      // A retired container is removed in the background, after its replacement is made:
      // for a moment there may be one more, and until the replacement exists one fewer
      // may be counted while the retired one is still there. Settled means every pool is
      // full again and nothing beyond the pools is left.
      const auto settled = [&] {
        for (const auto& runner : harness().config().runners) {
          const auto stats = harness().pool_stats(runner.image);
          if (runner.pool > 0 && (!stats || stats->idle < runner.pool)) {
            return false;
          }
        }
        return harness().containers().size() <= capacity;
      };
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (!settled() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      EXPECT_LE(harness().containers().size(), capacity) << "more warm containers than pooled";
    }
    // The backend still serves a plain task after the attack.
    const auto next = harness().run("bash", "echo healthy\n");
    EXPECT_EQ(next.out, "healthy\n") << next.result.diagnostic << next.err;
  }

  // Edits the configuration shared by the three modes (limits of the runners a theme
  // uses). The mode's pool and isolation are applied after it.
  virtual void configure(config::Config& config) const { (void)config; }

  // Warm containers kept for `runner` in the pooled modes.
  [[nodiscard]] virtual std::size_t pool_size(const config::Runner& runner) const {
    (void)runner;
    return 1;
  }

  [[nodiscard]] PoolMode mode() const { return GetParam(); }
  [[nodiscard]] bool pooled() const { return mode() != PoolMode::fresh; }

  DockerHarness& harness() {
    auto& slot = harnesses()[mode()];
    if (!slot) {
      slot =
          std::make_unique<DockerHarness>(PLANIFICADOR_SOURCE_DIR, PLANIFICADOR_BINARY_DIR,
                                          [this](config::Config& config) { apply_mode(config); });
    }
    return *slot;
  }

  // Runs hostile program `program` on the runner matching `image`. In the pooled modes it
  // first waits for the runner's pool to be full, and checks that a warm container (not
  // a fallback fresh one) served the task: otherwise the mode would not be tested.
  Outcome attack(const std::string& image, const std::string& program,
                 protocol::TaskOptions options = {},
                 const std::function<void(config::Limits&)>& adjust = {}) {
    return run_code(image, hostile_program(program), std::move(options), adjust);
  }

  // attack() for code given inline rather than as a file of tests/hostile/.
  Outcome run_code(const std::string& image, const std::string& code,
                   protocol::TaskOptions options = {},
                   const std::function<void(config::Limits&)>& adjust = {}) {
    const std::string docker_image = runner_image(image);
    std::size_t served = 0;
    if (pooled()) {
      EXPECT_TRUE(wait_for_full_pool(docker_image)) << "the pool of " << image << " never filled";
      served = harness().pool_stats(docker_image).value_or(backend::docker::PoolStats{}).served;
    }
    auto outcome = harness().run(image, code, std::move(options), adjust);
    if (pooled()) {
      const auto after = harness().pool_stats(docker_image).value_or(backend::docker::PoolStats{});
      EXPECT_GT(after.served, served) << "a fresh container served the task, not the pool";
    }
    return outcome;
  }

  // Waits until every warm container of the runner of `docker_image` is idle (the one a
  // retired container left is replaced); false after 60 s.
  bool wait_for_full_pool(const std::string& docker_image) {
    std::size_t size = 0;
    for (const auto& runner : harness().config().runners) {
      if (runner.image == docker_image) {
        size = runner.pool;
        break;
      }
    }
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      const auto stats = harness().pool_stats(docker_image);
      if (stats && stats->idle >= size) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  [[nodiscard]] std::string runner_image(const std::string& image) {
    const auto* runner = config::match_runner(harness().config(), image);
    return runner != nullptr ? runner->image : std::string();
  }

 private:
  static std::map<PoolMode, std::unique_ptr<DockerHarness>>& harnesses() {
    static std::map<PoolMode, std::unique_ptr<DockerHarness>> instances;
    return instances;
  }

  void apply_mode(config::Config& config) const {
    configure(config);
    config.server.pool = pooled() ? 1 : 0;
    for (auto& runner : config.runners) {
      runner.pool = pooled() ? pool_size(runner) : 0;
      runner.isolation =
          mode() == PoolMode::fast ? config::Isolation::fast : config::Isolation::strict;
    }
  }
};

// Runs every test of `suite` (a HostileTest) in the three modes, one test suite each.
#define PLANIFICADOR_HOSTILE_MODES(suite)                                                  \
  INSTANTIATE_TEST_SUITE_P(Fresh, suite, ::testing::Values(PoolMode::fresh), mode_name);   \
  INSTANTIATE_TEST_SUITE_P(Strict, suite, ::testing::Values(PoolMode::strict), mode_name); \
  INSTANTIATE_TEST_SUITE_P(Fast, suite, ::testing::Values(PoolMode::fast), mode_name)

// The diagnostic-and-figures description of an outcome, for failure messages.
inline std::string describe(const Outcome& outcome) {
  std::string text = std::string(protocol::to_string(outcome.result.status)) + " " +
                     std::to_string(outcome.result.exit_code);
  if (!outcome.result.diagnostic.empty()) {
    text += " (" + outcome.result.diagnostic + ")";
  }
  text += "\nstdout: " + outcome.out.substr(0, 2000) + "\nstderr: " + outcome.err.substr(0, 2000);
  return text;
}

}  // namespace planificador::testing
