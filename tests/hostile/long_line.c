// One 10 MB line in a single write(2).
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  const size_t size = 10 * 1000 * 1000;
  char* line = malloc(size + 1);
  if (line == NULL) {
    return 1;
  }
  memset(line, 'x', size);
  line[size] = '\n';
  return write(1, line, size + 1) < 0 ? 1 : 0;
}
