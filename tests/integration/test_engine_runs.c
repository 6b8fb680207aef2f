/* Run, Status and Cancel semantics of the engine against FerretDB: validation, skip, rerun,
 * resume after a failure, cancel, dry run, async, shutdown, an unreachable database. */
#include <unistd.h>

#include "../support/proxy.h"
#include "engine_support.h"
#include "metrics/metrics.h"

static const char *STATUS[] = {"addStatusToStores", NULL};
static const char *STORES[] = {"addStatusToStores", "ensureStoreFields", NULL};

static tm_status status_now(tm_engine *e, const char *name) {
  tm_status_list list;
  tm_error err;
  const char *names[] = {name};
  cr_assert_eq(tm_engine_status(e, names, 1, false, 0, &list, &err), TM_OK, "%s", err.msg);
  tm_status st;
  copy_status(&list.items[0], &st);
  tm_status_list_clear(&list);
  return st;
}

/* Polls Status until name has processed documents (or ended); at most 30 s. */
static void wait_for_progress(tm_engine *e, const char *name) {
  for (int i = 0; i < 3000; i++) {
    tm_status st = status_now(e, name);
    bool progressed = st.processed > 0 || st.state == TM_STATE_SUCCEEDED;
    tm_status_clear(&st);
    if (progressed) return;
    usleep(10000);
  }
  cr_assert_fail("%s made no progress", name);
}

static tm_state wait_for_end(tm_engine *e, const char *name) {
  for (int i = 0; i < 6000; i++) {
    tm_status st = status_now(e, name);
    tm_state s = st.state;
    tm_status_clear(&st);
    if (!tm_state_is_held(s)) return s;
    usleep(10000);
  }
  cr_assert_fail("%s did not end", name);
  return TM_STATE_RUNNING;
}

static tm_code run_error(tm_engine *e, tm_run_request req, tm_error *err) {
  outcome o;
  outcome_init(&o);
  tm_code code = tm_engine_run(e, &req, on_done, &o, err);
  if (code == TM_OK) outcome_wait(&o);
  outcome_clear(&o);
  return code;
}

/* --- validation --- */

Test(engine_runs, an_unknown_name_is_invalid_and_the_valid_names_are_listed) {
  testdb t;
  testdb_open(&t, "engr");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  const char *names[] = {"addStatusToStores", "nope\x01"};
  tm_error err;
  cr_assert_eq(run_error(e, (tm_run_request){.names = names, .n_names = 2}, &err), TM_ERR_INVALID);
  cr_assert(strstr(err.msg, "unknown migration \"nope\\x01\""), "%s", err.msg);
  for (size_t i = 0; i < tm_registry_count(); i++) {
    cr_assert(strstr(err.msg, tm_registry_at(i)->name), "%s", err.msg);
  }
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_runs, a_repeated_name_is_invalid) {
  testdb t;
  testdb_open(&t, "engr");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  const char *names[] = {"ensureStoreFields", "addStatusToStores", "ensureStoreFields"};
  tm_error err;
  cr_assert_eq(run_error(e, (tm_run_request){.names = names, .n_names = 3}, &err), TM_ERR_INVALID);
  cr_assert(strstr(err.msg, "repeated migration \"ensureStoreFields\""), "%s", err.msg);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_runs, a_batch_size_outside_zero_to_ten_thousand_is_invalid) {
  testdb t;
  testdb_open(&t, "engr");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  tm_error err;
  cr_assert_eq(run_error(e, (tm_run_request){.batch_size = -1}, &err), TM_ERR_INVALID);
  cr_assert(strstr(err.msg, "batch_size"), "%s", err.msg);
  cr_assert_eq(run_error(e, (tm_run_request){.batch_size = 10001}, &err), TM_ERR_INVALID);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_runs, a_huge_name_is_refused_without_being_echoed) {
  testdb t;
  testdb_open(&t, "engr");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  size_t len = 1 << 20;
  char *big = malloc(len + 1);
  memset(big, 'x', len);
  big[len] = '\0';
  const char *names[] = {big};
  tm_error err;
  cr_assert_eq(run_error(e, (tm_run_request){.names = names, .n_names = 1}, &err), TM_ERR_INVALID);
  cr_assert_lt(strlen(err.msg), 400);
  tm_status st;
  cr_assert_eq(tm_engine_cancel(e, big, NULL, &st, &err), TM_ERR_INVALID);
  free(big);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_runs, names_run_in_registry_order_whatever_order_they_are_asked_in) {
  testdb t;
  testdb_open(&t, "engr");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  const char *names[] = {"addPrivacyToCustomers", "addStatusToStores", NULL};
  outcome o;
  run_wait(e, names, (tm_run_request){0}, &o);
  cr_assert_eq(o.list.n, 2);
  cr_assert_str_eq(o.list.items[0].name, "addStatusToStores");
  cr_assert_str_eq(o.list.items[1].name, "addPrivacyToCustomers");
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}

