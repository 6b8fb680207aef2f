/* One batch of a constant backfill: plan per document, then bulk write. Where writes can carry the
 * migration's filter cheaply (MongoDB), one statement per set of missing fields selects the batch's
 * _id range; where only a lone _id equality is indexed (FerretDB), one statement per document. */
#include "backfill.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/profile.h"
#include "../store/store.h"
#include "json.h"
#include "query.h"

struct tm_backfill {
  const tm_migration *m;
  tm_profile_view caps;
  bson_t defaults;                             /* {"0": <default of fields[0]>, "1": ...} */
  bson_value_t values[TM_BACKFILL_MAX_FIELDS]; /* point into defaults */
};

tm_code tm_backfill_new(const tm_migration *m, const tm_profile_view *caps, tm_backfill **out,
                        tm_error *err) {
  if (m->n_fields == 0 || m->n_fields > TM_BACKFILL_MAX_FIELDS) {
    return tm_error_set(err, TM_ERR_INTERNAL, "%s: %zu fields (1..%d supported)", m->name,
                        m->n_fields, TM_BACKFILL_MAX_FIELDS);
  }
  /* Each default_json is a JSON value: wrap them into one document to parse them. */
  size_t cap = 2;
  for (size_t i = 0; i < m->n_fields; i++) {
    if (!m->fields[i].default_json) {
      return tm_error_set(err, TM_ERR_INTERNAL, "%s: field %s has no constant default", m->name,
                          m->fields[i].field);
    }
    cap += strlen(m->fields[i].default_json) + 16;
  }
  char *json = malloc(cap);
  size_t len = 0;
  json[len++] = '{';
  for (size_t i = 0; i < m->n_fields; i++) {
    len += (size_t)snprintf(json + len, cap - len, "%s\"%zu\":%s", i ? "," : "", i,
                            m->fields[i].default_json);
  }
  snprintf(json + len, cap - len, "}");
  tm_backfill *b = calloc(1, sizeof *b);
  b->m = m;
  b->caps = *caps;
  bson_error_t berr;
  bool ok = bson_init_from_json(&b->defaults, json, -1, &berr);
  free(json);
  if (!ok) {
    free(b);
    return tm_error_set(err, TM_ERR_INTERNAL, "%s: a default is not valid JSON: %s", m->name,
                        berr.message);
  }
  bson_iter_t it;
  for (size_t i = 0; i < m->n_fields; i++) {
    char key[24];
    snprintf(key, sizeof key, "%zu", i);
    if (!bson_iter_init_find(&it, &b->defaults, key)) {
      tm_backfill_destroy(b);
      return tm_error_set(err, TM_ERR_INTERNAL, "%s: default %zu missing", m->name, i);
    }
    b->values[i] = *bson_iter_value(&it);
  }
  *out = b;
  return TM_OK;
}

void tm_backfill_destroy(tm_backfill *b) {
  if (!b) return;
  bson_destroy(&b->defaults);
  free(b);
}

uint32_t tm_backfill_plan(const tm_backfill *b, const bson_t *doc, uint32_t covered) {
  uint32_t mask = 0;
  for (size_t i = 0; i < b->m->n_fields; i++) {
    if (!(covered & (1u << i)) && tm_filter_doc_misses(doc, &b->m->fields[i])) mask |= 1u << i;
  }
  return mask;
}

/* The mask's fields in name order: MongoDB 5.0+ adds new fields to a document in that order
 * whatever the order of $set, other servers (mongo-java-server) in the order given, so sorted
 * they all store the same document. */
static void append_set(const tm_backfill *b, bson_t *out, uint32_t mask) {
  const tm_field *fields = b->m->fields;
  for (uint32_t left = mask; left;) {
    size_t pick = 0;
    while (!(left & (1u << pick))) pick++;
    for (size_t i = pick + 1; i < b->m->n_fields; i++) {
      if ((left & (1u << i)) && strcmp(fields[i].field, fields[pick].field) < 0) pick = i;
    }
    BSON_APPEND_VALUE(out, fields[pick].field, &b->values[pick]);
    left &= ~(1u << pick);
  }
}

