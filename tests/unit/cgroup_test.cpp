#include "planificador/os/cgroup.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

namespace planificador::os {
namespace {

// /proc/<pid>/cgroup of a Docker container on a cgroup v1 host (cgroupfs driver).
constexpr const char* k_v1_separate =
    "9:name=systemd:/docker/0123abcd\n"
    "8:pids:/docker/0123abcd\n"
    "4:memory:/docker/0123abcd\n"
    "2:cpuacct:/docker/0123abcd\n"
    "1:cpu:/docker/0123abcd\n"
    "0::/\n";

TEST(ParseProcCgroup, V1WithSeparateHierarchies) {
  const auto paths = parse_proc_cgroup(k_v1_separate);
  ASSERT_TRUE(paths) << paths.error().message;
  EXPECT_EQ(paths->version, CgroupVersion::v1);
  EXPECT_EQ(paths->memory, "/sys/fs/cgroup/memory/docker/0123abcd");
  EXPECT_EQ(paths->cpu, "/sys/fs/cgroup/cpuacct/docker/0123abcd");
}

TEST(ParseProcCgroup, V1WithCombinedCpuHierarchyUsesTheMountName) {
  const auto paths = parse_proc_cgroup(
      "11:memory:/system.slice/docker-ab.scope\n"
      "3:cpu,cpuacct:/system.slice/docker-ab.scope\n",
      "/cg");
  ASSERT_TRUE(paths) << paths.error().message;
  EXPECT_EQ(paths->memory, "/cg/memory/system.slice/docker-ab.scope");
  EXPECT_EQ(paths->cpu, "/cg/cpu,cpuacct/system.slice/docker-ab.scope");
}

TEST(ParseProcCgroup, V1RootCgroupHasNoTrailingSlash) {
  const auto paths = parse_proc_cgroup("4:memory:/\n2:cpuacct:/\n");
  ASSERT_TRUE(paths) << paths.error().message;
  EXPECT_EQ(paths->memory, "/sys/fs/cgroup/memory");
}

TEST(ParseProcCgroup, V2Unified) {
  const auto paths = parse_proc_cgroup("0::/system.slice/docker-ff.scope\n");
  ASSERT_TRUE(paths) << paths.error().message;
  EXPECT_EQ(paths->version, CgroupVersion::v2);
  EXPECT_EQ(paths->memory, "/sys/fs/cgroup/system.slice/docker-ff.scope");
  EXPECT_EQ(paths->cpu, paths->memory);
}

TEST(ParseProcCgroup, NoUsableHierarchyIsAnError) {
  EXPECT_FALSE(parse_proc_cgroup(""));
  EXPECT_FALSE(parse_proc_cgroup("8:pids:/docker/x\n"));
  EXPECT_FALSE(parse_proc_cgroup("garbage without colons\n"));
  // Memory without CPU accounting cannot report CPU time.
  EXPECT_FALSE(parse_proc_cgroup("4:memory:/docker/x\n"));
}

TEST(ContainerCgroupPaths, EachDriverAndVersionAsDockerLaysThemOut) {
  const std::string id = "0123abcd";
  const auto v1 = container_cgroup_paths(id, "", {"cgroupfs", CgroupVersion::v1}, "/nonexistent");
  EXPECT_EQ(v1.version, CgroupVersion::v1);
  EXPECT_EQ(v1.memory, "/nonexistent/memory/docker/0123abcd");
  EXPECT_EQ(v1.cpu, "/nonexistent/cpu,cpuacct/docker/0123abcd");  // no separate cpuacct there
  const auto systemd = container_cgroup_paths(id, "", {"systemd", CgroupVersion::v1}, "/cg");
  EXPECT_EQ(systemd.memory, "/cg/memory/system.slice/docker-0123abcd.scope");
  const auto v2 = container_cgroup_paths(id, "", {"cgroupfs", CgroupVersion::v2}, "/cg");
  EXPECT_EQ(v2.version, CgroupVersion::v2);
  EXPECT_EQ(v2.memory, "/cg/docker/0123abcd");
  EXPECT_EQ(v2.cpu, v2.memory);
  const auto v2_systemd = container_cgroup_paths(id, "", {"systemd", CgroupVersion::v2}, "/cg");
  EXPECT_EQ(v2_systemd.memory, "/cg/system.slice/docker-0123abcd.scope");
  // A container's own CgroupParent replaces the default, leading slash or not.
  const auto parented =
      container_cgroup_paths(id, "/tasks", {"cgroupfs", CgroupVersion::v2}, "/cg");
  EXPECT_EQ(parented.memory, "/cg/tasks/0123abcd");
}

TEST(ContainerCgroupPaths, ThisHostsLayoutHasSeparateCpuacctOnV1) {
  if (::access("/sys/fs/cgroup/cpuacct", F_OK) != 0) {
    GTEST_SKIP() << "no separate cpuacct hierarchy on this host";
  }
  const auto paths = container_cgroup_paths("x", "", {"cgroupfs", CgroupVersion::v1});
  EXPECT_EQ(paths.cpu, "/sys/fs/cgroup/cpuacct/docker/x");
}

TEST(CgroupOfContainer, MissingDirectoryIsAnErrorNamingIt) {
  const auto cgroup = Cgroup::of_container("no-such-container", 0, "",
                                           {"cgroupfs", CgroupVersion::v2}, "/nonexistent");
  ASSERT_FALSE(cgroup);
  EXPECT_NE(cgroup.error().message.find("/nonexistent/docker/no-such-container"), std::string::npos)
      << cgroup.error().message;
}

TEST(ParseKeyedValue, ReadsOomKillOfV1OomControl) {
  const auto kills = parse_keyed_value("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill");
  ASSERT_TRUE(kills) << kills.error().message;
  EXPECT_EQ(*kills, 3U);
}

TEST(ParseKeyedValue, ReadsV2MemoryEventsAndCpuStat) {
  EXPECT_EQ(
      parse_keyed_value("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n", "oom_kill")
          .value_or(99),
      1U);
  EXPECT_EQ(
      parse_keyed_value("usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n", "usage_usec")
          .value_or(0),
      123456U);
}

TEST(ParseKeyedValue, MissingKeyOrBadNumberIsAnError) {
  EXPECT_FALSE(parse_keyed_value("oom_kill_disable 0\nunder_oom 0\n", "oom_kill"));
  EXPECT_FALSE(parse_keyed_value("oom_kill x\n", "oom_kill"));
  EXPECT_FALSE(parse_keyed_value("oom_killer 4\n", "oom_kill"));
}

TEST(ParseNumber, AcceptsATrailingNewlineOnly) {
  EXPECT_EQ(parse_number("987654321\n").value_or(0), 987654321U);
  EXPECT_FALSE(parse_number(""));
  EXPECT_FALSE(parse_number("12 13\n"));
  EXPECT_FALSE(parse_number("-1\n"));
}

TEST(Cgroup, ReadsTheAccountingOfThisProcess) {
  auto cgroup = Cgroup::of_process(::getpid());
  if (!cgroup) {
    GTEST_SKIP() << "no cgroup accounting here: " << cgroup.error().message;
  }
  const auto first = cgroup->cpu_usage_ns();
  ASSERT_TRUE(first) << first.error().message;
  volatile std::uint64_t sink = 0;
  for (std::uint64_t i = 0; i < 50000000; ++i) {
    sink = sink + i;
  }
  const auto second = cgroup->cpu_usage_ns();
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_GT(*second, *first);
  EXPECT_TRUE(cgroup->oom_kills()) << cgroup->oom_kills().error().message;
  const auto peak = cgroup->memory_peak_bytes();
  ASSERT_TRUE(peak) << peak.error().message;
  EXPECT_GT(*peak, 0U);
}

// Moves this process into a memory cgroup of its own below its current one (cgroup v1,
// as root), so that the peak it reads is its own, not that of the tests that run beside it
// in the same cgroup; moves it back and removes that cgroup at the end. Elsewhere (v2,
// where a cgroup with processes cannot hand controllers down) it does nothing.
class OwnMemoryCgroup {
 public:
  explicit OwnMemoryCgroup(const CgroupPaths& paths)
      : m_paths(paths), m_dir(paths.memory + "/planificador-test-" + std::to_string(::getpid())) {
    if (paths.version != CgroupVersion::v1 || ::mkdir(m_dir.c_str(), 0755) != 0) {
      return;
    }
    m_made = true;
    m_moved = join(m_dir);
  }
  ~OwnMemoryCgroup() {
    if (m_moved) {
      (void)join(m_paths.memory);
    }
    if (m_made) {
      (void)::rmdir(m_dir.c_str());
    }
  }
  OwnMemoryCgroup(const OwnMemoryCgroup&) = delete;
  OwnMemoryCgroup& operator=(const OwnMemoryCgroup&) = delete;

