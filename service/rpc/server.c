/* The gRPC C-core server: one completion queue, worker threads draining it, one armed request per
 * served method plus one for unregistered methods (core never answers those itself). */
#include "server.h"

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../metrics/metrics.h"
#include "../util/ratelimit.h"
#include "auth.h"
#include "status.h"
#include "workq.h"

struct tm_server {
  grpc_server *server;
  grpc_completion_queue *cq;
  int port;
  tm_method *methods;
  size_t n_methods;
  char *auth_token;
  char *auth_token_name;
  pthread_t *threads;
  int n_threads;
  tm_workq *lanes[TM_LANE_READS + 1]; /* [TM_LANE_INLINE] stays NULL */
  tm_tag on_shutdown;
  atomic_bool shutdown_done;
  atomic_int inflight; /* calls arrived and not yet freed */
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

/* Threads of the control and reads lanes, and the reads lane's queue: each read there may scan a
 * collection, so a flood is refused rather than queued for minutes. */
#define CONTROL_THREADS 2
#define READ_THREADS 2
#define READ_QUEUE_MAX 32

static void arm(tm_server *s, const tm_method *m);

/* --- completion-queue threads --- */

static void *cq_thread(void *arg) {
  tm_server *s = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type != GRPC_OP_COMPLETE) continue;
    tm_tag *tag = ev.tag;
    tag->done(tag, ev.success != 0);
  }
  return NULL;
}

static void on_shutdown(tm_tag *tag, bool ok) {
  (void)ok;
  tm_server *s = TM_CONTAINER_OF(tag, tm_server, on_shutdown);
  pthread_mutex_lock(&s->mu);
  atomic_store(&s->shutdown_done, true);
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* --- dispatch --- */

static void run_unary(void *arg) {
  tm_call *c = arg;
  c->method->on_request(c, c->request);
  tm_call_unref(c); /* the reference the dispatcher passed to this job */
}

/* Decides what happens to an arrived call of a registered method. */
static void dispatch(tm_call *c) {
  const tm_method *m = c->method;
  tm_server *s = c->server;
  if (m->needs_auth && s->auth_token && !tm_auth_check(&c->md, s->auth_token)) {
    tm_call_fail(c, GRPC_STATUS_UNAUTHENTICATED,
                 "missing or invalid credentials: send 'authorization: Bearer <token>'");
    return;
  }
  if (m->needs_auth && s->auth_token) c->token_name = s->auth_token_name;
  if (m->kind == TM_METHOD_BIDI) {
    m->on_start(c);
    return;
  }
  char why[256];
  c->request = tm_call_decode(m->input, c->payload, why, sizeof why);
  if (!c->request) {
    tm_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, why);
    return;
  }
  if (m->lane == TM_LANE_INLINE) {
    m->on_request(c, c->request);
    return;
  }
  tm_call_ref(c);
  if (!tm_server_defer(s, m->lane, run_unary, c)) {
    tm_call_unref(c);
    tm_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
                 "too many such calls waiting on this replica; retry in a few seconds");
  }
}

static void on_arrival(tm_tag *tag, bool ok) {
  tm_call *c = TM_CONTAINER_OF(tag, tm_call, on_arrival);
  if (!ok) { /* the server is shutting down: the armed request was withdrawn */
    tm_call_unref(c);
    return;
  }
  atomic_fetch_add(&c->server->inflight, 1);
  tm_call_arrived(c);
  arm(c->server, c->method); /* keep one request armed for the next caller */
  /* Our own reference while the handler starts: a batch it starts can complete at once on another
   * thread (a call whose deadline already passed), and RECV_CLOSE_ON_SERVER's completion drops the
   * base reference, which would free the call under the handler. */
  tm_call_ref(c);
  if (c->method) {
    dispatch(c);
  } else {
    tm_call_fail(c, GRPC_STATUS_UNIMPLEMENTED, "unknown service or method");
  }
  tm_call_unref(c);
}

static void arm(tm_server *s, const tm_method *m) {
  tm_call *c = tm_call_new(s, m, tm_server_call_ended);
  c->on_arrival.done = on_arrival;
  grpc_call_error e;
  if (m) {
    e = grpc_server_request_registered_call(s->server, m->registered, &c->call, &c->deadline,
                                            &c->md, m->kind == TM_METHOD_BIDI ? NULL : &c->payload,
                                            s->cq, s->cq, &c->on_arrival);
  } else {
    e = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq, s->cq,
                                 &c->on_arrival);
  }
  if (e != GRPC_CALL_OK) tm_call_unref(c);
}

