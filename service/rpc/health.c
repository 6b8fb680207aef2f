/* The health service: a checker thread that pings MongoDB, and the Check and Watch methods. */
#include "health.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../log.h"
#include "../metrics/metrics.h"
#include "../store/clock.h"
#include "../util/utf8.h"
#include "grpc/health/v1/health.pb-c.h"

#define MIGRATION_SERVICE "twigz.migrations.v1.MigrationService"

typedef Grpc__Health__V1__HealthCheckResponse__ServingStatus serving_status;

typedef struct watcher {
  tm_tag on_sent;
  tm_call *call; /* referenced while listed */
  int target;    /* what the asked service name follows: one of the TARGET_* below */
  bool sending;
  serving_status last_sent;
  struct watcher *next;
} watcher;

struct tm_health {
  tm_store *store;
  int interval_ms;
  int ping_timeout_ms; /* a ping that takes longer is NOT_SERVING */
  pthread_mutex_t mu;  /* guards everything below and every watcher's send state */
  pthread_cond_t cv;
  serving_status status;
  tm_code cause; /* why the last ping failed, so that a new kind of failure is logged too */
  bool stopping;
  bool thread_started;
  pthread_t thread;
  watcher *watchers;
};

/* "liveness" is for Kubernetes liveness probes: it answers SERVING while the process serves, since
 * restarting pods cannot cure a database outage. "" and the service follow the MongoDB ping. */
#define LIVENESS "liveness"

enum { TARGET_UNKNOWN, TARGET_DATABASE, TARGET_LIVENESS };

static int target_of(const char *name) {
  if (name[0] == '\0' || strcmp(name, MIGRATION_SERVICE) == 0) return TARGET_DATABASE;
  return strcmp(name, LIVENESS) == 0 ? TARGET_LIVENESS : TARGET_UNKNOWN;
}

/* The status a name reports now; the caller holds h->mu. */
static serving_status status_locked(const tm_health *h, int target) {
  switch (target) {
  case TARGET_DATABASE: return h->status;
  case TARGET_LIVENESS:
    return h->stopping ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
                       : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  default: return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
  }
}

/* --- Watch --- */

static void send_status_locked(tm_health *h, watcher *w);

static void on_sent(tm_tag *tag, bool ok) {
  watcher *w = TM_CONTAINER_OF(tag, watcher, on_sent);
  tm_call *c = w->call;
  tm_health *h = tm_call_ctx(c);
  pthread_mutex_lock(&h->mu);
  w->sending = false;
  /* A change that arrived while this message was in flight is sent now. */
  if (ok && !atomic_load(&c->cancelled)) send_status_locked(h, w);
  pthread_mutex_unlock(&h->mu);
  tm_call_unref(c);
}

static void send_status_locked(tm_health *h, watcher *w) {
  serving_status now = status_locked(h, w->target);
  if (w->sending || now == w->last_sent) return;
  Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  resp.status = now;
  tm_call *c = w->call;
  if (c->send_buf) grpc_byte_buffer_destroy(c->send_buf);
  c->send_buf = tm_call_serialize(&resp.base);
  grpc_op ops[2];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (!c->initial_sent) {
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    c->initial_sent = true;
  }
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n++].data.send_message.send_message = c->send_buf;
  w->sending = true;
  w->last_sent = now;
  w->on_sent.done = on_sent;
  if (!tm_call_start_batch(c, ops, n, &w->on_sent)) w->sending = false;
}

static void unlist(tm_health *h, watcher *w) {
  for (watcher **p = &h->watchers; *p; p = &(*p)->next) {
    if (*p == w) {
      *p = w->next;
      return;
    }
  }
}

static void on_watch_closed(tm_call *c) {
  tm_health *h = tm_call_ctx(c);
  watcher *w = c->stream;
  pthread_mutex_lock(&h->mu);
  unlist(h, w);
  pthread_mutex_unlock(&h->mu);
  tm_call_unref(c); /* the list's reference */
}

