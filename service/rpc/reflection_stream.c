/* Server reflection over a bidi stream: receive a request, send its answer, receive the next. One
 * operation of each kind at a time, so the chain needs no lock of its own. */
#include "reflection_stream.h"

#include <grpc/byte_buffer_reader.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  tm_tag on_recv;
  tm_tag on_sent;
  grpc_byte_buffer *recv_buf;
  tm_call *call;
} stream;

static void receive(tm_call *c);

static void on_sent(tm_tag *tag, bool ok) {
  stream *st = TM_CONTAINER_OF(tag, stream, on_sent);
  tm_call *c = st->call;
  if (ok) receive(c);
  tm_call_unref(c);
}

static void on_recv(tm_tag *tag, bool ok) {
  stream *st = TM_CONTAINER_OF(tag, stream, on_recv);
  tm_call *c = st->call;
  grpc_byte_buffer *buf = st->recv_buf;
  st->recv_buf = NULL;
  if (!ok) { /* cancelled or shutting down */
    if (buf) grpc_byte_buffer_destroy(buf);
    tm_call_unref(c);
    return;
  }
  if (!buf) { /* the client half-closed: every request was answered */
    tm_call_fail(c, GRPC_STATUS_OK, "");
    tm_call_unref(c);
    return;
  }
  tm_call_count_received(c);
  grpc_byte_buffer_reader reader;
  grpc_slice all = grpc_empty_slice();
  if (grpc_byte_buffer_reader_init(&reader, buf)) {
    all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
  }
  grpc_byte_buffer_destroy(buf);
  uint8_t *answer = NULL;
  size_t answer_len = 0;
  tm_error err;
  tm_code code = tm_reflection_answer(tm_call_ctx(c), GRPC_SLICE_START_PTR(all),
                                      GRPC_SLICE_LENGTH(all), &answer, &answer_len, &err);
  grpc_slice_unref(all);
  if (code != TM_OK) {
    tm_call_fail_error(c, &err);
    tm_call_unref(c);
    return;
  }
  grpc_slice out = grpc_slice_new(answer, answer_len, free);
  if (c->send_buf) grpc_byte_buffer_destroy(c->send_buf);
  c->send_buf = grpc_raw_byte_buffer_create(&out, 1);
  grpc_slice_unref(out);
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_MESSAGE;
  op.data.send_message.send_message = c->send_buf;
  st->on_sent.done = on_sent;
  tm_call_start_batch(c, &op, 1, &st->on_sent);
  tm_call_unref(c);
}

static void receive(tm_call *c) {
  stream *st = c->stream;
  grpc_op ops[2];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (!c->initial_sent) {
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    c->initial_sent = true;
  }
  ops[n].op = GRPC_OP_RECV_MESSAGE;
  ops[n++].data.recv_message.recv_message = &st->recv_buf;
  st->on_recv.done = on_recv;
  tm_call_start_batch(c, ops, n, &st->on_recv);
}

static void start(tm_call *c) {
  stream *st = calloc(1, sizeof *st);
  st->call = c;
  c->stream = st;
  c->stream_free = free;
  tm_call_watch_close(c, NULL);
  receive(c);
}

void tm_reflection_methods(tm_reflection *r, tm_method *v1, tm_method *v1alpha) {
  *v1 = (tm_method){
      .path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      .service = "grpc.reflection.v1.ServerReflection",
      .name = "ServerReflectionInfo",
      .kind = TM_METHOD_BIDI,
      .quiet = true,
      .on_start = start,
      .ctx = r,
  };
  *v1alpha = *v1;
  v1alpha->path = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
  v1alpha->service = "grpc.reflection.v1alpha.ServerReflection";
}
