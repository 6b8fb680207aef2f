/* Server reflection answers, checked against the descriptor set the build embeds (and a few small
 * sets made here for what the real one lacks: extensions, diamonds of imports, broken sets). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "rpc/reflection.h"

extern const unsigned char tm_descriptor_set[];
extern const size_t tm_descriptor_set_len;

#define MIGRATION_FILE "twigz/migrations/v1/migration_service.proto"
#define HEALTH_FILE "grpc/health/v1/health.proto"
#define TIMESTAMP_FILE "google/protobuf/timestamp.proto"

static const char *const exposed[] = {
    "twigz.migrations.v1.MigrationService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
};

static tm_reflection *refl;

static void setup(void) {
  tm_error err = {0};
  tm_code rc = tm_reflection_new(tm_descriptor_set, tm_descriptor_set_len, exposed, 4, &refl, &err);
  cr_assert_eq(rc, TM_OK, "tm_reflection_new: %s", err.msg);
}

static void teardown(void) { tm_reflection_destroy(refl); }

TestSuite(reflection, .init = setup, .fini = teardown);

/* ---------- helpers ---------- */

typedef Grpc__Reflection__V1__ServerReflectionRequest request_t;
typedef Grpc__Reflection__V1__ServerReflectionResponse response_t;

/* Packs q, answers it with r and decodes the answer; the caller frees it with free_response. */
static response_t *ask_with(const tm_reflection *r, const request_t *q) {
  size_t len = grpc__reflection__v1__server_reflection_request__get_packed_size(q);
  uint8_t *buf = malloc(len ? len : 1);
  grpc__reflection__v1__server_reflection_request__pack(q, buf);
  uint8_t *out = NULL;
  size_t out_len = 0;
  tm_error err = {0};
  tm_code rc = tm_reflection_answer(r, buf, len, &out, &out_len, &err);
  free(buf);
  cr_assert_eq(rc, TM_OK, "tm_reflection_answer: %s", err.msg);
  response_t *resp = grpc__reflection__v1__server_reflection_response__unpack(NULL, out_len, out);
  free(out);
  cr_assert_not_null(resp, "the answer is not a ServerReflectionResponse");
  return resp;
}

static void free_response(response_t *resp) {
  grpc__reflection__v1__server_reflection_response__free_unpacked(resp, NULL);
}

static response_t *ask_symbol(const char *symbol) {
  request_t q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  q.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
  q.file_containing_symbol = (char *)symbol;
  return ask_with(refl, &q);
}

static response_t *ask_file_with(const tm_reflection *r, const char *name) {
  request_t q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  q.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
  q.file_by_filename = (char *)name;
  return ask_with(r, &q);
}

static response_t *ask_extension_numbers_with(const tm_reflection *r, const char *type) {
  request_t q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  q.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
  q.all_extension_numbers_of_type = (char *)type;
  return ask_with(r, &q);
}

static response_t *ask_extension_with(const tm_reflection *r, const char *type, int32_t number) {
  Grpc__Reflection__V1__ExtensionRequest e = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
  e.containing_type = (char *)type;
  e.extension_number = number;
  request_t q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  q.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION;
  q.file_containing_extension = &e;
  return ask_with(r, &q);
}

/* The names of the FileDescriptorProtos in a file_descriptor_response, in order (at most max). */
static size_t file_names(const response_t *resp, char names[][128], size_t max) {
  cr_assert_eq(
      resp->message_response_case,
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE,
      "expected a file_descriptor_response, got case %d", (int)resp->message_response_case);
  const Grpc__Reflection__V1__FileDescriptorResponse *f = resp->file_descriptor_response;
  cr_assert_leq(f->n_file_descriptor_proto, max);
  for (size_t i = 0; i < f->n_file_descriptor_proto; i++) {
    Google__Protobuf__FileDescriptorProto *p = google__protobuf__file_descriptor_proto__unpack(
        NULL, f->file_descriptor_proto[i].len, f->file_descriptor_proto[i].data);
    cr_assert_not_null(p, "entry %zu is not a FileDescriptorProto", i);
    cr_assert_not_null(p->name);
    snprintf(names[i], 128, "%s", p->name);
    google__protobuf__file_descriptor_proto__free_unpacked(p, NULL);
  }
  return f->n_file_descriptor_proto;
}

static bool has_name(char names[][128], size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0) return true;
  return false;
}

static void assert_error(const response_t *resp, int code) {
  cr_assert_eq(resp->message_response_case,
               GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE,
               "expected an error_response, got case %d", (int)resp->message_response_case);
  cr_assert_eq(resp->error_response->error_code, code, "error %d: %s",
               resp->error_response->error_code, resp->error_response->error_message);
  cr_assert_neq(resp->error_response->error_message[0], '\0', "the error has no message");
}

