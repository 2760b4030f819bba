// Forks until the pids limit refuses, and keeps trying.
#include <unistd.h>

int main(void) {
  for (;;) {
    (void)fork();
  }
}
