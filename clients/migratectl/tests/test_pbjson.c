/* The proto3 JSON printer on field kinds our contract does not use (the e2e tests compare the
 * contract's messages with grpcurl's output). Expected texts come from Python protobuf's
 * json_format.MessageToJson for the same messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "pb.h"
#include "pbjson.h"

/* The message as compact JSON; the caller frees. */
static char *json_of(const ProtobufCMessage *msg, int indent) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  cr_assert_not_null(out);
  tm_ctl_json_print(out, msg, indent);
  fclose(out);
  return text;
}

static void expect_json(const ProtobufCMessage *msg, const char *expected) {
  char *got = json_of(msg, -1);
  cr_expect_str_eq(got, expected);
  free(got);
}

Test(pbjson,
     proto2_optional_fields_print_when_set_with_64_bit_integers_as_strings_and_bytes_as_base64) {
  Google__Protobuf__UninterpretedOption__NamePart part =
      GOOGLE__PROTOBUF__UNINTERPRETED_OPTION__NAME_PART__INIT;
  part.name_part = "a.b";
  part.is_extension = 0;
  Google__Protobuf__UninterpretedOption__NamePart *parts[] = {&part};
  Google__Protobuf__UninterpretedOption u = GOOGLE__PROTOBUF__UNINTERPRETED_OPTION__INIT;
  u.n_name = 1;
  u.name = parts;
  u.identifier_value = "x";
  u.has_positive_int_value = 1;
  u.positive_int_value = UINT64_MAX;
  u.has_negative_int_value = 1;
  u.negative_int_value = -5;
  u.has_double_value = 1;
  u.double_value = 0.1;
  u.has_string_value = 1;
  u.string_value = (ProtobufCBinaryData){4, (uint8_t *)"\x00\xff" "ab"};
  expect_json(&u.base,
              "{\"name\":[{\"namePart\":\"a.b\",\"isExtension\":false}],\"identifierValue\":\"x\","
              "\"positiveIntValue\":\"18446744073709551615\",\"negativeIntValue\":\"-5\","
              "\"doubleValue\":0.1,\"stringValue\":\"AP9hYg==\"}");
}

Test(pbjson, a_set_proto2_field_prints_even_when_it_holds_zero) {
  Google__Protobuf__UninterpretedOption u = GOOGLE__PROTOBUF__UNINTERPRETED_OPTION__INIT;
  u.has_positive_int_value = 1;
  u.has_double_value = 1;
  u.double_value = -2.5;
  u.has_string_value = 1;
  u.string_value = (ProtobufCBinaryData){3, (uint8_t *)"abc"};
  expect_json(&u.base,
              "{\"positiveIntValue\":\"0\",\"doubleValue\":-2.5,\"stringValue\":\"YWJj\"}");
}

Test(pbjson, doubles_print_shortest_and_non_finite_ones_as_strings) {
  Google__Protobuf__UninterpretedOption u = GOOGLE__PROTOBUF__UNINTERPRETED_OPTION__INIT;
  u.has_double_value = 1;
  u.double_value = 1e300;
  expect_json(&u.base, "{\"doubleValue\":1e+300}");
  u.double_value = NAN;
  expect_json(&u.base, "{\"doubleValue\":\"NaN\"}");
  u.double_value = -INFINITY;
  expect_json(&u.base, "{\"doubleValue\":\"-Infinity\"}");
  u.double_value = 1.0 / 3.0;
  expect_json(&u.base, "{\"doubleValue\":0.3333333333333333}");
}

