// Takes every inotify instance and the whole POSIX message-queue byte budget its user may
// have (fs.inotify.max_user_instances, RLIMIT_MSGQUEUE): both are counted per user, and
// before each container had a uid of its own every task on the host was the same user.
// Prints what it took, then holds it for the seconds given as its argument.
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int instances = 0;
  while (instances < 4096 && inotify_init1(IN_CLOEXEC) >= 0) {
    ++instances;
  }
  printf("inotify instances: %d (%s)\n", instances, strerror(errno));
  struct mq_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.mq_maxmsg = 10;
  attr.mq_msgsize = 8192;
  int queues = 0;
  for (; queues < 256; ++queues) {
    char name[32];
    snprintf(name, sizeof name, "/hog%d", queues);
    if (mq_open(name, O_CREAT | O_RDWR, 0600, &attr) == (mqd_t)-1) {
      break;
    }
  }
  printf("message queues: %d (%s)\n", queues, strerror(errno));
  printf("holding\n");
  fflush(stdout);
  sleep(argc > 1 ? (unsigned)atoi(argv[1]) : 5);
  return 0;
}
