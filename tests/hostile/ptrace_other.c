// Tries to take control of another process: attaches to a child, to the sandbox's PID 1
// and to itself, and reads another process's memory. Exits 0 when every attempt was
// refused, 1 when one worked.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static int report(const char* what, long result) {
  if (result < 0) {
    printf("%s: refused (%s)\n", what, strerror(errno));
    return 0;
  }
  printf("%s: ATTACHED\n", what);
  return 1;
}

int main(void) {
  static char secret[] = "child memory";
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  int attached = 0;
  attached |= report("PTRACE_ATTACH child", ptrace(PTRACE_ATTACH, child, 0, 0));
  attached |= report("PTRACE_SEIZE child", ptrace(PTRACE_SEIZE, child, 0, 0));
  attached |= report("PTRACE_ATTACH pid 1", ptrace(PTRACE_ATTACH, 1, 0, 0));
  attached |= report("PTRACE_ATTACH parent", ptrace(PTRACE_ATTACH, getppid(), 0, 0));
  char copy[sizeof secret];
  struct iovec local = {copy, sizeof copy};
  struct iovec remote = {secret, sizeof secret};
  attached |= report("process_vm_readv child", process_vm_readv(child, &local, 1, &remote, 1, 0));
  pid_t tracee = fork();
  if (tracee == 0) {
    _exit(ptrace(PTRACE_TRACEME, 0, 0, 0) == 0 ? 1 : 0);
  }
  int status = 0;
  waitpid(tracee, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
    printf("PTRACE_TRACEME: ATTACHED\n");
    attached = 1;
  } else {
    printf("PTRACE_TRACEME: refused\n");
  }
  kill(child, SIGKILL);
  waitpid(child, &status, 0);
  return attached;
}
