/* Helpers shared by the engine's integration tests (tests/integration/test_engine*.c): engines on a
 * fresh FerretDB database, Runs waited for, data loaded and compared document by document. Each
 * test file includes this once; everything is static. */
#ifndef TM_ENGINE_SUPPORT_H
#define TM_ENGINE_SUPPORT_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/testdb.h"
#include "migrations/engine.h"
#include "migrations/registry.h"
#include "store/store.h"

/* --- engines --- */

static __attribute__((unused)) tm_engine *new_engine_with(tm_store *store, const char *instance,
                                                          int lease_ms, tm_write_filter filter) {
  tm_engine_options opts = {.instance_id = instance, .lease_ms = lease_ms, .write_filter = filter};
  tm_engine *e = NULL;
  tm_error err;
  cr_assert_eq(tm_engine_new(store, &opts, &e, &err), TM_OK, "tm_engine_new: %s", err.msg);
  return e;
}

static __attribute__((unused)) tm_engine *new_engine(tm_store *store, const char *instance,
                                                     int lease_ms) {
  return new_engine_with(store, instance, lease_ms, TM_WRITE_FILTER_AUTO);
}

/* --- Runs --- */

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  int calls;
  tm_code code;
  char err[TM_ERROR_MSG_MAX];
  char run_id[40];
  tm_status_list list; /* deep copies */
} outcome;

static __attribute__((unused)) char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static __attribute__((unused)) void copy_status(const tm_status *from, tm_status *to) {
  tm_status_copy(from, to);
}

static __attribute__((unused)) void on_done(void *arg, tm_code code, const tm_error *err,
                                            const tm_run_result *result) {
  outcome *o = arg;
  pthread_mutex_lock(&o->mu);
  o->calls++;
  o->code = code;
  if (err) snprintf(o->err, sizeof o->err, "%s", err->msg);
  if (result) {
    snprintf(o->run_id, sizeof o->run_id, "%s", result->run_id);
    o->list.n = result->migrations.n;
    o->list.items = calloc(result->migrations.n + 1, sizeof *o->list.items);
    for (size_t i = 0; i < result->migrations.n; i++) {
      copy_status(&result->migrations.items[i], &o->list.items[i]);
    }
  }
  pthread_cond_broadcast(&o->cond);
  pthread_mutex_unlock(&o->mu);
}

static __attribute__((unused)) void outcome_init(outcome *o) {
  memset(o, 0, sizeof *o);
  pthread_mutex_init(&o->mu, NULL);
  pthread_cond_init(&o->cond, NULL);
}

static __attribute__((unused)) void outcome_wait(outcome *o) {
  pthread_mutex_lock(&o->mu);
  while (o->calls == 0) pthread_cond_wait(&o->cond, &o->mu);
  pthread_mutex_unlock(&o->mu);
}

static __attribute__((unused)) void outcome_clear(outcome *o) {
  tm_status_list_clear(&o->list);
  pthread_mutex_destroy(&o->mu);
  pthread_cond_destroy(&o->cond);
}

/* Starts a Run; the caller waits with outcome_wait. */
static __attribute__((unused)) void start_run(tm_engine *e, const tm_run_request *req, outcome *o) {
  outcome_init(o);
  tm_error err;
  tm_code code = tm_engine_run(e, req, on_done, o, &err);
  cr_assert_eq(code, TM_OK, "tm_engine_run: %s", err.msg);
}

/* Runs and waits; names: NULL-terminated list or NULL for all. */
static __attribute__((unused)) void run_wait(tm_engine *e, const char **names, tm_run_request req,
                                             outcome *o) {
  size_t n = 0;
  while (names && names[n]) n++;
  req.names = names;
  req.n_names = n;
  start_run(e, &req, o);
  outcome_wait(o);
}

static __attribute__((unused)) const tm_status *status_of(const outcome *o, const char *name) {
  for (size_t i = 0; i < o->list.n; i++) {
    if (strcmp(o->list.items[i].name, name) == 0) return &o->list.items[i];
  }
  cr_assert_fail("no status for %s", name);
  return NULL;
}

/* --- data --- */

typedef struct {
  tm_store *store;
  mongoc_client_t *client;
  mongoc_database_t *db;
} testdb;

static __attribute__((unused)) void testdb_open(testdb *t, const char *prefix) {
  t->store = tm_test_store(prefix);
  t->client = tm_store_pop(t->store);
  t->db = mongoc_client_get_database(t->client, tm_store_database(t->store));
}

static __attribute__((unused)) void testdb_close(testdb *t) {
  mongoc_database_destroy(t->db);
  tm_store_push(t->store, t->client);
  tm_store_destroy(t->store);
}

static __attribute__((unused)) mongoc_collection_t *coll_of(testdb *t, const char *name) {
  return mongoc_database_get_collection(t->db, name);
}

