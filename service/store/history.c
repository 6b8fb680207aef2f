/* Run history documents: written by the chains, read by the History RPC (see history.h). */
#include "history.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

void tm_history_entry_clear(tm_history_entry *e) {
  free(e->run_id);
  free(e->migration);
  for (size_t i = 0; i < e->n_migrations; i++) free(e->migrations[i]);
  free(e->migrations);
  free(e->error);
  for (size_t i = 0; i < e->n_events; i++) free(e->events[i].detail);
  free(e->events);
  if (e->failed) bson_destroy(e->failed);
  memset(e, 0, sizeof *e);
}

void tm_history_page_clear(tm_history_page *page) {
  for (size_t i = 0; i < page->n; i++) tm_history_entry_clear(&page->items[i]);
  free(page->items);
  page->items = NULL;
  page->n = 0;
}

static void entry_id(const char *run_id, const char *migration, char *out, size_t size) {
  snprintf(out, size, "%s/%s", run_id, migration);
}

static void append_caller(bson_t *doc, const char *key, const tm_caller *c) {
  bson_t sub;
  BSON_APPEND_DOCUMENT_BEGIN(doc, key, &sub);
  BSON_APPEND_UTF8(&sub, "peer", c->peer);
  BSON_APPEND_UTF8(&sub, "identity", c->identity);
  BSON_APPEND_UTF8(&sub, "userAgent", c->user_agent);
  bson_append_document_end(doc, &sub);
}

static tm_code write_result(bool ok, const bson_error_t *berr, tm_error *err, const char *what) {
  return ok ? TM_OK : tm_store_error(berr, err, what);
}

tm_code tm_history_begin(mongoc_collection_t *history, const tm_history_entry *e, tm_error *err) {
  char id[256];
  entry_id(e->run_id, e->migration, id, sizeof id);
  bson_t filter = BSON_INITIALIZER, doc = BSON_INITIALIZER, names;
  BSON_APPEND_UTF8(&filter, "_id", id);
  BSON_APPEND_UTF8(&doc, "runId", e->run_id);
  BSON_APPEND_UTF8(&doc, "migration", e->migration);
  BSON_APPEND_ARRAY_BEGIN(&doc, "migrations", &names);
  for (size_t i = 0; i < e->n_migrations; i++) {
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    bson_append_utf8(&names, k, -1, e->migrations[i], -1);
  }
  bson_append_array_end(&doc, &names);
  BSON_APPEND_BOOL(&doc, "rerun", e->rerun);
  BSON_APPEND_BOOL(&doc, "async", e->async);
  BSON_APPEND_INT32(&doc, "batchSize", e->batch_size);
  BSON_APPEND_BOOL(&doc, "sweptDrift", e->swept_drift);
  append_caller(&doc, "caller", &e->caller);
  BSON_APPEND_UTF8(&doc, "state", tm_state_name(e->state));
  BSON_APPEND_DATE_TIME(&doc, "startedAt", e->started_at_ms);
  if (e->finished_at_ms) BSON_APPEND_DATE_TIME(&doc, "finishedAt", e->finished_at_ms);
  BSON_APPEND_INT64(&doc, "total", e->total);
  BSON_APPEND_INT64(&doc, "processed", e->processed);
  BSON_APPEND_INT64(&doc, "updated", e->updated);
  if (e->error) BSON_APPEND_UTF8(&doc, "error", e->error);
  if (e->has_controls) tm_controls_append(&doc, "controls", &e->controls);
  /* A replacement by _id: a retried begin writes the same document once. */
  bson_t opts = BSON_INITIALIZER;
  BSON_APPEND_BOOL(&opts, "upsert", true);
  bson_error_t berr;
  bool ok = mongoc_collection_replace_one(history, &filter, &doc, &opts, NULL, &berr);
  bson_destroy(&opts);
  bson_destroy(&doc);
  bson_destroy(&filter);
  return write_result(ok, &berr, err, "recording a run in the history");
}

