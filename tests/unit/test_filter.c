/* The "missing" rules, evaluated in memory exactly as the query language evaluates them. */
#include <criterion/criterion.h>

#include "migrations/filter.h"

static const tm_field absent = {.field = "f", .default_json = "true", .missing = TM_MISSING_ABSENT};
static const tm_field falsy = {.field = "f", .derived_from = "name", .missing = TM_MISSING_FALSY};

static bool misses(const char *json, const tm_field *field) {
  bson_error_t e;
  bson_t *doc = bson_new_from_json((const uint8_t *)json, -1, &e);
  cr_assert_not_null(doc, "%s", e.message);
  bool r = tm_filter_doc_misses(doc, field);
  bson_destroy(doc);
  return r;
}

Test(filter, an_absent_field_is_missing) { cr_assert(misses("{\"a\": 1}", &absent)); }
Test(filter, null_false_and_empty_exist_for_constants) {
  cr_assert_not(misses("{\"f\": null}", &absent));
  cr_assert_not(misses("{\"f\": false}", &absent));
  cr_assert_not(misses("{\"f\": \"\"}", &absent));
  cr_assert_not(misses("{\"f\": 0}", &absent));
}
Test(filter, undefined_counts_as_absent) {
  cr_assert(misses("{\"f\": {\"$undefined\": true}}", &absent));
}
Test(filter, falsy_values_are_missing_for_usernames) {
  cr_assert(misses("{}", &falsy));
  cr_assert(misses("{\"f\": null}", &falsy));
  cr_assert(misses("{\"f\": \"\"}", &falsy));
  cr_assert(misses("{\"f\": false}", &falsy));
  cr_assert(misses("{\"f\": 0}", &falsy));
  cr_assert(misses("{\"f\": {\"$numberLong\": \"0\"}}", &falsy));
  cr_assert(misses("{\"f\": -0.0}", &falsy));
  cr_assert(misses("{\"f\": {\"$numberDecimal\": \"0.00\"}}", &falsy));
  cr_assert(misses("{\"f\": {\"$numberDouble\": \"NaN\"}}", &falsy));
}
Test(filter, truthy_values_are_kept_for_usernames) {
  cr_assert_not(misses("{\"f\": \"john\"}", &falsy));
  cr_assert_not(misses("{\"f\": 1}", &falsy));
  cr_assert_not(misses("{\"f\": true}", &falsy));
  cr_assert_not(misses("{\"f\": []}", &falsy));
  cr_assert_not(misses("{\"f\": {}}", &falsy));
  cr_assert_not(misses("{\"f\": {\"$numberDecimal\": \"0.01\"}}", &falsy));
}

Test(filter, the_query_for_one_field_is_a_plain_or) {
  const tm_migration m = {.name = "x", .collection = "c", .fields = &absent, .n_fields = 1};
  tm_profile_view caps = {.type_undefined = true};
  bson_t q = BSON_INITIALIZER;
  tm_filter_build(&m, &caps, &q);
  char *json = bson_as_relaxed_extended_json(&q, NULL);
  cr_assert_str_eq(json,
                   "{ \"$or\" : [ { \"f\" : { \"$exists\" : false } }, { \"f\" : { \"$type\" : "
                   "\"undefined\" } } ] }");
  bson_free(json);
  bson_destroy(&q);
}

Test(filter, without_undefined_support_the_type_clause_is_dropped) {
  const tm_migration m = {.name = "x", .collection = "c", .fields = &absent, .n_fields = 1};
  tm_profile_view caps = {.type_undefined = false};
  bson_t q = BSON_INITIALIZER;
  tm_filter_build(&m, &caps, &q);
  char *json = bson_as_relaxed_extended_json(&q, NULL);
  cr_assert_str_eq(json, "{ \"$or\" : [ { \"f\" : { \"$exists\" : false } } ] }");
  bson_free(json);
  bson_destroy(&q);
}