  // Returns the paths to read: the own memory cgroup's when the move worked.
  [[nodiscard]] CgroupPaths paths() const {
    return m_moved ? CgroupPaths{CgroupVersion::v1, m_dir, m_paths.cpu} : m_paths;
  }

 private:
  [[nodiscard]] static bool join(const std::string& dir) {
    std::ofstream procs(dir + "/cgroup.procs");
    procs << ::getpid() << std::flush;
    return static_cast<bool>(procs);
  }

  CgroupPaths m_paths;
  std::string m_dir;
  bool m_made = false;
  bool m_moved = false;
};

TEST(Cgroup, KeptDescriptorsSeeEveryResetAndEveryNewPeak) {
  auto own_process = Cgroup::of_process(::getpid());
  if (!own_process) {
    GTEST_SKIP() << "no cgroup accounting here: " << own_process.error().message;
  }
  const OwnMemoryCgroup own(own_process->paths());
  auto cgroup = std::make_optional<Cgroup>(own.paths());
  ::testing::Test::RecordProperty("own_memory_cgroup",
                                  own.paths() == own_process->paths() ? "no" : "yes");
  for (int round = 0; round < 3; ++round) {
    if (auto reset = cgroup->reset_memory_peak(); !reset) {
      GTEST_SKIP() << "the peak cannot be reset here: " << reset.error().message;
    }
    const auto before = cgroup->memory_peak_bytes();
    ASSERT_TRUE(before) << before.error().message;
    {
      // 64 MiB touched: the peak read through the same descriptors must show it (with room
      // for other processes of the same cgroup freeing memory meanwhile).
      std::vector<char> block(64U << 20U);
      for (std::size_t i = 0; i < block.size(); i += 4096) {
        block[i] = static_cast<char>(i);
      }
      const auto during = cgroup->memory_peak_bytes();
      ASSERT_TRUE(during) << during.error().message;
      EXPECT_GE(*during, *before + (32U << 20U)) << "round " << round;
    }
  }
}

// A cgroup v1 memory directory made of plain files, as the kernel would show them. A write
// to a plain file replaces only as many bytes as it writes, so the values written by the
// code under test are one digit long where they are read back.
class FakeV1Memory : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/planificador-cgroup-XXXXXX";
    m_dir = ::mkdtemp(pattern);
    set("memory.usage_in_bytes", 0);
    set("memory.max_usage_in_bytes", 0);
    set("memory.kmem.tcp.limit_in_bytes", 0);
    set("memory.kmem.tcp.usage_in_bytes", 0);
    set("memory.kmem.tcp.max_usage_in_bytes", 0);
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  void set(const std::string& name, std::uint64_t value) const {
    std::ofstream(m_dir + "/" + name, std::ios::trunc) << value << "\n";
  }
  [[nodiscard]] std::string get(const std::string& name) const {
    std::ifstream file(m_dir + "/" + name);
    std::string text;
    std::getline(file, text);
    return text;
  }
  [[nodiscard]] Cgroup cgroup() const {
    return Cgroup(CgroupPaths{CgroupVersion::v1, m_dir, m_dir});
  }