/* {_id: "<run>/<migration>"} into filter. */
static void append_entry_id(bson_t *filter, const char *run_id, const char *migration) {
  char id[256];
  entry_id(run_id, migration, id, sizeof id);
  BSON_APPEND_UTF8(filter, "_id", id);
}

static tm_code update_entry(mongoc_collection_t *history, const bson_t *filter,
                            const bson_t *update, tm_error *err, const char *what) {
  bson_error_t berr;
  bool ok = mongoc_collection_update_one(history, filter, update, NULL, NULL, &berr);
  return write_result(ok, &berr, err, what);
}

tm_code tm_history_end(mongoc_collection_t *history, const char *run_id, const char *migration,
                       const tm_history_outcome *o, tm_error *err) {
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, held, in, failed;
  append_entry_id(&filter, run_id, migration);
  if (o->only_if_held) {
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "state", &held);
    BSON_APPEND_ARRAY_BEGIN(&held, "$in", &in);
    BSON_APPEND_UTF8(&in, "0", tm_state_name(TM_STATE_QUEUED));
    BSON_APPEND_UTF8(&in, "1", tm_state_name(TM_STATE_RUNNING));
    bson_append_array_end(&held, &in);
    bson_append_document_end(&filter, &held);
  }
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  BSON_APPEND_UTF8(&set, "state", tm_state_name(o->state));
  BSON_APPEND_DATE_TIME(&set, "finishedAt", o->finished_at_ms);
  BSON_APPEND_INT64(&set, "total", o->total);
  BSON_APPEND_INT64(&set, "processed", o->processed);
  BSON_APPEND_INT64(&set, "updated", o->updated);
  BSON_APPEND_UTF8(&set, "error", o->error ? o->error : "");
  if (o->failed_count) {
    BSON_APPEND_DOCUMENT_BEGIN(&set, "failed", &failed);
    BSON_APPEND_INT64(&failed, "count", o->failed_count);
    if (o->failed) BSON_APPEND_ARRAY(&failed, "first", o->failed);
    bson_append_document_end(&set, &failed);
  }
  bson_append_document_end(&update, &set);
  tm_code code =
      update_entry(history, &filter, &update, err, "recording a run's end in the history");
  bson_destroy(&update);
  bson_destroy(&filter);
  return code;
}

tm_code tm_history_resume(mongoc_collection_t *history, const char *run_id, const char *migration,
                          tm_error *err) {
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, unset;
  append_entry_id(&filter, run_id, migration);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  BSON_APPEND_UTF8(&set, "state", tm_state_name(TM_STATE_RUNNING));
  bson_append_document_end(&update, &set);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &unset);
  BSON_APPEND_UTF8(&unset, "finishedAt", "");
  bson_append_document_end(&update, &unset);
  tm_code code = update_entry(history, &filter, &update, err, "recording a resume in the history");
  bson_destroy(&update);
  bson_destroy(&filter);
  return code;
}

tm_code tm_history_event_add(mongoc_collection_t *history, const char *run_id,
                             const char *migration, const tm_history_event *ev, tm_error *err) {
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, push, entry, room;
  append_entry_id(&filter, run_id, migration);
  /* events.<max-1> missing: room for one more. */
  char last[32];
  snprintf(last, sizeof last, "events.%d", TM_HISTORY_EVENTS_MAX - 1);
  BSON_APPEND_DOCUMENT_BEGIN(&filter, last, &room);
  BSON_APPEND_BOOL(&room, "$exists", false);
  bson_append_document_end(&filter, &room);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$push", &push);
  BSON_APPEND_DOCUMENT_BEGIN(&push, "events", &entry);
  BSON_APPEND_UTF8(&entry, "action", ev->action);
  append_caller(&entry, "by", &ev->by);
  BSON_APPEND_DATE_TIME(&entry, "at", ev->at_ms);
  if (ev->detail) BSON_APPEND_UTF8(&entry, "detail", ev->detail);
  bson_append_document_end(&push, &entry);
  bson_append_document_end(&update, &push);
  tm_code code = update_entry(history, &filter, &update, err, "recording a control in the history");
  bson_destroy(&update);
  bson_destroy(&filter);
  return code;
}

