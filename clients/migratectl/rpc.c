/* gRPC core plumbing for MigrationService unary calls. */
#include "rpc.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "exit_codes.h"
#include "twigz/migrations/v1/migration_service.pb-c.h"

/* Our own retry loop paces the attempts; the channel's reconnect backoff (1 s growing to 120 s by
 * default) must not make a recovered service wait minutes for our next attempt. */
#define RECONNECT_INITIAL_MS 200
#define RECONNECT_MAX_MS 2000
#define RETRY_BASE_MS 200
#define RETRY_CAP_MIN_MS 1000
#define RETRY_CAP_MAX_MS 10000
#define LAST_ATTEMPT_MS 250

struct tm_ctl_conn {
  tm_ctl_conn_options opts; /* strings borrowed from the caller */
  grpc_channel *channel;
  grpc_completion_queue *cq;
  char *bearer;       /* "Bearer <token>" or NULL; never printed */
  tm_ctl_call *ready; /* calls that ended without the queue (start failures), oldest first */
};

struct tm_ctl_call {
  tm_ctl_conn *conn;
  tm_ctl_call *next_ready;
  char method[32];
  grpc_call *call;
  grpc_byte_buffer *send, *recv;
  grpc_metadata auth;
  grpc_metadata_array initial_md, trailing_md;
  grpc_status_code status;
  grpc_slice details_slice;
  const char *error_string; /* gRPC core's debug text, gpr_free'd */
  char *details;            /* one line, owned */
  const ProtobufCMessageDescriptor *resp_desc;
  ProtobufCMessage *response;
  bool done;
};

static gpr_timespec deadline_at(int64_t ms) {
  int64_t left = ms - tm_ctl_now_ms();
  if (left < 0) left = 0;
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(left, GPR_TIMESPAN));
}

/* Channel arguments borrow their key and value until grpc_channel_create returns. */
static grpc_arg int_arg(const char *key, int value) {
  grpc_arg a = {.type = GRPC_ARG_INTEGER, .key = (char *)key};
  a.value.integer = value;
  return a;
}

static grpc_arg string_arg(const char *key, const char *value) {
  grpc_arg a = {.type = GRPC_ARG_STRING, .key = (char *)key};
  a.value.string = (char *)value;
  return a;
}

