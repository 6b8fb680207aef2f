/* The lease across engines (replicas) on one database: one holder at a time, waiting, takeover of
 * a dead holder's migration, a holder that loses its lease stops writing, shutdown releases. */
#include <sys/time.h>
#include <unistd.h>

#include "../support/proxy.h"
#include "engine_support.h"

static const char *PRIVACY[] = {"addPrivacyToCustomers", NULL};

static int64_t now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* A second store on t's database: another replica's connection pool. */
static tm_store *same_database(testdb *t) {
  tm_store *store;
  tm_error err;
  cr_assert_eq(tm_store_new(tm_test_mongodb_uri(), tm_store_database(t->store), &store, &err),
               TM_OK, "%s", err.msg);
  return store;
}

/* A lease generation held by someone else, expiring at expires_at. */
static void insert_lease(testdb *t, const char *name, int gen, const char *owner,
                         int64_t expires_at) {
  char json[512];
  snprintf(json, sizeof json,
           "{\"_id\": \"%s#%d\", \"name\": \"%s\", \"gen\": {\"$numberLong\": \"%d\"}, "
           "\"kind\": \"lease\", \"owner\": \"%s\", \"runId\": \"run-of-%s\", \"expiresAt\": "
           "{\"$date\": {\"$numberLong\": \"%lld\"}}}",
           name, gen, name, gen, owner, owner, (long long)expires_at);
  const char *docs[] = {json, NULL};
  insert_docs(t, "_migrations_leases", docs);
}

/* A state document left RUNNING by owner under lease generation gen, with a cursor. */
static void insert_running_state(testdb *t, const char *name, int gen, const char *owner,
                                 int cursor) {
  char json[512];
  snprintf(json, sizeof json,
           "{\"_id\": \"%s\", \"state\": \"RUNNING\", \"runId\": \"run-of-%s\", \"owner\": \"%s\", "
           "\"leaseGen\": {\"$numberLong\": \"%d\"}, \"cursor\": %d, \"processed\": 0, "
           "\"updated\": 0, \"total\": 0}",
           name, owner, owner, gen, cursor);
  const char *docs[] = {json, NULL};
  insert_docs(t, "_migrations", docs);
}

static void update_state(testdb *t, const char *name, const char *set_json) {
  mongoc_collection_t *c = coll_of(t, "_migrations");
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&filter, "_id", name);
  bson_error_t berr;
  bson_t *update = bson_new_from_json((const uint8_t *)set_json, -1, &berr);
  cr_assert(update, "%s", berr.message);
  cr_assert(mongoc_collection_update_one(c, &filter, update, NULL, NULL, &berr), "%s",
            berr.message);
  bson_destroy(update);
  bson_destroy(&filter);
  mongoc_collection_destroy(c);
}

typedef struct {
  tm_engine *engine;
  const char **names;
  tm_run_request req;
  outcome *out;
} runner_arg;

static void *run_in_thread(void *arg) {
  runner_arg *a = arg;
  run_wait(a->engine, a->names, a->req, a->out);
  return NULL;
}

Test(engine_lease, two_engines_run_one_migration_at_once_one_holds_and_both_report_its_outcome) {
  testdb t;
  testdb_open(&t, "engl");
  insert_many_fmt(&t, "customers", 200, "{\"_id\": %d, \"n\": %d}");
  tm_store *other = same_database(&t);
  tm_engine *a = new_engine(t.store, "replica-a", 30000);
  tm_engine *b = new_engine(other, "replica-b", 30000);
  outcome oa, ob;
  runner_arg ra = {a, PRIVACY, {.batch_size = 10}, &oa};
  runner_arg rb = {b, PRIVACY, {.batch_size = 10}, &ob};
  pthread_t ta, tb;
  pthread_create(&ta, NULL, run_in_thread, &ra);
  pthread_create(&tb, NULL, run_in_thread, &rb);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  cr_assert_eq(oa.code, TM_OK, "%s", oa.err);
  cr_assert_eq(ob.code, TM_OK, "%s", ob.err);
  const tm_status *sa = status_of(&oa, "addPrivacyToCustomers");
  const tm_status *sb = status_of(&ob, "addPrivacyToCustomers");
  cr_assert_eq(sa->state, TM_STATE_SUCCEEDED);
  cr_assert_eq(sb->state, TM_STATE_SUCCEEDED);
  cr_assert_str_eq(sa->run_id, sb->run_id, "both report the one run that did the work");
  cr_assert(strcmp(sa->run_id, oa.run_id) == 0 || strcmp(sa->run_id, ob.run_id) == 0);
  cr_assert_neq(strcmp(oa.run_id, ob.run_id), 0);
  cr_assert_eq(sa->updated, 200);
  cr_assert_eq(sb->updated, 200);
  cr_assert_eq(count_where(&t, "customers", "{\"isPrivate\": true}"), 200);
  outcome_clear(&oa);
  outcome_clear(&ob);
  tm_engine_destroy(a);
  tm_engine_destroy(b);
  tm_store_destroy(other);
  testdb_close(&t);
}

