#include "task_filter.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace planificador::sandboxd {
namespace {

#if defined(__x86_64__)
constexpr std::uint32_t k_native_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t k_native_arch = AUDIT_ARCH_AARCH64;
#else
constexpr std::uint32_t k_native_arch = 0;
#endif

// x32 system calls are x86_64's with this bit set (arch/x86/include/uapi/asm/unistd.h).
constexpr std::uint32_t k_x32_bit = 0x40000000;

constexpr std::uint32_t k_namespace_flags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
                                            CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                            CLONE_NEWNET;

constexpr std::uint32_t k_refused[] = {
    SYS_mount,         SYS_umount2,       SYS_pivot_root, SYS_chroot,   SYS_unshare, SYS_setns,
    SYS_sethostname,   SYS_setdomainname,
#ifdef SYS_open_tree
    SYS_open_tree,     SYS_move_mount,    SYS_fsopen,     SYS_fsconfig, SYS_fsmount, SYS_fspick,
#endif
#ifdef SYS_mount_setattr
    SYS_mount_setattr,
#endif
};

// Answered as if this kernel had no such call. clone3: its flags sit in memory a filter
// cannot read, and glibc falls back to clone. io_setup: the AIO contexts it makes come out
// of one host-wide pool (fs.aio-max-nr) that a task could drain for everyone, root
// included; without it libaio users fall back, and POSIX AIO never needed it.
constexpr std::uint32_t k_absent[] = {SYS_clone3, SYS_io_setup};

constexpr std::uint32_t offset_of_nr = offsetof(seccomp_data, nr);
constexpr std::uint32_t offset_of_arch = offsetof(seccomp_data, arch);
// The low half of the first argument (both architectures above are little-endian).
constexpr std::uint32_t offset_of_arg0 = offsetof(seccomp_data, args);

constexpr sock_filter statement(std::uint16_t code, std::uint32_t k) {
  return sock_filter{code, 0, 0, k};
}

constexpr sock_filter jump(std::uint16_t code, std::uint32_t k, std::uint8_t if_true,
                           std::uint8_t if_false) {
  return sock_filter{code, if_true, if_false, k};
}

constexpr std::uint32_t errno_return(int value) {
  return SECCOMP_RET_ERRNO | (static_cast<std::uint32_t>(value) & SECCOMP_RET_DATA);
}

}  // namespace

std::vector<sock_filter> task_filter() {
  if (k_native_arch == 0) {
    return {};
  }
  const auto load = static_cast<std::uint16_t>(BPF_LD | BPF_W | BPF_ABS);
  const auto equal = static_cast<std::uint16_t>(BPF_JMP | BPF_JEQ | BPF_K);
  const auto at_least = static_cast<std::uint16_t>(BPF_JMP | BPF_JGE | BPF_K);
  const auto any_bit = static_cast<std::uint16_t>(BPF_JMP | BPF_JSET | BPF_K);
  const auto give = static_cast<std::uint16_t>(BPF_RET | BPF_K);

  std::vector<sock_filter> program;
  // Other architectures: ENOSYS (the instruction after next).
  program.push_back(statement(load, offset_of_arch));
  program.push_back(jump(equal, k_native_arch, 1, 0));
  program.push_back(statement(give, errno_return(ENOSYS)));
  program.push_back(statement(load, offset_of_nr));
  if (k_native_arch == AUDIT_ARCH_X86_64) {
    program.push_back(jump(at_least, k_x32_bit, 0, 1));
    program.push_back(statement(give, errno_return(ENOSYS)));
  }
  for (const std::uint32_t number : k_absent) {
    program.push_back(jump(equal, number, 0, 1));
    program.push_back(statement(give, errno_return(ENOSYS)));
  }
  for (const std::uint32_t number : k_refused) {
    program.push_back(jump(equal, number, 0, 1));
    program.push_back(statement(give, errno_return(EPERM)));
  }
  // clone: refused when its flags ask for a namespace.
  program.push_back(jump(equal, SYS_clone, 0, 3));
  program.push_back(statement(load, offset_of_arg0));
  program.push_back(jump(any_bit, k_namespace_flags, 0, 1));
  program.push_back(statement(give, errno_return(EPERM)));
  program.push_back(statement(give, SECCOMP_RET_ALLOW));
  return program;
}

// Runs in the vfork child, on a stack inside the parent's memory: no AddressSanitizer
// bookkeeping (see spawn.cpp).
__attribute__((no_sanitize_address)) int install_task_filter(const sock_fprog& program) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return -1;
  }
  return static_cast<int>(::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program));
}

}  // namespace planificador::sandboxd
