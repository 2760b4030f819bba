// IPC objects outlive their creator unless their namespace goes: a SysV shared memory
// segment, semaphore set and message queue (with a message in it), and a POSIX message
// queue. argv[1] "plant" leaves one of each; "check" prints FOUND for each that exists.
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

static const key_t k_key = 0x504c4e46;  // "PLNF"
static const char* const k_queue = "/planificador-leftover";

static void report(const char* what, int found) {
  printf("%s: %s\n", what, found ? "FOUND" : "absent");
}

int main(int argc, char** argv) {
  if (argc < 2) {
    return 2;
  }
  if (strcmp(argv[1], "plant") == 0) {
    int shm = shmget(k_key, 1 << 20, IPC_CREAT | 0666);
    if (shm >= 0) {
      char* memory = shmat(shm, NULL, 0);
      if (memory != (char*)-1) {
        strcpy(memory, "planted");
        shmdt(memory);
      }
    }
    int sem = semget(k_key, 1, IPC_CREAT | 0666);
    int msg = msgget(k_key, IPC_CREAT | 0666);
    struct {
      long type;
      char text[8];
    } message = {1, "planted"};
    int sent = msg >= 0 ? msgsnd(msg, &message, sizeof message.text, 0) : -1;
    mqd_t queue = mq_open(k_queue, O_CREAT | O_WRONLY, 0666, NULL);
    printf("planted shm=%d sem=%d msg=%d/%d mq=%d\n", shm, sem, msg, sent, (int)queue);
    return 0;
  }
  report("shm", shmget(k_key, 0, 0) >= 0);
  report("sem", semget(k_key, 0, 0) >= 0);
  report("msg", msgget(k_key, 0) >= 0);
  mqd_t queue = mq_open(k_queue, O_RDONLY);
  report("mq", queue != (mqd_t)-1);
  return 0;
}
