/* Reservations: where names are reserved ({_id: name}) while the index cannot arbitrate, and on
 * FerretDB in every real run, where refused reservations are how taken names are learned; filling
 * the directory with stored names, reserving a batch's plan and releasing what it gave nobody. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../log.h"
#include "../../store/store.h"
#include "usernames_impl.h"

/* ---------------------------------------------------------------------------------------------
 * Reservations and the directory
 *
 * A reservation is {_id: name} in TM_USERNAMES_RESERVATIONS: the insert is atomic everywhere, so
 * two runs can never both reserve a name, and a refused insert means the name is taken. Where the
 * plain index is deferred, reservations are what keeps names unique.
 *
 * A real run learns through them too (the directory) where the index is deferred or the server
 * is FerretDB: before its first write it reserves every name customers hold that could be a
 * candidate, in one pass over them, and then plans each batch optimistically and reserves its
 * names, planning the batch again past every refused one (plan_and_reserve). Without an index on
 * username (deferred), or on FerretDB, which answers any query but a lone _id by reading every
 * customer, learning bases by query cost one such pass per window of customers, N^2 in all;
 * reservations cost an insert per name and the one pass. Reservations a stopped run left behind
 * (names it reserved and never wrote) are dropped before the first write of a run that holds the
 * lease (fill_directory), so a resumed run gives the names an uninterrupted one gives; without the
 * lease they stay taken (another run may still be writing them) until a run ends with the index
 * built and drops the collection. */

void tm_un_name_insert_init(name_insert *b) {
  bson_init(&b->cmd);
  BSON_APPEND_UTF8(&b->cmd, "insert", TM_USERNAMES_RESERVATIONS);
  BSON_APPEND_BOOL(&b->cmd, "ordered", false);
  bson_append_array_begin(&b->cmd, "documents", -1, &b->docs);
  b->n = 0;
}

/* customer: who the name is reserved for, or NULL (a name a customer already holds). */
void tm_un_name_insert_add(name_insert *b, const char *name, size_t len,
                           const bson_value_t *customer) {
  char key[16];
  const char *k;
  bson_uint32_to_string((uint32_t)b->n++, &k, key, sizeof key);
  bson_t d;
  bson_append_document_begin(&b->docs, k, -1, &d);
  bson_append_utf8(&d, "_id", 3, name, (int)len);
  if (customer) bson_append_value(&d, "customer", 8, customer);
  bson_append_document_end(&b->docs, &d);
}

/* Sends the command and frees it. refused (b->n entries, or NULL) tells which names were already
 * reserved; any other failure fails the whole insert. */
tm_code tm_un_name_insert_send(tm_usernames *u, name_insert *b, bool *refused, tm_error *err) {
  bson_append_array_end(&b->cmd, &b->docs);
  size_t n = b->n;
  if (refused) memset(refused, 0, n * sizeof *refused);
  if (n == 0) {
    bson_destroy(&b->cmd);
    return TM_OK;
  }
  bson_t reply;
  bson_error_t berr;
  bool ok = tm_un_write_command(u, &b->cmd, &reply, &berr);
  bson_destroy(&b->cmd);
  /* Duplicates arrive as writeErrors (ok: 1); anything else fails the batch. */
  bson_iter_t it, errs;
  tm_code code = TM_OK;
  if (bson_iter_init_find(&it, &reply, "writeErrors") && bson_iter_recurse(&it, &errs)) {
    while (bson_iter_next(&errs) && code == TM_OK) {
      bson_iter_t we;
      int64_t idx = -1, wcode = 0;
      const char *msg = "";
      if (!bson_iter_recurse(&errs, &we)) continue;
      while (bson_iter_next(&we)) {
        if (strcmp(bson_iter_key(&we), "index") == 0) idx = bson_iter_as_int64(&we);
        if (strcmp(bson_iter_key(&we), "code") == 0) wcode = bson_iter_as_int64(&we);
        if (strcmp(bson_iter_key(&we), "errmsg") == 0 && BSON_ITER_HOLDS_UTF8(&we)) {
          msg = bson_iter_utf8(&we, NULL);
        }
      }
      if (idx < 0 || (size_t)idx >= n || !tm_un_is_duplicate_entry(wcode, msg)) {
        bool transient = tm_profile_classify_code(wcode, msg) == TM_SERVER_ERR_TRANSIENT;
        code = tm_error_set(err, transient ? TM_ERR_UNAVAILABLE : TM_ERR_INTERNAL,
                            "reserving usernames: %s", msg);
      } else if (refused) {
        refused[idx] = true;
      }
    }
  } else if (!ok) {
    code = tm_store_error(&berr, err, "reserving usernames");
  }
  bson_destroy(&reply);
  u->used_reservations = true;
  return code;
}