/* Which documents a batch's statements select. A range over the batch's _ids costs FerretDB one
 * scan of cheap comparisons per statement, where $in costs a comparison with every listed _id for
 * every document of the collection; MongoDB serves either from the _id index. A range needs its
 * ends in one type bracket ({$gte: 5, $lte: "b"} matches nothing), else the batch lists its _ids.
 */
typedef struct {
  const bson_value_t *first, *last; /* the batch's first and last _id (ascending) */
  bool range;
} span;

static void append_selector(bson_t *filter, const span *sp, const bson_t *const *docs,
                            const uint32_t *masks, size_t n, uint32_t mask) {
  bson_t id, in;
  BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &id);
  if (sp->range) {
    BSON_APPEND_VALUE(&id, "$gte", sp->first);
    BSON_APPEND_VALUE(&id, "$lte", sp->last);
  } else {
    BSON_APPEND_ARRAY_BEGIN(&id, "$in", &in);
    uint32_t k = 0;
    bson_iter_t it;
    for (size_t i = 0; i < n; i++) {
      if (masks[i] != mask || !bson_iter_init_find(&it, docs[i], "_id")) continue;
      char key[16];
      const char *kp;
      bson_uint32_to_string(k++, &kp, key, sizeof key);
      bson_append_value(&in, kp, -1, bson_iter_value(&it));
    }
    bson_append_array_end(&id, &in);
  }
  bson_append_document_end(filter, &id);
}

/* $and: [each field of mask still missing, each other field present]: a statement touches only
 * documents missing exactly its fields, so it sets exactly what each one misses, and a document is
 * changed by one statement at most (nModified counts documents). */
static void append_fields_clause(const tm_backfill *b, bson_t *filter, uint32_t mask) {
  bson_t and_array, present, nor;
  BSON_APPEND_ARRAY_BEGIN(filter, "$and", &and_array);
  for (size_t f = 0; f < b->m->n_fields; f++) {
    char key[16];
    const char *kp;
    bson_uint32_to_string((uint32_t)f, &kp, key, sizeof key);
    if (mask & (1u << f)) {
      tm_filter_append_field(&and_array, kp, &b->m->fields[f], &b->caps);
    } else {
      BSON_APPEND_DOCUMENT_BEGIN(&and_array, kp, &present);
      BSON_APPEND_ARRAY_BEGIN(&present, "$nor", &nor);
      tm_filter_append_field(&nor, "0", &b->m->fields[f], &b->caps);
      bson_append_array_end(&present, &nor);
      bson_append_document_end(&and_array, &present);
    }
  }
  bson_append_array_end(filter, &and_array);
}

static bool add_statement(const tm_backfill *b, mongoc_bulk_operation_t *bulk, const span *sp,
                          const bson_t *const *docs, const uint32_t *masks, size_t n, uint32_t mask,
                          bson_error_t *berr) {
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
  append_selector(&filter, sp, docs, masks, n, mask);
  append_fields_clause(b, &filter, mask);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  append_set(b, &set, mask);
  bson_append_document_end(&update, &set);
  bool ok = mongoc_bulk_operation_update_many_with_opts(bulk, &filter, &update, NULL, berr);
  bson_destroy(&filter);
  bson_destroy(&update);
  return ok;
}

/* {_id: <the document's _id>}: the only write filter FerretDB finds without reading the whole
 * collection (store/profile.h). The filter is not repeated in it: FerretDB checks a write's filter
 * against a snapshot taken when the command started and writes whole documents back, so even there
 * it would not stop a concurrent writer; the cursor's snapshot that planned the document is the
 * same kind of guard (FerretDB's own updateMany gives no more). with_clause adds the fields clause
 * where the filter costs nothing more (MongoDB, writing one document at a time after a refusal). */
static bool add_lone_id_statement(const tm_backfill *b, mongoc_bulk_operation_t *bulk,
                                  const bson_t *doc, uint32_t mask, bool with_clause,
                                  bson_error_t *berr) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "_id")) return true;
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
  BSON_APPEND_VALUE(&filter, "_id", bson_iter_value(&it));
  if (with_clause) append_fields_clause(b, &filter, mask);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  append_set(b, &set, mask);
  bson_append_document_end(&update, &set);
  bool ok = mongoc_bulk_operation_update_one_with_opts(bulk, &filter, &update, NULL, berr);
  bson_destroy(&filter);
  bson_destroy(&update);
  return ok;
}

