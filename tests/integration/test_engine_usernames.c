/* addUsernamesToCustomers through the engine against FerretDB: assignments in _id order, existing
 * names kept, falsy ones replaced, duplicates refused, dry run equal to the real run, two engines.
 */
#include "engine_support.h"

static const char *USERS[] = {"addUsernamesToCustomers", NULL};
static const char *CUSTOMERS[] = {"addUsernamesToCustomers", "addPrivacyToCustomers", NULL};

/* The username of customer id (an int _id), or "" when it has none or not a string. */
static void username_of(testdb *t, int id, char *out, size_t size) {
  mongoc_collection_t *c = coll_of(t, "customers");
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_INT32(&filter, "_id", id);
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &filter, NULL, NULL);
  const bson_t *doc;
  bson_iter_t it;
  out[0] = '\0';
  if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, "username") &&
      BSON_ITER_HOLDS_UTF8(&it)) {
    snprintf(out, size, "%s", bson_iter_utf8(&it, NULL));
  }
  mongoc_cursor_destroy(cur);
  bson_destroy(&filter);
  mongoc_collection_destroy(c);
}

static void expect_username(testdb *t, int id, const char *want) {
  char got[64];
  username_of(t, id, got, sizeof got);
  cr_assert_str_eq(got, want, "customer %d", id);
}

static bool has_unique_by_username(testdb *t) {
  mongoc_collection_t *c = coll_of(t, "customers");
  mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(c, NULL);
  const bson_t *doc;
  bool found = false;
  while (mongoc_cursor_next(cur, &doc)) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "name") &&
        strcmp(bson_iter_utf8(&it, NULL), "by_username") == 0 &&
        bson_iter_init_find(&it, doc, "unique") && bson_iter_as_bool(&it)) {
      found = true;
    }
  }
  mongoc_cursor_destroy(cur);
  mongoc_collection_destroy(c);
  return found;
}

Test(engine_usernames, customers_get_names_in_id_order_around_existing_ones) {
  testdb t;
  testdb_open(&t, "engu");
  const char *docs[] = {"{\"_id\": 5, \"name\": \"John\"}",
                        "{\"_id\": 1, \"name\": \"John\"}",
                        "{\"_id\": 2, \"name\": \"x\", \"username\": \"john\"}",
                        "{\"_id\": 3, \"name\": \"x\", \"username\": \"john2\"}",
                        "{\"_id\": 4, \"name\": \"John Smith-Jones the Third\"}",
                        "{\"_id\": 6, \"name\": \"JOHN\"}",
                        "{\"_id\": 7, \"name\": 42}",
                        "{\"_id\": 8, \"name\": [\"a\"]}",
                        "{\"_id\": 9}",
                        "{\"_id\": 10, \"name\": \"\\u00c9l\\u00e9onore\"}",
                        "{\"_id\": 11, \"name\": \"John\", \"username\": null}",
                        "{\"_id\": 12, \"name\": \"John\", \"username\": \"\"}",
                        "{\"_id\": 13, \"name\": \"John\", \"username\": false}",
                        "{\"_id\": 14, \"name\": \"John\", \"username\": 0}",
                        NULL};
  insert_docs(&t, "customers", docs);
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o;
  run_wait(e, CUSTOMERS, (tm_run_request){.batch_size = 3}, &o);
  const tm_status *st = status_of(&o, "addUsernamesToCustomers");
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED, "%s", st->error ? st->error : "");
  cr_assert_eq(st->total, 12);
  cr_assert_eq(st->updated, 12);
  expect_username(&t, 1, "john1");
  expect_username(&t, 2, "john");
  expect_username(&t, 3, "john2");
  expect_username(&t, 4, "johnsmithjon");
  expect_username(&t, 5, "john3");
  expect_username(&t, 6, "john4");
  expect_username(&t, 7, "user");
  expect_username(&t, 8, "user1");
  expect_username(&t, 9, "user2");
  expect_username(&t, 10, "lonore");
  expect_username(&t, 11, "john5");
  expect_username(&t, 12, "john6");
  expect_username(&t, 13, "john7");
  expect_username(&t, 14, "john8");
  cr_assert(has_unique_by_username(&t));
  cr_assert_eq(status_of(&o, "addPrivacyToCustomers")->updated, 14);
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}

/* Customers holding a duplicated username (named by `held` in the error) fail the migration
 * before it writes anything, and the chain stops there. */
static void duplicates_fail(const char **docs, const char *held) {
  testdb t;
  testdb_open(&t, "engu");
  insert_docs(&t, "customers", docs);
  char *before = snapshot(&t, "customers");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o;
  run_wait(e, CUSTOMERS, (tm_run_request){0}, &o);
  const tm_status *st = status_of(&o, "addUsernamesToCustomers");
  cr_assert_eq(st->state, TM_STATE_FAILED);
  cr_assert(strstr(st->error, "duplicate usernames"), "%s", st->error);
  cr_assert(strstr(st->error, held), "%s", st->error);
  cr_assert_eq(status_of(&o, "addPrivacyToCustomers")->state, TM_STATE_PENDING);
  char *after = snapshot(&t, "customers");
  cr_assert_str_eq(after, before);
  free(before);
  free(after);
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_usernames, existing_duplicates_fail_the_migration_write_nothing_and_stop_the_chain) {
  const char *docs[] = {"{\"_id\": 1, \"name\": \"A\", \"username\": \"dup\"}",
                        "{\"_id\": 2, \"name\": \"B\", \"username\": \"dup\"}",
                        "{\"_id\": 3, \"name\": \"C\"}", NULL};
  duplicates_fail(docs, "\"dup\"");
}

