#include "planificador/os/cgroup.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <string_view>
#include <unistd.h>

namespace planificador::os {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  return text;
}

bool lists_controller(std::string_view controllers, std::string_view wanted) {
  while (!controllers.empty()) {
    const auto comma = controllers.find(',');
    if (controllers.substr(0, comma) == wanted) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    controllers.remove_prefix(comma + 1);
  }
  return false;
}

// Reads a small accounting file through a descriptor (pread from 0), so the v2 peak
// descriptor can be read again and again.
Result<std::string> read_fd(int fd, const std::string& path) {
  std::string text;
  char buffer[4096];
  off_t offset = 0;
  for (;;) {
    const ssize_t got = ::pread(fd, buffer, sizeof buffer, offset);
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno("read `" + path + "`");
    }
    if (got == 0) {
      return text;
    }
    text.append(buffer, static_cast<std::size_t>(got));
    offset += got;
  }
}

// Opens `path` into `fd` unless it is open already.
Result<void> open_kept(Fd& fd, const std::string& path, int flags) {
  if (!fd) {
    fd.reset(::open(path.c_str(), flags | O_CLOEXEC));
    if (!fd) {
      return fail_errno("open `" + path + "`");
    }
  }
  return {};
}

// Reads `path` through `fd`, opened on first use (with `flags`) and kept: a cgroup file
// read again from offset 0 is generated afresh, and the open is most of what a read would
// cost.
Result<std::string> read_kept(Fd& fd, const std::string& path, int flags = O_RDONLY) {
  PLAN_TRY(open_kept(fd, path, flags));
  return read_fd(fd.get(), path);
}

Result<std::string> read_file(const std::string& path) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return fail_errno("open `" + path + "`");
  }
  return read_fd(fd.get(), path);
}

Result<void> write_file(int fd, const std::string& path, std::string_view text) {
  if (::pwrite(fd, text.data(), text.size(), 0) < 0) {
    return fail_errno("write `" + path + "`");
  }
  return {};
}

}  // namespace

Result<std::uint64_t> parse_number(std::string_view text) {
  const std::string_view value = trim(text);
  std::uint64_t number = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (value.empty() || ec != std::errc{} || end != value.data() + value.size()) {
    return fail("not a number: `" + std::string(value) + "`");
  }
  return number;
}

Result<std::uint64_t> parse_keyed_value(std::string_view text, std::string_view key) {
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ' ') {
      return parse_number(line.substr(key.size() + 1));
    }
    if (newline == std::string_view::npos) {
      break;
    }
    text.remove_prefix(newline + 1);
  }
  return fail("no `" + std::string(key) + "` line");
}

Result<CgroupPaths> parse_proc_cgroup(std::string_view text, std::string_view root) {
  std::string memory;
  std::string cpuacct;
  std::string unified;
  bool has_unified = false;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    // hierarchy-ID:controller-list:cgroup-path (man 7 cgroups)
    const auto first = line.find(':');
    const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) {
      continue;
    }
    const std::string_view controllers = line.substr(first + 1, second - first - 1);
    const std::string_view path = line.substr(second + 1);
    if (!path.starts_with('/')) {
      continue;
    }
    // A combined hierarchy ("cpu,cpuacct") is mounted under its full controller list.
    const std::string directory =
        std::string(root) + "/" + std::string(controllers) + (path == "/" ? "" : std::string(path));
    if (lists_controller(controllers, "memory")) {
      memory = directory;
    } else if (lists_controller(controllers, "cpuacct")) {
      cpuacct = directory;
    } else if (line.substr(0, first) == "0" && controllers.empty()) {
      has_unified = true;
      unified = std::string(root) + (path == "/" ? "" : std::string(path));
    }
  }
  if (!memory.empty() && !cpuacct.empty()) {
    return CgroupPaths{CgroupVersion::v1, memory, cpuacct};
  }
  if (memory.empty() && has_unified) {
    return CgroupPaths{CgroupVersion::v2, unified, unified};
  }
  return fail("no memory and cpuacct hierarchies and no unified hierarchy listed");
}

