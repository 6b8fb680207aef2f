/* The constant backfills through the engine (addStatusToStores, ensureStoreFields,
 * addPrivacyToCustomers) against FerretDB: every document compared whole with the expected one. */
#include "engine_support.h"

static const char *STATUS[] = {"addStatusToStores", NULL};
static const char *ENSURE[] = {"ensureStoreFields", NULL};
static const char *STORES[] = {"addStatusToStores", "ensureStoreFields", NULL};
static const char *PRIVACY[] = {"addPrivacyToCustomers", NULL};

/* Loads input into collection and want into "expected", runs names, and compares whole: once with
 * each write path (FerretDB's automatic one selects by _id alone; the migration's filter in every
 * write is what real MongoDB gets). */
static void expect_run_with(const char *collection, const char **names, const char **input,
                            const char **want, int batch_size, tm_write_filter filter) {
  testdb t;
  testdb_open(&t, "engc");
  insert_docs(&t, collection, input);
  insert_docs(&t, "expected", want);
  tm_engine *e = new_engine_with(t.store, "test-a", 30000, filter);
  outcome o;
  run_wait(e, names, (tm_run_request){.batch_size = batch_size}, &o);
  cr_assert_eq(o.code, TM_OK, "%s", o.err);
  for (size_t i = 0; i < o.list.n; i++) {
    cr_assert_eq(o.list.items[i].state, TM_STATE_SUCCEEDED, "%s: %s", o.list.items[i].name,
                 o.list.items[i].error ? o.list.items[i].error : "");
  }
  char *got = snapshot(&t, collection), *expected = snapshot(&t, "expected");
  cr_assert_str_eq(got, expected);
  free(got);
  free(expected);
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}

static void expect_run_gives(const char *collection, const char **names, const char **input,
                             const char **want, int batch_size) {
  expect_run_with(collection, names, input, want, batch_size, TM_WRITE_FILTER_AUTO);
  expect_run_with(collection, names, input, want, batch_size, TM_WRITE_FILTER_MIGRATION);
}

Test(engine_constants, typical_stores_get_status_pending_and_phone_verified_false) {
  const char *input[] = {
      "{\"_id\": 1, \"name\": \"Bakery\", \"phone\": \"+33 1 23\"}",
      "{\"_id\": 2, \"name\": \"Books\", \"status\": \"open\"}",
      "{\"_id\": 3, \"name\": \"Cafe\", \"phoneNumberVerified\": true}",
      "{\"_id\": 4, \"name\": \"Deli\", \"status\": \"closed\", \"phoneNumberVerified\": true}",
      NULL};
  const char *want[] = {
      "{\"_id\": 1, \"name\": \"Bakery\", \"phone\": \"+33 1 23\", \"status\": \"pending\", "
      "\"phoneNumberVerified\": false}",
      "{\"_id\": 2, \"name\": \"Books\", \"status\": \"open\", \"phoneNumberVerified\": false}",
      "{\"_id\": 3, \"name\": \"Cafe\", \"phoneNumberVerified\": true, \"status\": \"pending\"}",
      "{\"_id\": 4, \"name\": \"Deli\", \"status\": \"closed\", \"phoneNumberVerified\": true}",
      NULL};
  expect_run_gives("stores", STORES, input, want, 0);
}

Test(engine_constants, ensure_store_fields_alone_sets_only_the_missing_ones) {
  const char *input[] = {"{\"_id\": 1}", "{\"_id\": 2, \"status\": \"open\"}",
                         "{\"_id\": 3, \"phoneNumberVerified\": true}", NULL};
  /* New fields arrive in lexicographic order (MongoDB 5.0+ update semantics; FerretDB too). */
  const char *want[] = {"{\"_id\": 1, \"phoneNumberVerified\": false, \"status\": \"pending\"}",
                        "{\"_id\": 2, \"status\": \"open\", \"phoneNumberVerified\": false}",
                        "{\"_id\": 3, \"phoneNumberVerified\": true, \"status\": \"pending\"}",
                        NULL};
  expect_run_gives("stores", ENSURE, input, want, 0);
}

Test(engine_constants, null_empty_false_and_zero_values_are_kept) {
  const char *input[] = {"{\"_id\": 1, \"status\": null, \"phoneNumberVerified\": false}",
                         "{\"_id\": 2, \"status\": \"\", \"phoneNumberVerified\": null}",
                         "{\"_id\": 3, \"status\": 0, \"phoneNumberVerified\": 0}",
                         "{\"_id\": 4, \"status\": false}",
                         "{\"_id\": 5, \"status\": [], \"phoneNumberVerified\": {}}",
                         NULL};
  const char *want[] = {"{\"_id\": 1, \"status\": null, \"phoneNumberVerified\": false}",
                        "{\"_id\": 2, \"status\": \"\", \"phoneNumberVerified\": null}",
                        "{\"_id\": 3, \"status\": 0, \"phoneNumberVerified\": 0}",
                        "{\"_id\": 4, \"status\": false, \"phoneNumberVerified\": false}",
                        "{\"_id\": 5, \"status\": [], \"phoneNumberVerified\": {}}",
                        NULL};
  expect_run_gives("stores", STORES, input, want, 2);
}

