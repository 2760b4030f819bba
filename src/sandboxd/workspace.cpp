#include "workspace.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <optional>
#include <span>
#include <string_view>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <vector>

#include "planificador/protocol/options.hpp"
#include "planificador/sandbox/bwrap_plan.hpp"

namespace planificador::sandboxd {
namespace {

constexpr unsigned k_work_mode = 0755;
constexpr unsigned k_shared_mode = 01777;  // like the system's /tmp: world-writable, sticky
constexpr std::array<std::string_view, 4> k_kept = {sandbox::k_work_dir, sandbox::k_tmp_dir,
                                                    sandbox::k_shm_dir, sandbox::k_vartmp_dir};

struct Entry {
  std::string name;
  bool directory = false;
};

// Returns the first entry of directory `dir` other than . and .. and the names in `skip`,
// or nullopt when there is none.
Result<std::optional<Entry>> first_entry(int dir, std::span<const std::string_view> skip = {}) {
  // A fresh open file description each time, so the scan starts over after removals.
  const int scan_fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (scan_fd < 0) {
    return fail_errno("open a directory to wipe");
  }
  DIR* scan = ::fdopendir(scan_fd);
  if (scan == nullptr) {
    const int err = errno;
    ::close(scan_fd);
    return fail_errno("fdopendir", err);
  }
  std::optional<Entry> found;
  errno = 0;
  while (const dirent* entry = ::readdir(scan)) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == ".." || std::find(skip.begin(), skip.end(), name) != skip.end()) {
      continue;
    }
    bool directory = entry->d_type == DT_DIR;
    if (entry->d_type == DT_UNKNOWN) {
      struct stat info {};
      directory =
          ::fstatat(dir, entry->d_name, &info, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(info.st_mode);
    }
    found = Entry{std::string(name), directory};
    break;
  }
  const int err = errno;
  ::closedir(scan);
  if (!found && err != 0) {
    return fail_errno("readdir", err);
  }
  return found;
}

// Opens subdirectory `name` of `parent` for wiping, never through a symlink, and makes it
// writable: the task may have left it without permissions for its owner.
Result<os::Fd> open_for_wipe(int parent, const std::string& name) {
  constexpr int k_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  os::Fd dir(::openat(parent, name.c_str(), k_flags));
  if (!dir && errno == EACCES) {
    // fchmod() refuses O_PATH descriptors; the /proc link reaches the same inode.
    os::Fd path(::openat(parent, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (path) {
      const std::string link = "/proc/self/fd/" + std::to_string(path.get());
      (void)::chmod(link.c_str(), 0700);
      dir.reset(::openat(parent, name.c_str(), k_flags));
    }
  }
  if (!dir) {
    return fail_errno("open `" + name + "` to wipe it");
  }
  (void)::fchmod(dir.get(), 0700);
  return dir;
}

// Removes everything below directory `root`, depth first, holding two descriptors at most
// and the names of the directories on the way down (a task can nest deeper than any fd or
// stack budget).
Result<void> wipe_contents(int root) {
  os::Fd current(::fcntl(root, F_DUPFD_CLOEXEC, 0));
  if (!current) {
    return fail_errno("dup the sandbox root");
  }
  std::vector<std::string> names;
  while (true) {
    auto entry = first_entry(current.get());
    PLAN_TRY(entry);
    if (!*entry) {
      if (names.empty()) {
        return {};
      }
      os::Fd parent(::openat(current.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!parent) {
        return fail_errno("open the parent of `" + names.back() + "`");
      }
      if (::unlinkat(parent.get(), names.back().c_str(), AT_REMOVEDIR) != 0) {
        return fail_errno("rmdir `" + names.back() + "`");
      }
      names.pop_back();
      current = std::move(parent);
      continue;
    }
    if (!(*entry)->directory) {
      if (::unlinkat(current.get(), (*entry)->name.c_str(), 0) != 0 && errno != ENOENT) {
        return fail_errno("unlink `" + (*entry)->name + "`");
      }
      continue;
    }
    auto child = open_for_wipe(current.get(), (*entry)->name);
    PLAN_TRY(child);
    names.push_back(std::move((*entry)->name));
    current = std::move(*child);
  }
}

// Removes `entry` of directory `parent`, with everything below it.
Result<void> remove_entry(int parent, const Entry& entry) {
  if (entry.directory) {
    auto dir = open_for_wipe(parent, entry.name);
    PLAN_TRY(dir);
    if (auto wiped = wipe_contents(dir->get()); !wiped) {
      return wiped;
    }
  }
  if (::unlinkat(parent, entry.name.c_str(), entry.directory ? AT_REMOVEDIR : 0) != 0 &&
      errno != ENOENT) {
    return fail_errno("remove `" + entry.name + "`");
  }
  return {};
}

// The directory itself outlives its task: whatever the task could record on it (extended
// attributes, which tmpfs keeps, and its times) is cleared, so nothing reaches the next one.
Result<void> reset_metadata(int dir) {
  std::string names(4096, '\0');
  const ssize_t length = ::flistxattr(dir, names.data(), names.size());
  if (length < 0 && errno != ENOTSUP) {
    return fail_errno("flistxattr");
  }
  for (std::size_t at = 0; length > 0 && at < static_cast<std::size_t>(length);) {
    const std::string name(names.c_str() + at);
    at += name.size() + 1;
    if (::fremovexattr(dir, name.c_str()) != 0 && errno != ENODATA) {
      return fail_errno("fremovexattr `" + name + "`");
    }
  }
  if (::futimens(dir, nullptr) != 0) {
    return fail_errno("futimens");
  }
  return {};
}

Result<void> write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t written = ::write(fd, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno("write");
    }
    data.remove_prefix(static_cast<std::size_t>(written));
  }
  return {};
}

// Returns `name` under `parent` as a directory, creating it; never follows a symlink.
Result<os::Fd> enter_directory(int parent, const std::string& name) {
  if (::mkdirat(parent, name.c_str(), k_work_mode) != 0 && errno != EEXIST) {
    return fail_errno("mkdir `" + name + "`");
  }
  os::Fd dir(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) {
    if (errno == ELOOP || errno == ENOTDIR) {
      return fail("`" + name + "` is not a directory of the work directory", errno);
    }
    return fail_errno("open `" + name + "`");
  }
  return dir;
}

}  // namespace

Result<Workspace> Workspace::open(const std::string& root) {
  os::Fd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    return fail_errno("open sandbox root `" + root + "`");
  }
  return Workspace(root, std::move(fd));
}