  std::string m_dir;
};

TEST_F(FakeV1Memory, WithoutSocketLimitNothingIsOverTheLimit) {
  const auto group = cgroup();
  set("memory.kmem.tcp.usage_in_bytes", 1ULL << 40);
  const auto over = group.over_memory_limit();
  ASSERT_TRUE(over) << over.error().message;
  EXPECT_FALSE(*over);
}

TEST_F(FakeV1Memory, MemoryAndSocketBuffersTogetherCrossTheLimit) {
  auto group = cgroup();
  ASSERT_TRUE(group.limit_socket_memory(8));
  EXPECT_EQ(get("memory.kmem.tcp.limit_in_bytes"), "8");
  set("memory.usage_in_bytes", 5);
  set("memory.kmem.tcp.usage_in_bytes", 3);
  EXPECT_EQ(group.over_memory_limit().value_or(true), false);  // exactly at the limit
  set("memory.kmem.tcp.usage_in_bytes", 4);
  EXPECT_EQ(group.over_memory_limit().value_or(false), true);
  // The highest sum seen is the peak, above the memory counter's own.
  set("memory.max_usage_in_bytes", 6);
  EXPECT_EQ(group.memory_peak_bytes().value_or(0), 9U);
}

TEST_F(FakeV1Memory, SocketBuffersThatReachedTheLimitCountUntilTheReset) {
  auto group = cgroup();
  ASSERT_TRUE(group.limit_socket_memory(8));
  set("memory.kmem.tcp.max_usage_in_bytes", 8);  // the kernel refused beyond it
  EXPECT_EQ(group.over_memory_limit().value_or(false), true);
  ASSERT_TRUE(group.reset_memory_peak());
  EXPECT_EQ(get("memory.kmem.tcp.max_usage_in_bytes"), "0");
  EXPECT_EQ(group.over_memory_limit().value_or(true), false);
}

TEST_F(FakeV1Memory, EarlierTasksPageCacheIsNotTheTasksPeak) {
  auto group = cgroup();
  std::ofstream(m_dir + "/memory.stat") << "cache 5\nrss 1\n";
  ASSERT_TRUE(group.reset_memory_peak());
  set("memory.max_usage_in_bytes", 9);
  EXPECT_EQ(group.memory_peak_bytes().value_or(0), 4U);
  // Cache the kernel took back meanwhile (the task needed the room) was the task's peak.
  std::ofstream(m_dir + "/memory.stat") << "cache 3\nrss 1\n";
  EXPECT_EQ(group.memory_peak_bytes().value_or(0), 6U);
}

// A thrashing program's usage dips below the limit for an instant whenever the kernel
// reclaims a batch of its pages; the exec's peak says it was pinned there all the same.
TEST_F(FakeV1Memory, PinnedAtTheLimitByUsageNowOrByThePeak) {
  constexpr std::uint64_t k_limit = 1600;
  set("memory.limit_in_bytes", k_limit);
  auto group = cgroup();
  ASSERT_TRUE(group.reset_memory_peak());
  set("memory.usage_in_bytes", 1000);
  set("memory.max_usage_in_bytes", 1400);
  EXPECT_EQ(group.memory_pinned_at_limit().value_or(true), false) << "never near the limit";
  set("memory.max_usage_in_bytes", k_limit);
  EXPECT_EQ(group.memory_pinned_at_limit().value_or(false), true) << "the peak reached it";
  set("memory.usage_in_bytes", k_limit - k_limit / 16);
  set("memory.max_usage_in_bytes", 1000);
  EXPECT_EQ(group.memory_pinned_at_limit().value_or(false), true) << "usage is there now";
}

// Returns how many descriptors this process has open.
std::size_t open_descriptors() {
  return static_cast<std::size_t>(std::distance(
      std::filesystem::directory_iterator("/proc/self/fd"), std::filesystem::directory_iterator()));
}

TEST_F(FakeV1Memory, OpenFilesOpensEveryDescriptorTheReadingsKeep) {
  set("cpuacct.usage", 7);
  set("memory.failcnt", 2);
  set("memory.limit_in_bytes", 9);
  std::ofstream(m_dir + "/memory.oom_control") << "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n";
  std::ofstream(m_dir + "/memory.stat") << "cache 1\nrss 1\n";
  auto group = cgroup();
  const std::size_t before = open_descriptors();
  ASSERT_TRUE(group.limit_socket_memory(8));
  group.open_files();
  const std::size_t opened = open_descriptors();
  EXPECT_GE(opened, before + 9) << "each of the nine files the readings use is kept open";
  // A task's every check reads through what open_files() opened, and opens nothing more.
  for (int task = 0; task < 3; ++task) {
    EXPECT_TRUE(group.reset_memory_peak());
    EXPECT_TRUE(group.cpu_usage_ns());
    EXPECT_TRUE(group.oom_kills());
    EXPECT_TRUE(group.over_memory_limit());
    EXPECT_TRUE(group.memory_limit_hits());
    EXPECT_TRUE(group.memory_pinned_at_limit());
    EXPECT_TRUE(group.memory_peak_bytes());
    EXPECT_TRUE(group.page_cache_bytes());
    EXPECT_EQ(open_descriptors(), opened) << "task " << task;
  }
}

TEST(Cgroup, V2ChargesSocketsToMemoryItself) {
  Cgroup group(CgroupPaths{CgroupVersion::v2, "/nonexistent", "/nonexistent"});
  EXPECT_TRUE(group.limit_socket_memory(1000));
  EXPECT_EQ(group.over_memory_limit().value_or(true), false);
}

}  // namespace
}  // namespace planificador::os
