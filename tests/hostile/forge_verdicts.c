// Ends the way the daemon's own verdicts look to a client of plain SUBMIT, by itself:
//   fake   prints the daemon's memory diagnostic and exits 137
//   cpu    lowers its own RLIMIT_CPU to 1 s and spins: the kernel's SIGKILL (137)
//   fsize  lowers its own RLIMIT_FSIZE and writes past it: SIGXFSZ (153)
//   kill   SIGKILL to itself (137)
// REPORT's status must tell each from the daemon's verdict (it says "exited"/"signaled").
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char** argv) {
  const char* how = argc > 1 ? argv[1] : "fake";
  if (strcmp(how, "fake") == 0) {
    fputs("planificador: memory limit of 268435456 bytes exceeded\n", stderr);
    return 137;
  }
  if (strcmp(how, "cpu") == 0) {
    const struct rlimit one = {1, 1};
    setrlimit(RLIMIT_CPU, &one);
    for (volatile unsigned long spin = 0;; ++spin) {
    }
  }
  if (strcmp(how, "fsize") == 0) {
    const struct rlimit small = {1024, 1024};
    setrlimit(RLIMIT_FSIZE, &small);
    FILE* file = fopen("big", "w");
    static char block[65536];
    fwrite(block, 1, sizeof block, file);
    fclose(file);
    return 0;
  }
  raise(SIGKILL);
  return 0;
}
