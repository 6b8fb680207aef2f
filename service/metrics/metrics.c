/* The metric registry and its text exposition. */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../migrations/registry.h"
#include "../rpc/status.h"

#define N_CODES 17
#define N_STATES 5
#define MAX_MIGRATIONS 32

/* The Prometheus client default buckets, which go-grpc-prometheus uses. */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

static const char *state_names[N_STATES] = {"PENDING", "RUNNING", "SUCCEEDED", "FAILED",
                                            "CANCELED"};

typedef struct {
  const char *service, *method, *type;
  atomic_uint_fast64_t started, received, sent;
  atomic_uint_fast64_t handled[N_CODES];
  atomic_uint_fast64_t bucket[N_BUCKETS]; /* non-cumulative; summed when rendered */
  atomic_uint_fast64_t count;
  _Atomic double sum;
} method_series;

typedef struct {
  atomic_int_fast64_t processed, updated;
  atomic_int state; /* 0: not seen by this instance */
  _Atomic double last_success;
} migration_series;

static method_series methods[TM_METRICS_MAX_METHODS];
static atomic_int n_methods;
static migration_series migrations[MAX_MIGRATIONS];

int tm_metrics_register_method(const char *service, const char *method, const char *type) {
  int id = atomic_fetch_add(&n_methods, 1);
  if (id >= TM_METRICS_MAX_METHODS) return -1;
  methods[id].service = service;
  methods[id].method = method;
  methods[id].type = type;
  return id;
}

static method_series *series(int id) {
  return id >= 0 && id < atomic_load(&n_methods) && id < TM_METRICS_MAX_METHODS ? &methods[id]
                                                                                : NULL;
}

void tm_metrics_rpc_started(int id) {
  method_series *m = series(id);
  if (m) atomic_fetch_add(&m->started, 1);
}

void tm_metrics_msg_received(int id) {
  method_series *m = series(id);
  if (m) atomic_fetch_add(&m->received, 1);
}

void tm_metrics_msg_sent(int id) {
  method_series *m = series(id);
  if (m) atomic_fetch_add(&m->sent, 1);
}

void tm_metrics_rpc_handled(int id, int code, double seconds) {
  method_series *m = series(id);
  if (!m) return;
  if (code >= 0 && code < N_CODES) atomic_fetch_add(&m->handled[code], 1);
  size_t b = 0;
  while (b < N_BUCKETS && seconds > buckets[b]) b++;
  if (b < N_BUCKETS) atomic_fetch_add(&m->bucket[b], 1);
  atomic_fetch_add(&m->count, 1);
  double old = atomic_load(&m->sum);
  while (!atomic_compare_exchange_weak(&m->sum, &old, old + seconds)) {
  }
}

static migration_series *migration(size_t index) {
  return index < MAX_MIGRATIONS ? &migrations[index] : NULL;
}

void tm_metrics_migration_progress(size_t index, int64_t processed, int64_t updated) {
  migration_series *s = migration(index);
  if (!s) return;
  atomic_fetch_add(&s->processed, processed);
  atomic_fetch_add(&s->updated, updated);
}

void tm_metrics_migration_state(size_t index, int state) {
  migration_series *s = migration(index);
  if (s) atomic_store(&s->state, state);
}

void tm_metrics_migration_succeeded(size_t index, double unix_seconds) {
  migration_series *s = migration(index);
  if (s) atomic_store(&s->last_success, unix_seconds);
}

/* --- rendering --- */

typedef struct {
  char *buf;
  size_t len, cap;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < t->cap - t->len) {
      t->len += (size_t)n;
      return;
    }
    t->cap = t->cap * 2 + (size_t)(n > 0 ? n : 0);
    t->buf = realloc(t->buf, t->cap);
  }
}

