/* State documents: parse, read, and the holder's writes (claim, start, checkpoint, finish,
 * restore), each filtered on the writer's lease generation. */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include "store.h"

static const char *const state_names[] = {
    "",       "PENDING",   "RUNNING",     "SUCCEEDED", "FAILED",  "CANCELED",
    "QUEUED", "CANCELING", "INTERRUPTED", "PAUSED",    "PAUSING", "THROTTLED"};

const char *tm_state_name(tm_state state) {
  return state >= TM_STATE_PENDING && state <= TM_STATE_THROTTLED ? state_names[state] : "UNKNOWN";
}

bool tm_state_is_held(tm_state state) {
  return state == TM_STATE_QUEUED || state == TM_STATE_RUNNING || state == TM_STATE_CANCELING ||
         state == TM_STATE_PAUSING || state == TM_STATE_THROTTLED;
}

bool tm_state_is_final(tm_state state) {
  return state == TM_STATE_SUCCEEDED || state == TM_STATE_FAILED || state == TM_STATE_CANCELED ||
         state == TM_STATE_PAUSED;
}

/* Reported from flags, never stored. */
static bool reported_only(tm_state s) {
  return s == TM_STATE_CANCELING || s == TM_STATE_PAUSING || s == TM_STATE_THROTTLED;
}

tm_state tm_state_from_name(const char *name) {
  for (int s = TM_STATE_PENDING; s <= TM_STATE_THROTTLED; s++) {
    if (!reported_only((tm_state)s) && strcmp(name, state_names[s]) == 0) return (tm_state)s;
  }
  return TM_STATE_PENDING;
}

void tm_state_doc_clear(tm_state_doc *doc) {
  free(doc->run_id);
  free(doc->owner);
  free(doc->error);
  free(doc->throttle_reason);
  free(doc->waiting_for);
  if (doc->has_cursor) bson_value_destroy(&doc->cursor);
  if (doc->failed) bson_destroy(doc->failed);
  if (doc->prev) bson_destroy(doc->prev);
  memset(doc, 0, sizeof *doc);
  doc->state = TM_STATE_PENDING;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void tm_state_doc_copy(const tm_state_doc *src, tm_state_doc *dst) {
  *dst = *src;
  dst->run_id = dup_or_null(src->run_id);
  dst->owner = dup_or_null(src->owner);
  dst->error = dup_or_null(src->error);
  dst->throttle_reason = dup_or_null(src->throttle_reason);
  dst->waiting_for = dup_or_null(src->waiting_for);
  dst->failed = src->failed ? bson_copy(src->failed) : NULL;
  if (src->has_cursor) bson_value_copy(&src->cursor, &dst->cursor);
  dst->prev = src->prev ? bson_copy(src->prev) : NULL;
}

static char *string_of(const bson_iter_t *it) {
  if (!BSON_ITER_HOLDS_UTF8(it)) return NULL;
  uint32_t len;
  const char *s = bson_iter_utf8(it, &len);
  return strndup(s, len);
}

static int64_t ms_of(const bson_iter_t *it) {
  if (BSON_ITER_HOLDS_DATE_TIME(it)) return bson_iter_date_time(it);
  if (BSON_ITER_HOLDS_NUMBER(it)) return bson_iter_as_int64(it);
  return 0;
}

static int64_t count_of(const bson_iter_t *it) {
  return BSON_ITER_HOLDS_NUMBER(it) ? bson_iter_as_int64(it) : 0;
}

static bson_t *subdocument_of(const bson_iter_t *it) {
  uint32_t len;
  const uint8_t *data;
  if (BSON_ITER_HOLDS_DOCUMENT(it)) {
    bson_iter_document(it, &len, &data);
  } else if (BSON_ITER_HOLDS_ARRAY(it)) {
    bson_iter_array(it, &len, &data);
  } else {
    return NULL;
  }
  return bson_new_from_data(data, len);
}

/* throttle: {reason, since} and failed: {count, first}. */
static void parse_nested(const bson_iter_t *it, tm_state_doc *out) {
  bson_iter_t f;
  if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &f)) return;
  bool throttle = strcmp(bson_iter_key(it), "throttle") == 0;
  while (bson_iter_next(&f)) {
    const char *k = bson_iter_key(&f);
    if (throttle && strcmp(k, "reason") == 0 && !out->throttle_reason) {
      out->throttle_reason = string_of(&f);
    } else if (throttle && strcmp(k, "since") == 0) {
      out->throttled_since_ms = ms_of(&f);
    } else if (!throttle && strcmp(k, "count") == 0) {
      out->failed_count = count_of(&f);
    } else if (!throttle && strcmp(k, "first") == 0 && !out->failed) {
      out->failed = BSON_ITER_HOLDS_ARRAY(&f) ? subdocument_of(&f) : NULL;
    }
  }
}