Test(engine_lease, a_run_waits_for_a_live_holder_and_reports_its_outcome_without_writing) {
  testdb t;
  testdb_open(&t, "engl");
  insert_many_fmt(&t, "customers", 5, "{\"_id\": %d}");
  insert_lease(&t, "addPrivacyToCustomers", 1, "elsewhere", now_ms() + 60000);
  insert_running_state(&t, "addPrivacyToCustomers", 1, "elsewhere", 2);
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o;
  start_run(e, &(tm_run_request){.names = PRIVACY, .n_names = 1}, &o);
  usleep(800000);
  cr_assert_eq(o.calls, 0, "still waiting for the holder");
  update_state(&t, "addPrivacyToCustomers",
               "{\"$set\": {\"state\": \"SUCCEEDED\", \"processed\": 3, \"updated\": 3, "
               "\"total\": 3}}");
  outcome_wait(&o);
  const tm_status *st = status_of(&o, "addPrivacyToCustomers");
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED);
  cr_assert_str_eq(st->run_id, "run-of-elsewhere");
  cr_assert_eq(st->updated, 3);
  cr_assert_eq(count_where(&t, "customers", "{\"isPrivate\": {\"$exists\": true}}"), 0,
               "the waiting run wrote nothing");
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_lease,
     a_run_takes_over_from_the_saved_cursor_when_the_holders_lease_expires_and_sweeps_behind_it) {
  testdb t;
  testdb_open(&t, "engl");
  insert_many_fmt(&t, "customers", 10, "{\"_id\": %d}");
  /* The dead holder did 0..4 and saved cursor 4; 2 was changed back since (behind the cursor). */
  mongoc_collection_t *c = coll_of(&t, "customers");
  bson_error_t berr;
  bson_t *filter =
      bson_new_from_json((const uint8_t *)"{\"_id\": {\"$lte\": 4, \"$ne\": 2}}", -1, &berr);
  bson_t *update =
      bson_new_from_json((const uint8_t *)"{\"$set\": {\"isPrivate\": true}}", -1, &berr);
  cr_assert(mongoc_collection_update_many(c, filter, update, NULL, NULL, &berr), "%s",
            berr.message);
  bson_destroy(filter);
  bson_destroy(update);
  mongoc_collection_destroy(c);
  insert_lease(&t, "addPrivacyToCustomers", 1, "dead", now_ms() + 1500);
  insert_running_state(&t, "addPrivacyToCustomers", 1, "dead", 4);

  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o;
  run_wait(e, PRIVACY, (tm_run_request){0}, &o);
  const tm_status *st = status_of(&o, "addPrivacyToCustomers");
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED, "%s", st->error ? st->error : "");
  cr_assert_str_eq(st->run_id, o.run_id);
  cr_assert_eq(st->total, 5, "resumed after the dead holder's cursor");
  cr_assert_eq(st->updated, 6, "the 5 past the cursor, then 2 by the sweep from the start");
  cr_assert_eq(count_where(&t, "customers", "{\"isPrivate\": {\"$exists\": false}}"), 0);
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_lease, a_holder_that_loses_its_lease_stops_writing_at_once) {
  testdb t;
  testdb_open(&t, "engl");
  insert_many_fmt(&t, "customers", 400, "{\"_id\": %d}");
  /* Replies held 5 ms: the 400 one-document batches outlast the heartbeat that hears of it. */
  tm_test_proxy *px = tm_test_proxy_start();
  tm_store *slow = tm_test_proxy_store(px, tm_store_database(t.store));
  tm_test_proxy_delay(px, 5);
  tm_engine *e = new_engine(slow, "test-a", 600);
  outcome o;
  start_run(e, &(tm_run_request){.names = PRIVACY, .n_names = 1, .batch_size = 1}, &o);
  while (count_where(&t, "customers", "{\"isPrivate\": true}") == 0) usleep(5000);
  /* Someone takes generation 2 (as after an expiry): the heartbeat hears of it. */
  insert_lease(&t, "addPrivacyToCustomers", 2, "usurper", now_ms() + 60000);
  outcome_wait(&o);
  const tm_status *st = status_of(&o, "addPrivacyToCustomers");
  cr_assert_eq(st->state, TM_STATE_INTERRUPTED, "a lost lease is resumable, not a failure");
  cr_assert(strstr(st->error, "lease"), "%s", st->error);
  int64_t done = count_where(&t, "customers", "{\"isPrivate\": true}");
  cr_assert_lt(done, 400);
  usleep(500000);
  cr_assert_eq(count_where(&t, "customers", "{\"isPrivate\": true}"), done, "no write after");
  outcome_clear(&o);
  tm_engine_destroy(e);
  tm_store_destroy(slow);
  tm_test_proxy_stop(px);
  testdb_close(&t);
}