static void handle_watch(tm_call *c, const ProtobufCMessage *request) {
  const Grpc__Health__V1__HealthCheckRequest *req = (const void *)request;
  tm_health *h = tm_call_ctx(c);
  watcher *w = calloc(1, sizeof *w);
  w->call = c;
  w->target = target_of(req->service);
  w->last_sent = (serving_status)-1;
  c->stream = w;
  c->stream_free = free;
  tm_call_ref(c); /* the list's reference */
  pthread_mutex_lock(&h->mu);
  if (h->stopping) {
    pthread_mutex_unlock(&h->mu);
    tm_call_unref(c);
    tm_call_fail(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
    return;
  }
  w->next = h->watchers;
  h->watchers = w;
  tm_call_watch_close(c, on_watch_closed);
  send_status_locked(h, w);
  pthread_mutex_unlock(&h->mu);
}

/* --- Check --- */

static void handle_check(tm_call *c, const ProtobufCMessage *request) {
  const Grpc__Health__V1__HealthCheckRequest *req = (const void *)request;
  tm_health *h = tm_call_ctx(c);
  int target = target_of(req->service);
  if (target == TARGET_UNKNOWN) {
    char msg[300];
    snprintf(msg, sizeof msg, "unknown service \"%.*s\"", (int)tm_utf8_cut(req->service, 200),
             req->service);
    tm_call_fail(c, GRPC_STATUS_NOT_FOUND, msg);
    return;
  }
  Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  pthread_mutex_lock(&h->mu);
  resp.status = status_locked(h, target);
  pthread_mutex_unlock(&h->mu);
  tm_call_reply(c, &resp.base);
}

/* --- the checker --- */

static void set_status(tm_health *h, serving_status status, tm_code cause, const char *why) {
  pthread_mutex_lock(&h->mu);
  if (h->stopping && status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
    pthread_mutex_unlock(&h->mu);
    return; /* shutdown is final */
  }
  bool changed = h->status != status || h->cause != cause;
  h->status = status;
  h->cause = cause;
  /* Every watcher is offered the news: each sends only when its own status changed (liveness
   * watchers change at shutdown even when the database status does not). */
  for (watcher *w = h->watchers; w; w = w->next) send_status_locked(h, w);
  pthread_mutex_unlock(&h->mu);
  if (changed) {
    bool serving = status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    tm_log(serving ? TM_LOG_INFO : TM_LOG_WARN, serving ? "health: SERVING" : "health: NOT_SERVING",
           "reason", TM_LOG_STR(why), NULL);
  }
}

static void *checker(void *arg) {
  tm_health *h = arg;
  for (;;) {
    tm_error err;
    tm_code code = tm_store_ping(h->store, h->ping_timeout_ms, &err);
    tm_metrics_mongodb_up(code == TM_OK);
    set_status(h,
               code == TM_OK ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                             : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING,
               code, code == TM_OK ? "MongoDB answers ping" : err.msg);
    struct timespec until;
    /* While down, look again sooner so SERVING returns quickly once the database is back. */
    int ms = code == TM_OK ? h->interval_ms : (h->interval_ms < 1000 ? h->interval_ms : 1000);
    tm_clock_deadline(&until, ms);
    pthread_mutex_lock(&h->mu);
    while (!h->stopping && pthread_cond_timedwait(&h->cv, &h->mu, &until) == 0) {
    }
    bool stop = h->stopping;
    pthread_mutex_unlock(&h->mu);
    if (stop) return NULL;
  }
}

tm_health *tm_health_new(tm_store *store, int interval_ms, int ping_timeout_ms) {
  tm_health *h = calloc(1, sizeof *h);
  h->store = store;
  h->interval_ms = interval_ms;
  h->ping_timeout_ms = ping_timeout_ms;
  h->status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
  pthread_mutex_init(&h->mu, NULL);
  tm_clock_cond_init(&h->cv);
  return h;
}

void tm_health_start(tm_health *h) {
  h->thread_started = pthread_create(&h->thread, NULL, checker, h) == 0;
}

bool tm_health_serving(tm_health *h) {
  pthread_mutex_lock(&h->mu);
  bool serving = h->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  pthread_mutex_unlock(&h->mu);
  return serving;
}

void tm_health_shutdown(tm_health *h) {
  pthread_mutex_lock(&h->mu);
  h->stopping = true;
  pthread_mutex_unlock(&h->mu);
  set_status(h, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING,
             TM_ERR_CANCELED, "shutting down");
  pthread_mutex_lock(&h->mu);
  pthread_cond_broadcast(&h->cv);
  /* A Watch never ends by itself. Cancelling is safe while listed: the list holds a reference, and
   * on_watch_closed unlists it when the close completes. */
  for (watcher *w = h->watchers; w; w = w->next) {
    grpc_call_cancel_with_status(w->call->call, GRPC_STATUS_UNAVAILABLE, "server shutting down",
                                 NULL);
  }
  pthread_mutex_unlock(&h->mu);
  if (h->thread_started) pthread_join(h->thread, NULL);
  h->thread_started = false;
}

void tm_health_destroy(tm_health *h) {
  if (!h) return;
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
  free(h);
}

void tm_health_methods(tm_health *h, tm_method *check, tm_method *watch) {
  *check = (tm_method){
      .path = "/grpc.health.v1.Health/Check",
      .service = "grpc.health.v1.Health",
      .name = "Check",
      .kind = TM_METHOD_UNARY,
      .quiet = true,
      .input = &grpc__health__v1__health_check_request__descriptor,
      .on_request = handle_check,
      .ctx = h,
  };
  *watch = *check;
  watch->path = "/grpc.health.v1.Health/Watch";
  watch->name = "Watch";
  watch->kind = TM_METHOD_SERVER_STREAM;
  watch->on_request = handle_watch;
}
