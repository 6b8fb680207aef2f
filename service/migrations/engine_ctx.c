/* The engine's context shared by its parts: stop and naps, collection handles, what is left of a
 * migration, and the run history's writes (see engine_ctx.h). */
#include "engine_ctx.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../log.h"
#include "../store/clock.h"
#include "json.h"
#include "query.h"

/* Caller input is quoted in messages at most this long (a name may be a megabyte). */
#define QUOTE_MAX 64

tm_code tm_engine_invalid_name(tm_error *err, const char *name, const char *problem) {
  char quoted[QUOTE_MAX * 4 + 8], names[512];
  tm_json_quote_for_message(name, QUOTE_MAX, quoted, sizeof quoted);
  tm_registry_names(names, sizeof names);
  return tm_error_set(err, TM_ERR_INVALID, "%s migration \"%s\"; valid names: %s", problem, quoted,
                      names);
}

bool tm_engine_stopping(tm_engine *e) {
  pthread_mutex_lock(&e->mu);
  bool stopping = e->stopping;
  pthread_mutex_unlock(&e->mu);
  return stopping;
}

bool tm_engine_nap(tm_engine *e, int ms) {
  struct timespec ts;
  tm_clock_deadline(&ts, ms);
  pthread_mutex_lock(&e->mu);
  while (!e->stopping && pthread_cond_timedwait(&e->cond, &e->mu, &ts) == 0) {
  }
  bool go_on = !e->stopping;
  pthread_mutex_unlock(&e->mu);
  return go_on;
}

mongoc_collection_t *tm_engine_collection(tm_engine *e, mongoc_client_t *client, const char *name) {
  return tm_store_collection(e->store, client, name);
}

/* m's collection and its whole filter: what a migration still has to change, from the start. */
tm_code tm_engine_whole_filter(tm_engine *e, mongoc_client_t *client, const tm_migration *m,
                               mongoc_collection_t **coll, bson_t *filter, tm_error *err) {
  *coll = tm_engine_collection(e, client, m->collection);
  tm_profile_view caps = {0};
  tm_code code = tm_profile_probe(&e->profile, *coll, &caps, err);
  bson_init(filter);
  if (code == TM_OK) tm_query_build(m, &caps, NULL, filter);
  return code;
}

tm_code tm_engine_any_left(tm_engine *e, mongoc_client_t *client, const tm_migration *m,
                           const bson_t *except, bool *found, tm_error *err) {
  *found = false;
  mongoc_collection_t *coll;
  bson_t filter;
  tm_code code = tm_engine_whole_filter(e, client, m, &coll, &filter, err);
  if (code == TM_OK && except && !bson_empty(except)) {
    tm_query_restrict_ids(&filter, "$nin", except);
  }
  if (code == TM_OK) {
    bson_t opts = BSON_INITIALIZER, projection;
    BSON_APPEND_INT64(&opts, "limit", 1);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &projection);
    BSON_APPEND_INT32(&projection, "_id", 1);
    bson_append_document_end(&opts, &projection);
    mongoc_read_prefs_t *primary = mongoc_read_prefs_new(MONGOC_READ_PRIMARY);
    mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, primary);
    const bson_t *doc;
    *found = mongoc_cursor_next(cursor, &doc);
    bson_error_t berr;
    if (mongoc_cursor_error(cursor, &berr)) {
      *found = false;
      code = tm_store_error(&berr, err, "looking for documents left to migrate");
    }
    mongoc_cursor_destroy(cursor);
    mongoc_read_prefs_destroy(primary);
    bson_destroy(&opts);
  }
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  return code;
}

/* --- history --- */

static mongoc_collection_t *history_of(tm_engine *e, mongoc_client_t *client) {
  return tm_engine_collection(e, client, e->history_collection);
}

/* The history is the audit trail, not the work: a failed write is logged and the run goes on. */
static void history_failed(const char *what, const char *run_id, const char *name,
                           const tm_error *err) {
  tm_log(TM_LOG_WARN, what, "run_id", TM_LOG_STR(run_id), "migration", TM_LOG_STR(name), "error",
         TM_LOG_STR(err->msg), NULL);
}

void tm_engine_history_begin(tm_engine *e, mongoc_client_t *client, const tm_history_entry *entry) {
  mongoc_collection_t *h = history_of(e, client);
  tm_error err;
  if (tm_history_begin(h, entry, &err) != TM_OK) {
    history_failed("could not record a run in the history", entry->run_id, entry->migration, &err);
  }
  mongoc_collection_destroy(h);
}

void tm_engine_history_end(tm_engine *e, mongoc_client_t *client, const char *run_id,
                           const char *name, const tm_history_outcome *end) {
  mongoc_collection_t *h = history_of(e, client);
  tm_error err;
  if (tm_history_end(h, run_id, name, end, &err) != TM_OK) {
    history_failed("could not record a run's end in the history", run_id, name, &err);
  } else if (tm_history_trim(h, name, e->history_keep, &err) != TM_OK) {
    history_failed("could not trim the history", run_id, name, &err);
  }
  mongoc_collection_destroy(h);
}

void tm_engine_history_resume(tm_engine *e, mongoc_client_t *client, const char *run_id,
                              const char *name) {
  mongoc_collection_t *h = history_of(e, client);
  tm_error err;
  if (tm_history_resume(h, run_id, name, &err) != TM_OK) {
    history_failed("could not record a resume in the history", run_id, name, &err);
  }
  mongoc_collection_destroy(h);
}

void tm_engine_history_event(tm_engine *e, mongoc_client_t *client, const char *run_id,
                             const char *name, const char *action, const tm_caller *by,
                             const char *detail) {
  static const tm_caller unknown;
  tm_history_event ev = {
      .by = by ? *by : unknown, .at_ms = tm_clock_wall_ms(), .detail = (char *)detail};
  snprintf(ev.action, sizeof ev.action, "%s", action);
  mongoc_collection_t *h = history_of(e, client);
  tm_error err;
  if (tm_history_event_add(h, run_id, name, &ev, &err) != TM_OK) {
    history_failed("could not record a control in the history", run_id, name, &err);
  }
  if (strcmp(action, "cancel") == 0 &&
      tm_history_cancel(h, run_id, name, &ev.by, ev.at_ms, &err) != TM_OK) {
    history_failed("could not record a cancel in the history", run_id, name, &err);
  }
  mongoc_collection_destroy(h);
}