/* The first entry of a failed bulk write's writeErrors: its statement and whether the server
 * refused that statement's document alone. */
typedef struct {
  bool found, refused;
  uint32_t index;
  char error[256];
} write_error;

static void first_write_error(const bson_t *reply, write_error *out) {
  memset(out, 0, sizeof *out);
  bson_iter_t it, errors, f;
  if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &errors) || !bson_iter_next(&errors) ||
      !BSON_ITER_HOLDS_DOCUMENT(&errors) || !bson_iter_recurse(&errors, &f)) {
    return;
  }
  int64_t code = 0;
  const char *msg = "";
  while (bson_iter_next(&f)) {
    const char *k = bson_iter_key(&f);
    if (strcmp(k, "index") == 0 && BSON_ITER_HOLDS_NUMBER(&f)) {
      out->index = (uint32_t)bson_iter_as_int64(&f);
      out->found = true;
    }
    if (strcmp(k, "code") == 0 && BSON_ITER_HOLDS_NUMBER(&f)) code = bson_iter_as_int64(&f);
    if (strcmp(k, "errmsg") == 0 && BSON_ITER_HOLDS_UTF8(&f)) msg = bson_iter_utf8(&f, NULL);
  }
  out->refused = out->found && tm_profile_refuses_document(code, msg);
  tm_profile_describe_error(out->error, sizeof out->error, code, msg);
}

/* Runs bulk; counts nModified (documents written before a failure included). */
static bool execute(mongoc_bulk_operation_t *bulk, int64_t *updated, write_error *we,
                    bson_error_t *berr) {
  bson_t reply;
  uint32_t ok = mongoc_bulk_operation_execute(bulk, &reply, berr);
  bson_iter_t it;
  if (bson_iter_init_find(&it, &reply, "nModified") && BSON_ITER_HOLDS_NUMBER(&it)) {
    *updated += bson_iter_as_int64(&it);
  }
  if (!ok) first_write_error(&reply, we);
  bson_destroy(&reply);
  return ok;
}

typedef struct {
  const bson_t *const *docs;
  const uint32_t *masks;
  size_t n;
  const uint32_t *distinct; /* the distinct non-zero masks */
  size_t *order;            /* one document per statement: indexes of the documents to write */
  bool with_clause;         /* one document per statement, its fields clause included */
  span sp;
} batch;

typedef bool (*add_fn)(const tm_backfill *b, mongoc_bulk_operation_t *bulk, const batch *bt,
                       size_t k, bson_error_t *berr);

/* Sends n statements (add(k) builds statement k) in ordered update commands of at most the
 * profile's max_write_statements. With refused set and one document per statement, a document the
 * server refuses alone is recorded there and the statements after it go on; any other failure
 * ends the batch. *refusal_seen: a statement of several documents was refused (the caller retries
 * those one by one). */
static tm_code send_statements(const tm_backfill *b, mongoc_collection_t *coll, size_t n,
                               add_fn add, const batch *bt, int64_t *updated, tm_refused *refused,
                               bool *refusal_seen, tm_error *err) {
  size_t chunk = b->caps.max_write_statements ? b->caps.max_write_statements : n;
  for (size_t start = 0; start < n;) {
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "ordered", true);
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, &opts);
    bson_destroy(&opts);
    bson_error_t berr;
    size_t end = start + chunk < n ? start + chunk : n;
    for (size_t k = start; k < end; k++) {
      if (!add(b, bulk, bt, k, &berr)) {
        mongoc_bulk_operation_destroy(bulk);
        return tm_store_error(&berr, err, "planning a batch");
      }
    }
    write_error we;
    bool ok = execute(bulk, updated, &we, &berr);
    mongoc_bulk_operation_destroy(bulk);
    if (ok) {
      start = end;
      continue;
    }
    /* FerretDB fails the whole command instead of naming the statement in writeErrors: send the
     * rest one statement per command to learn which (those that went through match no more). */
    if (!we.found && refused && tm_profile_refuses_document(berr.code, berr.message)) {
      we.found = we.refused = true;
      we.index = 0;
      tm_profile_describe_error(we.error, sizeof we.error, berr.code, berr.message);
      if (end - start > 1 && bt->order) {
        chunk = 1;
        continue;
      }
    }
    if (!refused || !we.refused || start + we.index >= end) {
      return tm_store_error(&berr, err, "writing a batch");
    }
    if (!bt->order) {
      *refusal_seen = true;
      return TM_OK;
    }
    bson_iter_t id;
    if (bson_iter_init_find(&id, bt->docs[bt->order[start + we.index]], "_id")) {
      tm_refused_add(refused, bson_iter_value(&id), we.error);
    }
    start += we.index + 1;
  }
  return TM_OK;
}