Test(engine_lease, shutdown_releases_the_lease_so_another_replica_resumes_at_once) {
  testdb t;
  testdb_open(&t, "engl");
  insert_many_fmt(&t, "customers", 300, "{\"_id\": %d}");
  /* An hour's lease: if shutdown did not release it, replica-b would wait that long (and the test
   * time out) instead of resuming. */
  tm_test_proxy *px = tm_test_proxy_start(); /* replies held 5 ms: the run lasts seconds */
  tm_store *slow = tm_test_proxy_store(px, tm_store_database(t.store));
  tm_test_proxy_delay(px, 5);
  tm_engine *e = new_engine(slow, "replica-a", 3600000);
  outcome o;
  run_wait(e, PRIVACY, (tm_run_request){.batch_size = 1, .async = true}, &o);
  while (count_where(&t, "customers", "{\"isPrivate\": true}") == 0) usleep(5000);
  tm_engine_destroy(e);
  cr_assert_lt(count_where(&t, "customers", "{\"isPrivate\": true}"), 300, "stopped mid-run");
  char *saved = state_json(&t, "addPrivacyToCustomers");
  cr_assert(strstr(saved, "\"state\" : \"INTERRUPTED\""), "%s", saved);
  free(saved);
  tm_store *other = same_database(&t);
  tm_engine *f = new_engine(other, "replica-b", 3600000);
  outcome o2;
  run_wait(f, PRIVACY, (tm_run_request){.batch_size = 100}, &o2);
  const tm_status *st = status_of(&o2, "addPrivacyToCustomers");
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED, "%s", st->error ? st->error : "");
  cr_assert_eq(count_where(&t, "customers", "{\"isPrivate\": true}"), 300);
  outcome_clear(&o);
  outcome_clear(&o2);
  tm_engine_destroy(f);
  tm_store_destroy(other);
  tm_store_destroy(slow);
  tm_test_proxy_stop(px);
  testdb_close(&t);
}

