#include "task_setup.hpp"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/capability.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <net/if.h>

namespace planificador::sandboxd {
namespace {

constexpr unsigned long k_quiet_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;

// What /proc shows of the host rather than of the task: its kernel command line and
// configuration, memory, CPU, interrupt and I/O counters, pressure, the locks and keys of
// every process. Read by a task they are a side channel on concurrent tasks (OFD locks of
// another container's task, the host's load); no program needs them to run. /proc/stat
// and /proc/meminfo are replaced by still copies instead (still_views()): glibc counts
// the CPUs in /proc/stat when there is no /sys, and runtimes read the memory total.
constexpr std::array<const char*, 20> k_masked_files = {
    "/proc/cmdline",   "/proc/config.gz",    "/proc/vmstat",      "/proc/zoneinfo",
    "/proc/buddyinfo", "/proc/pagetypeinfo", "/proc/slabinfo",    "/proc/interrupts",
    "/proc/softirqs",  "/proc/diskstats",    "/proc/partitions",  "/proc/swaps",
    "/proc/loadavg",   "/proc/schedstat",    "/proc/locks",       "/proc/keys",
    "/proc/key-users", "/proc/timer_list",   "/proc/sched_debug", "/proc/kallsyms"};
// Where the still copies are written before they are bound over /proc: a tmpfs of the
// task's own mounted on the task's /tmp for that moment only.
constexpr const char* k_staging = "/tmp";
constexpr std::array<const char*, 7> k_masked_directories = {
    "/proc/pressure", "/proc/irq",    "/proc/bus",   "/proc/scsi",
    "/proc/acpi",     "/proc/asound", "/proc/driver"};

bool exists(const char* path, bool directory) {
  struct stat info {};
  return ::lstat(path, &info) == 0 && (S_ISDIR(info.st_mode) == directory);
}

// A /proc, a /dev/mqueue and a /dev/pts of the task's own namespaces, on top of the
// sandbox's in a mount namespace of the task's own (none of the sandbox's mounts is
// shared, so nothing propagates back). The proc flags match the sandbox's proc mount, which
// the kernel requires of a new one (mount_too_revealing, fs/namespace.c); the devpts is a
// new instance with a pty budget of its own (devpts `max`), since kernel.pty.max is one
// pool for the whole host.
const char* mount_task_filesystems() {
  if (::mount("proc", "/proc", "proc", k_quiet_flags, nullptr) != 0) {
    return "mount /proc";
  }
  if (::mount("mqueue", "/dev/mqueue", "mqueue", k_quiet_flags, nullptr) != 0) {
    return "mount /dev/mqueue";
  }
  const std::string pts = "newinstance,ptmxmode=0666,mode=620,max=" + std::to_string(k_task_ptys);
  if (::mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, pts.c_str()) != 0) {
    return "mount /dev/pts";
  }
  return nullptr;
}

// The task's network namespace is new and empty but for a loopback interface that is
// down: up it goes, as Bubblewrap does for the sandbox's (SIOCSIFFLAGS, netdevice(7)).
const char* loopback_up() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return "socket for the loopback interface";
  }
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  const bool up = ::ioctl(fd, SIOCGIFFLAGS, &request) == 0 &&
                  (request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP),
                   ::ioctl(fd, SIOCSIFFLAGS, &request) == 0);
  const int err = errno;
  ::close(fd);
  errno = err;
  return up ? nullptr : "bring the loopback interface up";
}

// Returns the number after `key` on its line of `text` ("btime 1764590000"), or 0.
unsigned long long field(const std::string& text, const std::string& key) {
  const auto at = text.find("\n" + key);
  const auto start =
      at == std::string::npos ? (text.starts_with(key) ? 0 : std::string::npos) : at + 1;
  if (start == std::string::npos) {
    return 0;
  }
  return std::strtoull(text.c_str() + start + key.size(), nullptr, 10);
}

std::string read_text(const char* path) {
  std::string text;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return text;
  }
  std::array<char, 4096> buffer{};
  for (ssize_t got = 0; (got = ::read(fd, buffer.data(), buffer.size())) > 0;) {
    text.append(buffer.data(), static_cast<std::size_t>(got));
  }
  ::close(fd);
  return text;
}

bool write_text(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
  if (fd < 0) {
    return false;
  }
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return written;
}