Test(pbjson, doubles_use_plain_decimals_between_1e_minus_6_and_1e21_as_grpcurl_does) {
  static const struct {
    double v;
    const char *json;
  } cases[] = {
      {50, "{\"doubleValue\":50}"},
      {-2500, "{\"doubleValue\":-2500}"},
      {123.456, "{\"doubleValue\":123.456}"},
      {0.000001, "{\"doubleValue\":0.000001}"},
      {1e-7, "{\"doubleValue\":1e-7}"},
      {1.5e-10, "{\"doubleValue\":1.5e-10}"},
      {1e20, "{\"doubleValue\":100000000000000000000}"},
      {1e21, "{\"doubleValue\":1e+21}"},
      {0.1 + 0.2, "{\"doubleValue\":0.30000000000000004}"},
      {5e-324, "{\"doubleValue\":5e-324}"},
      {1.7976931348623157e308, "{\"doubleValue\":1.7976931348623157e+308}"},
  };
  Google__Protobuf__UninterpretedOption u = GOOGLE__PROTOBUF__UNINTERPRETED_OPTION__INIT;
  u.has_double_value = 1;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    u.double_value = cases[i].v;
    expect_json(&u.base, cases[i].json);
  }
}

Test(pbjson, base64_pads_one_and_two_trailing_bytes) {
  Google__Protobuf__UninterpretedOption u = GOOGLE__PROTOBUF__UNINTERPRETED_OPTION__INIT;
  u.has_string_value = 1;
  u.string_value = (ProtobufCBinaryData){2, (uint8_t *)"ab"};
  expect_json(&u.base, "{\"stringValue\":\"YWI=\"}");
  u.string_value = (ProtobufCBinaryData){1, (uint8_t *)"a"};
  expect_json(&u.base, "{\"stringValue\":\"YQ==\"}");
  u.string_value = (ProtobufCBinaryData){0, NULL};
  expect_json(&u.base, "{\"stringValue\":\"\"}");
}

Test(pbjson, enums_print_by_name_and_field_names_in_lower_camel_case) {
  Google__Protobuf__FieldDescriptorProto f = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__INIT;
  f.name = "snake_case_name";
  f.has_number = 1;
  f.number = 3;
  f.has_label = 1;
  f.label = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL;
  f.has_type = 1;
  f.type = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING;
  f.json_name = "x";
  expect_json(&f.base,
              "{\"name\":\"snake_case_name\",\"number\":3,\"label\":\"LABEL_OPTIONAL\","
              "\"type\":\"TYPE_STRING\",\"jsonName\":\"x\"}");
}

Test(pbjson, an_enum_value_newer_than_the_descriptors_prints_as_its_number) {
  tm_ctl_pb_status st = TWIGZ__MIGRATIONS__V1__MIGRATION_STATUS__INIT;
  st.name = "m";
  st.state = (Twigz__Migrations__V1__MigrationState)42;
  expect_json(&st.base, "{\"name\":\"m\",\"state\":42}");
}

Test(pbjson, proto3_fields_holding_defaults_are_omitted) {
  tm_ctl_pb_status st = TWIGZ__MIGRATIONS__V1__MIGRATION_STATUS__INIT;
  expect_json(&st.base, "{}");
  st.total = -1;
  st.skipped = 1;
  expect_json(&st.base, "{\"total\":\"-1\",\"skipped\":true}");
}

