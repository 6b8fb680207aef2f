/* Call lifetime, batches and answers. */
#include "call.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../log.h"
#include "../metrics/metrics.h"
#include "../util/ratelimit.h"
#include "../util/utf8.h"
#include "status.h"

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

tm_call *tm_call_new(tm_server *server, const tm_method *method, void (*ended)(tm_server *)) {
  tm_call *c = calloc(1, sizeof *c);
  atomic_init(&c->refs, 1);
  pthread_mutex_init(&c->mu, NULL);
  c->server = server;
  c->ended = ended;
  c->method = method;
  grpc_metadata_array_init(&c->md);
  grpc_call_details_init(&c->details);
  c->status = GRPC_STATUS_UNKNOWN;
  return c;
}

void tm_call_arrived(tm_call *c) {
  c->started_ns = now_ns();
  if (!c->method) return;
  tm_metrics_rpc_started(c->method->metrics_id);
  if (c->method->kind != TM_METHOD_BIDI) tm_metrics_msg_received(c->method->metrics_id);
}

void tm_call_count_received(tm_call *c) { tm_metrics_msg_received(c->method->metrics_id); }

void tm_call_ref(tm_call *c) { atomic_fetch_add(&c->refs, 1); }

/* Copies text into out (size bytes), cut on a character boundary and with control characters
 * replaced: a client chooses its user agent. */
static void copy_text(char *out, size_t size, const char *text, size_t len) {
  if (len > size - 1) len = size - 1;
  memcpy(out, text, len);
  out[len] = '\0';
  out[tm_utf8_cut(out, len)] = '\0';
  for (char *p = out; *p; p++) {
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  }
}

static void user_agent_of(const tm_call *c, char *out, size_t size) {
  out[0] = '\0';
  for (size_t i = 0; i < c->md.count; i++) {
    if (!grpc_slice_str_cmp(c->md.metadata[i].key, "user-agent")) {
      const grpc_slice *v = &c->md.metadata[i].value;
      copy_text(out, size, (const char *)GRPC_SLICE_START_PTR(*v), GRPC_SLICE_LENGTH(*v));
      return;
    }
  }
}

static void peer_of(const tm_call *c, char *out, size_t size) {
  out[0] = '\0';
  if (!c->call) return;
  char *peer = grpc_call_get_peer(c->call);
  if (peer) copy_text(out, size, peer, strlen(peer));
  gpr_free(peer);
}

/* The client certificate's subject, when mutual TLS verified one. */
static bool subject_of(const tm_call *c, char *out, size_t size) {
  grpc_auth_context *ctx = c->call ? grpc_call_auth_context(c->call) : NULL;
  if (!ctx) return false;
  bool found = false;
  const char *names[] = {GRPC_X509_SUBJECT_PROPERTY_NAME, GRPC_X509_CN_PROPERTY_NAME};
  for (size_t n = 0; n < 2 && !found; n++) {
    grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(ctx, names[n]);
    const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
    if (p && p->value_length > 0) {
      char text[240];
      copy_text(text, sizeof text, p->value, p->value_length);
      snprintf(out, size, "x509:%s", text);
      found = true;
    }
  }
  grpc_auth_context_release(ctx);
  return found;
}

void tm_call_caller(tm_call *c, tm_caller *out) {
  memset(out, 0, sizeof *out);
  peer_of(c, out->peer, sizeof out->peer);
  user_agent_of(c, out->user_agent, sizeof out->user_agent);
  if (!subject_of(c, out->identity, sizeof out->identity) && c->token_name) {
    snprintf(out->identity, sizeof out->identity, "token:%s", c->token_name);
  }
}

void tm_call_set_run_id(tm_call *c, const char *run_id) {
  snprintf(c->run_id, sizeof c->run_id, "%s", run_id ? run_id : "");
}

/* Logs and counts the call once it is over. A call we never answered was cancelled by its client
 * (or by shutdown). */
