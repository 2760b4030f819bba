// Hostile programs against what the kernel shares beyond one container: host-wide pools
// (pseudo-terminals, Linux AIO contexts) a task could drain for every other task and the
// host, and host-wide views in /proc (the kernel command line, other processes' locks,
// memory, CPU, interrupt and load counters, pressure) that show what concurrent tasks do.

#include <filesystem>
#include <fstream>
#include <future>

#include "hostile_fixture.hpp"
#include "wait.hpp"

namespace planificador::testing {
namespace {

using protocol::Status;

// Returns the inotify instances held by host processes whose command line has `marker`.
int inotify_instances_of(const std::string& marker) {
  int instances = 0;
  for (const auto& process : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = process.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream cmdline(process.path() / "cmdline");
    const std::string arguments((std::istreambuf_iterator<char>(cmdline)), {});
    if (arguments.find(marker) == std::string::npos) {
      continue;
    }
    std::error_code error;
    for (const auto& fd : std::filesystem::directory_iterator(process.path() / "fd", error)) {
      std::error_code unreadable;
      if (std::filesystem::read_symlink(fd.path(), unreadable).string() == "anon_inode:inotify") {
        ++instances;
      }
    }
  }
  return instances;
}

class HostileShared : public HostileTest {};

// inotify instances and POSIX message-queue bytes are counted per user: a task that takes
// all of its user's must leave a concurrent task of another container its own, so each
// container runs as a uid of its own.
TEST_P(HostileShared, PerUserPoolsAreTheContainersOwn) {
  const std::string marker = unique_marker();
  protocol::TaskOptions hold;
  hold.args = {"3", marker};
  auto hog = std::async(std::launch::async, [&] {
    return attack("c", "user_pools_hog.c", hold, [](auto& limits) { limits.wall_ms = 20000; });
  });
  (void)wait_until([&] { return inotify_instances_of(marker) >= 100; }, std::chrono::seconds(30),
                   std::chrono::milliseconds(20));
  ASSERT_GE(inotify_instances_of(marker), 100) << "the hog never took its user's instances";
  const auto probe = attack("python", "user_pools_probe.py");
  EXPECT_EQ(probe.out, "inotify: ok\nmqueue: ok\n") << describe(probe);
  const auto held = hog.get();
  EXPECT_EQ(held.result.status, Status::exited) << describe(held);
  EXPECT_NE(held.out.find("inotify instances: 128"), std::string::npos) << held.out;
  EXPECT_NE(held.out.find("holding"), std::string::npos) << held.out;
}

TEST_P(HostileShared, HostViewsInProcAreMaskedOrStill) {
  const auto outcome = attack("python", "host_views.py");
  ASSERT_EQ(outcome.result.status, Status::exited) << describe(outcome);
  EXPECT_EQ(outcome.out.find("SHOWN"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("/proc/locks empty"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("/proc/stat still"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("/proc/meminfo still"), std::string::npos) << outcome.out;
  // The CPU count programs read from /proc/stat is still the one they may run on (a
  // container's CPU quota leaves it every CPU of the host).
  EXPECT_NE(outcome.out.find("cpus " + std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)) + "\n"),
            std::string::npos)
      << outcome.out;
}

// Each task has a devpts instance of its own with a budget of 8: kernel.pty.max (4096 here)
// is one pool for the host, and a task that took 3,071 ptys made every `docker exec -t` fail.
TEST_P(HostileShared, PseudoTerminalsAreBoundedPerTask) {
  const auto outcome = attack("python", "pty_exhaust.py");
  ASSERT_EQ(outcome.result.status, Status::exited) << describe(outcome);
  EXPECT_NE(outcome.out.find("refused after 8 ptys"), std::string::npos) << outcome.out;
  // The next task has its whole budget again.
  const auto next = attack("python", "pty_exhaust.py");
  EXPECT_NE(next.out.find("refused after 8 ptys"), std::string::npos) << next.out;
}

// Linux AIO contexts come out of fs.aio-max-nr, one pool for the host: io_setup is refused.
TEST_P(HostileShared, AioContextsAreRefused) {
  const auto outcome = attack("c", "aio_exhaust.c");
  ASSERT_EQ(outcome.result.status, Status::exited) << describe(outcome);
  EXPECT_NE(outcome.out.find("io_setup refused after 0 contexts: Function not implemented"),
            std::string::npos)
      << outcome.out;
}

PLANIFICADOR_HOSTILE_MODES(HostileShared);

}  // namespace
}  // namespace planificador::testing
