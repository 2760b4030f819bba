// Maps 1 GiB of anonymous memory in one call (no malloc arena involved) and touches
// every page, so all of it is really charged.
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void) {
  const size_t size = (size_t)1 << 30;
  char* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    puts("mmap failed");
    return 1;
  }
  for (size_t offset = 0; offset < size; offset += 4096) {
    p[offset] = 1;
  }
  puts("allocated 1 GiB");
  return 0;
}
