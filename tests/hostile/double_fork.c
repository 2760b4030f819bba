// Classic daemonization, to outlive the task: fork, setsid, fork again, ignore the
// polite signals, close stdio and become `sleep argv[1]` (argv[1] marks it on the
// host's process list). The original process exits at once.
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    return 2;
  }
  if (fork() == 0) {
    setsid();
    if (fork() == 0) {
      signal(SIGTERM, SIG_IGN);
      signal(SIGHUP, SIG_IGN);
      signal(SIGINT, SIG_IGN);
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      execl("/bin/sleep", "sleep", argv[1], (char*)NULL);
    }
    _exit(0);
  }
  puts("daemonized");
  return 0;
}
