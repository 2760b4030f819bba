// Asks for an io_uring instance (a path around seccomp for the calls it can submit).
// Exits 0 when the kernel refused it, 1 when a ring was set up.
#include <errno.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  long fd = syscall(__NR_io_uring_setup, 8, &params);
  if (fd < 0) {
    printf("io_uring_setup: refused (%s)\n", strerror(errno));
    return 0;
  }
  printf("io_uring_setup: RING %ld\n", fd);
  return 1;
}
