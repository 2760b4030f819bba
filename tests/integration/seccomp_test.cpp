// The compiled-in seccomp profile (images/seccomp.json) on real task containers: Bubblewrap
// and every runner's toolchain work under it, and the syscalls it exists to deny fail with
// EPERM. Containers are set up like the daemon's, through the Engine API client.

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "real_engine.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "planificador/backend/docker/engine_client.hpp"
#include "planificador/backend/docker/seccomp_profile.hpp"

namespace planificador::backend::docker {
namespace {

using namespace std::chrono_literals;

constexpr int k_eperm = 1;
constexpr int k_esrch = 3;
constexpr int k_enosys = 38;

struct TaskRun {
  std::int64_t exit_code = -1;
  Logs logs;
};

std::vector<std::string> under_bwrap(std::vector<std::string> program) {
  // A plan of the same shape as the daemon's: every namespace unshared, /usr and /etc
  // read-only, the task's work directory the only writable place it keeps.
  // clang-format off
  std::vector<std::string> argv = {
      "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
      "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
      "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
      "--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
      "--bind", "/sandbox", "/work", "--chdir", "/work", "--uid", "1000", "--gid", "1000",
      "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--"};
  // clang-format on
  argv.insert(argv.end(), program.begin(), program.end());
  return argv;
}

// Each probe prints "<name> <errno>" (0 when the call succeeded). Numbers per architecture
// because Python's ctypes has no syscall-name table.
constexpr const char* k_probe_script = R"py(
import ctypes, platform
libc = ctypes.CDLL(None, use_errno=True)
nr = {
  "x86_64": {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
             "ptrace": 101, "keyctl": 250, "add_key": 248, "bpf": 321,
             "perf_event_open": 298, "userfaultfd": 323, "process_vm_readv": 310},
  "aarch64": {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
              "ptrace": 117, "keyctl": 219, "add_key": 217, "bpf": 280,
              "perf_event_open": 241, "userfaultfd": 282, "process_vm_readv": 270},
}[platform.machine()]
nr["clone3"] = 435
probes = [
  ("io_uring_setup", "io_uring_setup", (1, 0)),
  ("io_uring_enter", "io_uring_enter", (0, 0, 0, 0, 0, 0)),
  ("io_uring_register", "io_uring_register", (0, 0, 0, 0)),
  ("ptrace_traceme", "ptrace", (0, 0, 0, 0)),
  ("ptrace_attach", "ptrace", (16, 999999, 0, 0)),
  ("keyctl", "keyctl", (0, -1, 0)),
  ("add_key", "add_key", (0, 0, 0, 0, 0)),
  ("bpf", "bpf", (-1, 0, 0)),
  ("perf_event_open", "perf_event_open", (0, 0, -1, -1, 0)),
  ("userfaultfd", "userfaultfd", (1,)),
  ("process_vm_readv", "process_vm_readv", (1, 0, 0, 0, 0, 0)),
  ("clone3", "clone3", (0, 0)),
]
for label, name, args in probes:
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(nr[name]), *[ctypes.c_long(a) for a in args])
    print(label, ctypes.get_errno() if result == -1 else 0, flush=True)
)py";

std::map<std::string, int> parse_probes(const std::string& out) {
  std::map<std::string, int> results;
  std::istringstream lines(out);
  std::string name;
  int err = 0;
  while (lines >> name >> err) {
    results[name] = err;
  }
  return results;
}

class SeccompTest : public ::testing::Test {
 protected:
  // Runs `argv` in a container of `image` confined like a task container, with the
  // SecurityOpt `seccomp` ("seccomp=<json>" or "seccomp=unconfined").
  Result<TaskRun> run(const std::string& image, const std::vector<std::string>& argv,
                      const std::string& seccomp) const {
    const nlohmann::json body = {
        {"Image", image},
        {"Cmd", argv},
        {"User", "1000:1000"},
        {"NetworkDisabled", true},
        {"Labels", {{"org.planificador.test", "seccomp"}}},
        {"HostConfig",
         {{"NetworkMode", "none"},
          {"ReadonlyRootfs", true},
          {"CapDrop", {"ALL"}},
          {"SecurityOpt", {"no-new-privileges", seccomp}},
          {"MaskedPaths", nlohmann::json::array()},
          {"ReadonlyPaths", nlohmann::json::array()},
          // exec: Docker mounts a tmpfs noexec unless told otherwise, and a compiled
          // task runs from here.
          {"Tmpfs", {{"/sandbox", "rw,nosuid,nodev,exec,size=64m,uid=1000,gid=1000,mode=0700"}}}}}};
    auto id = m_client.create(body);
    if (!id) {
      return tl::unexpected(id.error());
    }
    test::ContainerGuard guard(m_client, *id);
    if (auto started = m_client.start(*id); !started) {
      return tl::unexpected(started.error());
    }
    TaskRun result;
    auto code = m_client.wait(*id, 180s);
    if (!code) {
      return tl::unexpected(code.error());
    }
    result.exit_code = *code;
    auto logs = m_client.logs(*id);
    if (!logs) {
      return tl::unexpected(logs.error());
    }
    result.logs = std::move(*logs);
    return result;
  }

  Result<TaskRun> run_confined(const std::string& image,
                               const std::vector<std::string>& program) const {
    return run(image, under_bwrap(program), "seccomp=" + std::string(builtin_seccomp_profile()));
  }

  EngineClient m_client{test::engine_socket(), 60s};
};

#define REQUIRE_IMAGE(image)                                                \
  if (auto why = test::engine_unavailable(m_client, image); !why.empty()) { \
    PLANIFICADOR_SKIP_OUTSIDE_CI(why);                                      \
  }

