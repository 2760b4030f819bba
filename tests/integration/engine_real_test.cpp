// The Engine API client against the real Docker engine, with debian:bookworm-slim.

#include <atomic>
#include <chrono>
#include <string>
#include <unistd.h>

#include "real_engine.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "planificador/backend/docker/engine_client.hpp"
#include "planificador/os/cgroup.hpp"

namespace planificador::backend::docker {
namespace {

using namespace std::chrono_literals;

constexpr const char* k_image = "debian:bookworm-slim";
constexpr const char* k_test_label = "org.planificador.test";

std::string unique_name(std::string_view what) {
  static std::atomic<int> counter{0};
  return "planificador-test-" + std::string(what) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter++);
}

class EngineRealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = test::engine_unavailable(m_client, k_image); !why.empty()) {
      PLANIFICADOR_SKIP_OUTSIDE_CI(why);
    }
  }

  // Creates (not starts) a container of k_image running `script` under sh, labelled with
  // k_test_label=`label`.
  std::string create(const std::string& script, const std::string& label, const std::string& name) {
    const nlohmann::json body = {{"Image", k_image},
                                 {"Cmd", {"sh", "-c", script}},
                                 {"Labels", {{k_test_label, label}}},
                                 {"HostConfig", {{"NetworkMode", "none"}}}};
    auto id = m_client.create(body, name);
    EXPECT_TRUE(id) << id.error().message;
    return id.value_or("");
  }

  EngineClient m_client{test::engine_socket(), 60s};
};

TEST_F(EngineRealTest, PingAnswers) {
  auto ping = m_client.ping();
  EXPECT_TRUE(ping) << ping.error().message;
}

TEST_F(EngineRealTest, ImageExistsTellsPresentFromMissing) {
  auto present = m_client.image_exists(k_image);
  ASSERT_TRUE(present) << present.error().message;
  EXPECT_TRUE(*present);
  auto missing = m_client.image_exists("planificador/no-such-image:never");
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_FALSE(*missing);
}

TEST_F(EngineRealTest, CreateWithMissingImageSurfacesTheEngineMessage) {
  auto id = m_client.create({{"Image", "planificador/no-such-image:never"}});
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().message.rfind("POST /containers/create: 404: ", 0), 0U)
      << id.error().message;
  EXPECT_EQ(id.error().kind, ErrorKind::not_found);
  EXPECT_NE(id.error().message.find("planificador/no-such-image"), std::string::npos)
      << id.error().message;
}

TEST_F(EngineRealTest, ContainerLifecycle) {
  const std::string label = unique_name("lifecycle");
  const std::string name = unique_name("run");
  const std::string id = create("echo out; echo err >&2; echo more; exit 7", label, name);
  ASSERT_FALSE(id.empty());
  test::ContainerGuard guard(m_client, id);

  auto listed = m_client.list_by_label(std::string(k_test_label) + "=" + label);
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_EQ((*listed)[0].id, id);
  EXPECT_EQ((*listed)[0].state, "created");
  EXPECT_EQ((*listed)[0].names, std::vector<std::string>{"/" + name});
  EXPECT_EQ((*listed)[0].labels.at(k_test_label), label);

  ASSERT_TRUE(m_client.start(id));
  auto code = m_client.wait(id);
  ASSERT_TRUE(code) << code.error().message;
  EXPECT_EQ(*code, 7);

  auto logs = m_client.logs(id);
  ASSERT_TRUE(logs) << logs.error().message;
  EXPECT_EQ(logs->out, "out\nmore\n");
  EXPECT_EQ(logs->err, "err\n");

  auto info = m_client.inspect(id);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ((*info)["State"]["ExitCode"], 7);
  EXPECT_EQ((*info)["Config"]["Labels"][k_test_label], label);

  auto other = m_client.list_by_label(std::string(k_test_label) + "=" + label + "-other");
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_TRUE(other->empty());

  ASSERT_TRUE(m_client.remove(id));
  auto gone = m_client.inspect(id);
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message.find(": 404: "), std::string::npos) << gone.error().message;
  EXPECT_TRUE(m_client.remove(id)) << "removing a removed container is not an error";
}

TEST_F(EngineRealTest, KillStopsARunningContainer) {
  const std::string id = create("exec sleep 100", unique_name("kill"), unique_name("sleep"));
  ASSERT_FALSE(id.empty());
  test::ContainerGuard guard(m_client, id);
  ASSERT_TRUE(m_client.start(id));
  auto running = m_client.inspect(id);
  ASSERT_TRUE(running) << running.error().message;
  EXPECT_EQ((*running)["State"]["Running"], true);

  const auto start = std::chrono::steady_clock::now();
  auto killed = m_client.kill(id);
  ASSERT_TRUE(killed) << killed.error().message;
  auto code = m_client.wait(id, 30s);
  ASSERT_TRUE(code) << code.error().message;
  EXPECT_EQ(*code, 128 + 9);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);

  EXPECT_TRUE(m_client.kill(id)) << "killing a stopped container is not an error";
}

// A daemon in a container of its own (a Swarm service) does not see the host's PIDs: the
// container's cgroup must be found from its id and the engine's layout alone, and be the
// same one /proc/<pid>/cgroup names.
TEST_F(EngineRealTest, ContainerCgroupFromItsIdMatchesItsProcess) {
  const auto id = create("sleep 30", "cgroup", unique_name("cgroup"));
  test::ContainerGuard guard(m_client, id);
  ASSERT_TRUE(m_client.start(id));
  const auto info = m_client.info();
  ASSERT_TRUE(info) << info.error().message;
  const auto inspected = m_client.inspect(id);
  ASSERT_TRUE(inspected) << inspected.error().message;
  const auto pid = inspected->value(nlohmann::json::json_pointer("/State/Pid"), 0);
  const auto parent =
      inspected->value(nlohmann::json::json_pointer("/HostConfig/CgroupParent"), std::string());

  const auto by_id = os::Cgroup::of_container(id, 0, parent, info->cgroups);
  ASSERT_TRUE(by_id) << by_id.error().message;
  const auto by_pid = os::Cgroup::of_process(pid);
  ASSERT_TRUE(by_pid) << by_pid.error().message;
  EXPECT_EQ(by_id->paths(), by_pid->paths());
  const auto cpu = by_id->cpu_usage_ns();
  EXPECT_TRUE(cpu) << cpu.error().message;
  // A pid the engine reports that is another process here (here: our own) is not taken.
  const auto wrong_pid = os::Cgroup::of_container(id, ::getpid(), parent, info->cgroups);
  ASSERT_TRUE(wrong_pid) << wrong_pid.error().message;
  EXPECT_EQ(wrong_pid->paths(), by_pid->paths());
  (void)m_client.kill(id);
}

}  // namespace
}  // namespace planificador::backend::docker
