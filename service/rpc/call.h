/* One gRPC call on the server: its state, its lifetime, and the few ways a handler answers.
 *
 * Lifetime: a tm_call is reference counted. It is born with one base reference, released when
 * RECV_CLOSE_ON_SERVER completes (the call is over for the transport: answered or cancelled); every
 * batch in flight and every queued handler job holds one more. Two batches of one
 * call (e.g. RECV_CLOSE_ON_SERVER and SEND_MESSAGE) can complete on two completion-queue threads at
 * once, hence atomic counts and the per-call mutex that serialises grpc_call_start_batch.
 *
 * Thread safety: tm_call_reply / tm_call_fail may be called from any thread, exactly once per unary
 * call. */
#ifndef TM_RPC_CALL_H
#define TM_RPC_CALL_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../caller.h"
#include "../error.h"

typedef struct tm_server tm_server;
typedef struct tm_call tm_call;

/* A completion-queue tag: what to do when an operation completes. Embedded in the owner's struct.
 */
typedef struct tm_tag {
  void (*done)(struct tm_tag *tag, bool ok);
} tm_tag;

#define TM_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

typedef enum { TM_METHOD_UNARY, TM_METHOD_SERVER_STREAM, TM_METHOD_BIDI } tm_method_kind;

/* Where a unary handler runs. Each pool has threads of its own, so no kind of call waits behind
 * another: control (Cancel) is never queued behind runs or reads, and reads that scan collections
 * (Status with pending counts) are bounded, the next refused with RESOURCE_EXHAUSTED. */
typedef enum {
  TM_LANE_INLINE,   /* on the completion-queue thread: never blocks */
  TM_LANE_HANDLERS, /* may wait on MongoDB briefly (Run starting its chain) */
  TM_LANE_CONTROL,  /* control calls (Cancel) */
  TM_LANE_READS,    /* reads that scan collections: bounded queue */
} tm_lane;

typedef void (*tm_request_fn)(tm_call *call, const ProtobufCMessage *request);
typedef void (*tm_stream_fn)(tm_call *call);

/* One served method. Unary and server-streaming methods get their decoded request; bidi methods
 * start with nothing read. */
typedef struct tm_method {
  const char *path; /* "/package.Service/Method" */
  const char *service, *name;
  tm_method_kind kind;
  bool needs_auth;
  tm_lane lane; /* unary: where the handler runs */
  bool quiet;   /* successful calls log at debug (probes and polled reads would flood it) */
  const ProtobufCMessageDescriptor *input;
  tm_request_fn on_request; /* unary and server streaming */
  tm_stream_fn on_start;    /* bidi */
  void *ctx;                /* the handler's context (engine, health, reflection) */
  void *registered;         /* gRPC's handle, set when the server registers it */
  int metrics_id;           /* set when the server registers it */
} tm_method;

struct tm_call {
  tm_tag on_arrival; /* the armed request completed */
  tm_tag on_close;   /* RECV_CLOSE_ON_SERVER completed: the client is gone or done */
  tm_tag on_final;   /* the unary answer (or a final status) was sent */
  atomic_int refs;
  atomic_bool answered;
  atomic_bool cancelled;
  pthread_mutex_t mu;

  tm_server *server;
  void (*ended)(tm_server *server); /* called when an arrived call is freed */
  const tm_method *method;          /* NULL for an unregistered method */
  grpc_call *call;
  gpr_timespec deadline;
  grpc_metadata_array md;
  grpc_call_details details; /* unregistered methods only */
  grpc_byte_buffer *payload;
  ProtobufCMessage *request;

  grpc_byte_buffer *send_buf; /* kept alive until its batch completes */
  grpc_slice status_details;
  grpc_status_code status;
  int close_cancelled;
  bool initial_sent;    /* SEND_INITIAL_METADATA went out (streams send it first) */
  bool close_watched;   /* a RECV_CLOSE_ON_SERVER is in flight already */
  bool final_has_close; /* the final batch carries RECV_CLOSE_ON_SERVER, so it ends the base ref */
  void (*close_cb)(tm_call *c);
  int64_t started_ns;
  void *stream;                      /* per-method stream state (health watch, reflection) */
  void (*stream_free)(void *stream); /* frees stream with the call */
  const char *token_name;            /* the bearer token it proved, if any (the server's) */
  char run_id[40];                   /* the run it started or joined, for its log line */
};

/* A new call awaiting arrival on method (NULL: any unregistered method), with one reference.
 * ended(server) is called once an arrived call is over and freed (the server counts its calls). */
tm_call *tm_call_new(tm_server *server, const tm_method *method, void (*ended)(tm_server *));
/* Marks the call's arrival time, for the duration logged when it ends. */
void tm_call_arrived(tm_call *c);
void tm_call_ref(tm_call *c);
void tm_call_unref(tm_call *c);

/* Who is calling: peer address, the mTLS subject or the bearer token's name, user agent. */
void tm_call_caller(tm_call *c, tm_caller *out);

/* The run this call is about, named in its "rpc" log line. */
void tm_call_set_run_id(tm_call *c, const char *run_id);

/* The context of the call's method (engine, health...). */
static inline void *tm_call_ctx(const tm_call *c) { return c->method->ctx; }

/* Unary: sends resp and OK. The response is serialised before returning; the caller keeps it. */
void tm_call_reply(tm_call *c, const ProtobufCMessage *resp);
/* Unary or stream: ends the call with code and message (no response message); code may be OK for a
 * stream that ends normally. */
void tm_call_fail(tm_call *c, grpc_status_code code, const char *msg);
/* tm_call_fail with the status code mapped from err. */
void tm_call_fail_error(tm_call *c, const tm_error *err);

/* Serialised grpc_call_start_batch; holds a reference on the call until tag completes (the tag's
 * done must call tm_call_unref). Returns false (and drops that reference) when gRPC refused. */
bool tm_call_start_batch(tm_call *c, const grpc_op *ops, size_t n, tm_tag *tag);

/* Serialises msg into a new byte buffer (the caller destroys it). */
grpc_byte_buffer *tm_call_serialize(const ProtobufCMessage *msg);
/* Decodes a received buffer with desc; NULL (why filled) when the bytes are not such a message or
 * a string field is not valid UTF-8 without NUL bytes (protobuf-c would silently cut it at the NUL,
 * so "addStatusToStores\0junk" would pass for a registered name). */
ProtobufCMessage *tm_call_decode(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *buf,
                                 char *why, size_t why_size);

/* Counts one message received on a stream (unary requests are counted on arrival). */
void tm_call_count_received(tm_call *c);

/* Starts RECV_CLOSE_ON_SERVER (streams, or a unary call that wants to hear its client leave);
 * on_close(c) (may be NULL) runs when it completes, and c->cancelled is set from then on. */
void tm_call_watch_close(tm_call *c, void (*on_close)(tm_call *c));

/* Milliseconds left before the call's deadline (at least 1), or 0 when it has none. */
int tm_call_remaining_ms(const tm_call *c);

#endif