/* --- skip, rerun, resume --- */

Test(engine_runs, a_succeeded_migration_is_skipped_while_nothing_matches_its_filter) {
  testdb t;
  testdb_open(&t, "engr");
  insert_many_fmt(&t, "stores", 5, "{\"_id\": %d}");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o1, o2;
  run_wait(e, STATUS, (tm_run_request){0}, &o1);
  const char *done[] = {"{\"_id\": 99, \"status\": \"open\"}", NULL};
  insert_docs(&t, "stores", done);
  run_wait(e, STATUS, (tm_run_request){0}, &o2);
  const tm_status *st = status_of(&o2, "addStatusToStores");
  cr_assert(st->skipped);
  cr_assert_not(st->swept_drift);
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED);
  cr_assert_str_eq(st->run_id, o1.run_id, "the status is the run that did it");
  outcome_clear(&o1);
  outcome_clear(&o2);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_runs, a_succeeded_migration_with_documents_left_is_swept_again_as_a_new_run) {
  testdb t;
  testdb_open(&t, "engr");
  insert_many_fmt(&t, "stores", 5, "{\"_id\": %d}");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o1, o2;
  run_wait(e, STATUS, (tm_run_request){0}, &o1);
  /* Written by an old pod after the migration ended, one before its cursor and one past it. */
  const char *late[] = {"{\"_id\": -1}", "{\"_id\": 99}", NULL};
  insert_docs(&t, "stores", late);
  tm_status before = status_now(e, "addStatusToStores");
  cr_assert_eq(before.state, TM_STATE_SUCCEEDED);
  cr_assert_not(before.drifted, "a plain Status never scans");
  tm_status_clear(&before);
  tm_status_list list;
  tm_error err;
  cr_assert_eq(tm_engine_status(e, STATUS, 1, true, 0, &list, &err), TM_OK, "%s", err.msg);
  cr_assert(list.items[0].drifted, "Status with pending counts shows the drift");
  cr_assert_eq(list.items[0].pending, 2);
  tm_status_list_clear(&list);

  run_wait(e, STATUS, (tm_run_request){0}, &o2);
  const tm_status *st = status_of(&o2, "addStatusToStores");
  cr_assert_not(st->skipped);
  cr_assert(st->swept_drift);
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED, "%s", st->error ? st->error : "");
  cr_assert_str_eq(st->run_id, o2.run_id, "a new run of its own");
  cr_assert_str_neq(st->run_id, o1.run_id);
  cr_assert_eq(st->updated, 2);
  cr_assert_eq(count_where(&t, "stores", "{\"status\": {\"$exists\": false}}"), 0);
  outcome_clear(&o1);
  outcome_clear(&o2);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_runs, rerun_starts_over_and_sweeps_documents_written_since) {
  testdb t;
  testdb_open(&t, "engr");
  insert_many_fmt(&t, "stores", 5, "{\"_id\": %d}");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o1, o2;
  run_wait(e, STATUS, (tm_run_request){0}, &o1);
  const char *early[] = {"{\"_id\": -1}", NULL}; /* before the saved cursor */
  insert_docs(&t, "stores", early);
  run_wait(e, STATUS, (tm_run_request){.rerun = true}, &o2);
  const tm_status *st = status_of(&o2, "addStatusToStores");
  cr_assert_not(st->skipped);
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED);
  cr_assert_eq(st->total, 1);
  cr_assert_eq(st->updated, 1);
  cr_assert_str_eq(st->run_id, o2.run_id);
  cr_assert_eq(count_where(&t, "stores", "{\"status\": {\"$exists\": false}}"), 0);
  outcome_clear(&o1);
  outcome_clear(&o2);
  tm_engine_destroy(e);
  testdb_close(&t);
}