tm_code tm_history_cancel(mongoc_collection_t *history, const char *run_id, const char *migration,
                          const tm_caller *by, int64_t at_ms, tm_error *err) {
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, absent;
  append_entry_id(&filter, run_id, migration);
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "canceledAt", &absent);
  BSON_APPEND_BOOL(&absent, "$exists", false);
  bson_append_document_end(&filter, &absent);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  append_caller(&set, "canceledBy", by);
  BSON_APPEND_DATE_TIME(&set, "canceledAt", at_ms);
  bson_append_document_end(&update, &set);
  bson_error_t berr;
  bool ok = mongoc_collection_update_one(history, &filter, &update, NULL, NULL, &berr);
  bson_destroy(&update);
  bson_destroy(&filter);
  return write_result(ok, &berr, err, "recording a cancel in the history");
}

static void append_newest_first(bson_t *opts) {
  bson_t sort;
  BSON_APPEND_DOCUMENT_BEGIN(opts, "sort", &sort);
  BSON_APPEND_INT32(&sort, "startedAt", -1);
  BSON_APPEND_INT32(&sort, "_id", -1);
  bson_append_document_end(opts, &sort);
}

tm_code tm_history_trim(mongoc_collection_t *history, const char *migration, int keep,
                        tm_error *err) {
  bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, projection;
  BSON_APPEND_UTF8(&filter, "migration", migration);
  append_newest_first(&opts);
  BSON_APPEND_INT64(&opts, "skip", keep);
  BSON_APPEND_INT64(&opts, "limit", 1000);
  BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &projection);
  BSON_APPEND_INT32(&projection, "_id", 1);
  bson_append_document_end(&opts, &projection);
  mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(history, &filter, &opts, NULL);
  bson_t del = BSON_INITIALIZER, id, in;
  BSON_APPEND_DOCUMENT_BEGIN(&del, "_id", &id);
  BSON_APPEND_ARRAY_BEGIN(&id, "$in", &in);
  uint32_t n = 0;
  const bson_t *doc;
  while (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id")) continue;
    char key[16];
    const char *k;
    bson_uint32_to_string(n++, &k, key, sizeof key);
    bson_append_value(&in, k, -1, bson_iter_value(&it));
  }
  bson_append_array_end(&id, &in);
  bson_append_document_end(&del, &id);
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (ok && n > 0) ok = mongoc_collection_delete_many(history, &del, NULL, NULL, &berr);
  mongoc_cursor_destroy(cursor);
  bson_destroy(&del);
  bson_destroy(&opts);
  bson_destroy(&filter);
  return write_result(ok, &berr, err, "trimming the history");
}

/* --- reading --- */

static char *string_of(const bson_iter_t *it) {
  return BSON_ITER_HOLDS_UTF8(it) ? strdup(bson_iter_utf8(it, NULL)) : NULL;
}

static int64_t int_of(const bson_iter_t *it) {
  if (BSON_ITER_HOLDS_DATE_TIME(it)) return bson_iter_date_time(it);
  return BSON_ITER_HOLDS_NUMBER(it) ? bson_iter_as_int64(it) : 0;
}

static void copy_field(const bson_iter_t *it, char *out, size_t size) {
  if (BSON_ITER_HOLDS_UTF8(it)) snprintf(out, size, "%s", bson_iter_utf8(it, NULL));
}

static void parse_caller(const bson_iter_t *it, tm_caller *out) {
  bson_iter_t sub;
  if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &sub)) return;
  while (bson_iter_next(&sub)) {
    const char *key = bson_iter_key(&sub);
    if (strcmp(key, "peer") == 0) copy_field(&sub, out->peer, sizeof out->peer);
    if (strcmp(key, "identity") == 0) copy_field(&sub, out->identity, sizeof out->identity);
    if (strcmp(key, "userAgent") == 0) copy_field(&sub, out->user_agent, sizeof out->user_agent);
  }
}