/* ---------- the embedded set ---------- */

Test(reflection, list_services_names_the_exposed_services_in_order) {
  request_t q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  q.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
  q.list_services = (char *)"*";
  response_t *resp = ask_with(refl, &q);
  cr_assert_eq(
      resp->message_response_case,
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
  cr_assert_eq(resp->list_services_response->n_service, 4);
  for (size_t i = 0; i < 4; i++)
    cr_assert_str_eq(resp->list_services_response->service[i]->name, exposed[i]);
  free_response(resp);
}

Test(reflection, service_symbol_answers_its_file_first_then_its_imports) {
  response_t *resp = ask_symbol("twigz.migrations.v1.MigrationService");
  char names[8][128];
  size_t n = file_names(resp, names, 8);
  cr_assert_eq(n, 3);
  cr_assert_str_eq(names[0], MIGRATION_FILE);
  cr_assert_str_eq(names[1], TIMESTAMP_FILE);
  cr_assert_str_eq(names[2], "google/protobuf/wrappers.proto");
  free_response(resp);
}

Test(reflection, method_symbol_answers_the_service_file) {
  response_t *resp = ask_symbol("twigz.migrations.v1.MigrationService.Run");
  char names[8][128];
  size_t n = file_names(resp, names, 8);
  cr_assert_geq(n, 1);
  cr_assert_str_eq(names[0], MIGRATION_FILE);
  free_response(resp);
}

Test(reflection, message_symbol_answers_the_service_file) {
  response_t *resp = ask_symbol("twigz.migrations.v1.RunRequest");
  char names[8][128];
  size_t n = file_names(resp, names, 8);
  cr_assert_geq(n, 1);
  cr_assert_str_eq(names[0], MIGRATION_FILE);
  free_response(resp);
}

Test(reflection, nested_enum_symbol_answers_health_file_alone) {
  response_t *resp = ask_symbol("grpc.health.v1.HealthCheckResponse.ServingStatus");
  char names[8][128];
  size_t n = file_names(resp, names, 8);
  cr_assert_eq(n, 1, "health.proto imports nothing, yet %zu files came back", n);
  cr_assert_str_eq(names[0], HEALTH_FILE);
  free_response(resp);
}

Test(reflection, enum_value_symbol_is_scoped_beside_its_enum) {
  response_t *resp = ask_symbol("grpc.health.v1.HealthCheckResponse.SERVING");
  char names[8][128];
  file_names(resp, names, 8);
  cr_assert_str_eq(names[0], HEALTH_FILE);
  free_response(resp);
}

Test(reflection, field_symbol_answers_its_file) {
  response_t *resp = ask_symbol("twigz.migrations.v1.RunRequest.dry_run");
  char names[8][128];
  file_names(resp, names, 8);
  cr_assert_str_eq(names[0], MIGRATION_FILE);
  free_response(resp);
}

Test(reflection, package_symbol_answers_a_file_of_the_package) {
  response_t *resp = ask_symbol("grpc.reflection.v1alpha");
  char names[8][128];
  file_names(resp, names, 8);
  cr_assert_str_eq(names[0], "grpc/reflection/v1alpha/reflection.proto");
  free_response(resp);
}

Test(reflection, symbol_with_a_leading_dot_is_found) {
  response_t *resp = ask_symbol(".twigz.migrations.v1.RunRequest");
  char names[8][128];
  file_names(resp, names, 8);
  cr_assert_str_eq(names[0], MIGRATION_FILE);
  free_response(resp);
}

Test(reflection, file_by_name_includes_timestamp_once) {
  response_t *resp = ask_file_with(refl, MIGRATION_FILE);
  char names[8][128];
  size_t n = file_names(resp, names, 8);
  cr_assert_str_eq(names[0], MIGRATION_FILE);
  cr_assert(has_name(names, n, TIMESTAMP_FILE), "timestamp.proto is missing");
  size_t count = 0;
  for (size_t i = 0; i < n; i++) count += strcmp(names[i], TIMESTAMP_FILE) == 0;
  cr_assert_eq(count, 1);
  free_response(resp);
}

Test(reflection, served_file_describes_the_service_methods) {
  response_t *resp = ask_file_with(refl, MIGRATION_FILE);
  const ProtobufCBinaryData *b = &resp->file_descriptor_response->file_descriptor_proto[0];
  Google__Protobuf__FileDescriptorProto *p =
      google__protobuf__file_descriptor_proto__unpack(NULL, b->len, b->data);
  cr_assert_not_null(p);
  cr_assert_str_eq(p->package, "twigz.migrations.v1");
  cr_assert_eq(p->n_service, 1);
  cr_assert_str_eq(p->service[0]->name, "MigrationService");
  const char *methods[] = {"Run", "Status", "List", "Cancel", "History", "Pause", "Resume", "Tune"};
  cr_assert_eq(p->service[0]->n_method, 8);
  for (size_t i = 0; i < 8; i++) cr_assert_str_eq(p->service[0]->method[i]->name, methods[i]);
  google__protobuf__file_descriptor_proto__free_unpacked(p, NULL);
  free_response(resp);
}

Test(reflection, unknown_symbol_is_answered_not_found) {
  response_t *resp = ask_symbol("twigz.migrations.v1.NoSuchThing");
  assert_error(resp, 5);
  free_response(resp);
}

Test(reflection, unknown_file_is_answered_not_found) {
  response_t *resp = ask_file_with(refl, "no/such/file.proto");
  assert_error(resp, 5);
  free_response(resp);
}

Test(reflection, file_containing_extension_is_answered_not_found) {
  response_t *resp = ask_extension_with(refl, "twigz.migrations.v1.RunRequest", 100);
  assert_error(resp, 5);
  free_response(resp);
}

Test(reflection, extension_numbers_of_a_known_message_are_an_empty_list) {
  response_t *resp = ask_extension_numbers_with(refl, "twigz.migrations.v1.RunRequest");
  cr_assert_eq(
      resp->message_response_case,
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE);
  cr_assert_str_eq(resp->all_extension_numbers_response->base_type_name,
                   "twigz.migrations.v1.RunRequest");
  cr_assert_eq(resp->all_extension_numbers_response->n_extension_number, 0);
  free_response(resp);
}

Test(reflection, extension_numbers_of_a_service_are_answered_not_found) {
  response_t *resp = ask_extension_numbers_with(refl, "twigz.migrations.v1.MigrationService");
  assert_error(resp, 5);
  free_response(resp);
}

Test(reflection, empty_request_is_answered_invalid_argument) {
  uint8_t *out = NULL;
  size_t out_len = 0;
  tm_error err = {0};
  cr_assert_eq(tm_reflection_answer(refl, NULL, 0, &out, &out_len, &err), TM_OK, "%s", err.msg);
  response_t *resp = grpc__reflection__v1__server_reflection_response__unpack(NULL, out_len, out);
  free(out);
  cr_assert_not_null(resp);
  assert_error(resp, 3);
  free_response(resp);
}

Test(reflection, bytes_that_are_not_a_request_are_invalid) {
  /* Field 3 (a string) claims 100 bytes and brings 2. */
  static const uint8_t junk[] = {0x1a, 0x64, 'a', 'b'};
  uint8_t *out = (uint8_t *)1;
  size_t out_len = 7;
  tm_error err = {0};
  cr_assert_eq(tm_reflection_answer(refl, junk, sizeof junk, &out, &out_len, &err), TM_ERR_INVALID);
  cr_assert_null(out);
  cr_assert_eq(out_len, 0);
  cr_assert_neq(err.msg[0], '\0');
}

Test(reflection, response_echoes_host_and_request) {
  request_t q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  q.host = (char *)"migrations.example:443";
  q.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
  q.file_containing_symbol = (char *)"twigz.migrations.v1.RunRequest";
  response_t *resp = ask_with(refl, &q);
  cr_assert_str_eq(resp->valid_host, "migrations.example:443");
  cr_assert_not_null(resp->original_request);
  cr_assert_str_eq(resp->original_request->host, "migrations.example:443");
  cr_assert_eq(resp->original_request->message_request_case, q.message_request_case);
  cr_assert_str_eq(resp->original_request->file_containing_symbol, q.file_containing_symbol);
  free_response(resp);
}

Test(reflection, error_response_echoes_the_request_too) {
  response_t *resp = ask_symbol("no.such.Symbol");
  cr_assert_not_null(resp->original_request);
  cr_assert_str_eq(resp->original_request->file_containing_symbol, "no.such.Symbol");
  free_response(resp);
}

Test(reflection, v1alpha_request_gets_a_v1alpha_response) {
  Grpc__Reflection__V1alpha__ServerReflectionRequest q =
      GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__INIT;
  q.message_request_case =
      GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
  q.list_services = (char *)"";
  uint8_t buf[64];
  size_t len = grpc__reflection__v1alpha__server_reflection_request__pack(&q, buf);
  uint8_t *out = NULL;
  size_t out_len = 0;
  tm_error err = {0};
  cr_assert_eq(tm_reflection_answer(refl, buf, len, &out, &out_len, &err), TM_OK, "%s", err.msg);
  Grpc__Reflection__V1alpha__ServerReflectionResponse *resp =
      grpc__reflection__v1alpha__server_reflection_response__unpack(NULL, out_len, out);
  free(out);
  cr_assert_not_null(resp);
  cr_assert_eq(
      resp->message_response_case,
      GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
  cr_assert_eq(resp->list_services_response->n_service, 4);
  grpc__reflection__v1alpha__server_reflection_response__free_unpacked(resp, NULL);
}

/* Answers from several threads at once must equal the single-threaded answer byte for byte. */

/* file_containing_symbol (field 4) "twigz.migrations.v1.RunRequest" (30 bytes), encoded by hand. */
static const uint8_t req[] = "\x22\x1etwigz.migrations.v1.RunRequest";

static void *answer_many(void *arg) {
  const uint8_t *expected = arg;
  for (int i = 0; i < 200; i++) {
    uint8_t *out = NULL;
    size_t out_len = 0;
    if (tm_reflection_answer(refl, req, sizeof req - 1, &out, &out_len, NULL) != TM_OK)
      return "fail";
    size_t exp_len;
    memcpy(&exp_len, expected, sizeof exp_len);
    bool same = out_len == exp_len && memcmp(out, expected + sizeof exp_len, out_len) == 0;
    free(out);
    if (!same) return "differs";
  }
  return NULL;
}

Test(reflection, concurrent_answers_agree) {
  uint8_t *out = NULL;
  size_t out_len = 0;
  cr_assert_eq(tm_reflection_answer(refl, req, sizeof req - 1, &out, &out_len, NULL), TM_OK);
  uint8_t *expected = malloc(sizeof out_len + out_len);
  memcpy(expected, &out_len, sizeof out_len);
  memcpy(expected + sizeof out_len, out, out_len);
  free(out);
  pthread_t threads[4];
  for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, answer_many, expected);
  for (int i = 0; i < 4; i++) {
    void *res;
    pthread_join(threads[i], &res);
    cr_expect_null(res, "thread %d: %s", i, (const char *)res);
  }
  free(expected);
}

/* ---------- small sets made here ---------- */

/* One file of a hand-made set: an optional message and an optional extension of some message. */
typedef struct {
  const char *name, *package;
  const char *deps[3];
  const char *message;
  const char *extendee; /* ".pkg.Msg", as protoc writes it */
  int32_t ext_number;
} spec;

/* A serialized FileDescriptorSet of the specs; malloc'ed. */
static uint8_t *make_set(const spec *specs, size_t n, size_t *len) {
  Google__Protobuf__FileDescriptorProto files[8];
  Google__Protobuf__FileDescriptorProto *file_ptrs[8];
  Google__Protobuf__DescriptorProto msgs[8], *msg_ptrs[8];
  Google__Protobuf__FieldDescriptorProto exts[8], *ext_ptrs[8];
  cr_assert_leq(n, 8);
  for (size_t i = 0; i < n; i++) {
    files[i] = (Google__Protobuf__FileDescriptorProto)GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
    files[i].name = (char *)specs[i].name;
    files[i].package = (char *)specs[i].package;
    while (files[i].n_dependency < 3 && specs[i].deps[files[i].n_dependency])
      files[i].n_dependency++;
    files[i].dependency = (char **)specs[i].deps;
    if (specs[i].message) {
      msgs[i] = (Google__Protobuf__DescriptorProto)GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
      msgs[i].name = (char *)specs[i].message;
      msg_ptrs[i] = &msgs[i];
      files[i].n_message_type = 1;
      files[i].message_type = &msg_ptrs[i];
    }
    if (specs[i].extendee) {
      exts[i] =
          (Google__Protobuf__FieldDescriptorProto)GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__INIT;
      exts[i].name = (char *)"ext";
      exts[i].extendee = (char *)specs[i].extendee;
      exts[i].has_number = 1;
      exts[i].number = specs[i].ext_number;
      ext_ptrs[i] = &exts[i];
      files[i].n_extension = 1;
      files[i].extension = &ext_ptrs[i];
    }
    file_ptrs[i] = &files[i];
  }
  Google__Protobuf__FileDescriptorSet set = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
  set.n_file = n;
  set.file = file_ptrs;
  *len = google__protobuf__file_descriptor_set__get_packed_size(&set);
  uint8_t *buf = malloc(*len ? *len : 1);
  google__protobuf__file_descriptor_set__pack(&set, buf);
  return buf;
}

static tm_code new_from(const spec *specs, size_t n, const char *const *services, size_t n_services,
                        tm_reflection **out, tm_error *err, uint8_t **set) {
  size_t len;
  *set = make_set(specs, n, &len);
  return tm_reflection_new(*set, len, services, n_services, out, err);
}

Test(reflection_sets, diamond_of_imports_sends_each_file_once) {
  const spec specs[] = {
      {.name = "d.proto", .package = "p"},
      {.name = "b.proto", .package = "p", .deps = {"d.proto"}},
      {.name = "c.proto", .package = "p", .deps = {"d.proto"}},
      {.name = "a.proto", .package = "p", .deps = {"b.proto", "c.proto"}},
  };
  tm_reflection *r;
  uint8_t *set;
  tm_error err = {0};
  cr_assert_eq(new_from(specs, 4, NULL, 0, &r, &err, &set), TM_OK, "%s", err.msg);
  response_t *resp = ask_file_with(r, "a.proto");
  char names[8][128];
  size_t n = file_names(resp, names, 8);
  cr_assert_eq(n, 4);
  cr_assert_str_eq(names[0], "a.proto");
  cr_assert(has_name(names, n, "b.proto") && has_name(names, n, "c.proto") &&
            has_name(names, n, "d.proto"));
  free_response(resp);
  tm_reflection_destroy(r);
  free(set);
}

Test(reflection_sets, declared_extension_is_found_by_number) {
  const spec specs[] = {
      {.name = "m.proto", .package = "p", .message = "M"},
      {.name = "e.proto",
       .package = "q",
       .deps = {"m.proto"},
       .extendee = ".p.M",
       .ext_number = 100},
  };
  tm_reflection *r;
  uint8_t *set;
  tm_error err = {0};
  cr_assert_eq(new_from(specs, 2, NULL, 0, &r, &err, &set), TM_OK, "%s", err.msg);
  response_t *resp = ask_extension_with(r, "p.M", 100);
  char names[8][128];
  size_t n = file_names(resp, names, 8);
  cr_assert_eq(n, 2);
  cr_assert_str_eq(names[0], "e.proto");
  cr_assert_str_eq(names[1], "m.proto");
  free_response(resp);
  resp = ask_extension_numbers_with(r, "p.M");
  cr_assert_eq(resp->all_extension_numbers_response->n_extension_number, 1);
  cr_assert_eq(resp->all_extension_numbers_response->extension_number[0], 100);
  free_response(resp);
  tm_reflection_destroy(r);
  free(set);
}

Test(reflection_sets, missing_import_is_invalid) {
  const spec specs[] = {{.name = "a.proto", .package = "p", .deps = {"gone.proto"}}};
  tm_reflection *r = (tm_reflection *)1;
  uint8_t *set;
  tm_error err = {0};
  cr_assert_eq(new_from(specs, 1, NULL, 0, &r, &err, &set), TM_ERR_INVALID);
  cr_assert_null(r);
  cr_assert(strstr(err.msg, "gone.proto"), "%s", err.msg);
  free(set);
}

Test(reflection_sets, symbol_defined_twice_is_invalid) {
  const spec specs[] = {
      {.name = "a.proto", .package = "p", .message = "M"},
      {.name = "b.proto", .package = "p", .message = "M"},
  };
  tm_reflection *r;
  uint8_t *set;
  tm_error err = {0};
  cr_assert_eq(new_from(specs, 2, NULL, 0, &r, &err, &set), TM_ERR_INVALID);
  cr_assert(strstr(err.msg, "p.M"), "%s", err.msg);
  free(set);
}

Test(reflection_sets, exposed_service_missing_from_the_set_is_invalid) {
  const spec specs[] = {{.name = "a.proto", .package = "p", .message = "M"}};
  const char *const services[] = {"p.NoSuchService"};
  tm_reflection *r;
  uint8_t *set;
  tm_error err = {0};
  cr_assert_eq(new_from(specs, 1, services, 1, &r, &err, &set), TM_ERR_INVALID);
  cr_assert(strstr(err.msg, "p.NoSuchService"), "%s", err.msg);
  free(set);
}

Test(reflection_sets, descriptor_set_that_does_not_decode_is_invalid) {
  static const uint8_t junk[] = {0x0a, 0x7f, 0x01};
  tm_reflection *r;
  tm_error err = {0};
  cr_assert_eq(tm_reflection_new(junk, sizeof junk, NULL, 0, &r, &err), TM_ERR_INVALID);
  cr_assert_null(r);
}