/* Stores 1..4 miss status; a unique index on (status, grp) and store 10 (grp 3, "pending") make
 * the write of store 3 fail, so a run in batches of one fails after the cursor reached store 2. */
static void load_failing_stores(testdb *t, bool with_index) {
  const char *docs[] = {"{\"_id\": 1, \"grp\": 1}",
                        "{\"_id\": 2, \"grp\": 2}",
                        "{\"_id\": 3, \"grp\": 3}",
                        "{\"_id\": 4, \"grp\": 4}",
                        "{\"_id\": 10, \"grp\": 3, \"status\": \"pending\"}",
                        NULL};
  insert_docs(t, "stores", docs);
  if (!with_index) return;
  bson_t cmd = BSON_INITIALIZER, indexes, index, key;
  BSON_APPEND_UTF8(&cmd, "createIndexes", "stores");
  BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &indexes);
  BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
  BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &key);
  BSON_APPEND_INT32(&key, "status", 1);
  BSON_APPEND_INT32(&key, "grp", 1);
  bson_append_document_end(&index, &key);
  BSON_APPEND_UTF8(&index, "name", "status_grp");
  BSON_APPEND_BOOL(&index, "unique", true);
  bson_append_document_end(&indexes, &index);
  bson_append_array_end(&cmd, &indexes);
  bson_error_t berr;
  cr_assert(mongoc_database_command_simple(t->db, &cmd, NULL, NULL, &berr), "%s", berr.message);
  bson_destroy(&cmd);
}

static void drop_index(testdb *t) {
  mongoc_collection_t *c = coll_of(t, "stores");
  bson_error_t berr;
  cr_assert(mongoc_collection_drop_index(c, "status_grp", &berr), "%s", berr.message);
  mongoc_collection_destroy(c);
}

Test(engine_runs, a_failed_batch_leaves_the_migration_failed_at_its_cursor_and_a_run_resumes) {
  testdb t;
  testdb_open(&t, "engr");
  load_failing_stores(&t, true);
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o1, o2;
  run_wait(e, STORES, (tm_run_request){.batch_size = 1}, &o1);
  const tm_status *failed = status_of(&o1, "addStatusToStores");
  cr_assert_eq(failed->state, TM_STATE_FAILED);
  cr_assert(failed->error && *failed->error);
  cr_assert_str_eq(failed->cursor, "{ \"$numberInt\" : \"2\" }");
  cr_assert_eq(status_of(&o1, "ensureStoreFields")->state, TM_STATE_PENDING);
  tm_status saved = status_now(e, "addStatusToStores");
  cr_assert_eq(saved.state, TM_STATE_FAILED);
  cr_assert_str_eq(saved.cursor, "{ \"$numberInt\" : \"2\" }");
  cr_assert_str_eq(saved.error, failed->error);
  tm_status_clear(&saved);
  tm_status never = status_now(e, "ensureStoreFields");
  cr_assert_eq(never.state, TM_STATE_PENDING, "the unreached claim is put back");
  cr_assert_null(never.run_id);
  tm_status_clear(&never);

  drop_index(&t);
  run_wait(e, STORES, (tm_run_request){.batch_size = 1}, &o2);
  const tm_status *resumed = status_of(&o2, "addStatusToStores");
  cr_assert_eq(resumed->state, TM_STATE_SUCCEEDED, "%s", resumed->error ? resumed->error : "");
  cr_assert_eq(resumed->total, 2, "resumed after store 2");
  cr_assert_eq(resumed->processed, 2);
  cr_assert_eq(status_of(&o2, "ensureStoreFields")->state, TM_STATE_SUCCEEDED);
  char *got = snapshot(&t, "stores");

  /* The same data without the failure, in one go. */
  testdb u;
  testdb_open(&u, "engr");
  load_failing_stores(&u, false);
  tm_engine *f = new_engine(u.store, "test-b", 30000);
  outcome o3;
  run_wait(f, STORES, (tm_run_request){.batch_size = 1}, &o3);
  char *want = snapshot(&u, "stores");
  cr_assert_str_eq(got, want);
  free(got);
  free(want);
  outcome_clear(&o1);
  outcome_clear(&o2);
  outcome_clear(&o3);
  tm_engine_destroy(e);
  tm_engine_destroy(f);
  testdb_close(&t);
  testdb_close(&u);
}

