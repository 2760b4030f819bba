// Tries to take over PID 1 of the sandbox (bwrap's init, or the warm sandbox's zygote,
// which holds the connection to the helper): write its memory through /proc/1/mem and
// process_vm_writev, copy its descriptors with pidfd_getfd, and reopen them through
// /proc/1/fd. Prints what it could do; exits 0 when every attempt was refused.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static int taken = 0;

static void report(const char* what, long result) {
  if (result < 0) {
    printf("%s: refused (%s)\n", what, strerror(errno));
  } else {
    printf("%s: TAKEN\n", what);
    taken = 1;
  }
}

int main(void) {
  int mem = open("/proc/1/mem", O_RDWR);
  report("open /proc/1/mem", mem);
  if (mem >= 0) {
    close(mem);
  }
  char byte = 0;
  struct iovec local = {&byte, 1};
  struct iovec remote = {(void*)0x400000, 1};
  report("process_vm_writev pid 1", process_vm_writev(1, &local, 1, &remote, 1, 0));
  // A pidfd is only a handle (signals through it are kill(2)'s); the descriptors it
  // could copy are the prize.
  long pidfd = syscall(SYS_pidfd_open, 1, 0);
  if (pidfd < 0) {
    printf("pidfd_open pid 1: refused (%s)\n", strerror(errno));
  }
  for (int fd = 0; pidfd >= 0 && fd < 16; ++fd) {
    char label[64];
    snprintf(label, sizeof label, "pidfd_getfd %d", fd);
    long copy = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    if (copy >= 0 || errno != EBADF) {
      report(label, copy);
    }
    if (copy < 0 && errno == EPERM) {
      break;  // refused as a call (seccomp), not for this descriptor
    }
  }
  DIR* fds = opendir("/proc/1/fd");
  if (fds == NULL) {
    printf("list /proc/1/fd: refused (%s)\n", strerror(errno));
  } else {
    struct dirent* entry;
    while ((entry = readdir(fds)) != NULL) {
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') {
        continue;
      }
      char path[64];
      char label[96];
      snprintf(path, sizeof path, "/proc/1/fd/%s", entry->d_name);
      snprintf(label, sizeof label, "reopen %s", path);
      int fd = open(path, O_RDWR);
      report(label, fd);
      if (fd >= 0) {
        close(fd);
      }
    }
    closedir(fds);
  }
  FILE* status = fopen("/proc/1/status", "r");
  char line[256];
  while (status != NULL && fgets(line, sizeof line, status) != NULL) {
    if (strncmp(line, "CapEff", 6) == 0 || strncmp(line, "Name", 4) == 0) {
      fputs(line, stdout);
    }
  }
  return taken;
}