void tm_state_doc_parse(const bson_t *bson, tm_state_doc *out) {
  memset(out, 0, sizeof *out);
  out->exists = true;
  out->state = TM_STATE_PENDING;
  bool legacy_interrupted = false;
  bson_iter_t it;
  if (!bson_iter_init(&it, bson)) return;
  while (bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    if (strcmp(key, "state") == 0 && BSON_ITER_HOLDS_UTF8(&it)) {
      out->state = tm_state_from_name(bson_iter_utf8(&it, NULL));
    } else if (strcmp(key, "runId") == 0) {
      free(out->run_id);
      out->run_id = string_of(&it);
    } else if (strcmp(key, "owner") == 0) {
      free(out->owner);
      out->owner = string_of(&it);
    } else if (strcmp(key, "error") == 0) {
      free(out->error);
      out->error = string_of(&it);
    } else if (strcmp(key, "leaseGen") == 0) {
      out->lease_gen = count_of(&it);
    } else if (strcmp(key, "leaseExpiresAt") == 0) {
      out->lease_expires_at_ms = ms_of(&it);
    } else if (strcmp(key, "cursor") == 0 && !out->has_cursor) {
      bson_value_copy(bson_iter_value(&it), &out->cursor);
      out->has_cursor = true;
    } else if (strcmp(key, "processed") == 0) {
      out->processed = count_of(&it);
    } else if (strcmp(key, "updated") == 0) {
      out->updated = count_of(&it);
    } else if (strcmp(key, "total") == 0) {
      out->total = count_of(&it);
    } else if (strcmp(key, "startedAt") == 0) {
      out->started_at_ms = ms_of(&it);
    } else if (strcmp(key, "finishedAt") == 0) {
      out->finished_at_ms = ms_of(&it);
    } else if (strcmp(key, "cancelRequested") == 0) {
      out->cancel_requested = BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
    } else if (strcmp(key, "pauseRequested") == 0) {
      out->pause_requested = BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
    } else if (strcmp(key, "controls") == 0 && BSON_ITER_HOLDS_DOCUMENT(&it)) {
      tm_controls_parse(&it, &out->controls);
      out->has_controls = true;
    } else if (strcmp(key, "throttle") == 0 || strcmp(key, "failed") == 0) {
      parse_nested(&it, out);
    } else if (strcmp(key, "waitingFor") == 0 && !out->waiting_for) {
      out->waiting_for = string_of(&it);
    } else if (strcmp(key, "interrupted") == 0) {
      legacy_interrupted = BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
    } else if (strcmp(key, "prev") == 0 && BSON_ITER_HOLDS_DOCUMENT(&it) && !out->prev) {
      out->prev = subdocument_of(&it);
    }
  }
  if (legacy_interrupted && out->state == TM_STATE_FAILED) out->state = TM_STATE_INTERRUPTED;
}

static void append_failed(bson_t *out, int64_t count, const bson_t *first) {
  if (count == 0) return;
  bson_t sub;
  BSON_APPEND_DOCUMENT_BEGIN(out, "failed", &sub);
  BSON_APPEND_INT64(&sub, "count", count);
  if (first) BSON_APPEND_ARRAY(&sub, "first", first);
  bson_append_document_end(out, &sub);
}

/* The stored fields of doc (all but _id, prev and what only a live run has: its throttle, flags
 * and waitingFor); a document that does not exist is PENDING. */
