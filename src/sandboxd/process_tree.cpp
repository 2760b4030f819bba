#include "process_tree.hpp"

#include <charconv>
#include <dirent.h>
#include <fcntl.h>
#include <string>
#include <unistd.h>

#include "planificador/os/fd.hpp"

namespace planificador::sandboxd {

pid_t parent_in_stat(std::string_view stat) {
  // "pid (comm) state ppid ...": the comm ends at the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string_view::npos || close + 4 >= stat.size()) {
    return -1;
  }
  std::string_view rest = stat.substr(close + 2);  // "state ppid ..."
  const auto space = rest.find(' ');
  if (space == std::string_view::npos) {
    return -1;
  }
  rest.remove_prefix(space + 1);
  pid_t parent = -1;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), parent);
  if (ec != std::errc{} || end == rest.data()) {
    return -1;
  }
  return parent;
}

std::vector<pid_t> descendants_outside(const std::map<pid_t, pid_t>& parents, pid_t root,
                                       pid_t keep) {
  std::vector<pid_t> found;
  for (const auto& [pid, parent] : parents) {
    if (pid == root || pid == keep) {
      continue;
    }
    // Up the chain: a bounded walk, since /proc is read entry by entry and a pid may be
    // reused meanwhile (a cycle must not hang the helper).
    pid_t at = parent;
    bool kept = false;
    bool ours = false;
    for (std::size_t step = 0; step < parents.size() + 1 && at > 0; ++step) {
      if (at == keep) {
        kept = true;
        break;
      }
      if (at == root) {
        ours = true;
        break;
      }
      const auto up = parents.find(at);
      if (up == parents.end()) {
        break;
      }
      at = up->second;
    }
    if (ours && !kept) {
      found.push_back(pid);
    }
  }
  return found;
}

std::map<pid_t, pid_t> read_process_parents() {
  std::map<pid_t, pid_t> parents;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) {
    return parents;
  }
  while (const dirent* entry = ::readdir(proc)) {
    const std::string_view name = entry->d_name;
    pid_t pid = 0;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (ec != std::errc{} || end != name.data() + name.size()) {
      continue;
    }
    const std::string path = "/proc/" + std::string(name) + "/stat";
    const os::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      continue;  // gone meanwhile
    }
    char buffer[512];
    const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
    if (got <= 0) {
      continue;
    }
    const pid_t parent = parent_in_stat(std::string_view(buffer, static_cast<std::size_t>(got)));
    if (parent >= 0) {
      parents.emplace(pid, parent);
    }
  }
  ::closedir(proc);
  return parents;
}

}  // namespace planificador::sandboxd
