// Pushes a command into the input of every terminal it can reach with TIOCSTI (the
// classic escape from a sandbox that shares the caller's terminal). Exits 0 when every
// attempt failed, 1 when a byte was injected.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int inject(const char* name, int fd) {
  const char* command = "id > /tmp/planificador-tiocsti\n";
  for (const char* c = command; *c != '\0'; ++c) {
    if (ioctl(fd, TIOCSTI, c) != 0) {
      printf("%s: refused (%s)\n", name, strerror(errno));
      return 0;
    }
  }
  printf("%s: INJECTED\n", name);
  return 1;
}

int main(void) {
  int injected = 0;
  injected |= inject("stdin", 0);
  injected |= inject("stdout", 1);
  injected |= inject("stderr", 2);
  const char* devices[] = {"/dev/tty", "/dev/console", "/dev/tty0", "/dev/tty1", "/proc/1/fd/0"};
  for (size_t i = 0; i < sizeof devices / sizeof devices[0]; ++i) {
    int fd = open(devices[i], O_RDWR | O_NOCTTY);
    if (fd < 0) {
      printf("%s: cannot open (%s)\n", devices[i], strerror(errno));
      continue;
    }
    injected |= inject(devices[i], fd);
    close(fd);
  }
  return injected;
}