Result<void> Workspace::renew() {
  const std::array<std::pair<const char*, unsigned>, 4> layout = {
      {{sandbox::k_work_dir, k_work_mode},
       {sandbox::k_tmp_dir, k_shared_mode},
       {sandbox::k_shm_dir, k_shared_mode},
       {sandbox::k_vartmp_dir, k_shared_mode}}};
  // The four directories are emptied in place, not replaced: a running sandbox binds them.
  for (const auto& [name, mode] : layout) {
    struct stat info {};
    if (::fstatat(m_fd.get(), name, &info, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(info.st_mode)) {
      continue;
    }
    auto dir = open_for_wipe(m_fd.get(), name);
    if (!dir) {
      return fail("wipe `" + m_root + "`: " + dir.error().message, dir.error().code);
    }
    if (auto wiped = wipe_contents(dir->get()); !wiped) {
      return fail("wipe `" + m_root + "/" + name + "`: " + wiped.error().message,
                  wiped.error().code);
    }
    if (auto reset = reset_metadata(dir->get()); !reset) {
      return fail("reset `" + m_root + "/" + name + "`: " + reset.error().message,
                  reset.error().code);
    }
  }
  // Anything else at the root goes, kept directories excepted.
  while (true) {
    auto entry = first_entry(m_fd.get(), k_kept);
    if (!entry) {
      return fail("wipe `" + m_root + "`: " + entry.error().message, entry.error().code);
    }
    if (!*entry) {
      break;
    }
    if (auto removed = remove_entry(m_fd.get(), **entry); !removed) {
      return fail("wipe `" + m_root + "`: " + removed.error().message, removed.error().code);
    }
  }
  for (const auto& [name, mode] : layout) {
    // fchmodat after mkdirat: the umask must not decide the sticky, world-writable bits.
    if ((::mkdirat(m_fd.get(), name, mode) != 0 && errno != EEXIST) ||
        ::fchmodat(m_fd.get(), name, mode, 0) != 0) {
      return fail_errno("create `" + m_root + "/" + name + "`");
    }
  }
  return {};
}

Result<void> Workspace::write_file(std::string_view path, std::string_view data, unsigned mode) {
  const std::string label = "file `" + std::string(path) + "`: ";
  if (!protocol::is_safe_relative_path(path)) {
    return fail(label + "path escapes the work directory");
  }
  auto dir = enter_directory(m_fd.get(), sandbox::k_work_dir);
  if (!dir) {
    return fail(label + dir.error().message, dir.error().code);
  }
  std::string_view rest = path;
  for (auto slash = rest.find('/'); slash != std::string_view::npos; slash = rest.find('/')) {
    auto next = enter_directory(dir->get(), std::string(rest.substr(0, slash)));
    if (!next) {
      return fail(label + next.error().message, next.error().code);
    }
    *dir = std::move(*next);
    rest.remove_prefix(slash + 1);
  }
  const std::string leaf(rest);
  os::Fd file(::openat(dir->get(), leaf.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!file) {
    if (errno == EEXIST) {
      return fail(label + "already exists", EEXIST);
    }
    return fail_errno(label + "create");
  }
  if (auto written = write_all(file.get(), data); !written) {
    return fail(label + written.error().message, written.error().code);
  }
  if (::fchmod(file.get(), mode) != 0) {
    return fail_errno(label + "chmod");
  }
  return {};
}

}  // namespace planificador::sandboxd