Test(engine_constants, untouched_fields_of_every_type_survive_whole) {
  const char *input[] = {
      "{\"_id\": {\"$oid\": \"65f000000000000000000001\"}, \"n\": {\"$numberLong\": \"7\"}, "
      "\"d\": {\"$numberDouble\": \"1.5\"}, "
      "\"when\": {\"$date\": {\"$numberLong\": \"1700000000000\"}}, \"nested\": {\"a\": [1, "
      "{\"b\": null}]}, \"bin\": {\"$binary\": {\"base64\": \"AQI=\", \"subType\": \"00\"}}, "
      "\"s\": \"\\u00e9\\u4e2d\"}",
      NULL};
  const char *want[] = {
      "{\"_id\": {\"$oid\": \"65f000000000000000000001\"}, \"n\": {\"$numberLong\": \"7\"}, "
      "\"d\": {\"$numberDouble\": \"1.5\"}, "
      "\"when\": {\"$date\": {\"$numberLong\": \"1700000000000\"}}, \"nested\": {\"a\": [1, "
      "{\"b\": null}]}, \"bin\": {\"$binary\": {\"base64\": \"AQI=\", \"subType\": \"00\"}}, "
      "\"s\": \"\\u00e9\\u4e2d\", \"isPrivate\": true}",
      NULL};
  expect_run_gives("customers", PRIVACY, input, want, 0);
}

Test(engine_constants, documents_inserted_out_of_id_order_are_all_done_in_id_order) {
  testdb t;
  testdb_open(&t, "engc");
  const char *input[] = {"{\"_id\": 9}", "{\"_id\": 3}", "{\"_id\": 7, \"status\": \"x\"}",
                         "{\"_id\": 1}", "{\"_id\": 5}", NULL};
  insert_docs(&t, "stores", input);
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o;
  run_wait(e, STATUS, (tm_run_request){.batch_size = 2}, &o);
  const tm_status *st = status_of(&o, "addStatusToStores");
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED, "%s", st->error ? st->error : "");
  cr_assert_eq(st->total, 4);
  cr_assert_eq(st->processed, 4);
  cr_assert_eq(st->updated, 4);
  cr_assert_str_eq(st->cursor, "{ \"$numberInt\" : \"9\" }");
  cr_assert_eq(count_where(&t, "stores", "{\"status\": {\"$exists\": false}}"), 0);
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_constants, ids_of_mixed_types_are_all_reached_in_small_batches) {
  const char *input[] = {"{\"_id\": \"b\"}",
                         "{\"_id\": 2}",
                         "{\"_id\": {\"$oid\": \"65f000000000000000000001\"}}",
                         "{\"_id\": 1.5}",
                         "{\"_id\": {\"k\": 1}}",
                         "{\"_id\": \"a\"}",
                         "{\"_id\": true}",
                         "{\"_id\": {\"$date\": {\"$numberLong\": \"0\"}}}",
                         NULL};
  const char *want[] = {"{\"_id\": \"b\", \"isPrivate\": true}",
                        "{\"_id\": 2, \"isPrivate\": true}",
                        "{\"_id\": {\"$oid\": \"65f000000000000000000001\"}, \"isPrivate\": true}",
                        "{\"_id\": 1.5, \"isPrivate\": true}",
                        "{\"_id\": {\"k\": 1}, \"isPrivate\": true}",
                        "{\"_id\": \"a\", \"isPrivate\": true}",
                        "{\"_id\": true, \"isPrivate\": true}",
                        "{\"_id\": {\"$date\": {\"$numberLong\": \"0\"}}, \"isPrivate\": true}",
                        NULL};
  expect_run_gives("customers", PRIVACY, input, want, 1);
}