static void append_fields(bson_t *out, const tm_state_doc *doc) {
  BSON_APPEND_UTF8(out, "state", tm_state_name(doc->exists ? doc->state : TM_STATE_PENDING));
  if (!doc->exists) return;
  if (doc->run_id) BSON_APPEND_UTF8(out, "runId", doc->run_id);
  if (doc->owner) BSON_APPEND_UTF8(out, "owner", doc->owner);
  BSON_APPEND_INT64(out, "leaseGen", doc->lease_gen);
  BSON_APPEND_DATE_TIME(out, "leaseExpiresAt", doc->lease_expires_at_ms);
  if (doc->has_cursor) BSON_APPEND_VALUE(out, "cursor", &doc->cursor);
  BSON_APPEND_INT64(out, "processed", doc->processed);
  BSON_APPEND_INT64(out, "updated", doc->updated);
  BSON_APPEND_INT64(out, "total", doc->total);
  if (doc->started_at_ms) BSON_APPEND_DATE_TIME(out, "startedAt", doc->started_at_ms);
  if (doc->finished_at_ms) BSON_APPEND_DATE_TIME(out, "finishedAt", doc->finished_at_ms);
  if (doc->error) BSON_APPEND_UTF8(out, "error", doc->error);
  if (doc->has_controls) tm_controls_append(out, "controls", &doc->controls);
  append_failed(out, doc->failed_count, doc->failed);
}

static void append_owned_filter(bson_t *filter, const char *name, int64_t lease_gen) {
  BSON_APPEND_UTF8(filter, "_id", name);
  BSON_APPEND_INT64(filter, "leaseGen", lease_gen);
}

/* Ends a read: the cursor's error as the result (what: for its message). */
static tm_code end_read(mongoc_cursor_t *cursor, mongoc_read_prefs_t *prefs, tm_error *err,
                        const char *what) {
  bson_error_t berr;
  tm_code code = mongoc_cursor_error(cursor, &berr) ? tm_store_error(&berr, err, what) : TM_OK;
  mongoc_cursor_destroy(cursor);
  mongoc_read_prefs_destroy(prefs);
  return code;
}

tm_code tm_state_read(mongoc_collection_t *states, const char *name, tm_state_doc *out,
                      tm_error *err) {
  memset(out, 0, sizeof *out);
  out->state = TM_STATE_PENDING;
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&filter, "_id", name);
  bson_t opts = BSON_INITIALIZER;
  BSON_APPEND_INT64(&opts, "limit", 1);
  mongoc_read_prefs_t *primary = mongoc_read_prefs_new(MONGOC_READ_PRIMARY);
  mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(states, &filter, &opts, primary);
  const bson_t *doc;
  if (mongoc_cursor_next(cursor, &doc)) tm_state_doc_parse(doc, out);
  tm_code code = end_read(cursor, primary, err, "reading the state of a migration");
  if (code != TM_OK) tm_state_doc_clear(out);
  bson_destroy(&opts);
  bson_destroy(&filter);
  return code;
}

tm_code tm_state_read_many(mongoc_collection_t *states, const char *const *names, size_t n,
                           tm_state_doc *out, tm_error *err) {
  bson_t filter = BSON_INITIALIZER, id, in;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id);
  BSON_APPEND_ARRAY_BEGIN(&id, "$in", &in);
  for (size_t i = 0; i < n; i++) {
    memset(&out[i], 0, sizeof out[i]);
    out[i].state = TM_STATE_PENDING;
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    bson_append_utf8(&in, k, -1, names[i], -1);
  }
  bson_append_array_end(&id, &in);
  bson_append_document_end(&filter, &id);
  mongoc_read_prefs_t *primary = mongoc_read_prefs_new(MONGOC_READ_PRIMARY);
  mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(states, &filter, NULL, primary);
  const bson_t *doc;
  while (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it)) continue;
    const char *id_str = bson_iter_utf8(&it, NULL);
    for (size_t i = 0; i < n; i++) {
      if (!out[i].exists && strcmp(names[i], id_str) == 0) tm_state_doc_parse(doc, &out[i]);
    }
  }
  tm_code code = end_read(cursor, primary, err, "reading the state of the migrations");
  if (code != TM_OK) {
    for (size_t i = 0; i < n; i++) tm_state_doc_clear(&out[i]);
  }
  bson_destroy(&filter);
  return code;
}

/* Runs an update_one and says whether it matched a document. */
static tm_code update_one(mongoc_collection_t *states, const bson_t *filter, const bson_t *update,
                          bool upsert, bool *matched, tm_error *err, const char *what) {
  bson_t opts = BSON_INITIALIZER, reply;
  if (upsert) BSON_APPEND_BOOL(&opts, "upsert", true);
  bson_error_t berr;
  bool ok = mongoc_collection_update_one(states, filter, update, &opts, &reply, &berr);
  bson_iter_t it;
  *matched =
      ok && ((bson_iter_init_find(&it, &reply, "matchedCount") && bson_iter_as_int64(&it) > 0) ||
             (bson_iter_init_find(&it, &reply, "upsertedCount") && bson_iter_as_int64(&it) > 0));
  bson_destroy(&reply);
  bson_destroy(&opts);
  return ok ? TM_OK : tm_store_error(&berr, err, what);
}

