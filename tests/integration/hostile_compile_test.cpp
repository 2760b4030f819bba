// Compile-time bombs: source that attacks the compiler rather than running anything. The
// compile step runs in the task's sandbox under the task's memory and CPU limits and the
// runner's compile time limit, so each bomb ends at one of them with a defined outcome,
// and the program never runs.
//
// Each bomb is aimed at one limit and kept far from the others, measured in the same
// clock: memory grows with the compiler's CPU time, so a memory bomb is given a long wall
// limit (a loaded machine stretches wall time, not CPU time), and the wall-time bomb uses
// neither CPU nor memory. The template explosion alone may end at either of two limits
// (see there).

#include "hostile_fixture.hpp"

namespace planificador::testing {
namespace {

using protocol::Status;
using namespace std::chrono_literals;

constexpr std::uint64_t k_cpp_memory = std::uint64_t{128} << 20;
constexpr std::uint64_t k_cpp_cpu_ms = 5000;
constexpr std::uint64_t k_compile_ms = 2000;
constexpr std::uint64_t k_include_bomb_cpu_ms = 1000;
// A test-only copy of the C runner with a short compile time limit. Its image is named
// with an explicit tag (the same image) so that its warm pool is told apart from the C
// runner's, which the pool counters look up by image name.
constexpr const char* k_short_compile_runner = "c-short-compile";

class HostileCompile : public HostileTest {
 protected:
  // The C++ runner gets a small memory limit, reached within ~2 s of compiler CPU time,
  // and a CPU limit that bounds a thrashing compile (see the template explosion) sooner.
  void configure(config::Config& config) const override {
    config::Runner short_compile;
    for (auto& runner : config.runners) {
      if (runner.image == "planificador/cpp") {
        runner.limits.memory_bytes = k_cpp_memory;
        runner.limits.cpu_ms = k_cpp_cpu_ms;
      } else if (runner.image == "planificador/c") {
        short_compile = runner;
      }
    }
    short_compile.match = {k_short_compile_runner};
    short_compile.image += ":latest";
    short_compile.compile_wall_ms = k_compile_ms;
    config.runners.push_back(short_compile);
  }

  void expect_memory_limit(const std::string& image, const std::string& program) {
    const auto* runner = config::match_runner(harness().config(), image);
    ASSERT_NE(runner, nullptr);
    const auto outcome = attack(image, program);
    EXPECT_EQ(outcome.result.status, Status::memory_limit) << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 137);
    EXPECT_EQ(outcome.result.diagnostic,
              "memory limit of " + std::to_string(runner->limits.memory_bytes) + " bytes exceeded");
    EXPECT_TRUE(outcome.out.empty()) << "the program ran: " << outcome.out;
    EXPECT_LT(outcome.elapsed(), 40s);
  }
};

// The compiler's anonymous memory grows until only its own code pages are left to reclaim;
// from there the kernel either kills it at once or lets it thrash on those pages, burning
// CPU time, until the CPU limit runs out. Either way the memory limit ended it: the daemon
// tells thrashing from a busy program by the memory pinned at its limit after many hits.
TEST_P(HostileCompile, CppTemplateExplosionEndsAtTheMemoryLimit) {
  const auto outcome = attack("cpp", "template_explosion.cpp");
  EXPECT_EQ(outcome.result.status, Status::memory_limit) << describe(outcome);
  EXPECT_EQ(outcome.result.exit_code, 137);
  EXPECT_EQ(outcome.result.diagnostic,
            "memory limit of " + std::to_string(k_cpp_memory) + " bytes exceeded");
  EXPECT_TRUE(outcome.out.empty()) << "the program ran: " << outcome.out;
  EXPECT_LT(outcome.elapsed(), 30s);
}

TEST_P(HostileCompile, IncludeDevZeroEndsAtTheMemoryLimit) {
  expect_memory_limit("c", "include_dev_zero.c");
}

// At its CPU limit the include bomb holds well under half the memory limit (about 70 of
// 256 MB here), so the CPU limit ends it.
TEST_P(HostileCompile, IncludeBombEndsAtTheCpuLimit) {
  const auto outcome = attack("c", "include_bomb.c", {},
                              [](auto& limits) { limits.cpu_ms = k_include_bomb_cpu_ms; });
  EXPECT_EQ(outcome.result.status, Status::cpu_limit) << describe(outcome);
  EXPECT_EQ(outcome.result.exit_code, 152);
  EXPECT_EQ(outcome.result.diagnostic,
            "CPU time limit of " + std::to_string(k_include_bomb_cpu_ms) + " ms exceeded");
  EXPECT_TRUE(outcome.out.empty()) << "the program ran: " << outcome.out;
  EXPECT_LT(outcome.elapsed(), 30s);
}

TEST_P(HostileCompile, IncludeOfItsOwnOutputEndsAtTheCompileTimeLimit) {
  const auto outcome = attack(k_short_compile_runner, "include_own_output.c");
  EXPECT_EQ(outcome.result.status, Status::time_limit) << describe(outcome);
  EXPECT_EQ(outcome.result.exit_code, 124);
  EXPECT_EQ(outcome.result.diagnostic,
            "time limit of " + std::to_string(k_compile_ms) + " ms exceeded");
  EXPECT_TRUE(outcome.out.empty()) << "the program ran: " << outcome.out;
  EXPECT_LE(outcome.result.cpu_ms, 500U) << "it was meant to wait, not to compute";
  EXPECT_LT(outcome.elapsed(), 15s);
}

PLANIFICADOR_HOSTILE_MODES(HostileCompile);

}  // namespace
}  // namespace planificador::testing
