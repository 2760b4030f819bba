// Not an attack: the task after one. Reads a marker from stdin (the previous task put it
// in its processes' argv) and prints SEEN with the pid of every process it can see that
// carries it, then "done".
#include <dirent.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  char marker[64] = {0};
  if (scanf("%63s", marker) != 1) {
    return 2;
  }
  DIR* proc = opendir("/proc");
  if (proc == NULL) {
    return 2;
  }
  struct dirent* entry;
  while ((entry = readdir(proc)) != NULL) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') {
      continue;
    }
    char path[300];
    snprintf(path, sizeof path, "/proc/%s/cmdline", entry->d_name);
    FILE* file = fopen(path, "rb");
    if (file == NULL) {
      continue;
    }
    char words[4096];
    size_t length = fread(words, 1, sizeof words - 1, file);
    fclose(file);
    words[length] = '\0';
    for (size_t at = 0; at < length; at += strlen(words + at) + 1) {
      if (strcmp(words + at, marker) == 0) {
        printf("SEEN %s\n", entry->d_name);
        break;
      }
    }
  }
  closedir(proc);
  puts("done");
  return 0;
}
