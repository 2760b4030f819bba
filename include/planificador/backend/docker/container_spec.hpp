#pragma once
// The body of POST /containers/create for one task container, built as data.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "planificador/config/config.hpp"
#include "planificador/os/cgroup.hpp"

namespace planificador::backend::docker {

// Memory the container gets beyond the task's limit, for planificador-sandboxd and
// bwrap themselves (a few MiB of resident memory). The task's memory outcome is still
// decided from the cgroup's OOM kill counter, never from this figure.
inline constexpr std::uint64_t k_helper_memory_headroom = std::uint64_t{16} << 20;
// Processes the container may hold beyond the task's limit: the helper, bwrap and its
// pid-namespace init (the zygote) and its waiting task init, and the same three of the
// standby sandbox (strict isolation).
inline constexpr std::uint64_t k_helper_pids_headroom = 8;

// The hostname every sandbox has (also Bubblewrap's --hostname): the engine writes it
// into the container's /etc/hostname and /etc/hosts, of which the sandbox sees a copy.
inline constexpr const char* k_sandbox_hostname = "sandbox";
inline constexpr const char* k_instance_label = "org.planificador.instance";
inline constexpr const char* k_task_label = "org.planificador.task";

struct ContainerSpec {
  std::string image;
  std::string instance;      // org.planificador.instance
  std::string task;          // org.planificador.task (the task id in hex)
  std::string helper_path;   // planificador-sandboxd on the host
  std::string run_dir;       // the host directory bound at /planificador/run
  std::string seccomp_json;  // the seccomp profile's text
  config::Limits limits;     // the task's effective limits
  config::Docker docker;     // runtime, cpus, work_bytes
  os::CgroupLayout cgroups;  // how the engine lays out container cgroups (GET /info)
};

// Returns the create body (Engine API v1.41 ContainerConfig + HostConfig): the helper as
// entrypoint, running as `uid` (and the same gid), no network, read-only root, a size-limited tmpfs
// at /sandbox, memory/pids/CPU limits, every capability dropped, no-new-privileges and the seccomp
// profile; /proc unmasked (systempaths=unconfined) so bwrap can mount its own.
[[nodiscard]] nlohmann::json container_create_body(const ContainerSpec& spec, std::uint32_t uid);

}  // namespace planificador::backend::docker
