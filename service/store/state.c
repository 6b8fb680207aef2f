/* State documents: parse, read, and the holder's writes (claim, start, checkpoint, finish,
 * restore), each filtered on the writer's lease generation. */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include "store.h"

static const char *const state_names[] = {"",          "PENDING",   "RUNNING",
                                          "SUCCEEDED", "FAILED",    "CANCELED",
                                          "QUEUED",    "CANCELING", "INTERRUPTED"};

const char *tm_state_name(tm_state state) {
  return state >= TM_STATE_PENDING && state <= TM_STATE_INTERRUPTED ? state_names[state]
                                                                    : "UNKNOWN";
}

bool tm_state_is_held(tm_state state) {
  return state == TM_STATE_QUEUED || state == TM_STATE_RUNNING || state == TM_STATE_CANCELING;
}

bool tm_state_is_final(tm_state state) {
  return state == TM_STATE_SUCCEEDED || state == TM_STATE_FAILED || state == TM_STATE_CANCELED;
}

tm_state tm_state_from_name(const char *name) {
  for (int s = TM_STATE_PENDING; s <= TM_STATE_INTERRUPTED; s++) {
    if (s != TM_STATE_CANCELING && strcmp(name, state_names[s]) == 0) return (tm_state)s;
  }
  return TM_STATE_PENDING;
}

void tm_state_doc_clear(tm_state_doc *doc) {
  free(doc->run_id);
  free(doc->owner);
  free(doc->error);
  if (doc->has_cursor) bson_value_destroy(&doc->cursor);
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
    } else if (strcmp(key, "interrupted") == 0) {
      legacy_interrupted = BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
    } else if (strcmp(key, "prev") == 0 && BSON_ITER_HOLDS_DOCUMENT(&it) && !out->prev) {
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(&it, &len, &data);
      out->prev = bson_new_from_data(data, len);
    }
  }
  if (legacy_interrupted && out->state == TM_STATE_FAILED) out->state = TM_STATE_INTERRUPTED;
}

/* The stored fields of doc (all but _id and prev); a document that does not exist is PENDING. */
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
}

static void append_owned_filter(bson_t *filter, const char *name, int64_t lease_gen) {
  BSON_APPEND_UTF8(filter, "_id", name);
  BSON_APPEND_INT64(filter, "leaseGen", lease_gen);
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
  bson_error_t berr;
  tm_code code = TM_OK;
  if (mongoc_cursor_error(cursor, &berr)) {
    code = tm_store_error(&berr, err, "reading the state of a migration");
    tm_state_doc_clear(out);
  }
  mongoc_cursor_destroy(cursor);
  mongoc_read_prefs_destroy(primary);
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
  bson_error_t berr;
  tm_code code = TM_OK;
  if (mongoc_cursor_error(cursor, &berr)) {
    code = tm_store_error(&berr, err, "reading the state of the migrations");
    for (size_t i = 0; i < n; i++) tm_state_doc_clear(&out[i]);
  }
  mongoc_cursor_destroy(cursor);
  mongoc_read_prefs_destroy(primary);
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
                            const bson_value_t *cursor, int64_t processed, int64_t updated,
                            int64_t lease_expires_at_ms, bool *cancel_requested, tm_error *err) {
  bson_t query = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
  append_owned_filter(&query, name, lease_gen);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  if (cursor) BSON_APPEND_VALUE(&set, "cursor", cursor);
  BSON_APPEND_INT64(&set, "processed", processed);
  BSON_APPEND_INT64(&set, "updated", updated);
  BSON_APPEND_DATE_TIME(&set, "leaseExpiresAt", lease_expires_at_ms);
  bson_append_document_end(&update, &set);

  /* findAndModify returns the document as written, cancelRequested included: one round trip per
   * batch both saves progress and hears a Cancel. (FerretDB refuses a projection here.) */
  mongoc_find_and_modify_opts_t *opts = mongoc_find_and_modify_opts_new();
  mongoc_find_and_modify_opts_set_update(opts, &update);
  mongoc_find_and_modify_opts_set_flags(opts, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
  bson_t reply;
  bson_error_t berr;
  bool ok = mongoc_collection_find_and_modify_with_opts(states, &query, opts, &reply, &berr);
  tm_code code = TM_OK;
  bson_iter_t it, field;
  *cancel_requested = false;
  if (!ok) {
    code = tm_store_error(&berr, err, "saving progress");
  } else if (!bson_iter_init_find(&it, &reply, "value") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
    code = tm_error_set(err, TM_ERR_CONFLICT, "%s: lease lost to another holder", name);
  } else if (bson_iter_recurse(&it, &field) && bson_iter_find(&field, "cancelRequested")) {
    *cancel_requested = BSON_ITER_HOLDS_BOOL(&field) && bson_iter_bool(&field);
  }
  bson_destroy(&reply);
  mongoc_find_and_modify_opts_destroy(opts);
  bson_destroy(&query);
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
  if (error) BSON_APPEND_UTF8(&set, "error", error);
  bson_append_document_end(&update, &set);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &unset);
  BSON_APPEND_UTF8(&unset, "prev", "");
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

tm_code tm_state_request_cancel(mongoc_collection_t *states, const char *name, bool *recorded,
                                tm_error *err) {
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
  bson_t state, held;
  BSON_APPEND_UTF8(&filter, "_id", name);
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "state", &state);
  BSON_APPEND_ARRAY_BEGIN(&state, "$in", &held);
  BSON_APPEND_UTF8(&held, "0", tm_state_name(TM_STATE_QUEUED));
  BSON_APPEND_UTF8(&held, "1", tm_state_name(TM_STATE_RUNNING));
  bson_append_array_end(&state, &held);
  bson_append_document_end(&filter, &state);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  BSON_APPEND_BOOL(&set, "cancelRequested", true);
  bson_append_document_end(&update, &set);
  tm_code code = update_one(states, &filter, &update, false, recorded, err, "recording a cancel");
  bson_destroy(&filter);
  bson_destroy(&update);
  return code;
}