/* Two stored falsy usernames defer a plain index (FerretDB): the duplicates are then found by the
 * run's first pass over every username, still before anything is written. */
Test(engine_usernames, duplicates_beside_falsy_usernames_fail_before_anything_is_written) {
  const char *docs[] = {"{\"_id\": 1, \"name\": \"A\", \"username\": \"dup\"}",
                        "{\"_id\": 2, \"name\": \"B\", \"username\": null}",
                        "{\"_id\": 3, \"name\": \"C\", \"username\": \"\"}",
                        "{\"_id\": 4, \"name\": \"D\"}",
                        "{\"_id\": 5, \"name\": \"E\", \"username\": \"dup\"}",
                        NULL};
  duplicates_fail(docs, "\"dup\"");
}

Test(engine_usernames, duplicated_non_strings_beside_falsy_usernames_fail_too) {
  const char *docs[] = {"{\"_id\": 1, \"name\": \"A\", \"username\": true}",
                        "{\"_id\": 2, \"name\": \"B\", \"username\": null}",
                        "{\"_id\": 3, \"name\": \"C\", \"username\": null}",
                        "{\"_id\": 4, \"name\": \"D\"}",
                        "{\"_id\": 5, \"name\": \"E\", \"username\": true}",
                        NULL};
  duplicates_fail(docs, "true");
}

Test(engine_usernames, a_dry_run_plans_exactly_the_names_the_real_run_assigns) {
  testdb t;
  testdb_open(&t, "engu");
  insert_many_fmt(&t, "customers", 40, "{\"_id\": %d, \"name\": \"Mary %d\"}");
  const char *more[] = {"{\"_id\": 100, \"name\": \"Li\"}", "{\"_id\": 101, \"name\": \"Li\"}",
                        "{\"_id\": 102, \"name\": \"x\", \"username\": \"li1\"}", NULL};
  insert_docs(&t, "customers", more);
  char *before = snapshot(&t, "customers");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome dry, real;
  run_wait(e, USERS, (tm_run_request){.dry_run = true, .batch_size = 7}, &dry);
  char *after_dry = snapshot(&t, "customers");
  cr_assert_str_eq(after_dry, before);
  const tm_status *planned = status_of(&dry, "addUsernamesToCustomers");
  cr_assert(planned->dry_run);
  cr_assert_eq(planned->updated, 42);
  cr_assert_eq(planned->n_samples, TM_MAX_SAMPLES);
  run_wait(e, USERS, (tm_run_request){.batch_size = 7}, &real);
  cr_assert_eq(status_of(&real, "addUsernamesToCustomers")->updated, 42);
  for (size_t i = 0; i < planned->n_samples; i++) {
    int id;
    char name[64];
    cr_assert_eq(
        sscanf(planned->samples[i], "{ \"_id\" : %d, \"username\" : \"%63[^\"]\" }", &id, name), 2,
        "%s", planned->samples[i]);
    expect_username(&t, id, name);
  }
  expect_username(&t, 100, "li");
  expect_username(&t, 101, "li2");
  free(before);
  free(after_dry);
  outcome_clear(&dry);
  outcome_clear(&real);
  tm_engine_destroy(e);
  testdb_close(&t);
}

typedef struct {
  tm_engine *engine;
  outcome *out;
} runner_arg;

static void *run_in_thread(void *arg) {
  runner_arg *a = arg;
  run_wait(a->engine, USERS, (tm_run_request){.batch_size = 20}, a->out);
  return NULL;
}

Test(engine_usernames, two_engines_at_once_leave_no_duplicate_and_no_customer_behind) {
  testdb t;
  testdb_open(&t, "engu");
  insert_many_fmt(&t, "customers", 150, "{\"_id\": %d, \"name\": \"Sam\", \"k\": %d}");
  tm_store *other;
  tm_error err;
  cr_assert_eq(tm_store_new(tm_test_mongodb_uri(), tm_store_database(t.store), &other, &err),
               TM_OK);
  tm_engine *a = new_engine(t.store, "replica-a", 30000);
  tm_engine *b = new_engine(other, "replica-b", 30000);
  outcome oa, ob;
  runner_arg ra = {a, &oa}, rb = {b, &ob};
  pthread_t ta, tb;
  pthread_create(&ta, NULL, run_in_thread, &ra);
  pthread_create(&tb, NULL, run_in_thread, &rb);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  cr_assert_eq(status_of(&oa, "addUsernamesToCustomers")->state, TM_STATE_SUCCEEDED);
  cr_assert_eq(status_of(&ob, "addUsernamesToCustomers")->state, TM_STATE_SUCCEEDED);
  cr_assert_eq(count_where(&t, "customers", "{\"username\": {\"$type\": \"string\"}}"), 150);
  expect_username(&t, 0, "sam");
  expect_username(&t, 1, "sam1");
  expect_username(&t, 149, "sam149");
  cr_assert(has_unique_by_username(&t));
  outcome_clear(&oa);
  outcome_clear(&ob);
  tm_engine_destroy(a);
  tm_engine_destroy(b);
  tm_store_destroy(other);
  testdb_close(&t);
}
