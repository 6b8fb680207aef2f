/* MigrationService calls over gRPC core: one channel and one completion queue, unary calls that
 * complete on that queue, and a retrying wrapper.
 *
 * Single-threaded by design: the caller drives every call by waiting on the queue
 * (tm_ctl_conn_next), which lets `run` poll Status while its Run call is in flight without a
 * second thread. */
#ifndef TM_CTL_RPC_H
#define TM_CTL_RPC_H

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "backoff.h"

typedef struct {
  const char *target;                      /* host:port or any gRPC target URI */
  const char *token;                       /* sent as "authorization: Bearer <token>"; NULL: none */
  bool tls;                                /* TLS even without a CA file: the system's roots */
  const char *tls_ca, *tls_cert, *tls_key; /* PEM text; NULL when not given */
  const char *tls_server_name;             /* name to verify instead of the target's host */
} tm_ctl_conn_options;

typedef struct tm_ctl_conn tm_ctl_conn;

/* opts' strings are borrowed and must outlive the connection. Never fails: a bad target shows up as
 * the status of the first call. */
tm_ctl_conn *tm_ctl_conn_open(const tm_ctl_conn_options *opts);
/* Before a retry, with no call in flight: replaces a channel that is backing off after failing to
 * connect, so that the retry really tries (gRPC core would fail it at once until its own reconnect
 * timer fires, which after a few failures lags far behind a service that came back). */
void tm_ctl_conn_refresh(tm_ctl_conn *conn);
/* Cancels and drains any call still in flight; call objects must have been freed before. */
void tm_ctl_conn_close(tm_ctl_conn *conn);

typedef struct tm_ctl_call tm_ctl_call;

/* Starts method ("List", "Run"...) of MigrationService with req; the call must end by deadline_ms
 * (tm_ctl_now_ms clock). The response will be decoded with resp_desc. */
tm_ctl_call *tm_ctl_call_start(tm_ctl_conn *conn, const char *method, const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *resp_desc, int64_t deadline_ms);
/* Waits until a started call ends (returns it) or until_ms passes (returns NULL). */
tm_ctl_call *tm_ctl_conn_next(tm_ctl_conn *conn, int64_t until_ms);
/* Asks a call in flight to end at once; it still completes through tm_ctl_conn_next. */
void tm_ctl_call_cancel(tm_ctl_call *call);

bool tm_ctl_call_done(const tm_ctl_call *call);
const char *tm_ctl_call_method(const tm_ctl_call *call);
grpc_status_code tm_ctl_call_status(const tm_ctl_call *call);
/* The status message on one line (never NULL). */
const char *tm_ctl_call_details(const tm_ctl_call *call);
/* The decoded response when the status is OK; owned by the call. */
const ProtobufCMessage *tm_ctl_call_response(const tm_ctl_call *call);
void tm_ctl_call_free(tm_ctl_call *call);

/* Retries of one logical request within a budget. */
typedef struct {
  int64_t started_ms, deadline_ms;
  double timeout_s; /* as given, for messages */
  int attempts;
  bool verbose; /* say each retry on stderr */
  tm_ctl_backoff backoff;
} tm_ctl_retry;

void tm_ctl_retry_init(tm_ctl_retry *r, double timeout_s, bool verbose);
/* Whether a call that ended with code should be tried again: UNAVAILABLE (which includes failing
 * to connect) and ABORTED are, while the budget lasts. When true it has already slept the
 * backoff. */
bool tm_ctl_retry_again(tm_ctl_retry *r, const tm_ctl_call *call);

/* One unary call, retried per r; returns the last attempt (done). No other call may be in flight.
 * Caller frees. */
tm_ctl_call *tm_ctl_unary(tm_ctl_conn *conn, tm_ctl_retry *r, const char *method,
                          const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc);

/* Prints the one-line error for a failed call on stderr and returns its exit code. */
int tm_ctl_report_failure(const tm_ctl_call *call, const tm_ctl_retry *r);

#endif
