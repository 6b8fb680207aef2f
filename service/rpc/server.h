/* The gRPC server: listener, completion-queue threads, the armed requests of every served method,
 * UNIMPLEMENTED for everything else, and graceful shutdown.
 *
 * Threads: `threads` completion-queue workers only move bytes and run cheap handlers; handlers that
 * may block run on the pool of their lane (call.h), so a slow MongoDB never stalls the transport
 * and no lane waits behind another. */
#ifndef TM_RPC_SERVER_H
#define TM_RPC_SERVER_H

#include <stddef.h>

#include "../error.h"
#include "call.h"

typedef struct {
  const char *listen; /* host:port; port 0 picks a free one */
  int threads;        /* completion-queue threads */
  int handler_threads;
  const char *auth_token;      /* NULL: MigrationService is open */
  const char *auth_token_name; /* who the token stands for, in the run history: "token:<it>" */
  /* PEM contents; all NULL: plaintext. client_ca set: clients must present a certificate it signed.
   */
  const char *tls_cert, *tls_key, *tls_client_ca;
  int max_message_bytes;    /* 0: gRPC's default (4 MiB) */
  int handshake_timeout_ms; /* a connection that has not sent its HTTP/2 settings by then is closed
                             */
  int max_streams;          /* concurrent calls per connection */
} tm_server_options;

/* Sends gRPC core's log lines to tm_log; call once before grpc_init. */
void tm_server_init_logging(void);

/* Binds and starts serving methods (borrowed, must outlive the server; each gets `registered` set).
 * Fails with TM_ERR_INVALID when the address cannot be bound. */
tm_code tm_server_start(const tm_server_options *opts, tm_method *methods, size_t n_methods,
                        tm_server **out, tm_error *err);
int tm_server_port(const tm_server *s);

/* Called by call.c when an arrived call is freed: it no longer holds up a graceful shutdown. */
void tm_server_call_ended(tm_server *s);

/* Runs fn(arg) on the pool of lane (not TM_LANE_INLINE); false, and nothing queued, when that
 * lane's queue is full (TM_LANE_READS). */
bool tm_server_defer(tm_server *s, tm_lane lane, void (*fn)(void *arg), void *arg);

/* Stops accepting calls, waits up to grace_ms for calls in flight, cancels the rest, and waits for
 * every thread. Handlers still running answer into cancelled calls harmlessly. */
void tm_server_shutdown(tm_server *s, int grace_ms);
void tm_server_destroy(tm_server *s);

#endif