CgroupPaths container_cgroup_paths(std::string_view id, std::string_view parent,
                                   const CgroupLayout& layout, std::string_view root) {
  const bool systemd = layout.driver == "systemd";
  std::string relative(parent.empty() ? (systemd ? "system.slice" : "docker") : parent);
  while (!relative.empty() && relative.front() == '/') {
    relative.erase(0, 1);
  }
  // Appended piece by piece: GCC 12 at -O3 sees a false overlap in "/docker-" + std::string.
  relative += systemd ? "/docker-" : "/";
  relative += id;
  if (systemd) {
    relative += ".scope";
  }
  const std::string base(root);
  if (layout.version == CgroupVersion::v2) {
    const std::string unified = base + "/" + relative;
    return CgroupPaths{CgroupVersion::v2, unified, unified};
  }
  const std::string cpu =
      ::access((base + "/cpuacct").c_str(), F_OK) == 0 ? "cpuacct" : "cpu,cpuacct";
  return CgroupPaths{CgroupVersion::v1, base + "/memory/" + relative,
                     base + "/" + cpu + "/" + relative};
}

Result<Cgroup> Cgroup::of_container(std::string_view id, pid_t pid, std::string_view parent,
                                    const CgroupLayout& layout, std::string_view root) {
  if (pid > 0) {
    // Another process of the same number (a PID namespace that is not the host's) names
    // another cgroup: only one that names the container is taken.
    if (auto text = read_file("/proc/" + std::to_string(pid) + "/cgroup")) {
      if (auto paths = parse_proc_cgroup(*text, root);
          paths && paths->memory.find(id) != std::string::npos) {
        return Cgroup(std::move(*paths));
      }
    }
  }
  CgroupPaths paths = container_cgroup_paths(id, parent, layout, root);
  for (const auto* directory : {&paths.memory, &paths.cpu}) {
    if (::access(directory->c_str(), F_OK) != 0) {
      return fail_errno("cgroup directory `" + *directory + "`");
    }
  }
  return Cgroup(std::move(paths));
}

Result<Cgroup> Cgroup::of_process(pid_t pid, std::string_view root) {
  const std::string path = "/proc/" + std::to_string(pid) + "/cgroup";
  auto text = read_file(path);
  PLAN_TRY(text);
  auto paths = parse_proc_cgroup(*text, root);
  if (!paths) {
    return fail(path + ": " + paths.error().message);
  }
  return Cgroup(std::move(*paths));
}

Result<std::uint64_t> Cgroup::cpu_usage_ns() const {
  if (m_paths.version == CgroupVersion::v1) {
    const std::string path = m_paths.cpu + "/cpuacct.usage";
    return read_kept(m_cpu, path).and_then(parse_number);
  }
  const std::string path = m_paths.cpu + "/cpu.stat";
  return read_kept(m_cpu, path)
      .and_then([](const std::string& text) { return parse_keyed_value(text, "usage_usec"); })
      .map([](std::uint64_t usec) { return usec * 1000; });
}

Result<std::uint64_t> Cgroup::oom_kills() const {
  const std::string path =
      m_paths.memory +
      (m_paths.version == CgroupVersion::v1 ? "/memory.oom_control" : "/memory.events");
  return read_kept(m_oom, path).and_then([](const std::string& text) {
    return parse_keyed_value(text, "oom_kill");
  });
}

Result<void> Cgroup::reset_memory_peak() {
  m_cache_at_reset = page_cache_bytes().value_or(0);
  if (m_paths.version == CgroupVersion::v1) {
    m_seen_peak = 0;
    if (m_socket_limit != 0) {
      const std::string path = m_paths.memory + "/memory.kmem.tcp.max_usage_in_bytes";
      if (auto reset = open_kept(m_socket_peak, path, O_RDWR).and_then([&] {
            return write_file(m_socket_peak.get(), path, "0");
          });
          !reset) {
        return reset;
      }
    }
    // memory.max_usage_in_bytes: writing resets it to the current usage (cgroup-v1/memory.rst).
    const std::string path = m_paths.memory + "/memory.max_usage_in_bytes";
    if (auto opened = open_kept(m_peak, path, O_RDWR); !opened) {
      return opened;
    }
    return write_file(m_peak.get(), path, "0");
  }
  // v2 memory.peak: a write resets the peak seen through that open descriptor only
  // (Linux 6.12, cgroup-v2.rst), so the descriptor is kept for the later read.
  const std::string path = m_paths.memory + "/memory.peak";
  m_peak.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!m_peak) {
    return fail_errno("open `" + path + "`");
  }
  if (auto written = write_file(m_peak.get(), path, "reset\n"); !written) {
    m_peak.reset();  // older kernels: the peak since the cgroup was made
    return written;
  }
  return {};
}