/* --- cancel --- */

Test(engine_runs, cancel_stops_at_a_batch_boundary_keeps_the_cursor_and_a_run_resumes) {
  testdb t;
  testdb_open(&t, "engr");
  insert_many_fmt(&t, "customers", 300, "{\"_id\": %d}");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  const char *names[] = {"addPrivacyToCustomers", NULL};
  outcome o1, o2;
  run_wait(e, names, (tm_run_request){.batch_size = 1, .async = true}, &o1);
  cr_assert_eq(o1.code, TM_OK, "%s", o1.err);
  wait_for_progress(e, "addPrivacyToCustomers");
  tm_status st;
  tm_error err;
  cr_assert_eq(tm_engine_cancel(e, "addPrivacyToCustomers", NULL, &st, &err), TM_OK, "%s", err.msg);
  /* The holder may have stopped already by the time the answer reads the state back. */
  cr_assert(st.state == TM_STATE_CANCELING || st.state == TM_STATE_CANCELED, "%d", st.state);
  tm_status_clear(&st);
  cr_assert_eq(wait_for_end(e, "addPrivacyToCustomers"), TM_STATE_CANCELED);
  tm_status saved = status_now(e, "addPrivacyToCustomers");
  cr_assert(saved.cursor);
  int64_t left = count_where(&t, "customers", "{\"isPrivate\": {\"$exists\": false}}");
  cr_assert_gt(left, 0);
  cr_assert_eq(left + saved.updated, 300);

  run_wait(e, names, (tm_run_request){.batch_size = 50}, &o2);
  const tm_status *resumed = status_of(&o2, "addPrivacyToCustomers");
  cr_assert_eq(resumed->state, TM_STATE_SUCCEEDED, "%d %s", resumed->state,
               resumed->error ? resumed->error : "");
  cr_assert_eq(resumed->updated, left);
  cr_assert_eq(count_where(&t, "customers", "{\"isPrivate\": true}"), 300);
  tm_status_clear(&saved);
  outcome_clear(&o1);
  outcome_clear(&o2);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_runs, cancel_of_a_claimed_migration_waiting_its_turn_cancels_it_when_reached) {
  testdb t;
  testdb_open(&t, "engr");
  insert_many_fmt(&t, "stores", 150, "{\"_id\": %d}");
  /* Replies held 5 ms: the first migration's 150 one-document batches outlast the Cancel. */
  tm_test_proxy *px = tm_test_proxy_start();
  tm_store *slow = tm_test_proxy_store(px, tm_store_database(t.store));
  tm_test_proxy_delay(px, 5);
  tm_engine *e = new_engine(slow, "test-a", 30000);
  outcome o;
  run_wait(e, STORES, (tm_run_request){.batch_size = 1, .async = true}, &o);
  cr_assert_eq(o.list.n, 2);
  cr_assert_eq(o.list.items[0].state, TM_STATE_QUEUED);
  cr_assert_eq(o.list.items[1].state, TM_STATE_QUEUED, "every asked migration is claimed");
  tm_status st;
  tm_error err;
  cr_assert_eq(tm_engine_cancel(e, "ensureStoreFields", NULL, &st, &err), TM_OK, "%s", err.msg);
  tm_status_clear(&st);
  cr_assert_eq(wait_for_end(e, "addStatusToStores"), TM_STATE_SUCCEEDED);
  cr_assert_eq(wait_for_end(e, "ensureStoreFields"), TM_STATE_CANCELED);
  cr_assert_eq(count_where(&t, "stores", "{\"phoneNumberVerified\": {\"$exists\": true}}"), 0);
  outcome_clear(&o);
  tm_engine_destroy(e);
  tm_store_destroy(slow);
  tm_test_proxy_stop(px);
  testdb_close(&t);
}