/* True for a name some base could have as a candidate: [a-z0-9] only, not too long. */
bool tm_un_candidate_shaped(const char *s, size_t len) {
  if (len == 0 || len > TM_USERNAME_MAX) return false;
  for (size_t i = 0; i < len; i++) {
    if (!tm_bases_is_base_char(s[i])) return false;
  }
  return true;
}

/* ---------------------------------------------------------------------------------------------
 * Reserving names */

/* Runs a read command on the customers' database; *batch iterates its cursor's first batch. */
static tm_code first_batch(tm_usernames *u, const bson_t *cmd, bson_t *reply, bson_iter_t *batch,
                           const char *what, tm_error *err) {
  bson_error_t berr;
  if (!mongoc_collection_read_command_with_opts(u->customers, cmd, NULL, NULL, reply, &berr)) {
    return tm_store_error(&berr, err, what);
  }
  bson_iter_t it;
  if (!bson_iter_init(&it, reply) || !bson_iter_find_descendant(&it, "cursor.firstBatch", batch) ||
      !bson_iter_recurse(batch, batch)) {
    return tm_error_set(err, TM_ERR_INTERNAL, "%s: the reply has no cursor", what);
  }
  return TM_OK;
}

/* Whether the directory was there before this run filled it (a run stopped or failed before). */
bool tm_un_directory_inherited(tm_usernames *u) {
  bson_t cmd = BSON_INITIALIZER, filter, reply;
  bson_iter_t batch;
  BSON_APPEND_INT32(&cmd, "listCollections", 1);
  bson_append_document_begin(&cmd, "filter", -1, &filter);
  BSON_APPEND_UTF8(&filter, "name", TM_USERNAMES_RESERVATIONS);
  bson_append_document_end(&cmd, &filter);
  BSON_APPEND_BOOL(&cmd, "nameOnly", true);
  tm_error err;
  /* Unknown counts as there: the check costs one query that finds nothing. */
  bool there = first_batch(u, &cmd, &reply, &batch, "listing collections", &err) != TM_OK ||
               bson_iter_next(&batch);
  bson_destroy(&reply);
  bson_destroy(&cmd);
  return there;
}

static ptrdiff_t own_find(const own_names *o, const char *name) {
  if (!tm_u64set_has(&o->hashes, tm_hash_bytes(name, strlen(name)))) return -1;
  for (size_t i = 0; i < o->n; i++) {
    if (strcmp(o->names[i], name) == 0) return (ptrdiff_t)i;
  }
  return -1;
}

static void own_add(own_names *o, const char *name) {
  if (o->n == o->cap) {
    o->cap = o->cap ? o->cap * 2 : 64;
    o->names = bson_realloc(o->names, o->cap * sizeof *o->names);
    o->used = bson_realloc(o->used, o->cap * sizeof *o->used);
  }
  size_t len = strlen(name);
  memcpy(o->names[o->n], name, len + 1);
  o->used[o->n++] = false;
  (void)tm_u64set_add(&o->hashes, tm_hash_bytes(name, len));
}

void tm_un_own_clear(own_names *o) {
  bson_free(o->names);
  bson_free(o->used);
  tm_u64set_clear(&o->hashes);
}

/* Deletes this batch's reservations that no customer of it was written with: left in place they
 * would read as taken to the next batch, which one customer at a time would not have seen. */
tm_code tm_un_release_unused(tm_usernames *u, own_names *o, const item *items, size_t n,
                             tm_error *err) {
  for (size_t i = 0; i < n; i++) {
    ptrdiff_t at = items[i].state == ITEM_WRITTEN ? own_find(o, items[i].name) : -1;
    if (at >= 0) o->used[at] = true;
  }
  size_t chunk = u->max_statements ? u->max_statements : o->n;
  tm_code code = TM_OK;
  for (size_t i = 0; i < o->n && code == TM_OK;) {
    bson_t cmd = BSON_INITIALIZER, deletes, reply;
    BSON_APPEND_UTF8(&cmd, "delete", TM_USERNAMES_RESERVATIONS);
    bson_append_array_begin(&cmd, "deletes", -1, &deletes);
    size_t in_cmd = 0;
    for (; i < o->n && in_cmd < chunk; i++) {
      if (o->used[i]) continue;
      u->released++;
      char key[16];
      const char *k;
      bson_uint32_to_string((uint32_t)in_cmd++, &k, key, sizeof key);
      bson_t d, q;
      bson_append_document_begin(&deletes, k, -1, &d);
      bson_append_document_begin(&d, "q", 1, &q);
      BSON_APPEND_UTF8(&q, "_id", o->names[i]);
      bson_append_document_end(&d, &q);
      BSON_APPEND_INT32(&d, "limit", 1);
      bson_append_document_end(&deletes, &d);
    }
    bson_append_array_end(&cmd, &deletes);
    bson_error_t berr;
    bson_iter_t it;
    if (in_cmd > 0) {
      bool ok = tm_un_write_command(u, &cmd, &reply, &berr);
      if (!ok && tm_profile_classify(&berr, &reply) == TM_SERVER_ERR_RACED_DROP) {
        /* A run that built by_username dropped the reservations while this delete ran. Once the
         * drop is through, the same delete finds the names gone with the collection; a failure
         * that was not the race fails again. */
        tm_log(TM_LOG_INFO, "usernames: releasing reservations met a drop; deleting again",
               "migration", TM_LOG_STR(u->m->name), "collection",
               TM_LOG_STR(TM_USERNAMES_RESERVATIONS), "error", TM_LOG_STR(berr.message), NULL);
        bson_destroy(&reply);
        ok = tm_un_write_command(u, &cmd, &reply, &berr);
      }
      if (!ok) {
        code = tm_store_error(&berr, err, "releasing reservations");
      } else if (bson_iter_init_find(&it, &reply, "writeErrors")) {
        code = tm_error_set(err, TM_ERR_INTERNAL, "releasing reservations: the server refused one");
      }
      bson_destroy(&reply);
    }
    bson_destroy(&cmd);
  }
  return code;
}

