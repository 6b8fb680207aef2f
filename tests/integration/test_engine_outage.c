/* A connection outage mid-run: the engine reads and writes through a proxy that drops every
 * connection once; the run retries (reopening its cursor after the last _id done) and completes. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine_support.h"

/* --- a loopback TCP proxy whose connections can all be cut at once --- */

typedef struct {
  int listen_fd, port;
  struct sockaddr_in upstream;
  _Atomic int generation; /* bumping it cuts every open connection */
  _Atomic bool stop;
  _Atomic int relays;
  pthread_t acceptor;
} proxy;

typedef struct {
  proxy *px;
  int a, b, generation;
} relay;

static bool pump(int from, int to) {
  char buf[65536];
  ssize_t n = read(from, buf, sizeof buf);
  if (n <= 0) return false;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, (size_t)(n - off));
    if (w <= 0) return false;
    off += w;
  }
  return true;
}

static void *relay_main(void *arg) {
  relay *r = arg;
  while (!atomic_load(&r->px->stop) && atomic_load(&r->px->generation) == r->generation) {
    struct pollfd fds[2] = {{.fd = r->a, .events = POLLIN}, {.fd = r->b, .events = POLLIN}};
    if (poll(fds, 2, 50) < 0) break;
    if ((fds[0].revents & (POLLIN | POLLHUP)) && !pump(r->a, r->b)) break;
    if ((fds[1].revents & (POLLIN | POLLHUP)) && !pump(r->b, r->a)) break;
  }
  close(r->a);
  close(r->b);
  atomic_fetch_sub(&r->px->relays, 1);
  free(r);
  return NULL;
}

static void *acceptor_main(void *arg) {
  proxy *px = arg;
  while (!atomic_load(&px->stop)) {
    struct pollfd fd = {.fd = px->listen_fd, .events = POLLIN};
    if (poll(&fd, 1, 50) <= 0) continue;
    int a = accept(px->listen_fd, NULL, NULL);
    if (a < 0) continue;
    int b = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(b, (struct sockaddr *)&px->upstream, sizeof px->upstream) != 0) {
      close(a);
      close(b);
      continue;
    }
    relay *r = malloc(sizeof *r);
    *r = (relay){px, a, b, atomic_load(&px->generation)};
    atomic_fetch_add(&px->relays, 1);
    pthread_t t;
    pthread_create(&t, NULL, relay_main, r);
    pthread_detach(t);
  }
  return NULL;
}

/* Proxies to the fixture's host:port (parsed from its mongodb://host:port/ URI). */
static void proxy_start(proxy *px) {
  memset(px, 0, sizeof *px);
  const char *uri = tm_test_mongodb_uri();
  char host[64];
  int port;
  cr_assert_eq(sscanf(uri, "mongodb://%63[^:]:%d", host, &port), 2, "%s", uri);
  px->upstream.sin_family = AF_INET;
  px->upstream.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, host, &px->upstream.sin_addr);
  px->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(px->listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
  cr_assert_eq(listen(px->listen_fd, 64), 0);
  socklen_t len = sizeof addr;
  getsockname(px->listen_fd, (struct sockaddr *)&addr, &len);
  px->port = ntohs(addr.sin_port);
  pthread_create(&px->acceptor, NULL, acceptor_main, px);
}

static void proxy_cut(proxy *px) { atomic_fetch_add(&px->generation, 1); }

static void proxy_stop(proxy *px) {
  atomic_store(&px->stop, true);
  pthread_join(px->acceptor, NULL);
  close(px->listen_fd);
  while (atomic_load(&px->relays) > 0) usleep(10000);
}

Test(engine_outage, a_run_survives_every_connection_dropping_mid_run) {
  testdb t;
  testdb_open(&t, "engo");
  insert_many_fmt(&t, "customers", 300, "{\"_id\": %d}");
  proxy px;
  proxy_start(&px);
  char uri[128];
  snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=5000", px.port);
  tm_store *through;
  tm_error err;
  cr_assert_eq(tm_store_new(uri, tm_store_database(t.store), &through, &err), TM_OK, "%s", err.msg);
  tm_engine *e = new_engine(through, "test-a", 30000);
  const char *names[] = {"addPrivacyToCustomers", NULL};
  outcome o;
  start_run(e, &(tm_run_request){.names = names, .n_names = 1, .batch_size = 1}, &o);
  while (count_where(&t, "customers", "{\"isPrivate\": true}") < 20) usleep(5000);
  proxy_cut(&px);
  outcome_wait(&o);
  cr_assert_eq(o.code, TM_OK, "%s", o.err);
  const tm_status *st = status_of(&o, "addPrivacyToCustomers");
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED, "%s", st->error ? st->error : "");
  cr_assert_eq(count_where(&t, "customers", "{\"isPrivate\": true}"), 300);
  outcome_clear(&o);
  tm_engine_destroy(e);
  tm_store_destroy(through);
  proxy_stop(&px);
  testdb_close(&t);
}
