// Alternates stdout and stderr writes without end, unbuffered.
#include <unistd.h>

int main(void) {
  static const char out[] = "out out out out out out out out out out out out out out out\n";
  static const char err[] = "err err err err err err err err err err err err err err err\n";
  for (;;) {
    (void)!write(1, out, sizeof out - 1);
    (void)!write(2, err, sizeof err - 1);
  }
}
