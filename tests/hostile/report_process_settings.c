// Prints what a program inherits at its start that another task could have changed: every
// resource limit, its priority, scheduling policy, CPU affinity and I/O priority; then
// writes a 10 KB file, which a lowered RLIMIT_FSIZE would refuse. The hostile suite
// compares these lines before and after an attack in the same container.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IOPRIO_WHO_PROCESS 1

int main(void) {
  for (int resource = 0; resource < RLIM_NLIMITS; ++resource) {
    struct rlimit value;
    if (getrlimit(resource, &value) == 0) {
      printf("rlimit %d: %llu %llu\n", resource, (unsigned long long)value.rlim_cur,
             (unsigned long long)value.rlim_max);
    }
  }
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, 0);
  printf("nice: %d\n", errno == 0 ? nice : -100);
  printf("policy: %d\n", sched_getscheduler(0));
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  printf("cpus: %d\n", sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : -1);
  printf("ioprio: %ld\n", syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0));
  FILE* file = fopen("big.txt", "w");
  char block[1024];
  memset(block, 'x', sizeof block);
  size_t written = 0;
  for (int i = 0; file != NULL && i < 10; ++i) {
    written += fwrite(block, 1, sizeof block, file);
  }
  const int closed = file != NULL ? fclose(file) : -1;
  printf("10 KB file: %s\n", written == 10240 && closed == 0 ? "written" : "refused");
  return 0;
}
