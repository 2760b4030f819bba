// The C twin of network_escape.py: TCP connect and UDP send/receive to loopback, the
// Docker bridge gateway, the resolvers and TEST-NET-1, with plain non-blocking sockets
// and a poll timeout. argv: port gateway resolver (the gateway is "none" on a host
// without a docker0 bridge). Exits 0 when nothing got through.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int attempt(int type, const char* host, int port) {
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, host, &address.sin_addr) != 1) {
    printf("%s: not an address\n", host);
    return 0;
  }
  int fd = socket(AF_INET, type | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    printf("%s %s: blocked (socket: %s)\n", type == SOCK_STREAM ? "tcp" : "udp", host,
           strerror(errno));
    return 0;
  }
  const char* name = type == SOCK_STREAM ? "tcp" : "udp";
  int reached = 0;
  if (connect(fd, (struct sockaddr*)&address, sizeof address) != 0 && errno != EINPROGRESS) {
    printf("%s %s:%d: blocked (%s)\n", name, host, port, strerror(errno));
  } else {
    struct pollfd ready = {fd, (short)(type == SOCK_STREAM ? POLLOUT : POLLIN), 0};
    if (type == SOCK_DGRAM && send(fd, "ping", 4, 0) < 0) {
      printf("%s %s:%d: blocked (send: %s)\n", name, host, port, strerror(errno));
    } else if (poll(&ready, 1, 1000) <= 0) {
      printf("%s %s:%d: blocked (no answer)\n", name, host, port);
    } else {
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      char answer[16];
      if (error != 0 || (type == SOCK_DGRAM && recv(fd, answer, sizeof answer, 0) < 0)) {
        printf("%s %s:%d: blocked (%s)\n", name, host, port, strerror(error != 0 ? error : errno));
      } else {
        printf("%s %s:%d: CONNECTED\n", name, host, port);
        reached = 1;
      }
    }
  }
  close(fd);
  return reached;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    return 2;
  }
  const int port = atoi(argv[1]);
  const char* hosts[] = {"127.0.0.1", argv[2], argv[3], "192.0.2.1"};
  const int ports[] = {port, port, 53, 80};
  int escaped = 0;
  for (int i = 0; i < 4; ++i) {
    if (strcmp(hosts[i], "none") == 0) {
      continue;
    }
    escaped |= attempt(SOCK_STREAM, hosts[i], ports[i]);
    escaped |= attempt(SOCK_DGRAM, hosts[i], ports[i] == 80 ? 53 : ports[i]);
  }
  fflush(stdout);
  return escaped;
}
