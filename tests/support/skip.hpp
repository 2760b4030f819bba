#pragma once
// The one way a test skips for something it needs (an engine, an image, a built binary,
// root): with the reason, except under CI ($CI set), where the missing thing is a failure,
// so a green CI run cannot hide a missing install step. A test that does not apply to a
// host's layout (a cgroup hierarchy it lacks) uses GTEST_SKIP() itself.

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

namespace planificador::testing {

// True when $CI is set and not empty.
[[nodiscard]] inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && *ci != '\0';
}

}  // namespace planificador::testing

// Skips the current test with `reason`, or fails it under CI. For a test body or SetUp().
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define PLANIFICADOR_SKIP_OUTSIDE_CI(reason)                             \
  do {                                                                   \
    if (::planificador::testing::in_ci()) {                              \
      FAIL() << (reason) << " (CI is set, so this is a failure)";        \
    }                                                                    \
    GTEST_SKIP() << (reason) << " (set CI to turn this into a failure)"; \
  } while (false)

// Skips (or, under CI, fails) unless `missing`, a description of what is missing, is empty.
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define PLANIFICADOR_REQUIRE_NOTHING_MISSING(missing)                          \
  do {                                                                         \
    const std::string planificador_missing_ = (missing);                       \
    if (!planificador_missing_.empty()) {                                      \
      PLANIFICADOR_SKIP_OUTSIDE_CI("not available: " + planificador_missing_); \
    }                                                                          \
  } while (false)
