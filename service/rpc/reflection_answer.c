/* gRPC server reflection: the answer to one request, from the index (reflection_impl.h). */
#include <grpc/status.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "reflection_impl.h"

/* ---------- answering ---------- */

/* One response under construction; the owned parts are freed once it is packed. */
typedef struct {
  Grpc__Reflection__V1__ServerReflectionResponse msg;
  Grpc__Reflection__V1__FileDescriptorResponse files;
  Grpc__Reflection__V1__ExtensionNumberResponse numbers;
  Grpc__Reflection__V1__ListServiceResponse services;
  Grpc__Reflection__V1__ErrorResponse error;
  ProtobufCBinaryData *file_bytes; /* owned array; the bytes are the index's */
  size_t *order;                   /* owned */
  int32_t *ext_numbers;            /* owned */
  char *error_message;             /* owned */
} answer;

static tm_code answer_error(answer *a, grpc_status_code code, tm_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static tm_code answer_error(answer *a, grpc_status_code code, tm_error *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return tm_error_set(err, TM_ERR_INTERNAL, "reflection: cannot format an error");
  a->error_message = malloc((size_t)n + 1);
  if (!a->error_message) return tm_refl_oom(err);
  va_start(ap, fmt);
  vsnprintf(a->error_message, (size_t)n + 1, fmt, ap);
  va_end(ap);
  a->error.error_code = (int32_t)code;
  a->error.error_message = a->error_message;
  a->msg.message_response_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
  a->msg.error_response = &a->error;
  return TM_OK;
}

/* The file first (clients take the first entry as the answer), then every file it imports,
 * directly or not, each once, breadth first. */
static tm_code answer_files(const tm_reflection *r, answer *a, size_t root, tm_error *err) {
  bool *seen = calloc(r->n_files, sizeof *seen);
  a->order = malloc(r->n_files * sizeof *a->order);
  a->file_bytes = malloc(r->n_files * sizeof *a->file_bytes);
  if (!seen || !a->order || !a->file_bytes) {
    free(seen);
    return tm_refl_oom(err);
  }
  size_t head = 0, tail = 0;
  a->order[tail++] = root;
  seen[root] = true;
  while (head < tail) {
    const file_entry *f = &r->files[a->order[head++]];
    for (size_t i = 0; i < f->n_deps; i++) {
      if (seen[f->deps[i]]) continue;
      seen[f->deps[i]] = true;
      a->order[tail++] = f->deps[i];
    }
  }
  free(seen);
  for (size_t i = 0; i < tail; i++) a->file_bytes[i] = r->files[a->order[i]].bytes;
  a->files.n_file_descriptor_proto = tail;
  a->files.file_descriptor_proto = a->file_bytes;
  a->msg.message_response_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
  a->msg.file_descriptor_response = &a->files;
  return TM_OK;
}

/* Requests name symbols without protobuf's leading dot; one is forgiven. */
static const char *bare(const char *name) { return name[0] == '.' ? name + 1 : name; }

static const symbol *find_message(const tm_reflection *r, const char *name) {
  const symbol *s = tm_refl_find_symbol(r, name);
  return s && s->kind == SYM_MESSAGE ? s : NULL;
}

static tm_code answer_extension(const tm_reflection *r, answer *a,
                                const Grpc__Reflection__V1__ExtensionRequest *q, tm_error *err) {
  const char *type = q && q->containing_type ? bare(q->containing_type) : "";
  if (!find_message(r, type))
    return answer_error(a, GRPC_STATUS_NOT_FOUND, err, "message type not found: %s", type);
  for (size_t i = tm_refl_first_extension(r, type); i < r->n_exts; i++) {
    if (strcmp(r->exts[i].extendee, type) != 0) break;
    if (r->exts[i].number == q->extension_number) return answer_files(r, a, r->exts[i].file, err);
  }
  return answer_error(a, GRPC_STATUS_NOT_FOUND, err, "%s has no extension %d", type,
                      (int)q->extension_number);
}

static tm_code answer_extension_numbers(const tm_reflection *r, answer *a, const char *name,
                                        tm_error *err) {
  const char *type = bare(name);
  if (!find_message(r, type))
    return answer_error(a, GRPC_STATUS_NOT_FOUND, err, "message type not found: %s", type);
  size_t first = tm_refl_first_extension(r, type), n = 0;
  while (first + n < r->n_exts && strcmp(r->exts[first + n].extendee, type) == 0) n++;
  a->ext_numbers = malloc((n ? n : 1) * sizeof *a->ext_numbers);
  if (!a->ext_numbers) return tm_refl_oom(err);
  for (size_t i = 0; i < n; i++) a->ext_numbers[i] = r->exts[first + i].number;
  a->numbers.base_type_name = (char *)type;
  a->numbers.n_extension_number = n;
  a->numbers.extension_number = a->ext_numbers;
  a->msg.message_response_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
  a->msg.all_extension_numbers_response = &a->numbers;
  return TM_OK;
}

static tm_code answer_request(const tm_reflection *r, answer *a,
                              const Grpc__Reflection__V1__ServerReflectionRequest *q,
                              tm_error *err) {
  switch (q->message_request_case) {
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME: {
    size_t idx;
    if (!tm_refl_find_file(r, q->file_by_filename, &idx))
      return answer_error(a, GRPC_STATUS_NOT_FOUND, err, "file not found: %s", q->file_by_filename);
    return answer_files(r, a, idx, err);
  }
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL: {
    const symbol *s = tm_refl_find_symbol(r, bare(q->file_containing_symbol));
    if (!s)
      return answer_error(a, GRPC_STATUS_NOT_FOUND, err, "symbol not found: %s",
                          q->file_containing_symbol);
    return answer_files(r, a, s->file, err);
  }
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
    return answer_extension(r, a, q->file_containing_extension, err);
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
    return answer_extension_numbers(r, a, q->all_extension_numbers_of_type, err);
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
    /* The request's string ("*" by convention) selects nothing: every exposed service is listed. */
    a->services.n_service = r->n_services;
    a->services.service = r->service_ptrs;
    a->msg.message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
    a->msg.list_services_response = &a->services;
    return TM_OK;
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST__NOT_SET:
  default: /* protobuf-c's int-size sentinel; unpack never sets it */ break;
  }
  return answer_error(a, GRPC_STATUS_INVALID_ARGUMENT, err,
                      "the request asks nothing: set one of file_by_filename, "
                      "file_containing_symbol, file_containing_extension, "
                      "all_extension_numbers_of_type, list_services");
}

tm_code tm_reflection_answer(const tm_reflection *r, const uint8_t *request, size_t len,
                             uint8_t **response, size_t *response_len, tm_error *err) {
  if (!r || !response || !response_len || (!request && len > 0))
    return tm_error_set(err, TM_ERR_INVALID, "reflection: NULL argument");
  *response = NULL;
  *response_len = 0;
  static const uint8_t empty[1];
  Grpc__Reflection__V1__ServerReflectionRequest *q =
      grpc__reflection__v1__server_reflection_request__unpack(NULL, len, request ? request : empty);
  if (!q)
    return tm_error_set(err, TM_ERR_INVALID,
                        "reflection: %zu bytes that are not a ServerReflectionRequest", len);

  answer a = {
      .msg = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT,
      .files = GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT,
      .numbers = GRPC__REFLECTION__V1__EXTENSION_NUMBER_RESPONSE__INIT,
      .services = GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT,
      .error = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT,
  };
  a.msg.valid_host = q->host;
  a.msg.original_request = q;
  tm_code rc = answer_request(r, &a, q, err);
  /* Unknown fields are not echoed, at either level of the request: protobuf-c keeps some (field 0
   * in an overlong varint) that no client could decode. free_unpacked needs the counts back. */
  bool nested =
      q->message_request_case ==
          GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION &&
      q->file_containing_extension;
  ProtobufCMessage *echoed[] = {&q->base, nested ? &q->file_containing_extension->base : NULL};
  unsigned n_unknown[2] = {0, 0};
  for (size_t i = 0; i < 2; i++) {
    if (!echoed[i]) continue;
    n_unknown[i] = echoed[i]->n_unknown_fields;
    echoed[i]->n_unknown_fields = 0;
  }
  if (rc == TM_OK) {
    size_t n = grpc__reflection__v1__server_reflection_response__get_packed_size(&a.msg);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf) {
      *response_len = grpc__reflection__v1__server_reflection_response__pack(&a.msg, buf);
      *response = buf;
    } else {
      rc = tm_refl_oom(err);
    }
  }
  for (size_t i = 0; i < 2; i++)
    if (echoed[i]) echoed[i]->n_unknown_fields = n_unknown[i];
  free(a.file_bytes);
  free(a.order);
  free(a.ext_numbers);
  free(a.error_message);
  grpc__reflection__v1__server_reflection_request__free_unpacked(q, NULL);
  return rc;
}