/* --- logging --- */

/* gRPC core writes its own lines to stderr; route them into our JSON log instead. Errors while
 * binding are reported by tm_server_start's caller, so core's copy is only worth debug level. */
static void forward_core_log(gpr_log_func_args *args) {
  tm_log_level level = args->severity == GPR_LOG_SEVERITY_ERROR  ? TM_LOG_WARN
                       : args->severity == GPR_LOG_SEVERITY_INFO ? TM_LOG_INFO
                                                                 : TM_LOG_DEBUG;
  if (strstr(args->file, "chttp2_server")) level = TM_LOG_DEBUG;
  /* Core warns once per failed TLS handshake: junk connections must not flood the log. */
  static tm_ratelimit warnings = TM_RATELIMIT_INIT(10, 10000);
  uint64_t held = 0;
  if (level == TM_LOG_WARN && !tm_ratelimit_allow(&warnings, &held)) return;
  /* With nothing held back, the NULL key ends the fields before "suppressed". */
  tm_log(level, args->message, "component", TM_LOG_STR("grpc"), "file", TM_LOG_STR(args->file),
         "line", TM_LOG_INT(args->line), held ? "suppressed" : NULL, TM_LOG_INT(held), NULL);
}

void tm_server_init_logging(void) {
  gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
  gpr_set_log_function(forward_core_log);
}

/* --- lifecycle --- */

static grpc_server_credentials *make_credentials(const tm_server_options *o, tm_error *err) {
  if (!o->tls_cert && !o->tls_key) return grpc_insecure_server_credentials_create();
  if (!o->tls_cert || !o->tls_key) {
    tm_error_set(err, TM_ERR_INVALID, "--tls-cert and --tls-key must be given together");
    return NULL;
  }
  grpc_ssl_pem_key_cert_pair pair = {.private_key = o->tls_key, .cert_chain = o->tls_cert};
  grpc_ssl_client_certificate_request_type request =
      o->tls_client_ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                       : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  grpc_server_credentials *creds =
      grpc_ssl_server_credentials_create_ex(o->tls_client_ca, &pair, 1, request, NULL);
  if (!creds) tm_error_set(err, TM_ERR_INVALID, "the TLS certificate or key is not usable");
  return creds;
}

/* The metrics' grpc_code label values: the names status.c gives the codes. */
static void label_codes(void) {
  static const char *names[GRPC_STATUS_UNAUTHENTICATED + 1];
  for (int c = 0; c <= GRPC_STATUS_UNAUTHENTICATED; c++) names[c] = tm_status_name(c);
  tm_metrics_label_codes(names, GRPC_STATUS_UNAUTHENTICATED + 1);
}

