/* Writing a planned batch of usernames: one update command (in chunks where the server limits
 * statements per command), each statement filtered on _id and the username still missing; what
 * does not come back clean is re-read by _id so the round loop can plan it again. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../log.h"
#include "../../store/profile.h"
#include "../../store/store.h"
#include "usernames_impl.h"

/* {_id: id, $and: [<username still missing or falsy>]}: a customer a concurrent writer completed
 * is not overwritten. FerretDB gets {_id: id} alone (unless --write-filter migration), the only
 * filter it does not answer by reading the whole collection; there the filter would be checked
 * against a snapshot taken when the command started anyway, so the cursor's snapshot that planned
 * the customer guards as much (backfill.c says the same), and the unique index still refuses a
 * duplicate. */
static void build_write_filter(const tm_usernames *u, const item *it, bson_t *out) {
  bson_t and_arr;
  bson_append_value(out, "_id", 3, &it->id);
  if (u->caps.lone_id_writes) return;
  bson_append_array_begin(out, "$and", 4, &and_arr);
  tm_un_append_missing(u, &and_arr, "0");
  bson_append_array_end(out, &and_arr);
}

/* Sends one update command for items[idx[0..count)] and tells how it went. */
static tm_code write_chunk(tm_usernames *u, item *items, const size_t *idx, size_t count,
                           write_outcome *out, tm_error *err) {
  bson_t opts = BSON_INITIALIZER, reply;
  BSON_APPEND_BOOL(&opts, "ordered", false);
  bson_error_t berr;
  mongoc_bulk_operation_t *bulk =
      mongoc_collection_create_bulk_operation_with_opts(u->customers, &opts);
  bson_destroy(&opts);
  for (size_t j = 0; j < count; j++) {
    item *it = &items[idx[j]];
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    build_write_filter(u, it, &filter);
    bson_append_document_begin(&update, "$set", 4, &set);
    bson_append_utf8(&set, u->field->field, -1, it->name, (int)it->name_len);
    bson_append_document_end(&update, &set);
    bool ok = mongoc_bulk_operation_update_one_with_opts(bulk, &filter, &update, NULL, &berr);
    bson_destroy(&filter);
    bson_destroy(&update);
    if (!ok) {
      mongoc_bulk_operation_destroy(bulk);
      return tm_error_set(err, TM_ERR_INTERNAL, "usernames: building the update: %s", berr.message);
    }
  }
  uint32_t server = mongoc_bulk_operation_execute(bulk, &reply, &berr);
  mongoc_bulk_operation_destroy(bulk);
  bson_iter_t it, errs;
  int64_t matched = 0;
  size_t n_errors = 0;
  if (bson_iter_init_find(&it, &reply, "nMatched")) matched = bson_iter_as_int64(&it);
  if (bson_iter_init_find(&it, &reply, "writeErrors") && bson_iter_recurse(&it, &errs)) {
    while (bson_iter_next(&errs)) {
      n_errors++;
      int64_t code = 0, index = -1;
      const char *msg = NULL;
      bson_iter_t we;
      if (bson_iter_recurse(&errs, &we)) {
        while (bson_iter_next(&we)) {
          const char *key = bson_iter_key(&we);
          if (strcmp(key, "code") == 0 && BSON_ITER_HOLDS_NUMBER(&we))
            code = bson_iter_as_int64(&we);
          if (strcmp(key, "index") == 0 && BSON_ITER_HOLDS_NUMBER(&we)) {
            index = bson_iter_as_int64(&we);
          }
          if (strcmp(key, "errmsg") == 0 && BSON_ITER_HOLDS_UTF8(&we))
            msg = bson_iter_utf8(&we, NULL);
        }
      }
      if (tm_un_is_duplicate_entry(code, msg)) {
        out->dup_error = true;
      } else if (u->refused && index >= 0 && (size_t)index < count &&
                 tm_profile_refuses_document(code, msg)) {
        item *refused = &items[idx[index]];
        char why[256];
        tm_profile_describe_error(why, sizeof why, code, msg);
        refused->state = ITEM_REFUSED;
        tm_refused_add(u->refused, &refused->id, why);
      } else {
        out->other_error = true;
        out->berr = berr;
      }
    }
  }
  if (bson_iter_init_find(&it, &reply, "writeConcernErrors") && bson_iter_recurse(&it, &errs) &&
      bson_iter_next(&errs)) {
    bson_destroy(&reply);
    return tm_store_error(&berr, err, "writing usernames (write concern)");
  }
  tm_server_error kind = tm_profile_classify(&berr, &reply);
  bson_destroy(&reply);
  if (!server && n_errors == 0) {
    /* A failure of the whole command. Unreachable servers end the batch; others may be
     * FerretDB's way of reporting a unique violation on update (InternalError, code 1), which
     * only a re-read can confirm. */
    if (kind == TM_SERVER_ERR_TRANSIENT || kind == TM_SERVER_ERR_CREDENTIALS ||
        berr.domain == MONGOC_ERROR_CLIENT) {
      return tm_store_error(&berr, err, "writing usernames");
    }
    out->other_error = true;
    out->berr = berr;
    out->clean = false;
    return TM_OK;
  }
  if (n_errors || matched != (int64_t)count) out->clean = false;
  return TM_OK;
}

/* Open-addressing index of the batch by _id, for matching re-read documents to items. */
typedef struct {
  size_t *slots; /* item index + 1; 0 empty */
  size_t cap;
} id_index;

