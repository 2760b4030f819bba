#include "planificador/backend/docker/container_spec.hpp"

#include <algorithm>

#include <gtest/gtest.h>

namespace planificador::backend::docker {
namespace {

constexpr std::uint32_t k_uid = 1000123;

ContainerSpec sample_spec() {
  ContainerSpec spec;
  spec.image = "planificador/python";
  spec.instance = "host-a";
  spec.task = std::string(64, 'a');
  spec.helper_path = "/opt/planificador/bin/planificador-sandboxd";
  spec.run_dir = "/run/planificador/host-a/planificador-host-a-7";
  spec.seccomp_json = R"({"defaultAction":"SCMP_ACT_ERRNO"})";
  spec.limits.memory_bytes = std::uint64_t{64} << 20;
  spec.limits.pids = 32;
  spec.docker.cpus = 1.5;
  spec.docker.work_bytes = std::uint64_t{32} << 20;
  return spec;
}

bool contains(const nlohmann::json& array, const std::string& value) {
  return std::find(array.begin(), array.end(), value) != array.end();
}

TEST(ContainerCreateBody, RunsTheHelperAsAnUnprivilegedUser) {
  const auto body = container_create_body(sample_spec(), k_uid);
  EXPECT_EQ(body["Image"], "planificador/python");
  EXPECT_EQ(body["Entrypoint"], nlohmann::json::array({"/planificador/sandboxd"}));
  EXPECT_EQ(body["User"], "1000123:1000123");
  EXPECT_EQ(body["Hostname"], "sandbox");
  EXPECT_EQ(body["Labels"]["org.planificador.instance"], "host-a");
  EXPECT_EQ(body["Labels"]["org.planificador.task"], std::string(64, 'a'));
}

TEST(ContainerCreateBody, HasNoNetwork) {
  const auto body = container_create_body(sample_spec(), k_uid);
  EXPECT_EQ(body["NetworkDisabled"], true);
  EXPECT_EQ(body["HostConfig"]["NetworkMode"], "none");
}

TEST(ContainerCreateBody, BindsTheHelperReadOnlyAndTheRunDirectory) {
  const auto host = container_create_body(sample_spec(), k_uid)["HostConfig"];
  EXPECT_EQ(host["Binds"],
            nlohmann::json::array(
                {"/opt/planificador/bin/planificador-sandboxd:/planificador/sandboxd:ro",
                 "/run/planificador/host-a/planificador-host-a-7:/planificador/run:rw"}));
  EXPECT_EQ(host["ReadonlyRootfs"], true);
  EXPECT_EQ(host["Tmpfs"]["/sandbox"],
            "rw,exec,nosuid,nodev,size=33554432,uid=1000123,gid=1000123,mode=0700");
  EXPECT_TRUE(host["Tmpfs"].contains("/tmp"));
}

TEST(ContainerCreateBody, NamesTheContainerSandbox) {
  EXPECT_EQ(container_create_body(sample_spec(), k_uid)["Hostname"], "sandbox");
}

TEST(ContainerCreateBody, LimitsLeaveHeadroomOnlyForTheHelper) {
  const auto host = container_create_body(sample_spec(), k_uid)["HostConfig"];
  const auto memory =
      (std::int64_t{64} << 20) + static_cast<std::int64_t>(k_helper_memory_headroom);
  EXPECT_EQ(host["Memory"], memory);
  EXPECT_EQ(host["MemorySwap"], memory);
  EXPECT_EQ(host["OomKillDisable"], false);
  EXPECT_EQ(host["PidsLimit"], 32 + static_cast<std::int64_t>(k_helper_pids_headroom));
  EXPECT_EQ(host["NanoCpus"], 1500000000);
  EXPECT_EQ(host["AutoRemove"], false);
}

TEST(ContainerCreateBody, DropsEveryPrivilege) {
  const auto host = container_create_body(sample_spec(), k_uid)["HostConfig"];
  EXPECT_EQ(host["CapDrop"], nlohmann::json::array({"ALL"}));
  const auto& options = host["SecurityOpt"];
  EXPECT_TRUE(contains(options, "no-new-privileges"));
  EXPECT_TRUE(contains(options, R"(seccomp={"defaultAction":"SCMP_ACT_ERRNO"})"));
  // systempaths=unconfined, as the API spells it.
  EXPECT_EQ(host["MaskedPaths"], nlohmann::json::array());
  EXPECT_EQ(host["ReadonlyPaths"], nlohmann::json::array());
  EXPECT_FALSE(host.contains("Privileged") && host["Privileged"] == true);
}

TEST(ContainerCreateBody, RuntimeOnlyWhenConfigured) {
  auto spec = sample_spec();
  EXPECT_FALSE(container_create_body(spec, k_uid)["HostConfig"].contains("Runtime"));
  spec.docker.runtime = "runsc";
  EXPECT_EQ(container_create_body(spec, k_uid)["HostConfig"]["Runtime"], "runsc");
}

}  // namespace
}  // namespace planificador::backend::docker
