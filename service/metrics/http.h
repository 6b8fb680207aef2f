/* The /metrics HTTP endpoint (libmicrohttpd, its own thread), serving tm_metrics_render. */
#ifndef TM_METRICS_HTTP_H
#define TM_METRICS_HTTP_H

#include "../error.h"

typedef struct tm_metrics_http tm_metrics_http;

/* listen: "host:port" (IPv4; port 0 picks a free one). *port receives the bound port. */
tm_code tm_metrics_http_start(const char *listen, tm_metrics_http **out, int *port, tm_error *err);
void tm_metrics_http_stop(tm_metrics_http *h);

#endif