Test(engine_constants, an_empty_collection_succeeds_with_nothing_to_do) {
  testdb t;
  testdb_open(&t, "engc");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o;
  run_wait(e, STORES, (tm_run_request){0}, &o);
  cr_assert_eq(o.code, TM_OK, "%s", o.err);
  for (size_t i = 0; i < o.list.n; i++) {
    cr_assert_eq(o.list.items[i].state, TM_STATE_SUCCEEDED);
    cr_assert_eq(o.list.items[i].total, 0);
    cr_assert_eq(o.list.items[i].processed, 0);
    cr_assert_eq(o.list.items[i].updated, 0);
  }
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_constants, everything_already_done_changes_nothing) {
  const char *input[] = {"{\"_id\": 1, \"status\": \"open\", \"phoneNumberVerified\": true}",
                         "{\"_id\": 2, \"status\": null, \"phoneNumberVerified\": false}", NULL};
  testdb t;
  testdb_open(&t, "engc");
  insert_docs(&t, "stores", input);
  char *before = snapshot(&t, "stores");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o;
  run_wait(e, STORES, (tm_run_request){0}, &o);
  for (size_t i = 0; i < o.list.n; i++) {
    cr_assert_eq(o.list.items[i].state, TM_STATE_SUCCEEDED);
    cr_assert_eq(o.list.items[i].updated, 0);
  }
  char *after = snapshot(&t, "stores");
  cr_assert_str_eq(after, before);
  free(before);
  free(after);
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_constants, a_second_run_with_rerun_changes_nothing) {
  testdb t;
  testdb_open(&t, "engc");
  insert_many_fmt(&t, "stores", 30, "{\"_id\": %d, \"k\": %d}");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o1, o2;
  run_wait(e, STORES, (tm_run_request){.batch_size = 7}, &o1);
  char *first = snapshot(&t, "stores");
  run_wait(e, STORES, (tm_run_request){.batch_size = 7, .rerun = true}, &o2);
  char *second = snapshot(&t, "stores");
  cr_assert_str_eq(second, first);
  for (size_t i = 0; i < o2.list.n; i++) {
    cr_assert_eq(o2.list.items[i].state, TM_STATE_SUCCEEDED);
    cr_assert_not(o2.list.items[i].skipped);
    cr_assert_eq(o2.list.items[i].updated, 0);
  }
  free(first);
  free(second);
  outcome_clear(&o1);
  outcome_clear(&o2);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_constants, batch_sizes_one_and_ten_thousand_give_the_same_documents) {
  char *results[2];
  int sizes[2] = {1, 10000};
  for (int k = 0; k < 2; k++) {
    testdb t;
    testdb_open(&t, "engc");
    insert_many_fmt(&t, "stores", 40,
                    "{\"_id\": %d, \"status\": {\"$numberInt\": \"%d\"}, \"x\": %d}");
    const char *more[] = {"{\"_id\": 100}", "{\"_id\": 101, \"phoneNumberVerified\": true}", NULL};
    insert_docs(&t, "stores", more);
    tm_engine *e = new_engine(t.store, "test-a", 30000);
    outcome o;
    run_wait(e, STORES, (tm_run_request){.batch_size = sizes[k]}, &o);
    for (size_t i = 0; i < o.list.n; i++) cr_assert_eq(o.list.items[i].state, TM_STATE_SUCCEEDED);
    cr_assert_eq(status_of(&o, "ensureStoreFields")->updated, 41);
    results[k] = snapshot(&t, "stores");
    outcome_clear(&o);
    tm_engine_destroy(e);
    testdb_close(&t);
  }
  cr_assert_str_eq(results[0], results[1]);
  free(results[0]);
  free(results[1]);
}

Test(engine_constants, batches_spanning_id_types_and_missing_sets_set_exactly_what_is_missing) {
  const char *input[] = {"{\"_id\": 1}",
                         "{\"_id\": 2, \"status\": \"open\"}",
                         "{\"_id\": \"a\", \"phoneNumberVerified\": true}",
                         "{\"_id\": \"b\"}",
                         "{\"_id\": {\"$oid\": \"65f000000000000000000001\"}, \"status\": null}",
                         "{\"_id\": true, \"status\": \"x\", \"phoneNumberVerified\": false}",
                         NULL};
  const char *want[] = {"{\"_id\": 1, \"phoneNumberVerified\": false, \"status\": \"pending\"}",
                        "{\"_id\": 2, \"status\": \"open\", \"phoneNumberVerified\": false}",
                        "{\"_id\": \"a\", \"phoneNumberVerified\": true, \"status\": \"pending\"}",
                        "{\"_id\": \"b\", \"phoneNumberVerified\": false, \"status\": \"pending\"}",
                        "{\"_id\": {\"$oid\": \"65f000000000000000000001\"}, \"status\": null, "
                        "\"phoneNumberVerified\": false}",
                        "{\"_id\": true, \"status\": \"x\", \"phoneNumberVerified\": false}",
                        NULL};
  expect_run_gives("stores", ENSURE, input, want, 3);
}
