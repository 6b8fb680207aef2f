/* libFuzzer harness: the reflection request handler, tm_reflection_answer, over the descriptor set
 * the build embeds in the service, exposing the services main.c exposes.
 *
 * Invariants (reflection.h's contract): bytes that decode as a ServerReflectionRequest are always
 * answered (TM_OK) with a response that decodes, echoes the request, and carries exactly one
 * answer; bytes that do not decode are TM_ERR_INVALID with no response. File answers hold only
 * FileDescriptorProtos, the asked file first; list_services lists the exposed services in order.
 * A request carrying protobuf-c's field 0 (docs/reliability.md, finding 1), at the top or inside
 * file_containing_extension, must be answered with a response that decodes too. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "rpc/reflection.h"

#define CHECK(cond, ...)                                      \
  do {                                                        \
    if (!(cond)) {                                            \
      fprintf(stderr, "fuzz_reflection: invariant broken: "); \
      fprintf(stderr, __VA_ARGS__);                           \
      fprintf(stderr, " (%s, line %d)\n", #cond, __LINE__);   \
      abort();                                                \
    }                                                         \
  } while (0)

extern const unsigned char tm_descriptor_set[];
extern const size_t tm_descriptor_set_len;

/* As service/main.c exposes them. */
static const char *const exposed[] = {
    "twigz.migrations.v1.MigrationService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
};
#define N_EXPOSED (sizeof exposed / sizeof exposed[0])

static tm_reflection *index_once(void) {
  static tm_reflection *r;
  if (!r) {
    tm_error err = {0};
    tm_code rc =
        tm_reflection_new(tm_descriptor_set, tm_descriptor_set_len, exposed, N_EXPOSED, &r, &err);
    CHECK(rc == TM_OK, "the embedded descriptor set does not index: %s", err.msg);
  }
  return r;
}

typedef Grpc__Reflection__V1__ServerReflectionRequest request;
typedef Grpc__Reflection__V1__ServerReflectionResponse response;

static bool same_string(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

static void check_files(const request *q, const Grpc__Reflection__V1__FileDescriptorResponse *f) {
  CHECK(f != NULL && f->n_file_descriptor_proto > 0, "a file answer without files");
  for (size_t i = 0; i < f->n_file_descriptor_proto; i++) {
    const ProtobufCBinaryData *b = &f->file_descriptor_proto[i];
    Google__Protobuf__FileDescriptorProto *fd =
        google__protobuf__file_descriptor_proto__unpack(NULL, b->len, b->data);
    CHECK(fd != NULL, "file %zu of the answer is not a FileDescriptorProto", i);
    if (i == 0 &&
        q->message_request_case ==
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME)
      CHECK(same_string(fd->name, q->file_by_filename), "asked for \"%s\", first file is \"%s\"",
            q->file_by_filename, fd->name);
    google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
  }
}

static void check_answer(const request *q, const response *a) {
  CHECK(a->original_request != NULL, "the response does not echo the request");
  CHECK(same_string(a->valid_host, q->host), "the response does not echo the host");
  CHECK(a->original_request->message_request_case == q->message_request_case,
        "the echoed request asks something else");
  switch (a->message_response_case) {
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE:
    check_files(q, a->file_descriptor_response);
    break;
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE:
    CHECK(
        q->message_request_case ==
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE,
        "extension numbers answer an unrelated question");
    break;
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE: {
    const Grpc__Reflection__V1__ListServiceResponse *l = a->list_services_response;
    CHECK(q->message_request_case ==
              GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES,
          "a service list answers an unrelated question");
    CHECK(l && l->n_service == N_EXPOSED, "service list of %zu", l ? l->n_service : 0);
    for (size_t i = 0; i < N_EXPOSED; i++)
      CHECK(same_string(l->service[i]->name, exposed[i]), "service %zu is %s", i,
            l->service[i]->name);
    break;
  }
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE: {
    const Grpc__Reflection__V1__ErrorResponse *e = a->error_response;
    CHECK(e && (e->error_code == 5 || e->error_code == 3), "error code %d",
          e ? (int)e->error_code : -1); /* NOT_FOUND or INVALID_ARGUMENT */
    CHECK(e->error_message && *e->error_message, "an error answer without a message");
    if (q->message_request_case ==
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST__NOT_SET)
      CHECK(e->error_code == 3, "an empty question is not INVALID_ARGUMENT");
    break;
  }
  default: CHECK(false, "the response answers nothing (case %d)", (int)a->message_response_case);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tm_reflection *r = index_once();
  /* An exact-size copy, so an overread is an ASan report. */
  uint8_t *bytes = malloc(size ? size : 1);
  if (!bytes) return 0;
  if (size) memcpy(bytes, data, size);

  uint8_t *out = (uint8_t *)"sentinel";
  size_t out_len = 12345;
  tm_error err = {0};
  tm_code rc = tm_reflection_answer(r, size ? bytes : NULL, size, &out, &out_len, &err);
  request *q = grpc__reflection__v1__server_reflection_request__unpack(NULL, size, bytes);
  if (!q) {
    CHECK(rc == TM_ERR_INVALID, "undecodable bytes gave code %d", (int)rc);
    CHECK(out == NULL && out_len == 0, "undecodable bytes gave a response");
    CHECK(strnlen(err.msg, sizeof err.msg) < sizeof err.msg && err.msg[0], "bad error message");
  } else {
    CHECK(rc == TM_OK, "a decodable request gave code %d: %s", (int)rc, err.msg);
    CHECK(out != NULL, "TM_OK without a response");
    response *a = grpc__reflection__v1__server_reflection_response__unpack(NULL, out_len, out);
    CHECK(a != NULL, "the response (%zu bytes) does not decode", out_len);
    check_answer(q, a);
    grpc__reflection__v1__server_reflection_response__free_unpacked(a, NULL);
    grpc__reflection__v1__server_reflection_request__free_unpacked(q, NULL);
    free(out);
  }
  free(bytes);
  return 0;
}