Test(engine_lease, a_waiting_run_takes_over_a_migration_interrupted_by_shutdown) {
  testdb t;
  testdb_open(&t, "engl");
  insert_many_fmt(&t, "customers", 300, "{\"_id\": %d}");
  tm_store *other = same_database(&t);
  /* a's replies are held 5 ms, so its 300 one-document batches outlast the wait below. */
  tm_test_proxy *px = tm_test_proxy_start();
  tm_store *slow = tm_test_proxy_store(px, tm_store_database(t.store));
  tm_test_proxy_delay(px, 5);
  tm_engine *a = new_engine(slow, "replica-a", 30000);
  tm_engine *b = new_engine(other, "replica-b", 30000);
  outcome oa, ob;
  run_wait(a, PRIVACY, (tm_run_request){.batch_size = 1, .async = true}, &oa);
  while (count_where(&t, "customers", "{\"isPrivate\": true}") == 0) usleep(5000);
  start_run(b, &(tm_run_request){.names = PRIVACY, .n_names = 1, .batch_size = 50}, &ob);
  usleep(400000);
  cr_assert_eq(ob.calls, 0, "b waits for a");
  cr_assert_lt(count_where(&t, "customers", "{\"isPrivate\": true}"), 300, "a is mid-run");
  tm_engine_destroy(a);
  outcome_wait(&ob);
  const tm_status *st = status_of(&ob, "addPrivacyToCustomers");
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED, "%s", st->error ? st->error : "");
  cr_assert_str_eq(st->run_id, ob.run_id, "b ran it to the end itself");
  cr_assert_eq(count_where(&t, "customers", "{\"isPrivate\": true}"), 300);
  outcome_clear(&oa);
  outcome_clear(&ob);
  tm_engine_destroy(b);
  tm_store_destroy(other);
  tm_store_destroy(slow);
  tm_test_proxy_stop(px);
  testdb_close(&t);
}

Test(engine_lease, an_unstarted_claim_of_a_dead_chain_is_put_back) {
  testdb t;
  testdb_open(&t, "engl");
  insert_many_fmt(&t, "customers", 3, "{\"_id\": %d, \"isPrivate\": false}");
  const char *state[] = {
      "{\"_id\": \"addPrivacyToCustomers\", \"state\": \"RUNNING\", \"runId\": \"dead-run\", "
      "\"owner\": \"dead\", \"leaseGen\": {\"$numberLong\": \"3\"}, \"prev\": {\"state\": "
      "\"SUCCEEDED\", \"runId\": \"good-run\", \"leaseGen\": {\"$numberLong\": \"2\"}, "
      "\"processed\": 3, \"updated\": 3, \"total\": 3}}",
      NULL};
  insert_docs(&t, "_migrations", state);
  insert_lease(&t, "addPrivacyToCustomers", 3, "dead", now_ms() - 1);
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o;
  run_wait(e, PRIVACY, (tm_run_request){0}, &o);
  const tm_status *st = status_of(&o, "addPrivacyToCustomers");
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED);
  cr_assert(st->skipped);
  cr_assert_str_eq(st->run_id, "good-run");
  char *saved = state_json(&t, "addPrivacyToCustomers");
  cr_assert(strstr(saved, "\"state\" : \"SUCCEEDED\""), "%s", saved);
  cr_assert(strstr(saved, "\"runId\" : \"good-run\""), "%s", saved);
  cr_assert_null(strstr(saved, "prev"), "%s", saved);
  free(saved);
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_lease, a_run_arriving_while_an_ended_holder_releases_resumes_instead_of_echoing) {
  testdb t;
  testdb_open(&t, "engl");
  insert_many_fmt(&t, "customers", 6, "{\"_id\": %d}");
  /* The holder saved CANCELED and has not released its lease yet. */
  insert_lease(&t, "addPrivacyToCustomers", 1, "ender", now_ms() + 1000);
  const char *state[] = {
      "{\"_id\": \"addPrivacyToCustomers\", \"state\": \"CANCELED\", \"runId\": \"ended-run\", "
      "\"owner\": \"ender\", \"leaseGen\": {\"$numberLong\": \"1\"}, \"cursor\": 2, "
      "\"finishedAt\": {\"$date\": {\"$numberLong\": \"1700000000000\"}}}",
      NULL};
  insert_docs(&t, "_migrations", state);
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o;
  run_wait(e, PRIVACY, (tm_run_request){0}, &o);
  const tm_status *st = status_of(&o, "addPrivacyToCustomers");
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED, "%d %s", st->state, st->error ? st->error : "");
  cr_assert_str_eq(st->run_id, o.run_id);
  cr_assert_eq(st->total, 3, "resumed after cursor 2");
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}
