#include "planificador/sandbox/bwrap_plan.hpp"

#include <algorithm>
#include <array>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

namespace planificador::sandbox {
namespace {

constexpr std::array<const char*, 8> k_system_paths = {"/usr",   "/bin",   "/sbin",   "/lib",
                                                       "/lib32", "/lib64", "/libx32", "/etc"};
constexpr const char* k_default_path =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Paths the sandbox itself mounts; a system entry on one of them would hide it.
constexpr std::array<std::string_view, 5> k_reserved = {"/work", "/tmp", "/dev", "/proc", "/var"};

std::string join(const std::string& root, const char* name) {
  std::string path = root;
  if (path.empty() || path.back() != '/') {
    path += '/';
  }
  return path + name;
}

Result<void> check_plan(const SandboxPlan& plan) {
  if (plan.root.empty() || plan.root.front() != '/') {
    return fail("sandbox root `" + plan.root + "` is not absolute");
  }
  for (const auto& entry : plan.system) {
    const bool top_level = entry.path.size() > 1 && entry.path.front() == '/' &&
                           entry.path.find('/', 1) == std::string::npos;
    if (!top_level ||
        std::find(k_reserved.begin(), k_reserved.end(), entry.path) != k_reserved.end()) {
      return fail("system path `" + entry.path + "` cannot be shown in the sandbox");
    }
  }
  return {};
}

bool env_has(const std::vector<std::string>& env, std::string_view key) {
  return std::any_of(env.begin(), env.end(), [&](const std::string& entry) {
    return entry.size() > key.size() && entry.compare(0, key.size(), key) == 0 &&
           entry[key.size()] == '=';
  });
}

}  // namespace

std::vector<SystemEntry> probe_system_entries() {
  std::vector<SystemEntry> entries;
  for (const char* path : k_system_paths) {
    struct stat info {};
    if (::lstat(path, &info) != 0) {
      continue;
    }
    if (S_ISDIR(info.st_mode)) {
      entries.push_back({path, SystemEntry::Kind::directory, {}});
    } else if (S_ISLNK(info.st_mode)) {
      std::string target(4096, '\0');
      const ssize_t length = ::readlink(path, target.data(), target.size());
      if (length > 0 && static_cast<std::size_t>(length) < target.size()) {
        target.resize(static_cast<std::size_t>(length));
        entries.push_back({path, SystemEntry::Kind::symlink, std::move(target)});
      }
    }
  }
  return entries;
}

Result<std::vector<std::string>> bwrap_arguments(const SandboxPlan& plan) {
  PLAN_TRY(check_plan(plan));
  // --unshare-user is spelled out (--unshare-all only tries it) because --disable-userns
  // needs it: the program may not create namespaces of its own. --as-pid-1 makes the
  // zygote the namespace's init: it reaps orphans, the kernel drops signals sent to it
  // from inside (man 7 pid_namespaces), and its death kills every process left.
  // The zygote keeps CAP_SYS_ADMIN, CAP_SETPCAP and CAP_NET_ADMIN of the sandbox's user
  // namespace, to give every program PID, mount, IPC and network namespaces of its own;
  // each task's init drops them before its program starts (sandboxd/task_init.hpp).
  std::vector<std::string> args = {"--unshare-all",
                                   "--unshare-user",
                                   "--disable-userns",
                                   "--as-pid-1",
                                   "--cap-add",
                                   "CAP_SYS_ADMIN",
                                   "--cap-add",
                                   "CAP_SETPCAP",
                                   "--cap-add",
                                   "CAP_NET_ADMIN",
                                   "--die-with-parent",
                                   "--new-session",
                                   "--uid",
                                   std::to_string(plan.uid),
                                   "--gid",
                                   std::to_string(plan.gid),
                                   "--hostname",
                                   "sandbox"};
  for (const auto& entry : plan.system) {
    if (entry.kind == SystemEntry::Kind::directory) {
      args.insert(args.end(), {"--ro-bind", entry.path, entry.path});
    } else {
      args.insert(args.end(), {"--symlink", entry.target, entry.path});
    }
  }
  // /dev/shm is bound after --dev, which makes an empty one of its own.
  // A mqueue mount of the sandbox's own IPC namespace lets the zygote find and remove
  // message queues a task left behind (they outlive processes).
  args.insert(args.end(), {"--proc", "/proc", "--dev", "/dev", "--mqueue", "/dev/mqueue"});
  args.insert(args.end(), {"--bind", join(plan.root, k_work_dir), k_work_inside});
  args.insert(args.end(), {"--bind", join(plan.root, k_tmp_dir), "/tmp"});
  args.insert(args.end(), {"--bind", join(plan.root, k_shm_dir), "/dev/shm"});
  args.insert(args.end(), {"--bind", join(plan.root, k_vartmp_dir), "/var/tmp"});
  // bwrap's root is a tmpfs of its own: without this a task could fill it (bounded only
  // by the memory limit) and leave files at `/`. The binds above keep their own flags.
  args.insert(args.end(), {"--remount-ro", "/"});
  // --dev makes a writable tmpfs: read-only too, or a file left there outlives its task in
  // a kept sandbox. /dev/shm, /dev/mqueue and /dev/pts are mounts of their own.
  args.insert(args.end(), {"--remount-ro", "/dev"});
  args.insert(args.end(), {"--chdir", k_work_inside, "--clearenv"});
  args.insert(args.end(), {"--", "/proc/self/fd/" + std::to_string(k_stub_fd), "--zygote",
                           std::to_string(k_zygote_fd)});
  return args;
}

Result<std::vector<std::string>> program_environment(const std::vector<std::string>& env) {
  for (const auto& entry : env) {
    const auto equals = entry.find('=');
    if (equals == std::string::npos || equals == 0) {
      return fail("exec: env entry `" + entry + "` is not KEY=VALUE");
    }
  }
  std::vector<std::string> result;
  result.reserve(env.size() + 2);
  if (!env_has(env, "PATH")) {
    result.push_back(std::string("PATH=") + k_default_path);
  }
  if (!env_has(env, "HOME")) {
    result.push_back(std::string("HOME=") + k_work_inside);
  }
  result.insert(result.end(), env.begin(), env.end());
  return result;
}

}  // namespace planificador::sandbox