Test(engine_runs, cancel_of_a_migration_not_running_is_a_precondition_failure) {
  testdb t;
  testdb_open(&t, "engr");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  tm_status st;
  tm_error err;
  cr_assert_eq(tm_engine_cancel(e, "addStatusToStores", NULL, &st, &err), TM_ERR_PRECONDITION);
  cr_assert(strstr(err.msg, "not running"), "%s", err.msg);
  cr_assert_eq(tm_engine_cancel(e, "nope", NULL, &st, &err), TM_ERR_INVALID);
  cr_assert(strstr(err.msg, "addStatusToStores"), "%s", err.msg);
  tm_engine_destroy(e);
  testdb_close(&t);
}

/* --- dry run --- */

static char *whole_database(testdb *t) {
  char *names = collection_names(t);
  size_t cap = strlen(names) + 2;
  char *out = malloc(cap);
  snprintf(out, cap, "%s\n", names);
  char *save = NULL;
  for (char *n = strtok_r(names, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
    char *docs = snapshot(t, n);
    cap += strlen(n) + strlen(docs) + 4;
    out = realloc(out, cap);
    strcat(out, n);
    strcat(out, ":\n");
    strcat(out, docs);
    free(docs);
  }
  free(names);
  return out;
}

Test(engine_runs, a_dry_run_writes_nothing_and_reports_what_it_would_do) {
  testdb t;
  testdb_open(&t, "engr");
  const char *stores[] = {"{\"_id\": 1}", "{\"_id\": 2, \"status\": \"open\"}",
                          "{\"_id\": 3, \"phoneNumberVerified\": true}",
                          "{\"_id\": 4, \"status\": null, \"phoneNumberVerified\": false}", NULL};
  insert_docs(&t, "stores", stores);
  insert_many_fmt(&t, "customers", 25, "{\"_id\": %d, \"name\": \"n%d\"}");
  char *before = whole_database(&t);
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  const char *names[] = {"addStatusToStores", "ensureStoreFields", "addPrivacyToCustomers", NULL};
  outcome o;
  run_wait(e, names, (tm_run_request){.dry_run = true}, &o);
  cr_assert_eq(o.code, TM_OK, "%s", o.err);
  char *after = whole_database(&t);
  cr_assert_str_eq(after, before);

  const tm_status *status = status_of(&o, "addStatusToStores");
  cr_assert(status->dry_run);
  cr_assert_eq(status->state, TM_STATE_SUCCEEDED);
  cr_assert_eq(status->total, 2);
  cr_assert_eq(status->updated, 2);
  cr_assert_eq(status->n_samples, 2);
  cr_assert_str_eq(status->samples[0], "{ \"_id\" : 1, \"status\" : \"pending\" }");
  cr_assert_str_eq(status->samples[1], "{ \"_id\" : 3, \"status\" : \"pending\" }");
  /* As if addStatusToStores had run first: status is no longer missing anywhere. */
  const tm_status *ensure = status_of(&o, "ensureStoreFields");
  cr_assert_eq(ensure->updated, 2);
  cr_assert_str_eq(ensure->samples[0], "{ \"_id\" : 1, \"phoneNumberVerified\" : false }");
  cr_assert_str_eq(ensure->samples[1], "{ \"_id\" : 2, \"phoneNumberVerified\" : false }");
  const tm_status *privacy = status_of(&o, "addPrivacyToCustomers");
  cr_assert_eq(privacy->updated, 25);
  cr_assert_eq(privacy->n_samples, TM_MAX_SAMPLES);

  tm_status never = status_now(e, "addStatusToStores");
  cr_assert_eq(never.state, TM_STATE_PENDING);
  tm_status_clear(&never);
  free(before);
  free(after);
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}

/* --- Status --- */

Test(engine_runs, status_reports_pending_for_never_run_and_live_counts_when_asked) {
  testdb t;
  testdb_open(&t, "engr");
  const char *stores[] = {"{\"_id\": 1}", "{\"_id\": 2, \"status\": \"open\"}", "{\"_id\": 3}",
                          NULL};
  insert_docs(&t, "stores", stores);
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  tm_status_list list;
  tm_error err;
  cr_assert_eq(tm_engine_status(e, NULL, 0, true, 0, &list, &err), TM_OK, "%s", err.msg);
  cr_assert_eq(list.n, tm_registry_count());
  for (size_t i = 0; i < list.n; i++) {
    cr_assert_str_eq(list.items[i].name, tm_registry_at(i)->name);
    cr_assert_eq(list.items[i].state, TM_STATE_PENDING);
    cr_assert(list.items[i].has_pending);
  }
  cr_assert_eq(list.items[0].pending, 2);
  cr_assert_eq(list.items[1].pending, 3);
  tm_status_list_clear(&list);

  outcome o;
  run_wait(e, STATUS, (tm_run_request){0}, &o);
  const char *names[] = {"addStatusToStores"};
  cr_assert_eq(tm_engine_status(e, names, 1, true, 0, &list, &err), TM_OK, "%s", err.msg);
  cr_assert_eq(list.n, 1);
  const tm_status *st = &list.items[0];
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED);
  cr_assert_eq(st->pending, 0);
  cr_assert_eq(st->total, 2);
  cr_assert_eq(st->processed, 2);
  cr_assert_eq(st->updated, 2);
  cr_assert_str_eq(st->run_id, o.run_id);
  cr_assert_str_eq(st->owner, "test-a");
  cr_assert_str_eq(st->cursor, "{ \"$numberInt\" : \"3\" }");
  cr_assert(st->started_at_ms > 0 && st->finished_at_ms >= st->started_at_ms);
  cr_assert_null(st->error);
  tm_status_list_clear(&list);

  const char *twice[] = {"addStatusToStores", "addStatusToStores"};
  cr_assert_eq(tm_engine_status(e, twice, 2, false, 0, &list, &err), TM_ERR_INVALID);
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}