/* The directory's rounds: plans the batch as one customer at a time would, reserves the planned
 * names not yet in `own`, and when some are refused (taken), takes the whole plan back, marks them
 * taken and plans again: a refused name can change what every later customer of the batch gets,
 * of its base or of another whose candidates overlap ("john" + "13" is "john1" + "3"). Each round
 * learns a new taken name, so they end. Then sent[i] says which items to write. No random skip
 * after write conflicts, unlike the other paths: reservations already keep runs apart. */
tm_code tm_un_plan_and_reserve(tm_usernames *u, item *items, size_t n, own_names *own, bool *sent,
                               tm_error *err) {
  size_t *index_of = bson_malloc((n ? n : 1) * sizeof *index_of);
  bool *refused = bson_malloc((n ? n : 1) * sizeof *refused);
  tm_code code;
  for (;;) {
    tm_bases_journal_on(&u->cache, true);
    code = tm_un_plan(u, items, n, 0, err);
    tm_bases_journal_on(&u->cache, false);
    if (code != TM_OK) break;
    name_insert b;
    tm_un_name_insert_init(&b);
    for (size_t i = 0; i < n; i++) {
      if (items[i].state != ITEM_PENDING || own_find(own, items[i].name) >= 0) continue;
      index_of[b.n] = i;
      tm_un_name_insert_add(&b, items[i].name, items[i].name_len, &items[i].id);
    }
    size_t count = b.n, n_refused = 0;
    code = tm_un_name_insert_send(u, &b, refused, err);
    if (code != TM_OK) break;
    for (size_t j = 0; j < count; j++) {
      if (refused[j]) {
        n_refused++;
      } else {
        own_add(own, items[index_of[j]].name);
      }
    }
    if (n_refused == 0) break;
    u->refusals += (int64_t)n_refused;
    tm_bases_journal_undo(&u->cache);
    for (size_t j = 0; j < count; j++) {
      if (refused[j])
        tm_bases_mark_name(&u->cache, items[index_of[j]].name, items[index_of[j]].name_len);
    }
  }
  if (code == TM_OK) {
    tm_bases_journal_keep(&u->cache); /* the plan stands */
  } else {
    tm_bases_journal_undo(&u->cache); /* names never reserved must not stay marked taken */
  }
  for (size_t i = 0; i < n; i++) sent[i] = code == TM_OK && items[i].state == ITEM_PENDING;
  bson_free(refused);
  bson_free(index_of);
  return code;
}

/* Reserves every stored candidate-shaped name (strings and array elements), in one pass over the
 * customers (the pass the duplicate watch waits for, when there is one). */
tm_code tm_un_fill_directory(tm_usernames *u, tm_error *err) {
  if (u->exclusive && tm_un_directory_inherited(u)) {
    /* A stopped run's reservations for names it never wrote would be skipped as taken, and the
     * resumed run would not give the names an uninterrupted one gives. */
    bson_t cmd = BSON_INITIALIZER, reply;
    bson_error_t berr;
    BSON_APPEND_UTF8(&cmd, "drop", TM_USERNAMES_RESERVATIONS);
    bool ok = tm_un_write_command(u, &cmd, &reply, &berr) ||
              tm_profile_classify(&berr, NULL) == TM_SERVER_ERR_NAMESPACE_MISSING;
    bson_destroy(&reply);
    bson_destroy(&cmd);
    if (!ok) return tm_store_error(&berr, err, "dropping the reservations left");
  }
  bson_t all = BSON_INITIALIZER;
  tm_code code = tm_un_read_taken(u, &all, true, err);
  if (code == TM_OK) u->directory_filled = true;
  tm_log(TM_LOG_INFO, "usernames: stored names reserved", "migration", TM_LOG_STR(u->m->name),
         "collection", TM_LOG_STR(TM_USERNAMES_RESERVATIONS), "ok", TM_LOG_BOOL(code == TM_OK),
         NULL);
  return code;
}
