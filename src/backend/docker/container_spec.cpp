#include "planificador/backend/docker/container_spec.hpp"

#include <cmath>
#include <string>

#include "planificador/sandbox/wire.hpp"

namespace planificador::backend::docker {
namespace {

// Nothing but the helper uses the container's own /tmp; a small tmpfs keeps the root
// file system read-only without surprising tools that want a scratch directory.
constexpr const char* k_container_tmp = "rw,nosuid,nodev,noexec,size=1m,mode=1777";

std::string sandbox_tmpfs_options(std::uint64_t work_bytes, std::uint32_t uid) {
  // Docker mounts a tmpfs noexec unless told otherwise; compiled programs run from here.
  const std::string owner = std::to_string(uid);
  return "rw,exec,nosuid,nodev,size=" + std::to_string(work_bytes) + ",uid=" + owner +
         ",gid=" + owner + ",mode=0700";
}

nlohmann::json host_config(const ContainerSpec& spec, std::uint32_t uid) {
  const auto memory =
      static_cast<std::int64_t>(spec.limits.memory_bytes + k_helper_memory_headroom);
  nlohmann::json host = {
      {"Binds",
       {spec.helper_path + ":" + sandbox::k_helper_path + ":ro",
        spec.run_dir + ":" + sandbox::k_socket_dir + ":rw"}},
      {"Tmpfs",
       {{sandbox::k_sandbox_root, sandbox_tmpfs_options(spec.docker.work_bytes, uid)},
        {"/tmp", k_container_tmp}}},
      {"NetworkMode", "none"},
      {"ReadonlyRootfs", true},
      {"Memory", memory},
      // Equal to Memory: no swap beyond the limit.
      {"MemorySwap", memory},
      {"OomKillDisable", false},
      {"PidsLimit", static_cast<std::int64_t>(spec.limits.pids + k_helper_pids_headroom)},
      {"NanoCpus", static_cast<std::int64_t>(std::llround(spec.docker.cpus * 1e9))},
      {"CapDrop", {"ALL"}},
      {"SecurityOpt", {"no-new-privileges", "seccomp=" + spec.seccomp_json}},
      // The API form of `--security-opt systempaths=unconfined`: bwrap mounts a fresh
      // /proc for the task's pid namespace, which the kernel refuses while parts of the
      // container's /proc are masked (mount_too_revealing, fs/namespace.c).
      {"MaskedPaths", nlohmann::json::array()},
      {"ReadonlyPaths", nlohmann::json::array()},
      {"AutoRemove", false},
      {"RestartPolicy", {{"Name", "no"}}},
      {"LogConfig", {{"Type", "json-file"}, {"Config", {{"max-size", "1m"}}}}},
  };
  if (!spec.docker.runtime.empty()) {
    host["Runtime"] = spec.docker.runtime;
  }
  return host;
}

}  // namespace

nlohmann::json container_create_body(const ContainerSpec& spec, std::uint32_t uid) {
  const std::string socket = std::string(sandbox::k_socket_dir) + "/" + sandbox::k_socket_name;
  return {
      {"Image", spec.image},
      {"Entrypoint", {sandbox::k_helper_path}},
      {"Cmd", {"--socket", socket, "--root", sandbox::k_sandbox_root}},
      // The helper needs no privilege (bwrap creates its namespaces with user namespaces),
      // and the uid is the container's own: inside the sandbox it is mapped to 1000.
      {"User", std::to_string(uid) + ":" + std::to_string(uid)},
      {"WorkingDir", "/"},
      // The engine's default hostname, the container's id, would tell a task which
      // container it is in.
      {"Hostname", k_sandbox_hostname},
      {"Env", nlohmann::json::array()},
      {"Labels", {{k_instance_label, spec.instance}, {k_task_label, spec.task}}},
      {"NetworkDisabled", true},
      {"AttachStdin", false},
      {"AttachStdout", false},
      {"AttachStderr", false},
      {"OpenStdin", false},
      {"Tty", false},
      {"HostConfig", host_config(spec, uid)},
  };
}

}  // namespace planificador::backend::docker