/* Inserts each JSON (extended JSON allowed) document of docs[] (NULL-terminated). */
static __attribute__((unused)) void insert_docs(testdb *t, const char *collection,
                                                const char **docs) {
  mongoc_collection_t *c = coll_of(t, collection);
  for (size_t i = 0; docs[i]; i++) {
    bson_error_t berr;
    bson_t *doc = bson_new_from_json((const uint8_t *)docs[i], -1, &berr);
    cr_assert(doc, "bad JSON %s: %s", docs[i], berr.message);
    cr_assert(mongoc_collection_insert_one(c, doc, NULL, NULL, &berr), "insert: %s", berr.message);
    bson_destroy(doc);
  }
  mongoc_collection_destroy(c);
}

/* Inserts n documents made by fmt with %d = i (for bulk data). */
static __attribute__((unused)) void insert_many_fmt(testdb *t, const char *collection, int n,
                                                    const char *fmt) {
  if (n <= 0) return;
  mongoc_collection_t *c = coll_of(t, collection);
  mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(c, NULL);
  for (int i = 0; i < n; i++) {
    char json[1024];
    snprintf(json, sizeof json, fmt, i, i, i, i);
    bson_error_t berr;
    bson_t *doc = bson_new_from_json((const uint8_t *)json, -1, &berr);
    cr_assert(doc, "bad JSON %s: %s", json, berr.message);
    mongoc_bulk_operation_insert(bulk, doc);
    bson_destroy(doc);
  }
  bson_error_t berr;
  cr_assert(mongoc_bulk_operation_execute(bulk, NULL, &berr), "bulk insert: %s", berr.message);
  mongoc_bulk_operation_destroy(bulk);
  mongoc_collection_destroy(c);
}

static __attribute__((unused)) int64_t count_where(testdb *t, const char *collection,
                                                   const char *filter_json) {
  mongoc_collection_t *c = coll_of(t, collection);
  bson_error_t berr;
  bson_t *filter = bson_new_from_json((const uint8_t *)filter_json, -1, &berr);
  cr_assert(filter, "bad JSON %s", filter_json);
  int64_t n = mongoc_collection_count_documents(c, filter, NULL, NULL, NULL, &berr);
  cr_assert(n >= 0, "count: %s", berr.message);
  bson_destroy(filter);
  mongoc_collection_destroy(c);
  return n;
}

/* Every document of collection in _id order, as canonical extended JSON joined by newlines;
 * malloc'd. Comparing two snapshots compares every document whole, types included. */
static __attribute__((unused)) char *snapshot(testdb *t, const char *collection) {
  mongoc_collection_t *c = coll_of(t, collection);
  bson_t opts = BSON_INITIALIZER, sort;
  BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
  BSON_APPEND_INT32(&sort, "_id", 1);
  bson_append_document_end(&opts, &sort);
  bson_t filter = BSON_INITIALIZER;
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &filter, &opts, NULL);
  size_t cap = 1024, len = 0;
  char *out = malloc(cap);
  out[0] = '\0';
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc)) {
    char *json = bson_as_canonical_extended_json(doc, NULL);
    size_t l = strlen(json);
    while (len + l + 2 > cap) out = realloc(out, cap *= 2);
    memcpy(out + len, json, l);
    len += l;
    out[len++] = '\n';
    out[len] = '\0';
    bson_free(json);
  }
  bson_error_t berr;
  cr_assert(!mongoc_cursor_error(cur, &berr), "snapshot: %s", berr.message);
  mongoc_cursor_destroy(cur);
  bson_destroy(&opts);
  bson_destroy(&filter);
  mongoc_collection_destroy(c);
  return out;
}

/* The database's collection names, sorted, joined by commas; malloc'd. */
static __attribute__((unused)) char *collection_names(testdb *t) {
  bson_error_t berr;
  char **names = mongoc_database_get_collection_names_with_opts(t->db, NULL, &berr);
  cr_assert(names, "list collections: %s", berr.message);
  size_t n = 0;
  while (names[n]) n++;
  for (size_t i = 0; i < n; i++) {
    for (size_t j = i + 1; j < n; j++) {
      if (strcmp(names[i], names[j]) > 0) {
        char *tmp = names[i];
        names[i] = names[j];
        names[j] = tmp;
      }
    }
  }
  size_t cap = 16;
  for (size_t i = 0; i < n; i++) cap += strlen(names[i]) + 1;
  char *out = calloc(1, cap);
  for (size_t i = 0; i < n; i++) {
    strcat(out, names[i]);
    strcat(out, ",");
  }
  bson_strfreev(names);
  return out;
}

/* The state document of name as canonical JSON (or "" when none); malloc'd. */
static __attribute__((unused)) char *state_json(testdb *t, const char *name) {
  mongoc_collection_t *c = coll_of(t, "_migrations");
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&filter, "_id", name);
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &filter, NULL, NULL);
  const bson_t *doc;
  char *out = mongoc_cursor_next(cur, &doc) ? bson_as_canonical_extended_json(doc, NULL) : NULL;
  char *copy = strdup(out ? out : "");
  bson_free(out);
  mongoc_cursor_destroy(cur);
  bson_destroy(&filter);
  mongoc_collection_destroy(c);
  return copy;
}

#endif
