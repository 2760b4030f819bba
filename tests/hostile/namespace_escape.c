// Tries what only the sandbox's own setup may do: mounts, new namespaces (unshare, clone,
// clone3), joining the namespaces of PID 1, pivot_root, chroot and a new host name.
// Prints one line per attempt and the number of seccomp filters it runs under; exits 0
// when every attempt was refused, 1 when one worked.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int report(const char* what, long result) {
  if (result < 0) {
    printf("%s: refused (%s)\n", what, strerror(errno));
    return 0;
  }
  if (result == 0 && strncmp(what, "clone", 5) == 0) {
    _exit(0);  // the child of a clone that worked; its parent reports
  }
  printf("%s: ESCAPED\n", what);
  return 1;
}

static long join(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return -1;
  }
  long result = setns(fd, 0);
  close(fd);
  return result;
}

static void print_filters(void) {
  FILE* status = fopen("/proc/self/status", "r");
  char line[256];
  while (status != NULL && fgets(line, sizeof line, status) != NULL) {
    if (strncmp(line, "Seccomp_filters:", 16) == 0) {
      printf("seccomp filters:%s", line + 16);
    }
  }
  if (status != NULL) {
    fclose(status);
  }
}

int main(void) {
  static const struct {
    const char* name;
    int flag;
  } namespaces[] = {{"unshare mount", CLONE_NEWNS},   {"unshare user", CLONE_NEWUSER},
                    {"unshare pid", CLONE_NEWPID},    {"unshare net", CLONE_NEWNET},
                    {"unshare ipc", CLONE_NEWIPC},    {"unshare uts", CLONE_NEWUTS},
                    {"unshare cgroup", CLONE_NEWCGROUP}};
  int escaped = 0;
  for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; ++i) {
    escaped |= report(namespaces[i].name, unshare(namespaces[i].flag));
  }
  escaped |= report("clone newpid", syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0));
  escaped |= report("clone newuser", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_NEWUSER | CLONE_NEWNS;
  args.exit_signal = SIGCHLD;
  escaped |= report("clone3 newuser", syscall(SYS_clone3, &args, sizeof args));
  escaped |= report("setns mnt of pid 1", join("/proc/1/ns/mnt"));
  escaped |= report("setns net of pid 1", join("/proc/1/ns/net"));
  escaped |= report("mount tmpfs", mount("none", "/work", "tmpfs", 0, NULL));
  escaped |= report("remount / rw", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
  escaped |= report("umount /proc", umount2("/proc", MNT_DETACH));
  escaped |= report("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
  escaped |= report("chroot", chroot("/tmp"));
  escaped |= report("sethostname", sethostname("escaped", 7));
  print_filters();
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  return escaped;
}
