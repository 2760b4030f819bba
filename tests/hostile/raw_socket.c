// Tries every socket that could put a hand-made packet on a wire: raw IP, raw ICMP,
// packet (layer 2) and unprivileged ping sockets, and sends an ICMP echo to TEST-NET-1
// through each one it gets. Exits 0 when nothing was sent, 1 when a packet left.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int try_socket(const char* name, int domain, int type, int protocol) {
  int fd = socket(domain, type, protocol);
  if (fd < 0) {
    printf("%s: refused (%s)\n", name, strerror(errno));
    return 0;
  }
  struct icmphdr echo;
  memset(&echo, 0, sizeof echo);
  echo.type = ICMP_ECHO;
  struct sockaddr_in target;
  memset(&target, 0, sizeof target);
  target.sin_family = AF_INET;
  inet_pton(AF_INET, "192.0.2.1", &target.sin_addr);
  ssize_t sent = sendto(fd, &echo, sizeof echo, 0, (struct sockaddr*)&target, sizeof target);
  int err = errno;
  close(fd);
  if (sent < 0) {
    printf("%s: opened, send blocked (%s)\n", name, strerror(err));
    return 0;
  }
  printf("%s: SENT\n", name);
  return 1;
}

int main(void) {
  int escaped = 0;
  escaped |= try_socket("raw icmp", AF_INET, SOCK_RAW, IPPROTO_ICMP);
  escaped |= try_socket("raw ip", AF_INET, SOCK_RAW, IPPROTO_RAW);
  escaped |= try_socket("packet", AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  escaped |= try_socket("ping", AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
  return escaped;
}