static void record_end(tm_call *c) {
  const tm_method *m = c->method;
  if (!atomic_load(&c->answered)) c->status = GRPC_STATUS_CANCELLED;
  double ms = (double)(now_ns() - c->started_ns) / 1e6;
  if (m) tm_metrics_rpc_handled(m->metrics_id, (int)c->status, ms / 1000);
  tm_log_level level = m && m->quiet && c->status == GRPC_STATUS_OK ? TM_LOG_DEBUG : TM_LOG_INFO;
  if (!tm_log_enabled(level)) return;
  char path[256];
  if (m) {
    snprintf(path, sizeof path, "%s", m->path);
  } else {
    char *p = grpc_slice_to_c_string(c->details.method);
    snprintf(path, sizeof path, "%.*s", (int)tm_utf8_cut(p, sizeof path - 1), p);
    gpr_free(p);
  }
  /* A client without the token can call as fast as it likes; its lines are kept to a few. */
  static tm_ratelimit unauthenticated = TM_RATELIMIT_INIT(5, 10000);
  uint64_t held = 0;
  if (c->status == GRPC_STATUS_UNAUTHENTICATED && !tm_ratelimit_allow(&unauthenticated, &held)) {
    return;
  }
  char peer[128], agent[256];
  peer_of(c, peer, sizeof peer);
  user_agent_of(c, agent, sizeof agent);
  /* With nothing held back, the NULL key ends the fields before "suppressed". */
  tm_log(level, "rpc", "method", TM_LOG_STR(path), "code", TM_LOG_STR(tm_status_name(c->status)),
         "duration_ms", TM_LOG_DBL(ms), "peer", TM_LOG_STR(peer), "user_agent", TM_LOG_STR(agent),
         "run_id", TM_LOG_STR(c->run_id), held ? "suppressed" : NULL, TM_LOG_INT(held), NULL);
}

void tm_call_unref(tm_call *c) {
  if (atomic_fetch_sub(&c->refs, 1) != 1) return;
  bool arrived = c->started_ns != 0;
  tm_server *server = c->server;
  void (*ended)(tm_server *) = c->ended;
  if (arrived) record_end(c);
  if (c->call) grpc_call_unref(c->call);
  grpc_metadata_array_destroy(&c->md);
  grpc_call_details_destroy(&c->details);
  if (c->payload) grpc_byte_buffer_destroy(c->payload);
  if (c->send_buf) grpc_byte_buffer_destroy(c->send_buf);
  if (c->request) protobuf_c_message_free_unpacked(c->request, NULL);
  if (c->stream_free) c->stream_free(c->stream);
  grpc_slice_unref(c->status_details);
  pthread_mutex_destroy(&c->mu);
  free(c);
  if (arrived && ended) ended(server);
}

bool tm_call_start_batch(tm_call *c, const grpc_op *ops, size_t n, tm_tag *tag) {
  for (size_t i = 0; i < n && c->method; i++) {
    if (ops[i].op == GRPC_OP_SEND_MESSAGE) tm_metrics_msg_sent(c->method->metrics_id);
  }
  /* One reference for the batch, released by its completion, and one held here: the completion
   * can run on another thread and drop the last other reference before we unlock. */
  tm_call_ref(c);
  tm_call_ref(c);
  pthread_mutex_lock(&c->mu);
  grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
  pthread_mutex_unlock(&c->mu);
  if (e != GRPC_CALL_OK) {
    tm_log(TM_LOG_ERROR, "grpc_call_start_batch failed", "error", TM_LOG_INT(e), NULL);
    tm_call_unref(c);
  }
  tm_call_unref(c);
  return e == GRPC_CALL_OK;
}

grpc_byte_buffer *tm_call_serialize(const ProtobufCMessage *msg) {
  size_t len = protobuf_c_message_get_packed_size(msg);
  grpc_slice slice = grpc_slice_malloc(len);
  protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
  grpc_byte_buffer *buf = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  return buf;
}

/* True when s[0..len) is UTF-8 as RFC 3629 defines it (no overlongs, surrogates or code points
 * above U+10FFFF) and holds no NUL. */
static bool utf8_without_nul(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = s[i];
    if (c == 0) return false;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0)
      n = 1, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
      n = 2, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
      n = 3, cp = c & 0x07, min = 0x10000;
    else
      return false;
    if (len - i <= n) return false;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

/* Walks the wire form of a message that protobuf-c already accepted and checks every string field,
 * nested messages included. Names the first bad field in why. */
static bool strings_valid(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
                          char *why, size_t why_size, int depth) {
  const uint8_t *end = p + len;
  while (p < end) {
    uint64_t tag, n;
    if (!read_varint(&p, end, &tag)) return false;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
    switch (tag & 7) {
    case 0:
      if (!read_varint(&p, end, &n)) return false;
      break;
    case 1: p += 8; break;
    case 5: p += 4; break;
    case 2:
      if (!read_varint(&p, end, &n) || n > (uint64_t)(end - p)) return false;
      if (f && f->type == PROTOBUF_C_TYPE_STRING && !utf8_without_nul(p, (size_t)n)) {
        snprintf(why, why_size, "field %s.%s is not valid UTF-8 text (or holds a NUL byte)",
                 desc->name, f->name);
        return false;
      }
      if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && depth < 32 &&
          !strings_valid(f->descriptor, p, (size_t)n, why, why_size, depth + 1)) {
        return false;
      }
      p += n;
      break;
    default: return false;
    }
    if (p > end) return false;
  }
  return true;
}