static uint64_t id_hash(const bson_value_t *v) {
  bson_t k;
  tm_un_value_key(v, &k);
  uint64_t h = tm_hash_bytes(bson_get_data(&k), k.len);
  bson_destroy(&k);
  return h;
}

static void id_index_build(id_index *x, const item *items, size_t n) {
  x->cap = 16;
  while (x->cap < n * 2) x->cap *= 2;
  x->slots = bson_malloc0(x->cap * sizeof *x->slots);
  for (size_t i = 0; i < n; i++) {
    size_t s = (size_t)id_hash(&items[i].id) & (x->cap - 1);
    while (x->slots[s]) s = (s + 1) & (x->cap - 1);
    x->slots[s] = i + 1;
  }
}

static item *id_index_find(const id_index *x, item *items, const bson_value_t *id) {
  size_t s = (size_t)id_hash(id) & (x->cap - 1);
  for (; x->slots[s]; s = (s + 1) & (x->cap - 1)) {
    item *it = &items[x->slots[s] - 1];
    if (tm_un_values_equal(&it->id, id)) return it;
  }
  return NULL;
}

/* After an unclean write, reads back the written items (those in `sent`) to see which got our
 * name (WRITTEN), which a concurrent writer completed or removed (OTHERS), and which are still
 * without a username (left PENDING, to plan again). */
static tm_code reread(tm_usernames *u, item *items, size_t n, const bool *sent, tm_error *err) {
  bson_t filter = BSON_INITIALIZER, cond, in, opts = BSON_INITIALIZER, proj;
  bson_append_document_begin(&filter, "_id", 3, &cond);
  bson_append_array_begin(&cond, "$in", 3, &in);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (!sent[i]) continue;
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)m++, &k, key, sizeof key);
    bson_append_value(&in, k, -1, &items[i].id);
  }
  bson_append_array_end(&cond, &in);
  bson_append_document_end(&filter, &cond);
  bson_append_document_begin(&opts, "projection", -1, &proj);
  BSON_APPEND_INT32(&proj, u->field->field, 1);
  bson_append_document_end(&opts, &proj);
  BSON_APPEND_INT32(&opts, "batchSize", 10000);

  id_index x;
  id_index_build(&x, items, n);
  bool *seen = bson_malloc0((n ? n : 1) * sizeof *seen);
  mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(u->customers, &filter, &opts, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id")) continue;
    item *found = id_index_find(&x, items, bson_iter_value(&it));
    if (!found || !sent[found - items]) continue;
    seen[found - items] = true;
    uint32_t len;
    if (bson_iter_init_find(&it, doc, u->field->field) && BSON_ITER_HOLDS_UTF8(&it) &&
        strcmp(bson_iter_utf8(&it, &len), found->name) == 0 && len == found->name_len) {
      found->state = ITEM_WRITTEN;
    } else if (!tm_filter_doc_misses(doc, u->field)) {
      found->state = ITEM_OTHERS;
    }
  }
  bson_error_t berr;
  tm_code code = TM_OK;
  if (mongoc_cursor_error(cursor, &berr)) {
    code = tm_store_error(&berr, err, "re-reading the batch after a write conflict");
  } else {
    for (size_t i = 0; i < n; i++) {
      if (sent[i] && !seen[i]) items[i].state = ITEM_OTHERS; /* deleted meanwhile */
    }
  }
  mongoc_cursor_destroy(cursor);
  bson_free(seen);
  bson_free(x.slots);
  bson_destroy(&opts);
  bson_destroy(&filter);
  return code;
}

/* Writes the planned names of the items marked in `sent`, in update commands of at most
 * u->max_statements statements; unclean chunks are re-read. *failure receives the outcome.
 *
 * After a conflict (`contended`), FerretDB gets one statement per command: a concurrent writer
 * taking names from the same frontier would otherwise abort every chunk at its first statement,
 * round after round, while one statement per command loses only the names actually taken (what
 * ordered: false gives on MongoDB). Each statement there costs a table scan anyway. */
tm_code tm_un_write_planned(tm_usernames *u, item *items, size_t n, const bool *sent,
                            bool contended, write_outcome *failure, tm_error *err) {
  size_t *idx = bson_malloc((n ? n : 1) * sizeof *idx);
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    if (sent[i]) idx[count++] = i;
  }
  size_t chunk = !u->max_statements ? count : contended ? 1 : u->max_statements;
  bool clean = true;
  tm_code code = TM_OK;
  /* FerretDB stops an update command at its first error, so every chunk is sent whatever the
   * previous ones did: a conflict costs only the statements after it in its own chunk. */
  for (size_t start = 0; start < count && code == TM_OK; start += chunk) {
    size_t len = count - start < chunk ? count - start : chunk;
    write_outcome o = {.clean = true};
    code = write_chunk(u, items, idx + start, len, &o, err);
    if (!o.clean) clean = false;
    if (o.dup_error) failure->dup_error = true;
    if (o.other_error && !failure->other_error) {
      failure->other_error = true;
      failure->berr = o.berr;
    }
  }
  bson_free(idx);
  if (code != TM_OK) return code;
  if (clean) {
    for (size_t i = 0; i < n; i++) {
      if (sent[i]) items[i].state = ITEM_WRITTEN;
    }
    return TM_OK;
  }
  failure->clean = false;
  return reread(u, items, n, sent, err);
}