tm_code tm_state_claim_write(mongoc_collection_t *states, const char *name,
                             const tm_state_claim *claim, const tm_state_doc *base, tm_error *err) {
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, unset, prev;
  BSON_APPEND_UTF8(&filter, "_id", name);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  BSON_APPEND_UTF8(&set, "state", tm_state_name(TM_STATE_QUEUED));
  BSON_APPEND_UTF8(&set, "runId", claim->run_id);
  BSON_APPEND_UTF8(&set, "owner", claim->owner);
  BSON_APPEND_INT64(&set, "leaseGen", claim->lease_gen);
  BSON_APPEND_DATE_TIME(&set, "leaseExpiresAt", claim->lease_expires_at_ms);
  BSON_APPEND_INT64(&set, "processed", 0);
  BSON_APPEND_INT64(&set, "updated", 0);
  BSON_APPEND_INT64(&set, "total", 0);
  BSON_APPEND_DATE_TIME(&set, "startedAt", claim->now_ms);
  BSON_APPEND_BOOL(&set, "cancelRequested", false);
  BSON_APPEND_BOOL(&set, "pauseRequested", false);
  if (claim->controls) tm_controls_append(&set, "controls", claim->controls);
  bool keep_failed = claim->keep_failed && base->exists && base->failed_count > 0;
  if (keep_failed) append_failed(&set, base->failed_count, base->failed);
  bool keep_cursor = base->exists && base->has_cursor && !claim->reset_cursor;
  if (keep_cursor) BSON_APPEND_VALUE(&set, "cursor", &base->cursor);
  BSON_APPEND_DOCUMENT_BEGIN(&set, "prev", &prev);
  append_fields(&prev, base);
  bson_append_document_end(&set, &prev);
  bson_append_document_end(&update, &set);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &unset);
  BSON_APPEND_UTF8(&unset, "finishedAt", "");
  BSON_APPEND_UTF8(&unset, "error", "");
  BSON_APPEND_UTF8(&unset, "interrupted", "");
  BSON_APPEND_UTF8(&unset, "throttle", "");
  BSON_APPEND_UTF8(&unset, "waitingFor", "");
  if (!keep_failed) BSON_APPEND_UTF8(&unset, "failed", "");
  if (!keep_cursor) BSON_APPEND_UTF8(&unset, "cursor", "");
  bson_append_document_end(&update, &unset);
  bool matched;
  tm_code code = update_one(states, &filter, &update, true, &matched, err, "claiming a migration");
  bson_destroy(&filter);
  bson_destroy(&update);
  return code;
}

tm_code tm_state_start(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                       int64_t total, int64_t now_ms, tm_error *err) {
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, unset;
  append_owned_filter(&filter, name, lease_gen);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  BSON_APPEND_UTF8(&set, "state", tm_state_name(TM_STATE_RUNNING));
  BSON_APPEND_INT64(&set, "total", total);
  BSON_APPEND_DATE_TIME(&set, "startedAt", now_ms);
  bson_append_document_end(&update, &set);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &unset);
  BSON_APPEND_UTF8(&unset, "prev", "");
  bson_append_document_end(&update, &unset);
  bool matched;
  tm_code code = update_one(states, &filter, &update, false, &matched, err, "starting a migration");
  bson_destroy(&filter);
  bson_destroy(&update);
  if (code == TM_OK && !matched) {
    return tm_error_set(err, TM_ERR_CONFLICT, "%s: lease lost to another holder", name);
  }
  return code;
}

