// Queues data in loopback TCP connections that nobody reads, inside the sandbox's own
// network namespace: on cgroup v1 the kernel charges socket buffers apart from the memory
// counter, so without a limit of their own they grow to the host-wide tcp_mem, far past
// the task's memory limit. Prints "queued" only if it got to hold 1 GiB for a second.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(listener, (struct sockaddr*)&address, sizeof address) != 0 ||
      listen(listener, 1024) != 0 ||
      getsockname(listener, (struct sockaddr*)&address, &length) != 0) {
    perror("listen");
    return 1;
  }
  static char block[1 << 16];
  memset(block, 'x', sizeof block);
  long long total = 0;
  for (int i = 0; i < 1000 && total < (1LL << 30); ++i) {
    const int client = socket(AF_INET, SOCK_STREAM, 0);
    if (client < 0 || connect(client, (struct sockaddr*)&address, sizeof address) != 0) {
      perror("connect");
      break;
    }
    if (accept(listener, NULL, NULL) < 0) {
      perror("accept");
      break;
    }
    fcntl(client, F_SETFL, O_NONBLOCK);
    // Until this connection's send and receive buffers hold all they will.
    for (ssize_t written; (written = write(client, block, sizeof block)) > 0;) {
      total += written;
    }
  }
  sleep(1);
  printf("queued %lld MiB\n", total >> 20);
  return 0;
}
