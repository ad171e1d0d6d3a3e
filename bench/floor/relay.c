// Floor for the SaP hop (bench/overlay.ts): the same bare relay as relay.mjs in C, blocking recvfrom/sendto,
// so the kernel's share of a user-space hop can be told from Node's. relay LISTEN_IP PORT AGENT_A AGENT_B
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
  if (argc != 5) return 2;
  int port = atoi(argv[2]);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(port)};
  struct in_addr a, b;
  if (inet_pton(AF_INET, argv[1], &me.sin_addr) != 1 || inet_pton(AF_INET, argv[3], &a) != 1 ||
      inet_pton(AF_INET, argv[4], &b) != 1)
    return 2;
  if (bind(s, (struct sockaddr *)&me, sizeof me) != 0) {
    perror("bind");
    return 1;
  }
  static char buf[65536];
  for (;;) {
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    if (n < 0) continue;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    to.sin_addr = from.sin_addr.s_addr == a.s_addr ? b : a;
    sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof to);
  }
}