static grpc_channel *make_channel(const tm_ctl_conn_options *opts) {
  grpc_arg args[5];
  size_t n_args = 0;
  args[n_args++] = int_arg(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, RECONNECT_INITIAL_MS);
  args[n_args++] = int_arg(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, RECONNECT_MAX_MS);
  /* A channel made afresh after failures must not inherit a shared subchannel still backing off. */
  args[n_args++] = int_arg(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args[n_args++] = string_arg(GRPC_ARG_PRIMARY_USER_AGENT_STRING, "migratectl/" TM_VERSION);
  if (opts->tls_server_name)
    args[n_args++] = string_arg(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, opts->tls_server_name);
  grpc_channel_args channel_args = {n_args, args};

  grpc_channel_credentials *creds;
  if (opts->tls || opts->tls_ca || opts->tls_cert) {
    grpc_ssl_pem_key_cert_pair pair = {opts->tls_key, opts->tls_cert};
    creds = grpc_ssl_credentials_create(opts->tls_ca, opts->tls_cert ? &pair : NULL, NULL, NULL);
  } else {
    creds = grpc_insecure_credentials_create();
  }
  grpc_channel *channel = grpc_channel_create(opts->target, creds, &channel_args);
  grpc_channel_credentials_release(creds);
  return channel;
}

tm_ctl_conn *tm_ctl_conn_open(const tm_ctl_conn_options *opts) {
  tm_ctl_conn *conn = calloc(1, sizeof *conn);
  if (!conn) abort();
  conn->opts = *opts;
  if (opts->token) {
    size_t n = strlen(opts->token) + sizeof "Bearer ";
    conn->bearer = malloc(n);
    if (!conn->bearer) abort();
    snprintf(conn->bearer, n, "Bearer %s", opts->token);
  }
  conn->channel = make_channel(opts);
  conn->cq = grpc_completion_queue_create_for_next(NULL);
  return conn;
}

void tm_ctl_conn_refresh(tm_ctl_conn *conn) {
  if (grpc_channel_check_connectivity_state(conn->channel, 0) != GRPC_CHANNEL_TRANSIENT_FAILURE)
    return;
  grpc_channel_destroy(conn->channel);
  conn->channel = make_channel(&conn->opts);
}

static void push_ready(tm_ctl_conn *conn, tm_ctl_call *call) {
  tm_ctl_call **p = &conn->ready;
  while (*p) p = &(*p)->next_ready;
  call->next_ready = NULL;
  *p = call;
}

/* Status messages may span lines (gRPC core's connect errors do): one line keeps stderr greppable.
 */
static char *one_line(const char *s, size_t n) {
  char *out = malloc(n + 1);
  if (!out) abort();
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    out[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
  }
  out[n] = '\0';
  return out;
}

static void fail_call(tm_ctl_call *call, grpc_status_code code, const char *fmt, const char *arg) {
  char msg[256];
  snprintf(msg, sizeof msg, fmt, arg);
  call->status = code;
  free(call->details);
  call->details = one_line(msg, strlen(msg));
}

tm_ctl_call *tm_ctl_call_start(tm_ctl_conn *conn, const char *method, const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *resp_desc, int64_t deadline_ms) {
  tm_ctl_call *call = calloc(1, sizeof *call);
  if (!call) abort();
  call->conn = conn;
  call->resp_desc = resp_desc;
  snprintf(call->method, sizeof call->method, "%s", method);
  grpc_metadata_array_init(&call->initial_md);
  grpc_metadata_array_init(&call->trailing_md);
  call->details_slice = grpc_empty_slice();

  char path[128];
  snprintf(path, sizeof path, "/%s/%s", twigz__migrations__v1__migration_service__descriptor.name,
           method);
  grpc_slice path_slice = grpc_slice_from_copied_string(path);
  call->call = grpc_channel_create_call(conn->channel, NULL, GRPC_PROPAGATE_DEFAULTS, conn->cq,
                                        path_slice, NULL, deadline_at(deadline_ms), NULL);
  grpc_slice_unref(path_slice);

  size_t len = protobuf_c_message_get_packed_size(req);
  uint8_t *bytes = malloc(len ? len : 1);
  if (!bytes) abort();
  protobuf_c_message_pack(req, bytes);
  grpc_slice payload = grpc_slice_from_copied_buffer((const char *)bytes, len);
  free(bytes);
  call->send = grpc_raw_byte_buffer_create(&payload, 1);
  grpc_slice_unref(payload);

  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (conn->bearer) {
    call->auth.key = grpc_slice_from_static_string("authorization");
    call->auth.value = grpc_slice_from_copied_string(conn->bearer);
    ops[0].data.send_initial_metadata.count = 1;
    ops[0].data.send_initial_metadata.metadata = &call->auth;
  }
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = call->send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &call->initial_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &call->recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &call->trailing_md;
  ops[5].data.recv_status_on_client.status = &call->status;
  ops[5].data.recv_status_on_client.status_details = &call->details_slice;
  ops[5].data.recv_status_on_client.error_string = &call->error_string;

  grpc_call_error e = grpc_call_start_batch(call->call, ops, 6, call, NULL);
  if (e != GRPC_CALL_OK) {
    /* Only a bug of ours gets here; report it like any failed call rather than hang. */
    char code[16];
    snprintf(code, sizeof code, "%d", (int)e);
    fail_call(call, GRPC_STATUS_INTERNAL, "could not start the call (grpc_call_error %s)", code);
    call->done = true;
    push_ready(conn, call);
  }
  return call;
}

/* Turns what the batch received into status, details and a decoded response. */
static void finish(tm_ctl_call *call, int success) {
  call->done = true;
  char *details = grpc_slice_to_c_string(call->details_slice);
  call->details = one_line(details, strlen(details));
  gpr_free(details);
  if (!success && call->status == GRPC_STATUS_OK) {
    fail_call(call, GRPC_STATUS_INTERNAL, "%s", "the call's batch failed in gRPC core");
    return;
  }
  if (call->status != GRPC_STATUS_OK) return;
  if (!call->recv) {
    fail_call(call, GRPC_STATUS_INTERNAL, "%s", "the server answered OK without a message");
    return;
  }
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, call->recv)) {
    fail_call(call, GRPC_STATUS_INTERNAL, "%s", "could not read the response");
    return;
  }
  grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  call->response = protobuf_c_message_unpack(call->resp_desc, NULL, GRPC_SLICE_LENGTH(all),
                                             GRPC_SLICE_START_PTR(all));
  grpc_slice_unref(all);
  if (!call->response)
    fail_call(call, GRPC_STATUS_INTERNAL, "the response does not decode as %s",
              call->resp_desc->name);
}

