#include <algorithm>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "planificador/sandbox/bwrap_plan.hpp"

namespace planificador::sandbox {
namespace {

using Args = std::vector<std::string>;

SandboxPlan basic_plan() {
  SandboxPlan plan;
  plan.root = "/sandbox";
  plan.system = {{"/usr", SystemEntry::Kind::directory, {}},
                 {"/bin", SystemEntry::Kind::symlink, "usr/bin"},
                 {"/etc", SystemEntry::Kind::directory, {}}};
  return plan;
}

Args arguments(const SandboxPlan& plan) {
  auto args = bwrap_arguments(plan);
  EXPECT_TRUE(args) << (args ? "" : args.error().message);
  return args ? *args : Args{};
}

// Returns the index where `needle` occurs as consecutive arguments, or npos.
std::size_t find_run(const Args& args, const Args& needle) {
  const auto it = std::search(args.begin(), args.end(), needle.begin(), needle.end());
  return it == args.end() ? std::string::npos : static_cast<std::size_t>(it - args.begin());
}

TEST(SandboxdPlan, UnsharesEverythingAndDropsToTheSandboxUser) {
  const Args args = arguments(basic_plan());
  for (const char* flag : {"--unshare-all", "--unshare-user", "--disable-userns",
                           "--die-with-parent", "--new-session", "--clearenv"}) {
    EXPECT_NE(std::find(args.begin(), args.end(), flag), args.end()) << flag;
  }
  EXPECT_NE(find_run(args, {"--uid", "1000", "--gid", "1000"}), std::string::npos);
  EXPECT_NE(find_run(args, {"--hostname", "sandbox"}), std::string::npos);
  EXPECT_NE(std::find(args.begin(), args.end(), "--as-pid-1"), args.end())
      << "the zygote must be the namespace's init: unkillable from inside, reaps orphans";
  EXPECT_NE(find_run(args, {"--mqueue", "/dev/mqueue"}), std::string::npos);
  EXPECT_NE(find_run(args, {"--remount-ro", "/"}), std::string::npos);
  EXPECT_NE(find_run(args, {"--remount-ro", "/dev"}), std::string::npos);
  EXPECT_EQ(std::find(args.begin(), args.end(), "--share-net"), args.end());
}

TEST(SandboxdPlan, BindsTheFourTaskDirectoriesFromTheRoot) {
  const Args args = arguments(basic_plan());
  EXPECT_NE(find_run(args, {"--bind", "/sandbox/work", "/work"}), std::string::npos);
  EXPECT_NE(find_run(args, {"--bind", "/sandbox/tmp", "/tmp"}), std::string::npos);
  EXPECT_NE(find_run(args, {"--bind", "/sandbox/vartmp", "/var/tmp"}), std::string::npos);
  const auto shm = find_run(args, {"--bind", "/sandbox/shm", "/dev/shm"});
  const auto dev = find_run(args, {"--dev", "/dev"});
  ASSERT_NE(shm, std::string::npos);
  ASSERT_NE(dev, std::string::npos);
  EXPECT_LT(dev, shm) << "--dev makes its own /dev/shm; ours must be mounted over it";
  EXPECT_NE(find_run(args, {"--proc", "/proc"}), std::string::npos);
  EXPECT_NE(find_run(args, {"--chdir", "/work"}), std::string::npos);
  const auto remount = find_run(args, {"--remount-ro", "/"});
  ASSERT_NE(remount, std::string::npos) << "bwrap's own root must not be writable";
  EXPECT_LT(shm, remount) << "the root is made read-only after every mount is in place";
}

TEST(SandboxdPlan, JoinsARootWithATrailingSlash) {
  SandboxPlan plan = basic_plan();
  plan.root = "/tmp/x/";
  const Args args = arguments(plan);
  EXPECT_NE(find_run(args, {"--bind", "/tmp/x/work", "/work"}), std::string::npos);
}

TEST(SandboxdPlan, ReproducesSystemEntriesReadOnlyAndNothingElse) {
  const Args args = arguments(basic_plan());
  EXPECT_NE(find_run(args, {"--ro-bind", "/usr", "/usr"}), std::string::npos);
  EXPECT_NE(find_run(args, {"--ro-bind", "/etc", "/etc"}), std::string::npos);
  EXPECT_NE(find_run(args, {"--symlink", "usr/bin", "/bin"}), std::string::npos);
  EXPECT_EQ(find_run(args, {"/lib64"}), std::string::npos) << "absent entries are not bound";
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--bind" || args[i] == "--ro-bind" || args[i] == "--dev-bind") {
      EXPECT_NE(args[i + 1], "/") << "the container's root must never be visible";
      // Nothing of the helper: its binary reaches the sandbox as a descriptor.
      EXPECT_NE(args[i + 1].rfind("/planificador", 0), 0U) << args[i + 1];
    }
  }
}

