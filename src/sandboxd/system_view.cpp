#include "system_view.hpp"

#include <array>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <string_view>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "planificador/os/fd.hpp"

namespace planificador::sandboxd {
namespace {

// The copy of /etc: a few hundred entries and well under a MiB in the runner images.
constexpr const char* k_stage_options = "size=16m,nr_inodes=8192,mode=0755";
constexpr int k_max_depth = 32;

Result<void> write_text(const char* path, std::string_view text) {
  const os::Fd fd(::open(path, O_WRONLY | O_CLOEXEC));
  if (!fd) {
    return fail_errno(std::string("open `") + path + "`");
  }
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return fail_errno(std::string("write `") + path + "`");
  }
  return {};
}

// A user namespace mapping the helper's uid and gid to themselves, and a mount namespace
// it owns, private from the container's.
Result<void> enter_own_namespaces() {
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
    return fail_errno("unshare a user and mount namespace");
  }
  PLAN_TRY(write_text("/proc/self/setgroups", "deny"));
  PLAN_TRY(
      write_text("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1"));
  PLAN_TRY(
      write_text("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1"));
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return fail_errno("make the helper's mounts private");
  }
  return {};
}

Result<void> copy_file(int from, int to, const char* name, mode_t mode) {
  const os::Fd source(::openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  const bool unreadable = !source && (errno == EACCES || errno == EPERM);
  if (!source && !unreadable) {
    return fail_errno(std::string("open /etc entry `") + name + "`");
  }
  const os::Fd target(::openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!target) {
    return fail_errno(std::string("create the copy of `") + name + "`");
  }
  if (unreadable) {
    // What the helper may not read (/etc/shadow), a task may not either: it is there,
    // empty and with no permission at all, so opening it still fails as it did.
    return ::fchmod(target.get(), 0) == 0 ? Result<void>{}
                                          : fail_errno("chmod a copied /etc entry");
  }
  std::array<char, 65536> buffer{};
  for (;;) {
    const ssize_t got = ::read(source.get(), buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got < 0) {
      return fail_errno(std::string("read /etc entry `") + name + "`");
    }
    if (got == 0) {
      break;
    }
    for (ssize_t done = 0; done < got;) {
      const ssize_t put =
          ::write(target.get(), buffer.data() + done, static_cast<std::size_t>(got - done));
      if (put < 0) {
        return fail_errno(std::string("copy /etc entry `") + name + "`");
      }
      done += put;
    }
  }
  if (::fchmod(target.get(), mode & 0777) != 0) {
    return fail_errno("chmod a copied /etc entry");
  }
  return {};
}

Result<void> copy_tree(int from, int to, int depth);

Result<void> copy_symlink(int from, int to, const char* name) {
  std::array<char, 4096> target{};
  const ssize_t length = ::readlinkat(from, name, target.data(), target.size() - 1);
  if (length < 0 || ::symlinkat(target.data(), to, name) != 0) {
    return fail_errno(std::string("copy the /etc symlink `") + name + "`");
  }
  return {};
}

// A directory the helper cannot list is copied empty, with its mode.
Result<void> copy_directory(int from, int to, const char* name, mode_t mode, int depth) {
  if (::mkdirat(to, name, 0700) != 0) {
    return fail_errno(std::string("create the copy of `") + name + "`");
  }
  const os::Fd inner_to(::openat(to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!inner_to) {
    return fail_errno("open a copied /etc directory");
  }
  const os::Fd inner_from(::openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (inner_from) {
    PLAN_TRY(copy_tree(inner_from.get(), inner_to.get(), depth + 1));
  } else if (errno != EACCES) {
    return fail_errno(std::string("open /etc directory `") + name + "`");
  }
  if (::fchmod(inner_to.get(), mode & 01777) != 0) {
    return fail_errno("chmod a copied /etc directory");
  }
  return {};
}

Result<void> copy_entry(int from, int to, const char* name, int depth) {
  struct stat info {};
  if (::fstatat(from, name, &info, AT_SYMLINK_NOFOLLOW) != 0) {
    return fail_errno(std::string("stat /etc entry `") + name + "`");
  }
  if (S_ISREG(info.st_mode)) {
    return copy_file(from, to, name, info.st_mode);
  }
  if (S_ISLNK(info.st_mode)) {
    return copy_symlink(from, to, name);
  }
  if (S_ISDIR(info.st_mode)) {
    return copy_directory(from, to, name, info.st_mode, depth);
  }
  return {};
}

// Copies the directory `from` into `to`: subdirectories, regular files and symlinks, never
// following a symlink; set-id bits are dropped, other file types left out.
Result<void> copy_tree(int from, int to, int depth) {
  if (depth > k_max_depth) {
    return fail("/etc is nested deeper than " + std::to_string(k_max_depth));
  }
  const int listing_fd = ::dup(from);
  DIR* listing = listing_fd >= 0 ? ::fdopendir(listing_fd) : nullptr;
  if (listing == nullptr) {
    if (listing_fd >= 0) {
      ::close(listing_fd);
    }
    return fail_errno("list /etc");
  }
  Result<void> result;
  while (result) {
    errno = 0;
    const dirent* entry = ::readdir(listing);
    if (entry == nullptr) {
      if (errno != 0) {
        result = fail_errno("list /etc");
      }
      break;
    }
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") {
      result = copy_entry(from, to, entry->d_name, depth);
    }
  }
  ::closedir(listing);
  return result;
}

Result<void> copy_etc(const std::string& target) {
  const os::Fd from(::open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!from) {
    return fail_errno("open /etc");
  }
  const os::Fd to(::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!to) {
    return fail_errno("open `" + target + "`");
  }
  PLAN_TRY(copy_tree(from.get(), to.get(), 0));
  if (::fchmod(to.get(), 0755) != 0) {
    return fail_errno("chmod the copy of /etc");
  }
  return {};
}

// Covers each entry of `entries` in place; `stage` is a tmpfs holding empty/ and etc/.
Result<void> cover(const std::vector<sandbox::SystemEntry>& entries, const std::string& stage) {
  const std::string empty = stage + "/empty";
  const std::string etc = stage + "/etc";
  if (::mkdir(empty.c_str(), 0755) != 0 || ::mkdir(etc.c_str(), 0700) != 0) {
    return fail_errno("create `" + stage + "`'s directories");
  }
  for (const auto& entry : entries) {
    if (entry.kind != sandbox::SystemEntry::Kind::directory) {
      continue;
    }
    if (entry.path == "/etc") {
      PLAN_TRY(copy_etc(etc));
      if (::mount(etc.c_str(), "/etc", nullptr, MS_BIND, nullptr) != 0 ||
          ::mount(nullptr, "/etc", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
                  nullptr) != 0) {
        return fail_errno("bind the copy of /etc");
      }
      continue;
    }
    // An overlay without an upper layer is read-only and needs two lower ones.
    const std::string options = "lowerdir=" + entry.path + ":" + empty;
    if (::mount("overlay", entry.path.c_str(), "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV,
                options.c_str()) != 0) {
      return fail_errno("mount an overlay of `" + entry.path + "`");
    }
  }
  return {};
}

}  // namespace

Result<void> cover_system_directories(const std::vector<sandbox::SystemEntry>& entries,
                                      const std::string& scratch) {
  PLAN_TRY(enter_own_namespaces());
  std::string stage = scratch + "/.planificador-system.XXXXXX";
  if (::mkdtemp(stage.data()) == nullptr) {
    return fail_errno("create a directory in `" + scratch + "`");
  }
  Result<void> covered;
  if (::mount("tmpfs", stage.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, k_stage_options) !=
      0) {
    covered = fail_errno("mount a tmpfs at `" + stage + "`");
  } else {
    covered = cover(entries, stage);
    // The overlays keep their empty layer and /etc its tmpfs; the stage itself can go.
    (void)::umount2(stage.c_str(), MNT_DETACH);
  }
  (void)::rmdir(stage.c_str());
  return covered;
}

}  // namespace planificador::sandboxd