static void parse_names(const bson_iter_t *it, tm_history_entry *e) {
  bson_iter_t sub;
  if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &sub)) return;
  while (bson_iter_next(&sub)) {
    if (!BSON_ITER_HOLDS_UTF8(&sub)) continue;
    e->migrations = realloc(e->migrations, (e->n_migrations + 1) * sizeof *e->migrations);
    e->migrations[e->n_migrations++] = strdup(bson_iter_utf8(&sub, NULL));
  }
}

static void parse_events(const bson_iter_t *it, tm_history_entry *e) {
  bson_iter_t list, f;
  if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &list)) return;
  while (bson_iter_next(&list) && e->n_events < TM_HISTORY_EVENTS_MAX) {
    if (!BSON_ITER_HOLDS_DOCUMENT(&list) || !bson_iter_recurse(&list, &f)) continue;
    e->events = realloc(e->events, (e->n_events + 1) * sizeof *e->events);
    tm_history_event *ev = &e->events[e->n_events++];
    memset(ev, 0, sizeof *ev);
    while (bson_iter_next(&f)) {
      const char *key = bson_iter_key(&f);
      if (strcmp(key, "action") == 0) copy_field(&f, ev->action, sizeof ev->action);
      if (strcmp(key, "by") == 0) parse_caller(&f, &ev->by);
      if (strcmp(key, "at") == 0) ev->at_ms = int_of(&f);
      if (strcmp(key, "detail") == 0 && !ev->detail) ev->detail = string_of(&f);
    }
  }
}

static void parse_failed(const bson_iter_t *it, tm_history_entry *e) {
  bson_iter_t f;
  if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &f)) return;
  while (bson_iter_next(&f)) {
    if (strcmp(bson_iter_key(&f), "count") == 0) e->failed_count = int_of(&f);
    if (strcmp(bson_iter_key(&f), "first") == 0 && BSON_ITER_HOLDS_ARRAY(&f) && !e->failed) {
      uint32_t len;
      const uint8_t *data;
      bson_iter_array(&f, &len, &data);
      e->failed = bson_new_from_data(data, len);
    }
  }
}

static void parse_entry(const bson_t *doc, tm_history_entry *e) {
  memset(e, 0, sizeof *e);
  e->state = TM_STATE_PENDING;
  bson_iter_t it;
  if (!bson_iter_init(&it, doc)) return;
  while (bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    bool flag = BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
    if (strcmp(key, "runId") == 0 && !e->run_id) e->run_id = string_of(&it);
    if (strcmp(key, "migration") == 0 && !e->migration) e->migration = string_of(&it);
    if (strcmp(key, "migrations") == 0) parse_names(&it, e);
    if (strcmp(key, "rerun") == 0) e->rerun = flag;
    if (strcmp(key, "async") == 0) e->async = flag;
    if (strcmp(key, "sweptDrift") == 0) e->swept_drift = flag;
    if (strcmp(key, "batchSize") == 0) e->batch_size = (int)int_of(&it);
    if (strcmp(key, "caller") == 0) parse_caller(&it, &e->caller);
    if (strcmp(key, "state") == 0 && BSON_ITER_HOLDS_UTF8(&it)) {
      e->state = tm_state_from_name(bson_iter_utf8(&it, NULL));
    }
    if (strcmp(key, "startedAt") == 0) e->started_at_ms = int_of(&it);
    if (strcmp(key, "finishedAt") == 0) e->finished_at_ms = int_of(&it);
    if (strcmp(key, "total") == 0) e->total = int_of(&it);
    if (strcmp(key, "processed") == 0) e->processed = int_of(&it);
    if (strcmp(key, "updated") == 0) e->updated = int_of(&it);
    if (strcmp(key, "error") == 0 && !e->error && BSON_ITER_HOLDS_UTF8(&it)) {
      const char *s = bson_iter_utf8(&it, NULL);
      if (*s) e->error = strdup(s);
    }
    if (strcmp(key, "canceledBy") == 0) {
      e->canceled = true;
      parse_caller(&it, &e->canceled_by);
    }
    if (strcmp(key, "canceledAt") == 0) e->canceled_at_ms = int_of(&it);
    if (strcmp(key, "events") == 0 && !e->events) parse_events(&it, e);
    if (strcmp(key, "failed") == 0) parse_failed(&it, e);
    if (strcmp(key, "controls") == 0 && BSON_ITER_HOLDS_DOCUMENT(&it)) {
      tm_controls_parse(&it, &e->controls);
      e->has_controls = true;
    }
  }
  if (!e->run_id) e->run_id = strdup("");
  if (!e->migration) e->migration = strdup("");
}