Test(pbjson, timestamps_are_rfc3339_in_utc_with_0_3_6_or_9_fraction_digits) {
  static const struct {
    int64_t seconds;
    int32_t nanos;
    const char *json;
  } cases[] = {
      {0, 0, "\"1970-01-01T00:00:00Z\""},
      {1, 5000, "\"1970-01-01T00:00:01.000005Z\""},
      {1700000000, 123000000, "\"2023-11-14T22:13:20.123Z\""},
      {-1, 999999999, "\"1969-12-31T23:59:59.999999999Z\""},
      {253402300799, 1, "\"9999-12-31T23:59:59.000000001Z\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = cases[i].seconds;
    ts.nanos = cases[i].nanos;
    expect_json(&ts.base, cases[i].json);
  }
}

Test(pbjson, a_timestamp_out_of_range_prints_its_fields_instead) {
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  ts.seconds = 253402300800; /* year 10000 */
  expect_json(&ts.base, "{\"seconds\":\"253402300800\"}");
}

Test(pbjson, strings_are_escaped_and_invalid_utf8_becomes_a_replacement_character) {
  tm_ctl_pb_status st = TWIGZ__MIGRATIONS__V1__MIGRATION_STATUS__INIT;
  st.name = "q\"b\\n\n\t\x01 Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x98\x80";
  expect_json(&st.base,
              "{\"name\":\"q\\\"b\\\\n\\n\\t\\u0001 Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x98\x80\"}");
  st.name = "bad \xff, overlong \xc0\xaf, surrogate \xed\xa0\x80, cut \xe2\x82";
  expect_json(&st.base,
              "{\"name\":\"bad \\ufffd, overlong \\ufffd\\ufffd, surrogate "
              "\\ufffd\\ufffd\\ufffd, cut \\ufffd\\ufffd\"}");
}

Test(pbjson, pretty_printing_indents_nested_messages_and_arrays) {
  Twigz__Migrations__V1__FieldBackfill field = TWIGZ__MIGRATIONS__V1__FIELD_BACKFILL__INIT;
  field.field = "status";
  field.default_value = "\"pending\"";
  Twigz__Migrations__V1__FieldBackfill *fields[] = {&field};
  Twigz__Migrations__V1__Migration m = TWIGZ__MIGRATIONS__V1__MIGRATION__INIT;
  m.name = "addStatusToStores";
  m.n_fields = 1;
  m.fields = fields;
  Twigz__Migrations__V1__Migration *ms[] = {&m};
  tm_ctl_pb_list_response list = TWIGZ__MIGRATIONS__V1__LIST_RESPONSE__INIT;
  list.n_migrations = 1;
  list.migrations = ms;
  char *got = json_of(&list.base, 2);
  cr_expect_str_eq(got,
                   "{\n"
                   "  \"migrations\": [\n"
                   "    {\n"
                   "      \"name\": \"addStatusToStores\",\n"
                   "      \"fields\": [\n"
                   "        {\n"
                   "          \"field\": \"status\",\n"
                   "          \"defaultValue\": \"\\\"pending\\\"\"\n"
                   "        }\n"
                   "      ]\n"
                   "    }\n"
                   "  ]\n"
                   "}");
  free(got);
}

Test(pbjson, wrappers_print_as_their_bare_value_and_a_present_zero_prints) {
  Google__Protobuf__DoubleValue rate = GOOGLE__PROTOBUF__DOUBLE_VALUE__INIT;
  rate.value = 0.5;
  Google__Protobuf__Int64Value lag = GOOGLE__PROTOBUF__INT64_VALUE__INIT;
  Google__Protobuf__Int64Value failed = GOOGLE__PROTOBUF__INT64_VALUE__INIT;
  failed.value = 10;
  Google__Protobuf__Int32Value batch = GOOGLE__PROTOBUF__INT32_VALUE__INIT;
  batch.value = 100;
  Twigz__Migrations__V1__TuneRequest t = TWIGZ__MIGRATIONS__V1__TUNE_REQUEST__INIT;
  t.name = "m";
  t.batch_size = &batch;
  t.max_documents_per_second = &rate;
  t.max_replication_lag_ms = &lag;
  t.max_failed_documents = &failed;
  expect_json(&t.base,
              "{\"name\":\"m\",\"batchSize\":100,\"maxDocumentsPerSecond\":0.5,"
              "\"maxReplicationLagMs\":\"0\",\"maxFailedDocuments\":\"10\"}");
  /* A whole double prints as grpcurl prints it (Python would add ".0"). */
  rate.value = 50;
  Twigz__Migrations__V1__RunRequest r = TWIGZ__MIGRATIONS__V1__RUN_REQUEST__INIT;
  r.max_documents_per_second = &rate;
  expect_json(&r.base, "{\"maxDocumentsPerSecond\":50}");
}
