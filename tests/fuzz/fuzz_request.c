/* libFuzzer harness: arbitrary bytes as the request of every unary method the server decodes, the
 * way the transport decodes them (protobuf-c, with the method's input descriptor), then the checks
 * a RunRequest, StatusRequest or CancelRequest goes through before any database work.
 *
 * The engine has no database-free validation entry point (tm_engine_run validates inside, and needs
 * a store), so the RunRequest checks below follow engine.h's contract with the same building blocks
 * the engine uses: tm_registry_find for each name, tm_registry_names and tm_error_set for the
 * message. When the engine exposes its validation as a pure function, call it here instead.
 *
 * Invariants: a decoded message passes protobuf_c_message_check (no NULL strings reach a handler);
 * packing it is deterministic and stable (pack, unpack, pack gives the same bytes); every error
 * message is NUL-terminated within TM_ERROR_MSG_MAX whatever the names hold. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "grpc/health/v1/health.pb-c.h"
#include "migrations/registry.h"
#include "store/controls.h"
#include "twigz/migrations/v1/migration_service.pb-c.h"

#define CHECK(cond, ...)                                    \
  do {                                                      \
    if (!(cond)) {                                          \
      fprintf(stderr, "fuzz_request: invariant broken: ");  \
      fprintf(stderr, __VA_ARGS__);                         \
      fprintf(stderr, " (%s, line %d)\n", #cond, __LINE__); \
      abort();                                              \
    }                                                       \
  } while (0)

/* RunRequest.batch_size: 0 means the server default, otherwise 1..10000 (the proto's comment). */
#define MAX_BATCH 10000

static void check_error(const tm_error *err, tm_code want) {
  CHECK(err->code == want, "code %d, expected %d", (int)err->code, (int)want);
  size_t n = strnlen(err->msg, sizeof err->msg);
  CHECK(n < sizeof err->msg, "error message not NUL-terminated");
  CHECK(n > 0, "empty error message");
}

/* The names a Run or Status may ask for: each must be registered, none repeated. Returns TM_OK or
 * TM_ERR_INVALID naming the first bad one. */
static tm_code check_names(char *const *names, size_t n, tm_error *err) {
  char valid[256];
  tm_registry_names(valid, sizeof valid);
  CHECK(strnlen(valid, sizeof valid) < sizeof valid, "tm_registry_names overflowed");
  for (size_t i = 0; i < n; i++) {
    CHECK(names[i] != NULL, "names[%zu] is NULL", i);
    const tm_migration *m = tm_registry_find(names[i]);
    if (!m)
      return tm_error_set(err, TM_ERR_INVALID, "unknown migration \"%s\"; valid names: %s",
                          names[i], valid);
    CHECK(strcmp(m->name, names[i]) == 0, "tm_registry_find(\"%s\") gave %s", names[i], m->name);
    for (size_t j = 0; j < i; j++)
      if (strcmp(names[j], names[i]) == 0)
        return tm_error_set(err, TM_ERR_INVALID, "migration \"%s\" is named twice", names[i]);
  }
  return TM_OK;
}

static void check_run(const Twigz__Migrations__V1__RunRequest *req) {
  tm_error err = {0};
  tm_code rc = check_names(req->names, req->n_names, &err);
  if (rc == TM_OK && req->batch_size != 0 && (req->batch_size < 1 || req->batch_size > MAX_BATCH))
    rc = tm_error_set(&err, TM_ERR_INVALID, "batch_size %d is out of range: 0 (default) or 1..%d",
                      (int)req->batch_size, MAX_BATCH);
  if (rc != TM_OK) check_error(&err, TM_ERR_INVALID);
}

static void check_status(const Twigz__Migrations__V1__StatusRequest *req) {
  tm_error err = {0};
  if (check_names(req->names, req->n_names, &err) != TM_OK) check_error(&err, TM_ERR_INVALID);
}

static void check_cancel(const Twigz__Migrations__V1__CancelRequest *req) {
  CHECK(req->name != NULL, "CancelRequest.name is NULL");
  tm_error err = {0};
  if (!tm_registry_find(req->name)) {
    tm_error_set(&err, TM_ERR_NOT_FOUND, "no migration named \"%s\"", req->name);
    check_error(&err, TM_ERR_NOT_FOUND);
  }
}

/* Tune's values, NaN and infinities included, are checked by the range checks the engine uses;
 * a refusal names the field. */
