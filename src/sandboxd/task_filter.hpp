#pragma once
// The seccomp filter every program is started under, on top of the container's profile.
// The container's profile has to allow what Bubblewrap and the zygote need to build the
// sandbox (mount, pivot_root, unshare, namespace flags on clone, sethostname); no program
// needs them, and this filter takes them away again, so that the kernel code behind them
// is out of a task's reach even where a capability check would have refused it later.
//
// Refused with EPERM: the mount family (mount, umount2, pivot_root, chroot, and the new
// mount API), unshare, setns, sethostname, setdomainname, and clone with any CLONE_NEW*
// flag. clone3, whose flags sit in memory a filter cannot read, answers ENOSYS, so glibc
// falls back to clone (see the container profile's comment on it). Calls of another
// architecture or ABI (x32, i386) answer ENOSYS: their numbers are not the ones checked.

#include <linux/filter.h>
#include <vector>

namespace planificador::sandboxd {

// Returns the filter program, or an empty one on an architecture it does not know (the
// container's profile is then the only filter).
[[nodiscard]] std::vector<sock_filter> task_filter();

// Installs `program` on the calling thread (with no_new_privs, which the container sets
// anyway). Returns 0, or -1 with errno set. Makes only system calls: safe in the vfork
// child.
int install_task_filter(const sock_fprog& program);

}  // namespace planificador::sandboxd