// Binds `source` over `target`, read-only. Not nodev: a masked file is /dev/null, which
// must read empty rather than refuse to open.
bool bind_read_only(const std::string& source, const char* target) {
  return ::mount(source.c_str(), target, nullptr, MS_BIND, nullptr) == 0 &&
         ::mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
                 nullptr) == 0;
}

// /proc/stat with one idle line per CPU the task may run on and the boot time, and
// /proc/meminfo with the host's total, both fixed at the task's start: what programs read
// them for, without the counters that move with other tasks.
const char* still_views(const ProcessBaseline& baseline) {
  const std::string stat = read_text("/proc/stat");
  const std::string meminfo = read_text("/proc/meminfo");
  const std::string idle = " 0 0 0 0 0 0 0 0 0 0\n";
  std::string still_stat = "cpu " + idle;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &baseline.affinity)) {
      still_stat += "cpu" + std::to_string(cpu) + idle;
    }
  }
  still_stat += "intr 0\nctxt 0\nbtime " + std::to_string(field(stat, "btime")) +
                "\nprocesses 0\nprocs_running 1\nprocs_blocked 0\nsoftirq 0\n";
  const std::string total = std::to_string(field(meminfo, "MemTotal:"));
  std::string still_meminfo = "MemTotal:       " + total + " kB\nMemFree:        " + total +
                              " kB\nMemAvailable:   " + total + " kB\n";
  for (const char* zero : {"Buffers:", "Cached:", "SwapCached:", "SwapTotal:", "SwapFree:"}) {
    still_meminfo += std::string(zero) + std::string(16 - std::strlen(zero), ' ') + "0 kB\n";
  }
  if (::mount("tmpfs", k_staging, "tmpfs", k_quiet_flags, "size=64k,mode=0700") != 0) {
    return "mount a staging tmpfs";
  }
  const std::string staging = k_staging;
  const bool ok = write_text(staging + "/stat", still_stat) &&
                  write_text(staging + "/meminfo", still_meminfo) &&
                  bind_read_only(staging + "/stat", "/proc/stat") &&
                  bind_read_only(staging + "/meminfo", "/proc/meminfo");
  // The binds keep their files; the task's /tmp is the sandbox's again.
  if (::umount2(k_staging, MNT_DETACH) != 0 || !ok) {
    return "replace /proc/stat and /proc/meminfo";
  }
  return nullptr;
}

// Each masked file reads empty (/dev/null bound over it, read-only), each masked directory
// is an empty read-only tmpfs. Entries this kernel does not have are skipped.
const char* mask_host_views() {
  for (const char* path : k_masked_files) {
    if (!exists(path, false)) {
      continue;
    }
    if (!bind_read_only("/dev/null", path)) {
      return "mask a host view in /proc";
    }
  }
  for (const char* path : k_masked_directories) {
    if (exists(path, true) &&
        ::mount("tmpfs", path, "tmpfs", MS_RDONLY | k_quiet_flags, "size=4k,mode=0555") != 0) {
      return "mask a host view in /proc";
    }
  }
  return nullptr;
}

// Gives up the zygote's capabilities for good: the bounding set (CAP_SETPCAP allows that),
// then the ambient, permitted, effective and inheritable sets.
const char* drop_capabilities() {
  for (int capability = 0; capability <= CAP_LAST_CAP; ++capability) {
    if (::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 && errno != EINVAL) {
      return "drop the capability bounding set";
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    return "clear the ambient capabilities";
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> none{};
  if (::syscall(SYS_capset, &header, none.data()) != 0) {
    return "drop the capabilities";
  }
  return nullptr;
}

}  // namespace

const char* set_up_task(const ProcessBaseline& baseline) noexcept {
  try {
    const char* failed = loopback_up();
    failed = failed != nullptr ? failed : mount_task_filesystems();
    failed = failed != nullptr ? failed : still_views(baseline);
    failed = failed != nullptr ? failed : mask_host_views();
    failed = failed != nullptr ? failed : drop_capabilities();
    if (failed != nullptr) {
      return failed;
    }
  } catch (...) {
    errno = ENOMEM;
    return "set up the task";
  }
  const char* failed = nullptr;
  return apply_baseline(baseline, failed) == 0 ? nullptr : failed;
}

}  // namespace planificador::sandboxd