TEST(SeccompProfile, IsAnAllowlistThatDeniesWithEperm) {
  const auto profile = nlohmann::json::parse(builtin_seccomp_profile());
  EXPECT_EQ(profile["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(profile["defaultErrnoRet"], k_eperm);
  for (const auto& rule : profile["syscalls"]) {
    for (const auto& name : rule["names"]) {
      EXPECT_NE(name, "io_uring_setup");
      EXPECT_NE(name, "ptrace");
      EXPECT_NE(name, "bpf");
      if (name == "clone3") {
        EXPECT_EQ(rule["action"], "SCMP_ACT_ERRNO");
        EXPECT_EQ(rule["errnoRet"], k_enosys);
      }
    }
  }
}

TEST_F(SeccompTest, PythonRunsUnderBwrap) {
  REQUIRE_IMAGE("planificador/python");
  auto run = run_confined(
      "planificador/python",
      {"python3", "-c",
       "import subprocess, threading\n"
       "print(1)\n"
       "t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n"
       "print(subprocess.run(['id', '-u'], capture_output=True, text=True).stdout, end='')\n"});
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->exit_code, 0) << run->logs.err;
  EXPECT_EQ(run->logs.out, "1\nthread\n1000\n");
}

TEST_F(SeccompTest, CCompilesAndRunsUnderBwrap) {
  REQUIRE_IMAGE("planificador/c");
  auto run = run_confined("planificador/c", {"sh", "-c", R"(cat > main.c <<'EOF'
#include <pthread.h>
#include <stdio.h>
static void* hello(void* arg) { puts("thread"); return arg; }
int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, hello, NULL);
  pthread_join(t, NULL);
  puts("c ok");
  return 3;
}
EOF
gcc -O2 -pthread -o main main.c && ./main)"});
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->exit_code, 3) << run->logs.err;
  EXPECT_EQ(run->logs.out, "thread\nc ok\n");
}

TEST_F(SeccompTest, CppCompilesAndRunsUnderBwrap) {
  REQUIRE_IMAGE("planificador/cpp");
  auto run = run_confined("planificador/cpp", {"sh", "-c", R"(cat > main.cpp <<'EOF'
#include <iostream>
#include <thread>
int main() {
  std::thread t([] { std::cout << "thread\n"; });
  t.join();
  std::cout << "cpp ok\n";
}
EOF
g++ -O2 -o main main.cpp && ./main)"});
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->exit_code, 0) << run->logs.err;
  EXPECT_EQ(run->logs.out, "thread\ncpp ok\n");
}

TEST_F(SeccompTest, NodeRunsUnderBwrap) {
  REQUIRE_IMAGE("planificador/node");
  auto run =
      run_confined("planificador/node", {"node", "-e",
                                         "const cp = require('child_process');\n"
                                         "require('fs').writeFileSync('f', 'data');\n"
                                         "console.log(cp.execFileSync('cat', ['f']).toString());\n"
                                         "setTimeout(() => console.log('timer'), 20);\n"});
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->exit_code, 0) << run->logs.err;
  EXPECT_EQ(run->logs.out, "data\ntimer\n");
}

TEST_F(SeccompTest, BashRunsUnderBwrapWithTheFilterInPlace) {
  REQUIRE_IMAGE("planificador/bash");
  auto run = run_confined("planificador/bash",
                          {"bash", "-c",
                           "(sleep 0.1 & wait); echo piped | tr a-z A-Z; "
                           "grep '^Seccomp:' /proc/self/status; echo err >&2; exit 4"});
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->exit_code, 4);
  EXPECT_EQ(run->logs.out, "PIPED\nSeccomp:\t2\n");
  EXPECT_EQ(run->logs.err, "err\n");
}

TEST_F(SeccompTest, DangerousSyscallsFailWithEperm) {
  REQUIRE_IMAGE("planificador/python");
  auto run = run_confined("planificador/python", {"python3", "-c", k_probe_script});
  ASSERT_TRUE(run) << run.error().message;
  ASSERT_EQ(run->exit_code, 0) << run->logs.err;
  const auto results = parse_probes(run->logs.out);
  ASSERT_EQ(results.size(), 12U) << run->logs.out;
  for (const auto& [name, err] : results) {
    if (name == "clone3") {
      EXPECT_EQ(err, k_enosys) << "clone3 must say ENOSYS so libc falls back to clone";
    } else {
      EXPECT_EQ(err, k_eperm) << name;
    }
  }
}

// Without the profile the same probes reach the kernel and fail for other reasons, so the
// EPERMs above come from the filter and not from the probes' arguments.
TEST_F(SeccompTest, ProbesReachTheKernelWithoutTheProfile) {
  REQUIRE_IMAGE("planificador/python");
  auto run = this->run("planificador/python", under_bwrap({"python3", "-c", k_probe_script}),
                       "seccomp=unconfined");
  ASSERT_TRUE(run) << run.error().message;
  ASSERT_EQ(run->exit_code, 0) << run->logs.err;
  const auto results = parse_probes(run->logs.out);
  ASSERT_EQ(results.size(), 12U) << run->logs.out;
  EXPECT_EQ(results.at("ptrace_attach"), k_esrch);
  EXPECT_NE(results.at("io_uring_setup"), k_eperm);
  EXPECT_NE(results.at("perf_event_open"), k_eperm);
  EXPECT_NE(results.at("clone3"), k_enosys);
}

}  // namespace
}  // namespace planificador::backend::docker
