// Alternates one-byte writes on stdout and stderr, 1 MiB in all. With the argument "wait"
// it waits after each byte until the daemon has read it (FIONREAD on the pipe is 0), so
// that every byte would cost the daemon a read and a frame of its own.
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char** argv) {
  const int wait_for_reader = argc > 1 && strcmp(argv[1], "wait") == 0;
  for (long i = 0; i < (1L << 20); ++i) {
    const int fd = (i & 1) != 0 ? 2 : 1;
    if (write(fd, fd == 1 ? "o" : "e", 1) != 1) {
      return 1;
    }
    for (int unread = 1; wait_for_reader && unread > 0;) {
      if (ioctl(fd, FIONREAD, &unread) != 0) {
        return 1;
      }
    }
  }
  return 0;
}