tm_code tm_server_start(const tm_server_options *opts, tm_method *methods, size_t n_methods,
                        tm_server **out, tm_error *err) {
  label_codes();
  grpc_server_credentials *creds = make_credentials(opts, err);
  if (!creds) return err->code;

  grpc_arg args[3];
  size_t n_args = 0;
  if (opts->max_message_bytes > 0) {
    args[n_args++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                                .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                                .value.integer = opts->max_message_bytes};
  }
  /* Core's default is 120 s: every idle TCP connection that never speaks HTTP/2 keeps a file
   * descriptor that long. */
  if (opts->handshake_timeout_ms > 0) {
    args[n_args++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                                .key = GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                                .value.integer = opts->handshake_timeout_ms};
  }
  if (opts->max_streams > 0) {
    args[n_args++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                                .key = GRPC_ARG_MAX_CONCURRENT_STREAMS,
                                .value.integer = opts->max_streams};
  }
  grpc_channel_args channel_args = {.num_args = n_args, .args = args};

  tm_server *s = calloc(1, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  s->methods = methods;
  s->n_methods = n_methods;
  s->auth_token = opts->auth_token ? strdup(opts->auth_token) : NULL;
  s->auth_token_name = strdup(opts->auth_token_name ? opts->auth_token_name : "default");
  s->cq = grpc_completion_queue_create_for_next(NULL);
  s->server = grpc_server_create(&channel_args, NULL);
  grpc_server_register_completion_queue(s->server, s->cq, NULL);
  static const char *types[] = {"unary", "server_stream", "bidi_stream"};
  for (size_t i = 0; i < n_methods; i++) {
    tm_method *m = &methods[i];
    m->metrics_id = tm_metrics_register_method(m->service, m->name, types[m->kind]);
    m->registered = grpc_server_register_method(s->server, m->path, NULL,
                                                m->kind == TM_METHOD_BIDI
                                                    ? GRPC_SRM_PAYLOAD_NONE
                                                    : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
                                                0);
  }
  s->port = grpc_server_add_http2_port(s->server, opts->listen, creds);
  grpc_server_credentials_release(creds);
  if (s->port == 0) {
    tm_error_set(err, TM_ERR_INVALID, "cannot listen on %s (in use, or not a host:port)",
                 opts->listen);
    grpc_server_destroy(s->server);
    grpc_completion_queue_shutdown(s->cq);
    while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(s->cq);
    free(s->auth_token);
    free(s->auth_token_name);
    free(s);
    return err->code;
  }
  grpc_server_start(s->server);

  s->lanes[TM_LANE_HANDLERS] =
      tm_workq_new(opts->handler_threads > 0 ? (size_t)opts->handler_threads : 4, 0);
  s->lanes[TM_LANE_CONTROL] = tm_workq_new(CONTROL_THREADS, 0);
  s->lanes[TM_LANE_READS] = tm_workq_new(READ_THREADS, READ_QUEUE_MAX);
  for (size_t i = 0; i < n_methods; i++) arm(s, &methods[i]);
  arm(s, NULL);
  s->n_threads = opts->threads > 0 ? opts->threads : 1;
  s->threads = calloc((size_t)s->n_threads, sizeof *s->threads);
  for (int i = 0; i < s->n_threads; i++) pthread_create(&s->threads[i], NULL, cq_thread, s);
  *out = s;
  return TM_OK;
}

int tm_server_port(const tm_server *s) { return s->port; }

bool tm_server_defer(tm_server *s, tm_lane lane, void (*fn)(void *arg), void *arg) {
  return tm_workq_push(s->lanes[lane], fn, arg);
}

void tm_server_call_ended(tm_server *s) {
  pthread_mutex_lock(&s->mu);
  atomic_fetch_sub(&s->inflight, 1);
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* Waits until the shutdown tag arrived or, when idle_is_enough, no call is in flight. Core's
 * shutdown also waits for clients to close idle connections, which well-behaved pooled clients may
 * never do: once no call is in flight there is nothing left to drain. */
static bool wait_shutdown(tm_server *s, int ms, bool idle_is_enough) {
  gpr_timespec until =
      gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN));
  struct timespec ts = {.tv_sec = until.tv_sec, .tv_nsec = until.tv_nsec};
  pthread_mutex_lock(&s->mu);
  while (!atomic_load(&s->shutdown_done) && !(idle_is_enough && atomic_load(&s->inflight) == 0)) {
    if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0) break;
  }
  bool done = atomic_load(&s->shutdown_done) || (idle_is_enough && atomic_load(&s->inflight) == 0);
  pthread_mutex_unlock(&s->mu);
  return done;
}

void tm_server_shutdown(tm_server *s, int grace_ms) {
  s->on_shutdown.done = on_shutdown;
  grpc_server_shutdown_and_notify(s->server, s->cq, &s->on_shutdown);
  if (!wait_shutdown(s, grace_ms, true)) {
    tm_log(TM_LOG_WARN, "grace period over: cancelling calls still in flight", "grace_ms",
           TM_LOG_INT(grace_ms), "calls", TM_LOG_INT(atomic_load(&s->inflight)), NULL);
  }
  /* Ends calls still running and idle connections alike; then the shutdown tag arrives. */
  grpc_server_cancel_all_calls(s->server);
  wait_shutdown(s, 60 * 60 * 1000, false);
  /* Handlers still queued or running answer into calls gRPC has finished; let them end first. */
  for (size_t i = 0; i < sizeof s->lanes / sizeof s->lanes[0]; i++) {
    tm_workq_destroy(s->lanes[i]);
    s->lanes[i] = NULL;
  }
}

void tm_server_destroy(tm_server *s) {
  if (!s) return;
  grpc_server_destroy(s->server);
  grpc_completion_queue_shutdown(s->cq);
  for (int i = 0; i < s->n_threads; i++) pthread_join(s->threads[i], NULL);
  grpc_completion_queue_destroy(s->cq);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s->threads);
  free(s->auth_token);
  free(s->auth_token_name);
  free(s);
}
