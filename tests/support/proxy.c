/* The integration tests' loopback proxy: one thread accepting, one per relayed connection. */
#include "proxy.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testdb.h"

struct tm_test_proxy {
  int listen_fd, port;
  struct sockaddr_in upstream;
  _Atomic int generation; /* bumping it cuts every open connection */
  _Atomic int delay_ms;
  _Atomic bool stop;
  _Atomic int relays;
  pthread_t acceptor;
};

typedef struct {
  tm_test_proxy *px;
  int client, server, generation;
} relay;

static bool pump(int from, int to, int delay_ms) {
  char buf[65536];
  ssize_t n = read(from, buf, sizeof buf);
  if (n <= 0) return false;
  if (delay_ms > 0) usleep((useconds_t)delay_ms * 1000);
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, (size_t)(n - off));
    if (w <= 0) return false;
    off += w;
  }
  return true;
}

static void *relay_main(void *arg) {
  relay *r = arg;
  tm_test_proxy *px = r->px;
  while (!atomic_load(&px->stop) && atomic_load(&px->generation) == r->generation) {
    struct pollfd fds[2] = {{.fd = r->client, .events = POLLIN},
                            {.fd = r->server, .events = POLLIN}};
    if (poll(fds, 2, 50) < 0) break;
    if ((fds[0].revents & (POLLIN | POLLHUP)) && !pump(r->client, r->server, 0)) break;
    if ((fds[1].revents & (POLLIN | POLLHUP)) &&
        !pump(r->server, r->client, atomic_load(&px->delay_ms))) {
      break;
    }
  }
  close(r->client);
  close(r->server);
  atomic_fetch_sub(&px->relays, 1);
  free(r);
  return NULL;
}

static void *acceptor_main(void *arg) {
  tm_test_proxy *px = arg;
  while (!atomic_load(&px->stop)) {
    struct pollfd fd = {.fd = px->listen_fd, .events = POLLIN};
    if (poll(&fd, 1, 50) <= 0) continue;
    int client = accept(px->listen_fd, NULL, NULL);
    if (client < 0) continue;
    int server = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(server, (struct sockaddr *)&px->upstream, sizeof px->upstream) != 0) {
      close(client);
      close(server);
      continue;
    }
    relay *r = malloc(sizeof *r);
    *r = (relay){px, client, server, atomic_load(&px->generation)};
    atomic_fetch_add(&px->relays, 1);
    pthread_t t;
    pthread_create(&t, NULL, relay_main, r);
    pthread_detach(t);
  }
  return NULL;
}

tm_test_proxy *tm_test_proxy_start(void) {
  tm_test_proxy *px = calloc(1, sizeof *px);
  const char *uri = tm_test_mongodb_uri();
  char host[64];
  int port;
  cr_assert_eq(sscanf(uri, "mongodb://%63[^:]:%d", host, &port), 2, "%s", uri);
  px->upstream.sin_family = AF_INET;
  px->upstream.sin_port = htons((uint16_t)port);
  cr_assert_eq(inet_pton(AF_INET, host, &px->upstream.sin_addr), 1, "%s", uri);
  px->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(px->listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
  cr_assert_eq(listen(px->listen_fd, 64), 0);
  socklen_t len = sizeof addr;
  getsockname(px->listen_fd, (struct sockaddr *)&addr, &len);
  px->port = ntohs(addr.sin_port);
  pthread_create(&px->acceptor, NULL, acceptor_main, px);
  return px;
}

tm_store *tm_test_proxy_store(tm_test_proxy *px, const char *database) {
  char uri[128];
  snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=5000", px->port);
  tm_store *store;
  tm_error err;
  cr_assert_eq(tm_store_new(uri, database, &store, &err), TM_OK, "%s", err.msg);
  return store;
}

void tm_test_proxy_cut(tm_test_proxy *px) { atomic_fetch_add(&px->generation, 1); }

void tm_test_proxy_delay(tm_test_proxy *px, int ms) { atomic_store(&px->delay_ms, ms); }

void tm_test_proxy_stop(tm_test_proxy *px) {
  atomic_store(&px->stop, true);
  pthread_join(px->acceptor, NULL);
  close(px->listen_fd);
  while (atomic_load(&px->relays) > 0) usleep(10000);
  free(px);
}