TEST(SandboxdPlan, EndsWithTheZygoteRunFromItsDescriptor) {
  const Args args = arguments(basic_plan());
  const Args tail = {"--", "/proc/self/fd/4", "--zygote", "3"};
  ASSERT_GE(args.size(), tail.size());
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), args.end() - static_cast<long>(tail.size())));
  EXPECT_EQ(find_run(args, {"--"}), args.size() - tail.size()) << "one `--` before the zygote";
  EXPECT_LT(find_run(args, {"--clearenv"}), args.size() - tail.size());
}

TEST(SandboxdPlan, ProgramEnvironmentAddsPathAndHomeFirst) {
  const auto env = program_environment({"A=1", "B=x=y", "EMPTY="});
  ASSERT_TRUE(env) << env.error().message;
  ASSERT_EQ(env->size(), 5U);
  EXPECT_EQ((*env)[0].rfind("PATH=", 0), 0U);
  EXPECT_NE((*env)[0].find("/usr/bin"), std::string::npos);
  EXPECT_EQ((*env)[1], "HOME=/work");
  EXPECT_EQ((*env)[2], "A=1");
  EXPECT_EQ((*env)[3], "B=x=y");
  EXPECT_EQ((*env)[4], "EMPTY=");
}

TEST(SandboxdPlan, ProgramEnvironmentKeepsTheCallersPathAndHome) {
  const auto env = program_environment({"PATH=/opt/bin", "HOME=/tmp"});
  ASSERT_TRUE(env) << env.error().message;
  EXPECT_EQ(*env, (std::vector<std::string>{"PATH=/opt/bin", "HOME=/tmp"}));
}

TEST(SandboxdPlan, ProgramEnvironmentRejectsEntriesThatAreNotAssignments) {
  for (const char* bad : {"NOEQUALS", "=value"}) {
    const auto env = program_environment({"A=1", bad});
    ASSERT_FALSE(env) << bad;
    EXPECT_NE(env.error().message.find("KEY=VALUE"), std::string::npos) << bad;
  }
}

TEST(SandboxdPlan, RejectsBadPlans) {
  const auto error_of = [](const SandboxPlan& plan) {
    auto args = bwrap_arguments(plan);
    return args ? std::string() : args.error().message;
  };
  SandboxPlan plan = basic_plan();
  plan.root = "relative";
  EXPECT_NE(error_of(plan).find("not absolute"), std::string::npos);
  for (const char* hidden : {"/tmp", "/work", "/dev", "/proc", "/var", "/usr/lib", "usr", "/"}) {
    plan = basic_plan();
    plan.system.push_back({hidden, SystemEntry::Kind::directory, {}});
    EXPECT_NE(error_of(plan).find("cannot be shown"), std::string::npos) << hidden;
  }
}

TEST(SandboxdPlan, ProbesTheSystemAsItIs) {
  const auto entries = probe_system_entries();
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.front().path, "/usr");
  for (const char* path :
       {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}) {
    struct stat info {};
    const bool exists = ::lstat(path, &info) == 0;
    const auto found = std::find_if(entries.begin(), entries.end(),
                                    [&](const SystemEntry& e) { return e.path == path; });
    if (!exists) {
      EXPECT_EQ(found, entries.end()) << path;
      continue;
    }
    ASSERT_NE(found, entries.end()) << path;
    if (S_ISLNK(info.st_mode)) {
      EXPECT_EQ(found->kind, SystemEntry::Kind::symlink) << path;
      std::string target(4096, '\0');
      target.resize(static_cast<std::size_t>(::readlink(path, target.data(), target.size())));
      EXPECT_EQ(found->target, target);
    } else {
      EXPECT_EQ(found->kind, SystemEntry::Kind::directory) << path;
    }
  }
  // Whatever the system is, the probe's output must make a valid plan.
  SandboxPlan plan = basic_plan();
  plan.system = entries;
  EXPECT_TRUE(bwrap_arguments(plan));
}

}  // namespace
}  // namespace planificador::sandbox