tm_code tm_state_checkpoint(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                            const tm_state_progress *pr, bool *cancel_requested,
                            bool *pause_requested, tm_error *err) {
  bson_t query = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
  append_owned_filter(&query, name, lease_gen);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  if (pr->cursor) BSON_APPEND_VALUE(&set, "cursor", pr->cursor);
  BSON_APPEND_INT64(&set, "processed", pr->processed);
  BSON_APPEND_INT64(&set, "updated", pr->updated);
  BSON_APPEND_DATE_TIME(&set, "leaseExpiresAt", pr->lease_expires_at_ms);
  if (pr->controls) tm_controls_append(&set, "controls", pr->controls);
  append_failed(&set, pr->failed_count, pr->failed);
  bson_append_document_end(&update, &set);

  /* findAndModify returns the document as written, its flags included: one round trip per batch
   * both saves progress and hears a Cancel or a Pause. (FerretDB refuses a projection here.) */
  mongoc_find_and_modify_opts_t *opts = mongoc_find_and_modify_opts_new();
  mongoc_find_and_modify_opts_set_update(opts, &update);
  mongoc_find_and_modify_opts_set_flags(opts, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
  bson_t reply;
  bson_error_t berr;
  bool ok = mongoc_collection_find_and_modify_with_opts(states, &query, opts, &reply, &berr);
  tm_code code = TM_OK;
  bson_iter_t it;
  *cancel_requested = *pause_requested = false;
  if (!ok) {
    code = tm_store_error(&berr, err, "saving progress");
  } else if (!bson_iter_init_find(&it, &reply, "value") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
    code = tm_error_set(err, TM_ERR_CONFLICT, "%s: lease lost to another holder", name);
  } else {
    bson_t *value = subdocument_of(&it);
    tm_state_doc doc;
    tm_state_doc_parse(value, &doc);
    *cancel_requested = doc.cancel_requested;
    *pause_requested = doc.pause_requested;
    tm_state_doc_clear(&doc);
    bson_destroy(value);
  }
  bson_destroy(&reply);
  mongoc_find_and_modify_opts_destroy(opts);
  bson_destroy(&query);
  bson_destroy(&update);
  return code;
}

/* An update of name's document filtered on the holder's lease generation; TM_ERR_CONFLICT when it
 * matched nothing. */
static tm_code owned_update(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                            const bson_t *update, tm_error *err, const char *what) {
  bson_t filter = BSON_INITIALIZER;
  append_owned_filter(&filter, name, lease_gen);
  bool matched;
  tm_code code = update_one(states, &filter, update, false, &matched, err, what);
  bson_destroy(&filter);
  if (code == TM_OK && !matched) {
    return tm_error_set(err, TM_ERR_CONFLICT, "%s: lease lost to another holder", name);
  }
  return code;
}

tm_code tm_state_set_throttle(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                              const char *reason, int64_t since_ms, tm_error *err) {
  bson_t update = BSON_INITIALIZER, op, sub;
  if (reason) {
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &op);
    BSON_APPEND_DOCUMENT_BEGIN(&op, "throttle", &sub);
    BSON_APPEND_UTF8(&sub, "reason", reason);
    BSON_APPEND_DATE_TIME(&sub, "since", since_ms);
    bson_append_document_end(&op, &sub);
  } else {
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &op);
    BSON_APPEND_UTF8(&op, "throttle", "");
  }
  bson_append_document_end(&update, &op);
  tm_code code = owned_update(states, name, lease_gen, &update, err, "saving the throttle");
  bson_destroy(&update);
  return code;
}

tm_code tm_state_wait_behind(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                             const char *paused, tm_error *err) {
  bson_t update = BSON_INITIALIZER, set;
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  BSON_APPEND_UTF8(&set, "waitingFor", paused);
  bson_append_document_end(&update, &set);
  tm_code code = owned_update(states, name, lease_gen, &update, err, "leaving a claim queued");
  bson_destroy(&update);
  return code;
}

tm_code tm_state_waiting_behind(mongoc_collection_t *states, const char *paused, char ***names,
                                size_t *n, tm_error *err) {
  *names = NULL;
  *n = 0;
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&filter, "waitingFor", paused);
  BSON_APPEND_UTF8(&filter, "state", tm_state_name(TM_STATE_QUEUED));
  mongoc_read_prefs_t *primary = mongoc_read_prefs_new(MONGOC_READ_PRIMARY);
  mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(states, &filter, NULL, primary);
  const bson_t *doc;
  while (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it)) continue;
    *names = realloc(*names, (*n + 1) * sizeof **names);
    (*names)[(*n)++] = string_of(&it);
  }
  tm_code code = end_read(cursor, primary, err, "reading the migrations waiting behind a pause");
  bson_destroy(&filter);
  return code;
}

