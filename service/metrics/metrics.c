/* The metric registry and its text exposition. */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "process.h"

#define N_CODES 17
#define N_STATES 11
#define MAX_MIGRATIONS 32

/* The Prometheus client default buckets, which go-grpc-prometheus uses, and more up to 8 h: a
 * synchronous Run lasts as long as its migrations. */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,  1,    2.5,   5,
                                 10,    30,   60,    300,  900, 1800, 3600, 7200, 14400, 28800};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

/* One batch: a write and a checkpoint, milliseconds on a quiet MongoDB, minutes when it struggles.
 */
static const double batch_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                       1,     2.5,  5,     10,   30,  60,   300};
#define N_BATCH_BUCKETS (sizeof batch_buckets / sizeof batch_buckets[0])

/* Label values, set once before serving (tm_metrics_label_*): the layers that own them say them. */
static const char *state_names[N_STATES]; /* [s - 1]: the name of state s */
static const char *code_names[N_CODES];
static const char *migration_names[MAX_MIGRATIONS];
static size_t n_migrations;

typedef struct {
  const char *service, *method, *type;
  atomic_uint_fast64_t started, received, sent;
  atomic_uint_fast64_t handled[N_CODES];
  atomic_uint_fast64_t bucket[N_BUCKETS]; /* non-cumulative; summed when rendered */
  atomic_uint_fast64_t count;
  _Atomic double sum;
} method_series;

typedef struct {
  atomic_uint_fast64_t bucket[N_BATCH_BUCKETS]; /* non-cumulative */
  atomic_uint_fast64_t count;
  _Atomic double sum;
} batch_histogram;

typedef struct {
  atomic_int_fast64_t processed, updated; /* by this instance */
  batch_histogram batches;
  /* From the state collection; state 0: not read yet. */
  atomic_int state;
  atomic_bool has_run;
  atomic_int_fast64_t total, done, pending;
  _Atomic double last_success;
} migration_series;

static method_series methods[TM_METRICS_MAX_METHODS];
static atomic_int n_methods;
static migration_series migrations[MAX_MIGRATIONS];
static atomic_uint_fast64_t lease_renewals[3]; /* by tm_metrics_lease */
static atomic_int mongodb_up = -1;             /* -1: no ping yet */
static const char *build_labels[3] = {"", "", ""};

static void add_seconds(_Atomic double *sum, double seconds) {
  double old = atomic_load(sum);
  while (!atomic_compare_exchange_weak(sum, &old, old + seconds)) {
  }
}

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
  add_seconds(&m->sum, seconds);
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

void tm_metrics_migration_batch(size_t index, double seconds) {
  migration_series *s = migration(index);
  if (!s) return;
  size_t b = 0;
  while (b < N_BATCH_BUCKETS && seconds > batch_buckets[b]) b++;
  if (b < N_BATCH_BUCKETS) atomic_fetch_add(&s->batches.bucket[b], 1);
  atomic_fetch_add(&s->batches.count, 1);
  add_seconds(&s->batches.sum, seconds);
}

void tm_metrics_migration_stored(size_t index, const tm_metrics_stored *stored) {
  migration_series *s = migration(index);
  if (!s) return;
  atomic_store(&s->total, stored->total);
  atomic_store(&s->done, stored->processed);
  atomic_store(&s->pending, stored->pending);
  atomic_store(&s->has_run, stored->has_run);
  if (stored->last_success > 0) atomic_store(&s->last_success, stored->last_success);
  atomic_store(&s->state, stored->state);
}

void tm_metrics_lease_renewal(tm_metrics_lease outcome) {
  if ((unsigned)outcome < 3) atomic_fetch_add(&lease_renewals[outcome], 1);
}

void tm_metrics_mongodb_up(bool up) { atomic_store(&mongodb_up, up ? 1 : 0); }

void tm_metrics_label_migrations(const char *const *names, size_t n) {
  n_migrations = n < MAX_MIGRATIONS ? n : MAX_MIGRATIONS;
  for (size_t i = 0; i < n_migrations; i++) migration_names[i] = names[i];
}

void tm_metrics_label_states(const char *const *names, int n) {
  for (int s = 0; s < n && s < N_STATES; s++) state_names[s] = names[s];
}

void tm_metrics_label_codes(const char *const *names, int n) {
  for (int c = 0; c < n && c < N_CODES; c++) code_names[c] = names[c];
}

void tm_metrics_build_info(const char *version, const char *grpc_version,
                           const char *mongoc_version) {
  build_labels[0] = version;
  build_labels[1] = grpc_version;
  build_labels[2] = mongoc_version;
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
          LABEL_ARGS(&methods[i]), code_names[c] ? code_names[c] : "Unknown",
          (unsigned long long)v);
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

/* A per-migration gauge or counter: one line per registered migration. */
#define EACH_MIGRATION(t, n, metric, fmt, value)                              \
  for (size_t i = 0; i < (n); i++) {                                          \
    add(t, metric "{migration=\"%s\"} " fmt "\n", migration_names[i], value); \
  }