Result<void> Cgroup::limit_socket_memory(std::uint64_t bytes) {
  if (m_paths.version != CgroupVersion::v1) {
    return {};
  }
  const std::string path = m_paths.memory + "/memory.kmem.tcp.limit_in_bytes";
  const Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) {
    return fail_errno("open `" + path + "`");
  }
  if (auto written = write_file(fd.get(), path, std::to_string(bytes)); !written) {
    return written;
  }
  m_socket_limit = bytes;
  return {};
}

Result<bool> Cgroup::over_memory_limit() const {
  if (m_socket_limit == 0) {
    return false;
  }
  const std::string directory = m_paths.memory;
  auto memory = read_kept(m_usage, directory + "/memory.usage_in_bytes").and_then(parse_number);
  auto sockets = read_kept(m_socket_usage, directory + "/memory.kmem.tcp.usage_in_bytes")
                     .and_then(parse_number);
  auto socket_peak =
      read_kept(m_socket_peak, directory + "/memory.kmem.tcp.max_usage_in_bytes", O_RDWR)
          .and_then(parse_number);
  if (!memory || !sockets || !socket_peak) {
    return tl::unexpected(!memory    ? memory.error()
                          : !sockets ? sockets.error()
                                     : socket_peak.error());
  }
  m_seen_peak = std::max(m_seen_peak, *memory + *sockets);
  return *memory + *sockets > m_socket_limit || *socket_peak >= m_socket_limit;
}

Result<std::uint64_t> Cgroup::memory_limit_hits() const {
  if (m_paths.version == CgroupVersion::v1) {
    return read_kept(m_hits, m_paths.memory + "/memory.failcnt").and_then(parse_number);
  }
  return read_kept(m_hits, m_paths.memory + "/memory.events").and_then([](const std::string& text) {
    return parse_keyed_value(text, "max");
  });
}

Result<bool> Cgroup::memory_pinned_at_limit() const {
  const bool v1 = m_paths.version == CgroupVersion::v1;
  auto usage =
      read_kept(m_usage, m_paths.memory + (v1 ? "/memory.usage_in_bytes" : "/memory.current"))
          .and_then(parse_number);
  auto limit = read_kept(m_limit, m_paths.memory + (v1 ? "/memory.limit_in_bytes" : "/memory.max"))
                   .and_then([](const std::string& text) -> Result<std::uint64_t> {
                     // v2 says "max" for no limit: nothing to be pinned at.
                     if (text.starts_with("max")) {
                       return std::uint64_t{0};
                     }
                     return parse_number(text);
                   });
  if (!usage || !limit) {
    return tl::unexpected(!usage ? usage.error() : limit.error());
  }
  // A thrashing program's usage dips for an instant each time the kernel reclaims a batch
  // of its pages, so the exec's peak counts as much as the reading of now.
  const std::uint64_t highest = std::max(*usage, raw_memory_peak().value_or(0));
  return *limit > 0 && highest >= *limit - *limit / 16;
}

void Cgroup::open_files() {
  // Every reading a task's checks make, once: each opens the files it keeps.
  (void)cpu_usage_ns();
  (void)oom_kills();
  (void)reset_memory_peak();
  (void)page_cache_bytes();
  (void)over_memory_limit();
  (void)memory_limit_hits();
  (void)memory_pinned_at_limit();
}

Result<std::uint64_t> Cgroup::page_cache_bytes() const {
  const bool v1 = m_paths.version == CgroupVersion::v1;
  return read_kept(m_stat, m_paths.memory + "/memory.stat").and_then([v1](const std::string& text) {
    return parse_keyed_value(text, v1 ? "cache" : "file");
  });
}

Result<std::uint64_t> Cgroup::raw_memory_peak() const {
  if (m_paths.version == CgroupVersion::v1) {
    return read_kept(m_peak, m_paths.memory + "/memory.max_usage_in_bytes", O_RDWR)
        .and_then(parse_number)
        .map([this](std::uint64_t raw) { return std::max(raw, m_seen_peak); });
  }
  const std::string path = m_paths.memory + "/memory.peak";
  return m_peak ? read_fd(m_peak.get(), path).and_then(parse_number)
                : read_file(path).and_then(parse_number);
}

Result<std::uint64_t> Cgroup::memory_peak_bytes() const {
  auto peak = raw_memory_peak();
  if (!peak) {
    return peak;
  }
  const std::uint64_t kept = std::min(m_cache_at_reset, page_cache_bytes().value_or(0));
  return *peak > kept ? *peak - kept : 0;
}

}  // namespace planificador::os
