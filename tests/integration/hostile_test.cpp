// Hostile programs (tests/hostile/) against the real Docker backend: each attack ends
// with a defined outcome, nothing of it survives on the host, and the backend serves the
// next task.

#include <arpa/inet.h>
#include <dirent.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <random>
#include <sys/socket.h>
#include <unistd.h>

#include "docker_harness.hpp"
#include <gtest/gtest.h>

#include "planificador/os/fd.hpp"

namespace planificador::testing {
namespace {

using protocol::Status;
using namespace std::chrono_literals;

DockerHarness& harness() {
  static DockerHarness instance(PLANIFICADOR_SOURCE_DIR, PLANIFICADOR_BINARY_DIR);
  return instance;
}

std::string hostile(const std::string& name) {
  return read_source_file(std::string(PLANIFICADOR_SOURCE_DIR) + "/tests/hostile/" + name);
}

// Returns how many host processes have `needle` as one of their argv words.
int host_processes_with_argument(const std::string& needle) {
  int count = 0;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) {
    return -1;
  }
  while (const dirent* entry = ::readdir(proc)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') {
      continue;
    }
    std::ifstream file(std::string("/proc/") + entry->d_name + "/cmdline", std::ios::binary);
    std::string word;
    while (std::getline(file, word, '\0')) {
      if (word == needle) {
        ++count;
        break;
      }
    }
  }
  ::closedir(proc);
  return count;
}

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override { PLANIFICADOR_REQUIRE_DOCKER(harness()); }
  void TearDown() override {
    if (!harness().missing().empty()) {
      return;
    }
    EXPECT_TRUE(harness().leftovers().empty()) << "a container of this test remains";
    // The backend still serves a plain task after the attack.
    const auto next = harness().run("bash", "echo healthy\n");
    EXPECT_EQ(next.out, "healthy\n") << next.result.diagnostic << next.err;
  }
};

TEST_F(HostileTest, ForkBombIsHeldByThePidsLimit) {
  const auto outcome = harness().run("c", hostile("fork_bomb.c"), {}, [](auto& limits) {
    limits.pids = 32;
    limits.wall_ms = 3000;
  });
  EXPECT_EQ(outcome.result.status, Status::time_limit) << outcome.result.diagnostic;
  EXPECT_LT(outcome.elapsed(), 15s);
}

TEST_F(HostileTest, MemoryBombIsKilledAsMemoryLimit) {
  const auto outcome = harness().run("c", hostile("memory_bomb.c"), {},
                                     [](auto& limits) { limits.memory_bytes = 64 << 20; });
  EXPECT_EQ(outcome.result.status, Status::memory_limit) << outcome.result.diagnostic;
  EXPECT_EQ(outcome.result.exit_code, 137);
  EXPECT_EQ(outcome.out.find("allocated"), std::string::npos);
}

TEST_F(HostileTest, OutputFloodStopsAtTheLimit) {
  const auto outcome = harness().run("bash", hostile("output_flood.sh"), {},
                                     [](auto& limits) { limits.output_bytes = 100000; });
  EXPECT_EQ(outcome.result.status, Status::output_limit);
  EXPECT_EQ(outcome.out.size() + outcome.err.size(), 100000U);
}

TEST_F(HostileTest, DiskFillEndsWithEnospc) {
  const auto outcome = harness().run("python", hostile("disk_fill.py"));
  EXPECT_EQ(outcome.result.status, Status::exited) << outcome.result.diagnostic << outcome.err;
  EXPECT_EQ(outcome.result.exit_code, 0) << outcome.err;
  EXPECT_NE(outcome.out.find("/tmp: ENOSPC"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find(".: ENOSPC"), std::string::npos) << outcome.out;
}

std::string host_resolver() {
  std::ifstream file("/etc/resolv.conf");
  std::string line;
  while (std::getline(file, line)) {
    if (line.starts_with("nameserver ")) {
      return line.substr(11, line.find_first_of(" \t", 11) - 11);
    }
  }
  return "127.0.0.53";
}

TEST_F(HostileTest, NetworkIsUnreachable) {
  // A listener on every host address: a sandbox with any network path to the host
  // would connect to it.
  os::Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  protocol::TaskOptions options;
  options.args = {std::to_string(ntohs(address.sin_port)), host_resolver()};
  const auto outcome = harness().run("python", hostile("network_escape.py"), options);
  EXPECT_EQ(outcome.result.exit_code, 0) << outcome.out << outcome.err;
  EXPECT_EQ(outcome.out.find("CONNECTED"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("udp"), std::string::npos) << outcome.out;
}

TEST_F(HostileTest, HostFilesAreNotVisible) {
  const std::string secret = "/tmp/planificador-secret-" + std::to_string(::getpid());
  std::ofstream(secret) << "host secret\n";
  protocol::TaskOptions options;
  options.args = {secret};
  const auto outcome = harness().run("python", hostile("read_host_file.py"), options);
  std::error_code ignored;
  std::filesystem::remove(secret, ignored);
  EXPECT_EQ(outcome.result.exit_code, 0) << outcome.out << outcome.err;
  EXPECT_EQ(outcome.out.find("host secret"), std::string::npos);
  EXPECT_EQ(outcome.out.find("READ"), std::string::npos) << outcome.out;
}

TEST_F(HostileTest, RootFileSystemIsReadOnly) {
  const auto outcome = harness().run("bash", hostile("write_root.sh"));
  EXPECT_EQ(outcome.result.exit_code, 0) << outcome.out << outcome.err;
  EXPECT_EQ(outcome.out.find("wrote"), std::string::npos) << outcome.out;
}

TEST_F(HostileTest, KillEverythingEndsOnlyTheTask) {
  const auto outcome = harness().run("bash", hostile("kill_everything.sh"), {},
                                     [](auto& limits) { limits.wall_ms = 5000; });
  EXPECT_TRUE(outcome.result.status == Status::exited || outcome.result.status == Status::signaled)
      << protocol::to_string(outcome.result.status) << ": " << outcome.result.diagnostic;
  EXPECT_LT(outcome.elapsed(), 5s);
}

TEST_F(HostileTest, SetsidSleepersDoNotOutliveTheTask) {
  std::mt19937 random(static_cast<unsigned>(::getpid()));
  const std::string detached = std::to_string(700000 + random() % 100000);
  const std::string holding = std::to_string(800000 + random() % 100000);
  protocol::TaskOptions options;
  options.args = {detached, holding};
  const auto outcome = harness().run("bash", hostile("setsid_sleeper.sh"), options,
                                     [](auto& limits) { limits.wall_ms = 5000; });
  EXPECT_EQ(outcome.result.status, Status::exited) << outcome.result.diagnostic;
  EXPECT_EQ(outcome.out, "started\n");
  EXPECT_LT(outcome.elapsed(), 6s);
  EXPECT_EQ(host_processes_with_argument(detached), 0);
  EXPECT_EQ(host_processes_with_argument(holding), 0);
}

}  // namespace
}  // namespace planificador::testing