static void header(text *t, const char *name, const char *type, const char *help) {
  add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

#define LABELS "grpc_type=\"%s\",grpc_service=\"%s\",grpc_method=\"%s\""
#define LABEL_ARGS(m) (m)->type, (m)->service, (m)->method

static void render_rpc(text *t, int n) {
  header(t, "grpc_server_started_total", "counter", "Total number of RPCs started on the server.");
  for (int i = 0; i < n; i++) {
    add(t, "grpc_server_started_total{" LABELS "} %llu\n", LABEL_ARGS(&methods[i]),
        (unsigned long long)atomic_load(&methods[i].started));
  }
  header(t, "grpc_server_handled_total", "counter",
         "Total number of RPCs completed on the server, regardless of success or failure.");
  for (int i = 0; i < n; i++) {
    for (int c = 0; c < N_CODES; c++) {
      uint64_t v = atomic_load(&methods[i].handled[c]);
      if (!v) continue; /* like go-grpc-prometheus: series appear once a code is seen */
      add(t, "grpc_server_handled_total{" LABELS ",grpc_code=\"%s\"} %llu\n",
          LABEL_ARGS(&methods[i]), tm_status_name((grpc_status_code)c), (unsigned long long)v);
    }
  }
  header(t, "grpc_server_msg_received_total", "counter",
         "Total number of RPC stream messages received on the server.");
  for (int i = 0; i < n; i++) {
    add(t, "grpc_server_msg_received_total{" LABELS "} %llu\n", LABEL_ARGS(&methods[i]),
        (unsigned long long)atomic_load(&methods[i].received));
  }
  header(t, "grpc_server_msg_sent_total", "counter",
         "Total number of gRPC stream messages sent by the server.");
  for (int i = 0; i < n; i++) {
    add(t, "grpc_server_msg_sent_total{" LABELS "} %llu\n", LABEL_ARGS(&methods[i]),
        (unsigned long long)atomic_load(&methods[i].sent));
  }
  header(t, "grpc_server_handling_seconds", "histogram",
         "Histogram of response latency (seconds) of gRPC that had been application-level "
         "handled by the server.");
  for (int i = 0; i < n; i++) {
    method_series *m = &methods[i];
    uint64_t cumulative = 0;
    for (size_t b = 0; b < N_BUCKETS; b++) {
      cumulative += atomic_load(&m->bucket[b]);
      add(t, "grpc_server_handling_seconds_bucket{" LABELS ",le=\"%g\"} %llu\n", LABEL_ARGS(m),
          buckets[b], (unsigned long long)cumulative);
    }
    uint64_t count = atomic_load(&m->count);
    add(t, "grpc_server_handling_seconds_bucket{" LABELS ",le=\"+Inf\"} %llu\n", LABEL_ARGS(m),
        (unsigned long long)count);
    add(t, "grpc_server_handling_seconds_sum{" LABELS "} %.9g\n", LABEL_ARGS(m),
        atomic_load(&m->sum));
    add(t, "grpc_server_handling_seconds_count{" LABELS "} %llu\n", LABEL_ARGS(m),
        (unsigned long long)count);
  }
}

static void render_migrations(text *t) {
  size_t n = tm_registry_count();
  if (n > MAX_MIGRATIONS) n = MAX_MIGRATIONS;
  header(t, "migration_documents_processed_total", "counter",
         "Documents examined by migrations run on this instance.");
  for (size_t i = 0; i < n; i++) {
    add(t, "migration_documents_processed_total{migration=\"%s\"} %lld\n", tm_registry_at(i)->name,
        (long long)atomic_load(&migrations[i].processed));
  }
  header(t, "migration_documents_updated_total", "counter",
         "Documents changed by migrations run on this instance.");
  for (size_t i = 0; i < n; i++) {
    add(t, "migration_documents_updated_total{migration=\"%s\"} %lld\n", tm_registry_at(i)->name,
        (long long)atomic_load(&migrations[i].updated));
  }
  header(t, "migration_state", "gauge",
         "1 for the state each migration was last seen in by this instance, 0 for the others.");
  for (size_t i = 0; i < n; i++) {
    int state = atomic_load(&migrations[i].state);
    for (int s = 0; s < N_STATES; s++) {
      add(t, "migration_state{migration=\"%s\",state=\"%s\"} %d\n", tm_registry_at(i)->name,
          state_names[s], state == s + 1);
    }
  }
  header(t, "migration_last_success_timestamp_seconds", "gauge",
         "When each migration last ended SUCCEEDED, as seen by this instance (0: never).");
  for (size_t i = 0; i < n; i++) {
    add(t, "migration_last_success_timestamp_seconds{migration=\"%s\"} %.3f\n",
        tm_registry_at(i)->name, atomic_load(&migrations[i].last_success));
  }
}

char *tm_metrics_render(size_t *len) {
  text t = {.buf = malloc(8192), .cap = 8192};
  t.buf[0] = '\0';
  int n = atomic_load(&n_methods);
  render_rpc(&t, n < TM_METRICS_MAX_METHODS ? n : TM_METRICS_MAX_METHODS);
  render_migrations(&t);
  *len = t.len;
  return t.buf;
}