static void render_batches(text *t, size_t n) {
  header(t, "migration_batch_duration_seconds", "histogram",
         "Time to write one batch and save its progress, by migrations run on this instance.");
  for (size_t i = 0; i < n; i++) {
    const char *name = migration_names[i];
    batch_histogram *h = &migrations[i].batches;
    uint64_t cumulative = 0;
    for (size_t b = 0; b < N_BATCH_BUCKETS; b++) {
      cumulative += atomic_load(&h->bucket[b]);
      add(t, "migration_batch_duration_seconds_bucket{migration=\"%s\",le=\"%g\"} %llu\n", name,
          batch_buckets[b], (unsigned long long)cumulative);
    }
    uint64_t count = atomic_load(&h->count);
    add(t, "migration_batch_duration_seconds_bucket{migration=\"%s\",le=\"+Inf\"} %llu\n", name,
        (unsigned long long)count);
    add(t, "migration_batch_duration_seconds_sum{migration=\"%s\"} %.9g\n", name,
        atomic_load(&h->sum));
    add(t, "migration_batch_duration_seconds_count{migration=\"%s\"} %llu\n", name,
        (unsigned long long)count);
  }
}

/* The series read from the state collection: the same on every replica. */
static void render_stored(text *t, size_t n) {
  header(t, "migration_state", "gauge",
         "1 for the state the shared state collection holds for each migration, 0 for the "
         "others (read periodically; every replica exports the same values).");
  for (size_t i = 0; i < n; i++) {
    int state = atomic_load(&migrations[i].state);
    for (int s = 0; s < N_STATES; s++) {
      add(t, "migration_state{migration=\"%s\",state=\"%s\"} %d\n", migration_names[i],
          state_names[s] ? state_names[s] : "", state == s + 1);
    }
  }
  static const char *gauges[][2] = {
      {"migration_run_documents", "Documents the last run of each migration had to examine."},
      {"migration_run_documents_processed", "Documents the last run of each migration examined."},
      {"migration_run_documents_pending", "Documents the last run of each migration has left."},
  };
  for (int g = 0; g < 3; g++) {
    header(t, gauges[g][0], "gauge", gauges[g][1]);
    for (size_t i = 0; i < n; i++) {
      migration_series *m = &migrations[i];
      if (!atomic_load(&m->has_run)) continue; /* never run: nothing is known */
      int64_t v = g == 0   ? atomic_load(&m->total)
                  : g == 1 ? atomic_load(&m->done)
                           : atomic_load(&m->pending);
      add(t, "%s{migration=\"%s\"} %lld\n", gauges[g][0], migration_names[i], (long long)v);
    }
  }
  header(t, "migration_last_success_timestamp_seconds", "gauge",
         "When each migration last ended SUCCEEDED, as far as this instance has read (0: not "
         "seen).");
  EACH_MIGRATION(t, n, "migration_last_success_timestamp_seconds", "%.3f",
                 atomic_load(&migrations[i].last_success));
}

static void render_migrations(text *t) {
  size_t n = n_migrations;
  header(t, "migration_documents_processed_total", "counter",
         "Documents examined by migrations run on this instance.");
  EACH_MIGRATION(t, n, "migration_documents_processed_total", "%lld",
                 (long long)atomic_load(&migrations[i].processed));
  header(t, "migration_documents_updated_total", "counter",
         "Documents changed by migrations run on this instance.");
  EACH_MIGRATION(t, n, "migration_documents_updated_total", "%lld",
                 (long long)atomic_load(&migrations[i].updated));
  render_batches(t, n);
  render_stored(t, n);
  static const char *lease_results[3] = {"renewed", "failed", "lost"};
  header(t, "migration_lease_renewals_total", "counter",
         "Lease renewals by this instance's runs: renewed, failed (retried) or lost to another "
         "holder.");
  for (int r = 0; r < 3; r++) {
    add(t, "migration_lease_renewals_total{result=\"%s\"} %llu\n", lease_results[r],
        (unsigned long long)atomic_load(&lease_renewals[r]));
  }
}

static void render_process(text *t) {
  int up = atomic_load(&mongodb_up);
  if (up >= 0) {
    header(t, "mongodb_up", "gauge", "1 when MongoDB answered the health checker's last ping.");
    add(t, "mongodb_up %d\n", up);
  }
  header(t, "twigz_migrations_build_info", "gauge", "Versions this binary was built with; 1.");
  add(t,
      "twigz_migrations_build_info{version=\"%s\",grpc_version=\"%s\",mongoc_version=\"%s\"} 1\n",
      build_labels[0], build_labels[1], build_labels[2]);
  tm_process_stats p;
  if (!tm_process_sample(&p)) return;
  if (p.cpu_seconds >= 0) {
    header(t, "process_cpu_seconds_total", "counter", "Total user and system CPU time in seconds.");
    add(t, "process_cpu_seconds_total %.2f\n", p.cpu_seconds);
  }
  if (p.start_time_seconds >= 0) {
    header(t, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    add(t, "process_start_time_seconds %.2f\n", p.start_time_seconds);
  }
  static const char *ints[][2] = {
      {"process_resident_memory_bytes", "Resident memory size in bytes."},
      {"process_virtual_memory_bytes", "Virtual memory size in bytes."},
      {"process_open_fds", "Number of open file descriptors."},
      {"process_max_fds", "Maximum number of open file descriptors."},
  };
  int64_t values[4] = {p.resident_bytes, p.virtual_bytes, p.open_fds, p.max_fds};
  for (int k = 0; k < 4; k++) {
    if (values[k] < 0) continue;
    header(t, ints[k][0], "gauge", ints[k][1]);
    add(t, "%s %lld\n", ints[k][0], (long long)values[k]);
  }
}

char *tm_metrics_render(size_t *len) {
  text t = {.buf = malloc(8192), .cap = 8192};
  t.buf[0] = '\0';
  int n = atomic_load(&n_methods);
  render_rpc(&t, n < TM_METRICS_MAX_METHODS ? n : TM_METRICS_MAX_METHODS);
  render_migrations(&t);
  render_process(&t);
  *len = t.len;
  return t.buf;
}