/* --- async, shutdown, unreachable --- */

Test(engine_runs, async_answers_with_the_migrations_queued_and_they_finish) {
  testdb t;
  testdb_open(&t, "engr");
  insert_many_fmt(&t, "stores", 100, "{\"_id\": %d}");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o;
  run_wait(e, STATUS, (tm_run_request){.async = true, .batch_size = 5}, &o);
  cr_assert_eq(o.code, TM_OK, "%s", o.err);
  const tm_status *st = status_of(&o, "addStatusToStores");
  cr_assert_eq(st->state, TM_STATE_QUEUED);
  cr_assert_str_eq(st->run_id, o.run_id);
  cr_assert_str_eq(st->owner, "test-a");
  cr_assert_eq(wait_for_end(e, "addStatusToStores"), TM_STATE_SUCCEEDED);
  cr_assert_eq(count_where(&t, "stores", "{\"status\": \"pending\"}"), 100);
  outcome_clear(&o);
  tm_engine_destroy(e);
  cr_assert_eq(o.calls, 1, "done is called once");
  testdb_close(&t);
}

Test(engine_runs, shutdown_mid_run_saves_interrupted_and_reports_unavailable) {
  testdb t;
  testdb_open(&t, "engr");
  insert_many_fmt(&t, "customers", 300, "{\"_id\": %d}");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  const char *names[] = {"addPrivacyToCustomers", NULL};
  outcome o;
  start_run(e, &(tm_run_request){.names = names, .n_names = 1, .batch_size = 1}, &o);
  wait_for_progress(e, "addPrivacyToCustomers");
  tm_engine_destroy(e);
  cr_assert_eq(o.calls, 1, "done was called before destroy returned");
  cr_assert_eq(o.code, TM_ERR_UNAVAILABLE);

  tm_engine *f = new_engine(t.store, "test-b", 30000);
  tm_status st = status_now(f, "addPrivacyToCustomers");
  cr_assert_eq(st.state, TM_STATE_INTERRUPTED);
  cr_assert_str_eq(st.error, "interrupted: service shutting down");
  cr_assert(st.cursor);
  tm_status_clear(&st);
  outcome o2;
  run_wait(f, names, (tm_run_request){.batch_size = 100}, &o2);
  const tm_status *resumed = status_of(&o2, "addPrivacyToCustomers");
  cr_assert_eq(resumed->state, TM_STATE_SUCCEEDED);
  cr_assert_lt(resumed->total, 300, "resumed after the cursor");
  cr_assert_eq(count_where(&t, "customers", "{\"isPrivate\": true}"), 300);
  outcome_clear(&o);
  outcome_clear(&o2);
  tm_engine_destroy(f);
  testdb_close(&t);
}

