/* Prometheus scrapes over plain HTTP: GET /metrics, nothing else. */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

struct tm_metrics_http {
  struct MHD_Daemon *daemon;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls) {
  (void)cls, (void)version, (void)upload_data, (void)upload_data_size, (void)req_cls;
  struct MHD_Response *resp;
  unsigned int status;
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    static char msg[] = "method not allowed\n";
    resp = MHD_create_response_from_buffer(sizeof msg - 1, msg, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Allow", "GET, HEAD");
    status = MHD_HTTP_METHOD_NOT_ALLOWED;
  } else if (strcmp(url, "/metrics") != 0) {
    static char msg[] = "not found: metrics are at /metrics\n";
    resp = MHD_create_response_from_buffer(sizeof msg - 1, msg, MHD_RESPMEM_PERSISTENT);
    status = MHD_HTTP_NOT_FOUND;
  } else {
    size_t len;
    char *body = tm_metrics_render(&len);
    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    status = MHD_HTTP_OK;
  }
  enum MHD_Result r = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  return r;
}

#define METRICS_IDLE_TIMEOUT_S 3
#define METRICS_MAX_CONNECTIONS 1000

tm_code tm_metrics_http_start(const char *listen, tm_metrics_http **out, int *port, tm_error *err) {
  const char *colon = strrchr(listen, ':');
  char host[64];
  struct sockaddr_in addr = {.sin_family = AF_INET};
  char *end;
  long p = colon ? strtol(colon + 1, &end, 10) : -1;
  if (!colon || *end || p < 0 || p > 65535 || (size_t)(colon - listen) >= sizeof host) {
    return tm_error_set(err, TM_ERR_INVALID, "expected host:port, got \"%.64s\"", listen);
  }
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = '\0';
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    return tm_error_set(err, TM_ERR_INVALID, "expected an IPv4 address, got \"%s\"", host);
  }
  addr.sin_port = htons((uint16_t)p);
  /* epoll, many connections and a short idle timeout: slow or half-open clients (64 of them used
   * to fill the old limit for 10 s at a time) cannot keep a scraper out. */
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)p, NULL, NULL, answer, NULL,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned int)METRICS_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned int)METRICS_MAX_CONNECTIONS, MHD_OPTION_END);
  if (!d) return tm_error_set(err, TM_ERR_INVALID, "cannot listen on %s", listen);
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  *port = info ? info->port : (int)p;
  tm_metrics_http *h = calloc(1, sizeof *h);
  h->daemon = d;
  *out = h;
  return TM_OK;
}

void tm_metrics_http_stop(tm_metrics_http *h) {
  if (!h) return;
  MHD_stop_daemon(h->daemon);
  free(h);
}