static void check_tune(const Twigz__Migrations__V1__TuneRequest *req) {
  tm_controls_change ch = {0};
  if (req->batch_size) ch.batch_size = true, ch.v.batch_size = req->batch_size->value;
  if (req->max_documents_per_second) {
    ch.rate = true, ch.v.max_docs_per_s = req->max_documents_per_second->value;
  }
  if (req->max_replication_lag_ms)
    ch.lag = true, ch.v.max_lag_ms = req->max_replication_lag_ms->value;
  if (req->max_write_latency_ms)
    ch.write = true, ch.v.max_write_ms = req->max_write_latency_ms->value;
  if (req->max_failed_documents)
    ch.failed = true, ch.v.max_failed = req->max_failed_documents->value;
  tm_error err = {0};
  if (tm_controls_check(&ch, &err) != TM_OK) {
    check_error(&err, TM_ERR_INVALID);
    CHECK(strstr(err.msg, "must be") != NULL, "a refused control does not say its range: %s",
          err.msg);
    return;
  }
  CHECK(!ch.rate || (ch.v.max_docs_per_s >= 0 && ch.v.max_docs_per_s <= TM_CONTROLS_MAX_RATE),
        "rate %g accepted", ch.v.max_docs_per_s);
}

/* Packs msg into a new buffer; *len is its size. */
static uint8_t *pack(const ProtobufCMessage *msg, size_t *len) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(n ? n : 1);
  CHECK(buf != NULL, "out of memory");
  *len = protobuf_c_message_pack(msg, buf);
  CHECK(*len == n, "packed %zu bytes, get_packed_size said %zu", *len, n);
  return buf;
}

/* protobuf-c 1.4.1 reads a key whose varint is overlong (0x82 0x00) as field number 0, which the
 * protobuf spec and other implementations refuse; it keeps it as an unknown field and packs it back
 * as 0x02, which it then refuses itself. Handlers ignore unknown fields, so such a request is
 * served normally; only the re-decoding check below cannot hold for it. */
static bool has_field_zero(const ProtobufCMessage *msg) {
  for (unsigned i = 0; i < msg->n_unknown_fields; i++)
    if (msg->unknown_fields[i].tag == 0) return true;
  /* Submessages too: a wrapper (Int64Value) holding such a key packs back the same way. */
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  for (unsigned f = 0; f < desc->n_fields; f++) {
    const ProtobufCFieldDescriptor *fd = &desc->fields[f];
    if (fd->type != PROTOBUF_C_TYPE_MESSAGE) continue;
    const char *base = (const char *)msg + fd->offset;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)((const char *)msg + fd->quantifier_offset);
      ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *)base;
      for (size_t k = 0; k < n; k++)
        if (items[k] && has_field_zero(items[k])) return true;
    } else {
      const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)base;
      if (sub && has_field_zero(sub)) return true;
    }
  }
  return false;
}

static void check_round_trip(const ProtobufCMessageDescriptor *desc, const ProtobufCMessage *msg) {
  if (has_field_zero(msg)) return;
  size_t len1, len2;
  uint8_t *once = pack(msg, &len1);
  ProtobufCMessage *again = protobuf_c_message_unpack(desc, NULL, len1, once);
  CHECK(again != NULL, "%s: its own packed bytes do not decode", desc->name);
  uint8_t *twice = pack(again, &len2);
  CHECK(len1 == len2 && memcmp(once, twice, len1) == 0, "%s: packing is not stable", desc->name);
  protobuf_c_message_free_unpacked(again, NULL);
  free(once);
  free(twice);
}

static void try_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size) {
  ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, size, data);
  if (!msg) return; /* the transport answers INVALID_ARGUMENT */
  CHECK(protobuf_c_message_check(msg), "%s decoded but does not check", desc->name);
  check_round_trip(desc, msg);
  if (desc == &twigz__migrations__v1__run_request__descriptor)
    check_run((const void *)msg);
  else if (desc == &twigz__migrations__v1__status_request__descriptor)
    check_status((const void *)msg);
  else if (desc == &twigz__migrations__v1__cancel_request__descriptor)
    check_cancel((const void *)msg);
  else if (desc == &twigz__migrations__v1__tune_request__descriptor)
    check_tune((const void *)msg);
  protobuf_c_message_free_unpacked(msg, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* The same descriptors the server registers its methods with. */
  static const ProtobufCServiceDescriptor *const services[] = {
      &twigz__migrations__v1__migration_service__descriptor,
      &grpc__health__v1__health__descriptor,
  };
  static const uint8_t empty[1];
  if (!data) data = empty;
  for (size_t s = 0; s < sizeof services / sizeof services[0]; s++)
    for (unsigned m = 0; m < services[s]->n_methods; m++)
      try_decode(services[s]->methods[m].input, data, size);
  return 0;
}