tm_code tm_state_set_controls(mongoc_collection_t *states, const char *name, tm_state in,
                              const tm_controls *controls, bool *matched, tm_error *err) {
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
  BSON_APPEND_UTF8(&filter, "_id", name);
  BSON_APPEND_UTF8(&filter, "state", tm_state_name(in));
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  tm_controls_append(&set, "controls", controls);
  bson_append_document_end(&update, &set);
  tm_code code = update_one(states, &filter, &update, false, matched, err, "saving controls");
  bson_destroy(&filter);
  bson_destroy(&update);
  return code;
}

tm_code tm_state_finish(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                        tm_state state, const char *error, int64_t processed, int64_t updated,
                        int64_t now_ms, tm_error *err) {
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, unset;
  append_owned_filter(&filter, name, lease_gen);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  BSON_APPEND_UTF8(&set, "state", tm_state_name(state));
  BSON_APPEND_INT64(&set, "processed", processed);
  BSON_APPEND_INT64(&set, "updated", updated);
  BSON_APPEND_DATE_TIME(&set, "finishedAt", now_ms);
  BSON_APPEND_DATE_TIME(&set, "leaseExpiresAt", now_ms);
  BSON_APPEND_BOOL(&set, "cancelRequested", false);
  BSON_APPEND_BOOL(&set, "pauseRequested", false);
  if (error) BSON_APPEND_UTF8(&set, "error", error);
  bson_append_document_end(&update, &set);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &unset);
  BSON_APPEND_UTF8(&unset, "prev", "");
  BSON_APPEND_UTF8(&unset, "throttle", "");
  BSON_APPEND_UTF8(&unset, "interrupted", "");
  if (!error) BSON_APPEND_UTF8(&unset, "error", "");
  bson_append_document_end(&update, &unset);
  bool matched;
  tm_code code = update_one(states, &filter, &update, false, &matched, err, "saving the outcome");
  bson_destroy(&filter);
  bson_destroy(&update);
  if (code == TM_OK && !matched) {
    return tm_error_set(err, TM_ERR_CONFLICT, "%s: lease lost to another holder", name);
  }
  return code;
}

tm_code tm_state_restore(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                         const tm_state_doc *base, tm_error *err) {
  bson_t filter = BSON_INITIALIZER, doc = BSON_INITIALIZER;
  append_owned_filter(&filter, name, lease_gen);
  BSON_APPEND_UTF8(&doc, "_id", name);
  append_fields(&doc, base);
  bson_error_t berr;
  bool ok = mongoc_collection_replace_one(states, &filter, &doc, NULL, NULL, &berr);
  bson_destroy(&filter);
  bson_destroy(&doc);
  return ok ? TM_OK : tm_store_error(&berr, err, "putting back the state of an unstarted claim");
}

/* {_id: name, state: {$in: [QUEUED, RUNNING]}}: what a Cancel or a Pause may stop. */
static void append_held_filter(bson_t *filter, const char *name) {
  bson_t state, held;
  BSON_APPEND_UTF8(filter, "_id", name);
  BSON_APPEND_DOCUMENT_BEGIN(filter, "state", &state);
  BSON_APPEND_ARRAY_BEGIN(&state, "$in", &held);
  BSON_APPEND_UTF8(&held, "0", tm_state_name(TM_STATE_QUEUED));
  BSON_APPEND_UTF8(&held, "1", tm_state_name(TM_STATE_RUNNING));
  bson_append_array_end(&state, &held);
  bson_append_document_end(filter, &state);
}

static tm_code set_flag(mongoc_collection_t *states, const char *name, const char *flag, bool value,
                        bool *matched, tm_error *err, const char *what) {
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
  append_held_filter(&filter, name);
  if (!value) BSON_APPEND_BOOL(&filter, flag, true);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  BSON_APPEND_BOOL(&set, flag, value);
  bson_append_document_end(&update, &set);
  tm_code code = update_one(states, &filter, &update, false, matched, err, what);
  bson_destroy(&filter);
  bson_destroy(&update);
  return code;
}

tm_code tm_state_request_stop(mongoc_collection_t *states, const char *name, tm_stop_kind kind,
                              bool *recorded, tm_error *err) {
  bool cancel = kind == TM_STOP_CANCEL;
  return set_flag(states, name, cancel ? "cancelRequested" : "pauseRequested", true, recorded, err,
                  cancel ? "recording a cancel" : "recording a pause");
}

tm_code tm_state_withdraw_pause(mongoc_collection_t *states, const char *name, bool *withdrawn,
                                tm_error *err) {
  return set_flag(states, name, "pauseRequested", false, withdrawn, err, "withdrawing a pause");
}
