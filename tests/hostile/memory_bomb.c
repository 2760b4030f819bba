// Touches 1 GiB, one MiB at a time, so every page is really charged.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  const size_t block = (size_t)1 << 20;
  for (int i = 0; i < 1024; ++i) {
    char* p = malloc(block);
    if (p == NULL) {
      puts("malloc failed");
      return 1;
    }
    memset(p, i & 0xff, block);
  }
  puts("allocated 1 GiB");
  return 0;
}
