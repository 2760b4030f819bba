// Which OCI runtimes the backend accepts for task containers.
#include "planificador/backend/docker/runtime_check.hpp"

#include <gtest/gtest.h>

namespace planificador::backend::docker {
namespace {

// As a Docker engine with gVisor registered reports them (GET /info).
EngineRuntimes with_gvisor(std::string default_name = "runc") {
  return {std::move(default_name), {{"runc", "runc"}, {"runsc", "/usr/bin/runsc"}}};
}

TEST(RuntimeCheck, TheDefaultAndRuncAreAccepted) {
  EXPECT_TRUE(check_runtime("", with_gvisor()));
  EXPECT_TRUE(check_runtime("runc", with_gvisor()));
  EXPECT_TRUE(check_runtime("crun", {"runc", {{"runc", "runc"}, {"crun", "/usr/bin/crun"}}}));
}

TEST(RuntimeCheck, AnUnknownRuntimeIsNamedWithTheKnownOnes) {
  const auto checked = check_runtime("kata", with_gvisor());
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().message,
            "docker.runtime `kata` is not one of the engine's runtimes (runc, runsc)");
}

TEST(RuntimeCheck, GvisorIsRefusedWhetherChosenOrTheDefault) {
  const auto chosen = check_runtime("runsc", with_gvisor());
  ASSERT_FALSE(chosen);
  EXPECT_TRUE(
      chosen.error().message.starts_with("docker.runtime `runsc` is gVisor, under which "
                                         "the sandbox cannot start"))
      << chosen.error().message;
  const auto by_default = check_runtime("", with_gvisor("runsc"));
  ASSERT_FALSE(by_default);
  EXPECT_TRUE(
      by_default.error().message.starts_with("the engine's default runtime `runsc` is "
                                             "gVisor"))
      << by_default.error().message;
  // Known by its binary under another name.
  EXPECT_FALSE(check_runtime("sandboxed", {"runc", {{"sandboxed", "/opt/gvisor/runsc"}}}));
}

TEST(RuntimeCheck, AnEngineThatListsNoRuntimesIsTrustedWithItsDefault) {
  EXPECT_TRUE(check_runtime("", {}));
  EXPECT_FALSE(check_runtime("runc", {}));
}

}  // namespace
}  // namespace planificador::backend::docker
