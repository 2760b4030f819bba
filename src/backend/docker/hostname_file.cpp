#include "planificador/backend/docker/hostname_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sys/mount.h>

#include <spdlog/spdlog.h>

namespace planificador::backend::docker {
namespace {

Result<void> write_hostname(const std::string& path) {
  std::ofstream file(path, std::ios::trunc);
  file << k_sandbox_hostname << '\n';
  file.close();
  if (!file) {
    return fail_errno("write `" + path + "`");
  }
  std::error_code error;
  std::filesystem::permissions(
      path,
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
          std::filesystem::perms::group_read | std::filesystem::perms::others_read,
      error);
  if (error) {
    return fail("chmod `" + path + "`: " + error.message(), error.value());
  }
  return {};
}

// Unmounts every tmpfs stacked on `directory` (EINVAL: none is left).
void unmount_all(const std::string& directory) {
  for (int i = 0; i < 16 && ::umount2(directory.c_str(), MNT_DETACH) == 0; ++i) {
  }
}

}  // namespace

Result<std::string> stage_hostname_file(const std::string& directory) {
  unmount_all(directory);
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    return fail("create `" + directory + "`: " + error.message(), error.value());
  }
  const std::string path = directory + "/hostname";
  PLAN_TRY(write_hostname(path));
  if (::mount("tmpfs", directory.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=16k,nr_inodes=16,mode=0755") != 0) {
    spdlog::warn(
        "mount a tmpfs at `{}`: {}; the sandbox's /etc/hostname is a file of the "
        "host's disk, and a task's mount table names its path",
        directory, std::strerror(errno));
    return path;
  }
  if (auto written = write_hostname(path); !written) {
    unmount_all(directory);
    return tl::unexpected(written.error());
  }
  return path;
}

void remove_hostname_file(const std::string& path) {
  const std::string directory = std::filesystem::path(path).parent_path().string();
  unmount_all(directory);
  std::error_code error;
  std::filesystem::remove_all(directory, error);
}

}  // namespace planificador::backend::docker