tm_ctl_call *tm_ctl_conn_next(tm_ctl_conn *conn, int64_t until_ms) {
  if (conn->ready) {
    tm_ctl_call *call = conn->ready;
    conn->ready = call->next_ready;
    return call;
  }
  grpc_event ev = grpc_completion_queue_next(conn->cq, deadline_at(until_ms), NULL);
  if (ev.type != GRPC_OP_COMPLETE) return NULL;
  tm_ctl_call *call = ev.tag;
  finish(call, ev.success);
  return call;
}

void tm_ctl_call_cancel(tm_ctl_call *call) {
  if (!call->done) grpc_call_cancel(call->call, NULL);
}

bool tm_ctl_call_done(const tm_ctl_call *call) { return call->done; }
const char *tm_ctl_call_method(const tm_ctl_call *call) { return call->method; }
grpc_status_code tm_ctl_call_status(const tm_ctl_call *call) { return call->status; }
const char *tm_ctl_call_details(const tm_ctl_call *call) {
  return call->details ? call->details : "";
}
const ProtobufCMessage *tm_ctl_call_response(const tm_ctl_call *call) { return call->response; }

void tm_ctl_call_free(tm_ctl_call *call) {
  if (!call) return;
  if (!call->done) {
    /* The batch still writes into *call: end it and wait for it, keeping any other call that
     * completes meanwhile for the caller's next tm_ctl_conn_next. */
    grpc_call_cancel(call->call, NULL);
    for (;;) {
      grpc_event ev =
          grpc_completion_queue_next(call->conn->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
      if (ev.type != GRPC_OP_COMPLETE) break;
      tm_ctl_call *other = ev.tag;
      finish(other, ev.success);
      if (other == call) break;
      push_ready(call->conn, other);
    }
  }
  for (tm_ctl_call **p = &call->conn->ready; *p; p = &(*p)->next_ready) {
    if (*p == call) {
      *p = call->next_ready;
      break;
    }
  }
  if (call->call) grpc_call_unref(call->call);
  if (call->send) grpc_byte_buffer_destroy(call->send);
  if (call->recv) grpc_byte_buffer_destroy(call->recv);
  if (call->conn->bearer) grpc_slice_unref(call->auth.value);
  grpc_metadata_array_destroy(&call->initial_md);
  grpc_metadata_array_destroy(&call->trailing_md);
  grpc_slice_unref(call->details_slice);
  if (call->error_string) gpr_free((void *)call->error_string);
  if (call->response) protobuf_c_message_free_unpacked(call->response, NULL);
  free(call->details);
  free(call);
}

void tm_ctl_conn_close(tm_ctl_conn *conn) {
  if (!conn) return;
  grpc_completion_queue_shutdown(conn->cq);
  while (grpc_completion_queue_next(conn->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(conn->cq);
  grpc_channel_destroy(conn->channel);
  if (conn->bearer) {
    memset(conn->bearer, 0, strlen(conn->bearer));
    free(conn->bearer);
  }
  free(conn);
}

/* --- retries --- */

void tm_ctl_retry_init(tm_ctl_retry *r, double timeout_s, bool verbose) {
  r->started_ms = tm_ctl_now_ms();
  r->deadline_ms = r->started_ms + (int64_t)(timeout_s * 1000.0);
  r->timeout_s = timeout_s;
  r->attempts = 0;
  r->verbose = verbose;
  /* A short budget deserves frequent attempts: the cap leaves room for about 20 of them. */
  int64_t cap = (int64_t)(timeout_s * 1000.0) / 20;
  if (cap < RETRY_CAP_MIN_MS) cap = RETRY_CAP_MIN_MS;
  if (cap > RETRY_CAP_MAX_MS) cap = RETRY_CAP_MAX_MS;
  tm_ctl_backoff_init(&r->backoff, RETRY_BASE_MS, cap);
}

static bool retriable(grpc_status_code code) {
  return code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_ABORTED;
}

bool tm_ctl_retry_again(tm_ctl_retry *r, const tm_ctl_call *call) {
  r->attempts++;
  grpc_status_code code = tm_ctl_call_status(call);
  if (!retriable(code)) return false;
  int64_t wait = tm_ctl_backoff_next(&r->backoff);
  /* The last attempt comes just before the deadline, with some time of its own: one started at the
   * deadline could only end in DEADLINE_EXCEEDED and hide the real reason. */
  int64_t latest = r->deadline_ms - LAST_ATTEMPT_MS - tm_ctl_now_ms();
  if (latest <= 0) return false;
  if (wait > latest) wait = latest;
  if (r->verbose)
    fprintf(stderr, "migratectl: %s: %s: %s; retrying in %.1f s (attempt %d)\n",
            tm_ctl_call_method(call), tm_ctl_status_name(code), tm_ctl_call_details(call),
            (double)wait / 1000.0, r->attempts + 1);
  tm_ctl_sleep_ms(wait);
  return true;
}

tm_ctl_call *tm_ctl_unary(tm_ctl_conn *conn, tm_ctl_retry *r, const char *method,
                          const ProtobufCMessage *req,
                          const ProtobufCMessageDescriptor *resp_desc) {
  for (;;) {
    tm_ctl_call *call = tm_ctl_call_start(conn, method, req, resp_desc, r->deadline_ms);
    while (!tm_ctl_call_done(call)) tm_ctl_conn_next(conn, r->deadline_ms + 5000);
    if (tm_ctl_call_status(call) == GRPC_STATUS_OK) {
      r->backoff.attempt = 0; /* a later outage starts its backoff afresh */
      return call;
    }
    if (!tm_ctl_retry_again(r, call)) return call;
    tm_ctl_call_free(call);
    tm_ctl_conn_refresh(conn);
  }
}

int tm_ctl_report_failure(const tm_ctl_call *call, const tm_ctl_retry *r) {
  grpc_status_code code = tm_ctl_call_status(call);
  const char *details = tm_ctl_call_details(call);
  fprintf(stderr, "migratectl: %s failed: %s: %s", tm_ctl_call_method(call),
          tm_ctl_status_name(code), details[0] ? details : "(no message)");
  if (retriable(code) && r)
    fprintf(stderr, " (gave up after %.1f s and %d attempt%s: --timeout %g)",
            (double)(tm_ctl_now_ms() - r->started_ms) / 1000.0, r->attempts,
            r->attempts == 1 ? "" : "s", r->timeout_s);
  else if (code == GRPC_STATUS_DEADLINE_EXCEEDED && r)
    fprintf(stderr, " (--timeout %g s ran out%s)", r->timeout_s,
            strcmp(tm_ctl_call_method(call), "Run") == 0
                ? "; the migrations go on on the server: migratectl status --watch follows them"
                : "");
  else if (code == GRPC_STATUS_UNAUTHENTICATED)
    fputs(" (check --token-file or TWIGZ_AUTH_TOKEN)", stderr);
  fputc('\n', stderr);
  return tm_ctl_exit_for_status(code);
}