ProtobufCMessage *tm_call_decode(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *buf,
                                 char *why, size_t why_size) {
  snprintf(why, why_size, "request payload is not a valid %s message", desc->name);
  if (!buf) {
    /* No payload at all decodes as the empty message, as proto3 says. */
    return protobuf_c_message_unpack(desc, NULL, 0, (const uint8_t *)"");
  }
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, buf)) return NULL;
  grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  const uint8_t *data = GRPC_SLICE_START_PTR(all);
  size_t len = GRPC_SLICE_LENGTH(all);
  ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, len, data);
  if (msg && !strings_valid(desc, data, len, why, why_size, 0)) {
    protobuf_c_message_free_unpacked(msg, NULL);
    msg = NULL;
  }
  grpc_slice_unref(all);
  return msg;
}

static void on_final(tm_tag *tag, bool ok) {
  (void)ok; /* a client that left before the answer is not an error of ours */
  tm_call *c = TM_CONTAINER_OF(tag, tm_call, on_final);
  if (c->final_has_close) tm_call_unref(c); /* the base reference */
  tm_call_unref(c);
}

/* Sends [initial metadata,] [message,] status [, recv close]: the last batch of a call. */
static void finish(tm_call *c, grpc_byte_buffer *msg, grpc_status_code code, const char *text) {
  if (atomic_exchange(&c->answered, true)) return; /* answered already: keep the first answer */
  grpc_op ops[4];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  pthread_mutex_lock(&c->mu);
  bool need_initial = !c->initial_sent;
  bool need_close = !c->close_watched;
  c->initial_sent = c->close_watched = true;
  c->final_has_close = need_close;
  c->status = code;
  /* Messages quote client input and stored values: grpc clients refuse invalid UTF-8. */
  char clean[TM_ERROR_MSG_MAX * 2];
  tm_utf8_sanitize(text ? text : "", clean, sizeof clean);
  c->status_details = grpc_slice_from_copied_string(clean);
  /* No send is in flight when a call is finished (streams send one message at a time). */
  if (c->send_buf) grpc_byte_buffer_destroy(c->send_buf);
  c->send_buf = msg;
  pthread_mutex_unlock(&c->mu);

  if (need_initial) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (msg) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = msg;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = code;
  ops[n++].data.send_status_from_server.status_details = &c->status_details;
  if (need_close) {
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->close_cancelled;
  }
  c->on_final.done = on_final;
  tm_call_start_batch(c, ops, n, &c->on_final);
}

void tm_call_reply(tm_call *c, const ProtobufCMessage *resp) {
  finish(c, tm_call_serialize(resp), GRPC_STATUS_OK, NULL);
}

void tm_call_fail(tm_call *c, grpc_status_code code, const char *msg) {
  finish(c, NULL, code, msg);
}

void tm_call_fail_error(tm_call *c, const tm_error *err) {
  tm_call_fail(c, tm_status_from_code(err->code), err->msg);
}

static void on_close_done(tm_tag *tag, bool ok) {
  (void)ok;
  tm_call *c = TM_CONTAINER_OF(tag, tm_call, on_close);
  atomic_store(&c->cancelled, true);
  if (c->close_cb) c->close_cb(c);
  tm_call_unref(c); /* the base reference */
  tm_call_unref(c);
}

int tm_call_remaining_ms(const tm_call *c) {
  gpr_timespec deadline = gpr_convert_clock_type(c->deadline, GPR_CLOCK_MONOTONIC);
  if (gpr_time_cmp(deadline, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0) return 0;
  int64_t ms = gpr_time_to_millis(gpr_time_sub(deadline, gpr_now(GPR_CLOCK_MONOTONIC)));
  return ms < 1 ? 1 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

void tm_call_watch_close(tm_call *c, void (*on_close)(tm_call *c)) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &c->close_cancelled;
  pthread_mutex_lock(&c->mu);
  c->close_watched = true;
  pthread_mutex_unlock(&c->mu);
  c->close_cb = on_close;
  c->on_close.done = on_close_done;
  tm_call_start_batch(c, &op, 1, &c->on_close);
}
