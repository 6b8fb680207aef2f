/* Controls: range checks name the field, changes say what changed, the stored form round-trips;
 * and the replication lag a majority write waits for, from replSetGetStatus replies. */
#include <criterion/criterion.h>
#include <string.h>

#include "store/controls.h"
#include "store/replication.h"

Test(controls, out_of_range_values_are_refused_by_name) {
  tm_error err;
  tm_controls_change ch = {.rate = true, .v.max_docs_per_s = -1};
  cr_assert_eq(tm_controls_check(&ch, &err), TM_ERR_INVALID);
  cr_assert(strstr(err.msg, "max_documents_per_second") != NULL, "%s", err.msg);
  ch = (tm_controls_change){.batch_size = true, .v.batch_size = 0};
  cr_assert_eq(tm_controls_check(&ch, &err), TM_ERR_INVALID);
  cr_assert(strstr(err.msg, "batch_size must be 1..10000, got 0") != NULL, "%s", err.msg);
  ch = (tm_controls_change){.failed = true, .v.max_failed = 10001};
  cr_assert_eq(tm_controls_check(&ch, &err), TM_ERR_INVALID);
  ch = (tm_controls_change){.write = true, .v.max_write_ms = -5};
  cr_assert_eq(tm_controls_check(&ch, &err), TM_ERR_INVALID);
  cr_assert(strstr(err.msg, "max_write_latency_ms") != NULL, "%s", err.msg);
  ch = (tm_controls_change){.lag = true, .rate = true, .v = {.max_lag_ms = 0, .max_docs_per_s = 0}};
  cr_assert_eq(tm_controls_check(&ch, &err), TM_OK, "0 turns a limit off");
}

Test(controls, a_change_says_what_changed_and_skips_what_did_not) {
  tm_controls c = {.batch_size = 500, .current_batch_size = 125, .max_write_ms = 5000};
  tm_controls_change ch = {.batch_size = true,
                           .rate = true,
                           .write = true,
                           .v = {.batch_size = 100, .max_docs_per_s = 50, .max_write_ms = 5000}};
  char changes[256];
  cr_assert_eq(tm_controls_apply(&c, &ch, changes, sizeof changes), 2);
  cr_assert_str_eq(changes, "batch_size 500 -> 100; max_documents_per_second 0 -> 50");
  cr_assert_eq(c.current_batch_size, 100);
  cr_assert_eq(tm_controls_apply(&c, &ch, changes, sizeof changes), 0);
  cr_assert_str_eq(changes, "");
}

Test(controls, the_stored_form_round_trips) {
  tm_controls c = {.batch_size = 200,
                   .current_batch_size = 50,
                   .max_docs_per_s = 12.5,
                   .max_lag_ms = 1500,
                   .max_write_ms = 800,
                   .max_failed = 7};
  bson_t doc = BSON_INITIALIZER;
  tm_controls_append(&doc, "controls", &c);
  bson_iter_t it;
  cr_assert(bson_iter_init_find(&it, &doc, "controls"));
  tm_controls back = {0};
  tm_controls_parse(&it, &back);
  cr_assert_eq(memcmp(&c, &back, sizeof c), 0);
  bson_destroy(&doc);
}

static bson_t *status_of(const char *json) {
  bson_error_t err;
  bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &err);
  cr_assert_not_null(b, "%s", err.message);
  return b;
}

#define MEMBER(state, ms) \
  "{\"stateStr\": \"" state "\", \"health\": 1, \"optimeDate\": {\"$date\": " #ms "}}"

Test(replication, three_members_wait_for_the_freshest_secondary) {
  bson_t *s = status_of("{\"writeMajorityCount\": 2, \"members\": [" MEMBER(
      "PRIMARY", 100000) "," MEMBER("SECONDARY", 99000) "," MEMBER("SECONDARY", 40000) "]}");
  int64_t lag = -1;
  cr_assert(tm_replication_lag_of(s, &lag));
  cr_assert_eq(lag, 1000, "a lagging third member does not hold majority writes back: %lld",
               (long long)lag);
  bson_destroy(s);
}

Test(replication, five_members_wait_for_the_second_freshest) {
  bson_t *s = status_of(
      "{\"members\": [" MEMBER("SECONDARY", 97000) "," MEMBER("PRIMARY", 100000) "," MEMBER(
          "SECONDARY", 99500) "," MEMBER("SECONDARY", 10000) "," MEMBER("SECONDARY", 20000) "]}");
  int64_t lag = -1;
  cr_assert(tm_replication_lag_of(s, &lag)); /* no writeMajorityCount: 5 / 2 + 1 = 3 */
  cr_assert_eq(lag, 3000, "%lld", (long long)lag);
  bson_destroy(s);
}

Test(replication, no_primary_or_too_few_healthy_secondaries_is_unknown) {
  int64_t lag = -1;
  bson_t *s = status_of("{\"members\": [" MEMBER("SECONDARY", 1) "," MEMBER("SECONDARY", 2) "]}");
  cr_assert_not(tm_replication_lag_of(s, &lag));
  bson_destroy(s);
  s = status_of("{\"writeMajorityCount\": 2, \"members\": [" MEMBER(
      "PRIMARY",
      100000) ","
              "{\"stateStr\": \"SECONDARY\", \"health\": 0, \"optimeDate\": {\"$date\": 99999}}]}");
  cr_assert_not(tm_replication_lag_of(s, &lag));
  bson_destroy(s);
  s = status_of("{\"writeMajorityCount\": 1, \"members\": [" MEMBER("PRIMARY", 5) "]}");
  cr_assert(tm_replication_lag_of(s, &lag));
  cr_assert_eq(lag, 0, "a one-member set has no lag");
  bson_destroy(s);
}