Test(engine_runs, an_unreachable_database_at_the_start_is_unavailable) {
  tm_store *store;
  tm_error err;
  cr_assert_eq(
      tm_store_new("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300", "x", &store, &err),
      TM_OK);
  tm_engine *e = new_engine(store, "test-a", 30000);
  outcome o;
  run_wait(e, NULL, (tm_run_request){0}, &o);
  cr_assert_eq(o.code, TM_ERR_UNAVAILABLE, "%s", o.err);
  cr_assert_eq(o.list.n, 0);
  outcome_clear(&o);
  tm_status_list list;
  cr_assert_eq(tm_engine_status(e, NULL, 0, false, 0, &list, &err), TM_ERR_UNAVAILABLE);
  tm_engine_destroy(e);
  tm_store_destroy(store);
}

Test(engine_runs, resuming_after_a_cursor_also_takes_the_later_type_brackets) {
  testdb t;
  testdb_open(&t, "engr");
  /* The earlier run did everything up to its cursor "b". */
  const char *customers[] = {"{\"_id\": 1, \"isPrivate\": false}",
                             "{\"_id\": 2.5, \"isPrivate\": false}",
                             "{\"_id\": \"a\", \"isPrivate\": false}",
                             "{\"_id\": \"b\", \"isPrivate\": false}",
                             "{\"_id\": \"c\"}",
                             "{\"_id\": {\"k\": 1}}",
                             "{\"_id\": {\"$oid\": \"65f000000000000000000001\"}}",
                             "{\"_id\": true}",
                             "{\"_id\": {\"$date\": {\"$numberLong\": \"0\"}}}",
                             NULL};
  insert_docs(&t, "customers", customers);
  const char *state[] = {
      "{\"_id\": \"addPrivacyToCustomers\", \"state\": \"FAILED\", \"cursor\": "
      "\"b\", \"error\": \"earlier failure\"}",
      NULL};
  insert_docs(&t, "_migrations", state);
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  const char *names[] = {"addPrivacyToCustomers", NULL};
  outcome o;
  run_wait(e, names, (tm_run_request){.batch_size = 2}, &o);
  const tm_status *st = status_of(&o, "addPrivacyToCustomers");
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED, "%s", st->error ? st->error : "");
  cr_assert_eq(st->total, 5);
  cr_assert_eq(st->updated, 5);
  cr_assert_eq(
      count_where(&t, "customers",
                  "{\"isPrivate\": true, \"_id\": {\"$in\": [\"c\", {\"k\": 1}, {\"$oid\": "
                  "\"65f000000000000000000001\"}, true, {\"$date\": {\"$numberLong\": "
                  "\"0\"}}]}}"),
      5);
  cr_assert_eq(count_where(&t, "customers", "{\"isPrivate\": false}"), 4);
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}

Test(engine_runs, a_run_records_progress_and_state_in_the_metrics) {
  testdb t;
  testdb_open(&t, "engr");
  insert_many_fmt(&t, "stores", 3, "{\"_id\": %d}");
  tm_engine *e = new_engine(t.store, "test-a", 30000);
  outcome o;
  run_wait(e, STATUS, (tm_run_request){.batch_size = 2}, &o);
  size_t len;
  char *text = tm_metrics_render(&len);
  cr_assert(
      strstr(text, "migration_documents_processed_total{migration=\"addStatusToStores\"} 3\n"),
      "%s", text);
  cr_assert(strstr(text, "migration_documents_updated_total{migration=\"addStatusToStores\"} 3\n"),
            "%s", text);
  cr_assert(
      strstr(text, "migration_batch_duration_seconds_count{migration=\"addStatusToStores\"} 2\n"),
      "%s", text);
  free(text);
  /* The state comes from the state collection, read after the run wrote it. */
  const char *want[] = {"migration_state{migration=\"addStatusToStores\",state=\"SUCCEEDED\"} 1\n",
                        "migration_run_documents{migration=\"addStatusToStores\"} 3\n",
                        "migration_run_documents_pending{migration=\"addStatusToStores\"} 0\n"};
  for (int i = 0; i < 1000; i++) {
    text = tm_metrics_render(&len);
    bool all = true;
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) all = all && strstr(text, want[k]);
    if (all || i == 999) break;
    free(text);
    usleep(10000);
  }
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
    cr_assert(strstr(text, want[k]), "%s not in %s", want[k], text);
  }
  free(text);
  outcome_clear(&o);
  tm_engine_destroy(e);
  testdb_close(&t);
}
