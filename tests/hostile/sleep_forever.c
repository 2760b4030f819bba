// Sleeps without end: uses no CPU, so only the wall-clock limit can end it.
#include <unistd.h>

int main(void) {
  for (;;) {
    pause();
  }
}
