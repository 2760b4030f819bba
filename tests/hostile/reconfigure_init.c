// Tries to reconfigure every process of the sandbox it can name, PID 1 first (in a warm
// sandbox, the one that starts the next task's program): lowers its resource limits, its
// priority, scheduling policy, CPU affinity and I/O priority, which the kernel allows on
// any process of the same user. Prints each attempt; whatever it reached must not reach
// the next task.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_CLASS_SHIFT 13

static void report(pid_t pid, const char* what, int result) {
  printf("pid %d %s: %s\n", (int)pid, what, result == 0 ? "set" : strerror(errno));
}

static void limit(pid_t pid, int resource, rlim_t value, const char* name) {
  const struct rlimit wanted = {value, value};
  report(pid, name, prlimit(pid, resource, &wanted, NULL));
}

static void reconfigure(pid_t pid) {
  limit(pid, RLIMIT_FSIZE, 4096, "RLIMIT_FSIZE 4096");
  limit(pid, RLIMIT_AS, 1UL << 30, "RLIMIT_AS 1 GiB");
  limit(pid, RLIMIT_NOFILE, 64, "RLIMIT_NOFILE 64");
  limit(pid, RLIMIT_STACK, 64 * 1024, "RLIMIT_STACK 64 KiB");
  limit(pid, RLIMIT_NPROC, 8, "RLIMIT_NPROC 8");
  limit(pid, RLIMIT_CORE, 0, "RLIMIT_CORE 0");
  report(pid, "nice 19", setpriority(PRIO_PROCESS, (id_t)pid, 19));
  const struct sched_param param = {0};
  report(pid, "SCHED_IDLE", sched_setscheduler(pid, SCHED_IDLE, &param));
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  report(pid, "affinity {0}", sched_setaffinity(pid, sizeof one, &one));
  report(pid, "ioprio idle",
         (int)syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, pid,
                      IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT));
}

int main(void) {
  reconfigure(1);
  DIR* proc = opendir("/proc");
  if (proc == NULL) {
    return 1;
  }
  const struct dirent* entry;
  while ((entry = readdir(proc)) != NULL) {
    const pid_t pid = (pid_t)atoi(entry->d_name);
    if (pid > 1 && pid != getpid()) {
      reconfigure(pid);
    }
  }
  closedir(proc);
  printf("done\n");
  return 0;
}
