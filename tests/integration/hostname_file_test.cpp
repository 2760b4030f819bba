// The sandbox's own /etc/hostname: a file on a tmpfs of its own, with a plain copy beneath
// for an engine that does not see the daemon's mounts, against the real kernel.

#include "planificador/backend/docker/hostname_file.hpp"

#include <filesystem>
#include <fstream>
#include <linux/magic.h>
#include <sstream>
#include <string>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "skip.hpp"
#include <gtest/gtest.h>

namespace planificador::backend::docker {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

bool on_tmpfs(const std::string& path) {
  struct statfs info {};
  return ::statfs(path.c_str(), &info) == 0 && info.f_type == TMPFS_MAGIC;
}

class HostnameFile : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      PLANIFICADOR_SKIP_OUTSIDE_CI("mounting a tmpfs needs root");
    }
    std::string pattern =
        (std::filesystem::temp_directory_path() / "hostname-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    m_dir = pattern;
    // The state directory itself may be a tmpfs (/run, /tmp on many hosts): the test needs
    // one that is not, to tell the daemon's tmpfs from it.
    if (on_tmpfs(m_dir)) {
      ASSERT_EQ(::mount("none", m_dir.c_str(), "ramfs", 0, nullptr), 0);
      m_ramfs = true;
    }
  }
  void TearDown() override {
    if (m_ramfs) {
      (void)::umount2(m_dir.c_str(), MNT_DETACH);
    }
    std::filesystem::remove_all(m_dir);
  }

  std::string m_dir;
  bool m_ramfs = false;
};

TEST_F(HostnameFile, IsOnATmpfsOfItsOwnWithACopyBeneath) {
  const std::string directory = m_dir + "/host-a.etc";
  auto path = stage_hostname_file(directory);
  ASSERT_TRUE(path) << path.error().message;
  EXPECT_EQ(*path, directory + "/hostname");
  EXPECT_EQ(read_all(*path), "sandbox\n");
  EXPECT_TRUE(on_tmpfs(*path));
  EXPECT_EQ(std::filesystem::status(*path).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::others_read);
  // Beneath the tmpfs, for an engine in another mount namespace.
  ASSERT_EQ(::umount2(directory.c_str(), MNT_DETACH), 0);
  EXPECT_FALSE(on_tmpfs(*path));
  EXPECT_EQ(read_all(*path), "sandbox\n");
}

TEST_F(HostnameFile, ALeftoverMountIsReplacedAndRemovalLeavesNothing) {
  const std::string directory = m_dir + "/host-b.etc";
  ASSERT_TRUE(stage_hostname_file(directory));  // as a daemon that crashed left it
  auto again = stage_hostname_file(directory);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(read_all(*again), "sandbox\n");
  remove_hostname_file(*again);
  EXPECT_FALSE(std::filesystem::exists(directory));
  // Nothing stays mounted there.
  EXPECT_NE(::umount2(directory.c_str(), MNT_DETACH), 0);
}

TEST_F(HostnameFile, AnUncreatableDirectoryIsAnError) {
  const std::string file = m_dir + "/plain";
  std::ofstream(file) << "x";
  auto path = stage_hostname_file(file + "/below");
  ASSERT_FALSE(path);
  EXPECT_NE(path.error().message.find(file), std::string::npos) << path.error().message;
}

}  // namespace
}  // namespace planificador::backend::docker
