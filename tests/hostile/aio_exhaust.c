// Asks for Linux AIO contexts until refused: their events come out of one host-wide pool
// (fs.aio-max-nr), and when it is empty io_setup fails even for root on the host.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
  long contexts = 0;
  for (; contexts < 1024; ++contexts) {
    unsigned long context = 0;
    if (syscall(SYS_io_setup, 65536, &context) != 0) {
      printf("io_setup refused after %ld contexts: %s\n", contexts, strerror(errno));
      return 0;
    }
  }
  printf("GOT %ld contexts of 65536 events\n", contexts);
  return 0;
}