static bool add_by_mask(const tm_backfill *b, mongoc_bulk_operation_t *bulk, const batch *bt,
                        size_t k, bson_error_t *berr) {
  return add_statement(b, bulk, &bt->sp, bt->docs, bt->masks, bt->n, bt->distinct[k], berr);
}

static bool add_by_id(const tm_backfill *b, mongoc_bulk_operation_t *bulk, const batch *bt,
                      size_t k, bson_error_t *berr) {
  size_t i = bt->order[k];
  return add_lone_id_statement(b, bulk, bt->docs[i], bt->masks[i], bt->with_clause, berr);
}

/* One statement per document that misses a field. */
static tm_code write_one_by_one(const tm_backfill *b, mongoc_collection_t *coll, batch *bt,
                                int64_t *updated, tm_refused *refused, tm_error *err) {
  size_t *order = malloc((bt->n ? bt->n : 1) * sizeof *order), count = 0;
  for (size_t i = 0; i < bt->n; i++) {
    if (bt->masks[i]) order[count++] = i;
  }
  bt->order = order;
  bool unused;
  tm_code code = send_statements(b, coll, count, add_by_id, bt, updated, refused, &unused, err);
  bt->order = NULL;
  free(order);
  return code;
}

tm_code tm_backfill_write(const tm_backfill *b, mongoc_collection_t *coll,
                          const bson_t *const *docs, const uint32_t *masks, size_t n,
                          int64_t *updated, tm_refused *refused, tm_error *err) {
  *updated = 0;
  batch bt = {.docs = docs, .masks = masks, .n = n};
  if (b->caps.lone_id_writes) return write_one_by_one(b, coll, &bt, updated, refused, err);
  /* The distinct masks, in first-seen order (at most 2^16 - 1, usually 1 to 3). */
  uint32_t *distinct = malloc((n ? n : 1) * sizeof *distinct);
  size_t n_distinct = 0;
  for (size_t i = 0; i < n; i++) {
    if (!masks[i]) continue;
    size_t j = 0;
    while (j < n_distinct && distinct[j] != masks[i]) j++;
    if (j == n_distinct) distinct[n_distinct++] = masks[i];
  }
  bt.distinct = distinct;
  bson_iter_t first, last;
  if (n > 0 && bson_iter_init_find(&first, docs[0], "_id") &&
      bson_iter_init_find(&last, docs[n - 1], "_id")) {
    bt.sp.first = bson_iter_value(&first);
    bt.sp.last = bson_iter_value(&last);
    bt.sp.range = tm_query_same_bracket(bt.sp.first, bt.sp.last);
  }
  bool refusal_seen = false;
  tm_code code =
      send_statements(b, coll, n_distinct, add_by_mask, &bt, updated, refused, &refusal_seen, err);
  free(distinct);
  if (code == TM_OK && refusal_seen) {
    /* A statement over many documents stops at the first it may not write: write the batch again
     * one document at a time to learn which are refused. The clause skips what is written. */
    bt.with_clause = true;
    code = write_one_by_one(b, coll, &bt, updated, refused, err);
  }
  return code;
}

char *tm_backfill_sample(const tm_backfill *b, const bson_t *doc, uint32_t mask) {
  bson_t sample = BSON_INITIALIZER;
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, "_id")) BSON_APPEND_VALUE(&sample, "_id", bson_iter_value(&it));
  append_set(b, &sample, mask);
  char *json = tm_json_relaxed_doc(&sample);
  bson_destroy(&sample);
  return json;
}
