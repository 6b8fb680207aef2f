/* libFuzzer harness: tm_reflection_new on arbitrary bytes taken as a FileDescriptorSet, then a few
 * answers from whatever index it built.
 *
 * The service only ever indexes the set the build embeds, but the indexer is the part of reflection
 * that walks nested, repeated, name-bearing structures, so it is fuzzed on its own: it must refuse
 * what it cannot index with TM_ERR_INVALID (and a message), never crash or leak.
 *
 * When it accepts a set, the set also decodes with protobuf-c here, and then every file in it is
 * found by name, every top-level message by symbol, and list_services names every service. */
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

#define CHECK(cond, ...)                                            \
  do {                                                              \
    if (!(cond)) {                                                  \
      fprintf(stderr, "fuzz_reflection_index: invariant broken: "); \
      fprintf(stderr, __VA_ARGS__);                                 \
      fprintf(stderr, " (%s, line %d)\n", #cond, __LINE__);         \
      abort();                                                      \
    }                                                               \
  } while (0)

#define MAX_SERVICES 16
#define MAX_NAME 512

typedef Grpc__Reflection__V1__ServerReflectionRequest request;
typedef Grpc__Reflection__V1__ServerReflectionResponse response;

/* Asks q; the answer must decode. Returns it (the caller frees it). */
static response *ask(const tm_reflection *r, const request *q) {
  size_t len = grpc__reflection__v1__server_reflection_request__get_packed_size(q);
  uint8_t *buf = malloc(len ? len : 1);
  CHECK(buf != NULL, "out of memory");
  grpc__reflection__v1__server_reflection_request__pack(q, buf);
  uint8_t *out = NULL;
  size_t out_len = 0;
  tm_error err = {0};
  tm_code rc = tm_reflection_answer(r, buf, len, &out, &out_len, &err);
  CHECK(rc == TM_OK, "a valid request gave code %d: %s", (int)rc, err.msg);
  response *a = grpc__reflection__v1__server_reflection_response__unpack(NULL, out_len, out);
  CHECK(a != NULL, "the answer does not decode");
  free(out);
  free(buf);
  return a;
}

static void expect_file_answer(const tm_reflection *r, const request *q, const char *what) {
  response *a = ask(r, q);
  CHECK(
      a->message_response_case ==
              GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE &&
          a->file_descriptor_response->n_file_descriptor_proto > 0,
      "%s is in the set but not answered with a file (case %d)", what,
      (int)a->message_response_case);
  grpc__reflection__v1__server_reflection_response__free_unpacked(a, NULL);
}

/* protobuf's identifier rule: [A-Za-z_][A-Za-z0-9_]*. */
static bool identifier(const char *s, size_t n) {
  if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

/* A package is empty or dot-separated identifiers. The indexer does not check names (protoc
 * already did for the set it serves), and a request's name loses one leading dot, so symbols are
 * only looked up where the names are well formed. */
static bool well_formed_package(const char *pkg) {
  const char *start = pkg;
  for (const char *p = pkg;; p++) {
    if (*p != '.' && *p != '\0') continue;
    if (p != pkg && !identifier(start, (size_t)(p - start))) return false;
    if (p == pkg && *p == '.') return false;
    if (*p == '\0') return true;
    start = p + 1;
  }
}

/* The invariants of an accepted set, checked against protobuf-c's own reading of it. */
static void check_index(const tm_reflection *r, const Google__Protobuf__FileDescriptorSet *set,
                        const char *const *services, size_t n_services) {
  request q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  q.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
  q.list_services = "*";
  response *a = ask(r, &q);
  CHECK(
      a->message_response_case ==
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE,
      "list_services not answered with a list");
  CHECK(a->list_services_response->n_service == n_services, "%zu services listed, %zu exposed",
        a->list_services_response->n_service, n_services);
  for (size_t i = 0; i < n_services; i++)
    CHECK(strcmp(a->list_services_response->service[i]->name, services[i]) == 0,
          "service %zu listed as %s", i, a->list_services_response->service[i]->name);
  grpc__reflection__v1__server_reflection_response__free_unpacked(a, NULL);

  for (size_t i = 0; i < set->n_file; i++) {
    const Google__Protobuf__FileDescriptorProto *f = set->file[i];
    q = (request)GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    q.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    q.file_by_filename = f->name;
    expect_file_answer(r, &q, "a file");
    for (size_t m = 0; m < f->n_message_type; m++) {
      char symbol[MAX_NAME];
      const char *pkg = f->package ? f->package : "";
      snprintf(symbol, sizeof symbol, "%s%s%s", pkg, *pkg ? "." : "", f->message_type[m]->name);
      q.message_request_case =
          GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
      q.file_containing_symbol = symbol;
      const char *name = f->message_type[m]->name;
      if (strlen(symbol) < sizeof symbol - 1 && well_formed_package(pkg) &&
          identifier(name, strlen(name)))
        expect_file_answer(r, &q, "a message");
      q.message_request_case =
          GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
      q.all_extension_numbers_of_type = symbol;
      response *e = ask(r, &q);
      grpc__reflection__v1__server_reflection_response__free_unpacked(e, NULL);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *bytes = malloc(size ? size : 1); /* exact size: overreads are ASan reports */
  if (!bytes) return 0;
  if (size) memcpy(bytes, data, size);

  /* Expose every service protobuf-c finds, so list_services has something to list. */
  Google__Protobuf__FileDescriptorSet *set =
      google__protobuf__file_descriptor_set__unpack(NULL, size, bytes);
  char *names[MAX_SERVICES];
  size_t n_names = 0;
  for (size_t i = 0; set && i < set->n_file; i++) {
    const Google__Protobuf__FileDescriptorProto *f = set->file[i];
    const char *pkg = f->package ? f->package : "";
    for (size_t s = 0; s < f->n_service && n_names < MAX_SERVICES; s++) {
      const char *name = f->service[s]->name ? f->service[s]->name : "";
      size_t len = strlen(pkg) + 1 + strlen(name) + 1;
      names[n_names] = malloc(len);
      CHECK(names[n_names] != NULL, "out of memory");
      snprintf(names[n_names], len, "%s%s%s", pkg, *pkg ? "." : "", name);
      n_names++;
    }
  }

  tm_reflection *r = NULL;
  tm_error err = {0};
  tm_code rc =
      tm_reflection_new(size ? bytes : NULL, size, (const char *const *)names, n_names, &r, &err);
  if (rc == TM_OK) {
    CHECK(r != NULL, "TM_OK without an index");
    /* The indexer's splitter skips set-level fields protobuf-c refuses (e.g. field numbers above
     * 2^29), so an accepted set may not decode here; only list_services (of nothing) is checked
     * then. */
    static const Google__Protobuf__FileDescriptorSet none =
        GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
    check_index(r, set ? set : &none, (const char *const *)names, n_names);
    tm_reflection_destroy(r);
  } else {
    CHECK(r == NULL, "an index returned with code %d", (int)rc);
    CHECK(rc == TM_ERR_INVALID, "code %d: %s", (int)rc, err.msg);
    CHECK(err.msg[0] && strnlen(err.msg, sizeof err.msg) < sizeof err.msg, "bad error message");
  }
  for (size_t i = 0; i < n_names; i++) free(names[i]);
  if (set) google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
  free(bytes);
  return 0;
}