/* The position after an entry: "<startedAt ms>:<_id>". */
static void token_of(const bson_t *doc, char *out) {
  bson_iter_t it;
  int64_t at = bson_iter_init_find(&it, doc, "startedAt") ? int_of(&it) : 0;
  const char *id = bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it)
                       ? bson_iter_utf8(&it, NULL)
                       : "";
  int n = snprintf(out, TM_HISTORY_TOKEN_MAX, "%" PRId64 ":%s", at, id);
  if (n < 0 || n >= TM_HISTORY_TOKEN_MAX) out[0] = '\0'; /* an id this long was not ours */
}

/* Adds "after this position" to filter: older, or as old with a smaller _id. */
static bool append_after(bson_t *filter, const char *token) {
  char *end;
  long long at = strtoll(token, &end, 10);
  if (end == token || *end != ':' || !end[1] || strlen(end + 1) > 200) return false;
  const char *id = end + 1;
  bson_t or, older, same, lt, id_lt;
  BSON_APPEND_ARRAY_BEGIN(filter, "$or", & or);
  BSON_APPEND_DOCUMENT_BEGIN(& or, "0", &older);
  BSON_APPEND_DOCUMENT_BEGIN(&older, "startedAt", &lt);
  BSON_APPEND_DATE_TIME(&lt, "$lt", at);
  bson_append_document_end(&older, &lt);
  bson_append_document_end(& or, &older);
  BSON_APPEND_DOCUMENT_BEGIN(& or, "1", &same);
  BSON_APPEND_DATE_TIME(&same, "startedAt", at);
  BSON_APPEND_DOCUMENT_BEGIN(&same, "_id", &id_lt);
  BSON_APPEND_UTF8(&id_lt, "$lt", id);
  bson_append_document_end(&same, &id_lt);
  bson_append_document_end(& or, &same);
  bson_append_array_end(filter, & or);
  return true;
}

tm_code tm_history_list(mongoc_collection_t *history, const char *migration, const char *page_token,
                        int page_size, tm_history_page *out, char *next, tm_error *err) {
  memset(out, 0, sizeof *out);
  next[0] = '\0';
  bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
  if (migration) BSON_APPEND_UTF8(&filter, "migration", migration);
  if (page_token && *page_token && !append_after(&filter, page_token)) {
    bson_destroy(&filter);
    bson_destroy(&opts);
    return tm_error_set(err, TM_ERR_INVALID,
                        "page_token is not one a History answer gave (pass next_page_token as is)");
  }
  append_newest_first(&opts);
  BSON_APPEND_INT64(&opts, "limit", page_size + 1); /* one more: is there a next page? */
  mongoc_read_prefs_t *primary = mongoc_read_prefs_new(MONGOC_READ_PRIMARY);
  mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(history, &filter, &opts, primary);
  out->items = calloc((size_t)page_size + 1, sizeof *out->items);
  const bson_t *doc;
  char last[TM_HISTORY_TOKEN_MAX] = "";
  while (mongoc_cursor_next(cursor, &doc)) {
    if (out->n == (size_t)page_size) {
      snprintf(next, TM_HISTORY_TOKEN_MAX, "%s", last);
      break;
    }
    parse_entry(doc, &out->items[out->n++]);
    token_of(doc, last);
  }
  bson_error_t berr;
  tm_code code = TM_OK;
  if (mongoc_cursor_error(cursor, &berr)) {
    code = tm_store_error(&berr, err, "reading the history");
    tm_history_page_clear(out);
    next[0] = '\0';
  }
  mongoc_cursor_destroy(cursor);
  mongoc_read_prefs_destroy(primary);
  bson_destroy(&opts);
  bson_destroy(&filter);
  return code;
}
