/* Unique usernames for addUsernamesToCustomers: the by_username index (or its fallback), the
 * planner that picks base, base1, base2, ... from what the run knows about taken names, and writes
 * that survive concurrent assigners.
 *
 * Knowledge of taken names lives in a cache keyed by base. For each base it keeps `next`, the
 * smallest suffix not known to be taken (every smaller one is held in the database or assigned by
 * this run), and `holes`, the taken suffixes above it. Suffix 0 stands for the bare base. A base is
 * learned with one query per batch for all of the batch's new bases; assigning a name advances
 * `next`, so the cost is linear in the names assigned, not in the suffixes probed. A name can lie
 * in the candidate space of several bases ("abc11" is abc+11 and abc1+1), so assignments are
 * marked in every cached base they belong to and each candidate is also checked against them.
 * Where such a query reads every customer (FerretDB, or any server while the index is deferred),
 * a real run learns instead from refused reservations in a directory of taken names (see
 * "Reservations and the directory").
 *
 * Writes: the batch's names in one update command (ordered: false; in chunks where the server
 * profile limits statements per command), each statement filtered on _id and the username still
 * missing, so the unique index arbitrates and a customer completed meanwhile is left alone. A batch
 * that does not come back clean (a refused duplicate, FerretDB's InternalError for one, a statement
 * that matched nothing) is re-read by _id, the bases of what is still unnamed are learned afresh,
 * and those customers are planned again: a few round trips per round, at most MAX_ROUNDS rounds. */
#include "usernames.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../log.h"
#include "../../store/store.h"
#include "../../util/u64set.h"
#include "bases.h"
#include "usernames_impl.h"

/* Rounds of plan-and-write per batch before giving up: each round re-learns from the database,
 * so only a writer racing us on every single round could use them all up. */
#define MAX_ROUNDS 16
/* FerretDB reads the whole collection for any query but a lone _id (store/profile.h), so there a
 * dry run (which reserves nothing) learns the bases of this many customers ahead with one pass
 * over every username (tm_usernames_prepare); at most half the cache, so none is forgotten before
 * its batch. */
#define FERRET_LOOKAHEAD_DOCS 32768
/* Stored names are reserved this many per insert command. */
#define DIRECTORY_FILL_BATCH 1000

/* ---------------------------------------------------------------------------------------------
 * The run */

void tm_un_value_json(const bson_value_t *v, char *out, size_t size);
bool tm_un_directory_inherited(tm_usernames *u);

/* Equal values hash alike as the duplicate check groups them: numbers by value whatever their
 * type, strings by bytes, anything else by its extended JSON. Never TM_U64SET_EMPTY. */
static uint64_t value_hash(const bson_iter_t *it) {
  uint64_t h;
  if (BSON_ITER_HOLDS_UTF8(it)) {
    uint32_t len;
    const char *str = bson_iter_utf8(it, &len);
    h = tm_hash_bytes(str, len) ^ 0x5354;
  } else if (BSON_ITER_HOLDS_NUMBER(it) || BSON_ITER_HOLDS_DOUBLE(it)) {
    double d = bson_iter_as_double(it);
    h = tm_hash_bytes(&d, sizeof d) ^ 0x4e55;
  } else {
    char json[256];
    tm_un_value_json(bson_iter_value((bson_iter_t *)it), json, sizeof json);
    h = tm_hash_bytes(json, strlen(json)) ^ 0x4a53;
  }
  return h == TM_U64SET_EMPTY ? 0 : h;
}

/* Adds the value under it; keeps the first value seen twice as the suspect. */
void tm_un_watch_value(dup_watch *w, const bson_iter_t *it) {
  if (tm_filter_value_falsy(it) || tm_u64set_add(&w->seen, value_hash(it)) || w->has_suspect)
    return;
  bson_value_copy(bson_iter_value((bson_iter_t *)it), &w->suspect);
  w->has_suspect = true;
}

void tm_un_watch_clear(dup_watch *w) {
  tm_u64set_clear(&w->seen);
  if (w->has_suspect) bson_value_destroy(&w->suspect);
  *w = (dup_watch){0};
}

/* JSON of a value for messages, truncated to fit. */
void tm_un_value_json(const bson_value_t *v, char *out, size_t size) {
  bson_t doc = BSON_INITIALIZER;
  bson_append_value(&doc, "v", 1, v);
  size_t len;
  char *json = bson_as_relaxed_extended_json(&doc, &len);
  /* { "v" : X } */
  const char *start = json && len > 9 ? json + 8 : "?";
  size_t n = json && len > 9 ? len - 10 : 1;
  if (n >= size) n = size - 1;
  memcpy(out, start, n);
  out[n] = '\0';
  bson_free(json);
  bson_destroy(&doc);
}

/* The BSON encoding of a value (type and bytes) in a one-element document: equal ids encode
 * equal. out must be destroyed. */
void tm_un_value_key(const bson_value_t *v, bson_t *out) {
  bson_init(out);
  bson_append_value(out, "", 0, v);
}

bool tm_un_values_equal(const bson_value_t *a, const bson_value_t *b) {
  bson_t ka, kb;
  tm_un_value_key(a, &ka);
  tm_un_value_key(b, &kb);
  bool eq = ka.len == kb.len && memcmp(bson_get_data(&ka), bson_get_data(&kb), ka.len) == 0;
  bson_destroy(&ka);
  bson_destroy(&kb);
  return eq;
}

/* A writeErrors entry: whether the server refused it as a duplicate. */
bool tm_un_is_duplicate_entry(int64_t code, const char *message) {
  return tm_profile_classify_code(code, message) == TM_SERVER_ERR_DUPLICATE;
}

/* Runs a command on the customers' database that writes (collection's write concern). */
bool tm_un_write_command(tm_usernames *u, const bson_t *cmd, bson_t *reply, bson_error_t *berr) {
  return mongoc_collection_write_command_with_opts(u->customers, cmd, NULL, reply, berr);
}

/* ---------------------------------------------------------------------------------------------
 * Learning taken names */

/* After a watched pass: the server confirms or clears the suspect, and the watch ends. */
static tm_code watch_verdict(tm_usernames *u, tm_error *err) {
  tm_code code = TM_OK;
  if (u->watch.has_suspect) {
    bson_t match = BSON_INITIALIZER;
    bson_append_value(&match, u->field->field, -1, &u->watch.suspect);
    code = tm_un_report_duplicate(u, &match, err);
    bson_destroy(&match);
  }
  tm_log(TM_LOG_DEBUG, "usernames: stored values checked for duplicates in the pass", "migration",
         TM_LOG_STR(u->m->name), "values", TM_LOG_INT((int64_t)u->watch.seen.n), "suspect",
         TM_LOG_BOOL(u->watch.has_suspect), NULL);
  tm_un_watch_clear(&u->watch);
  return code;
}

/* Reads every name in the candidate spaces of the given (new, empty) entries, one query for all,
 * and marks them. */
static tm_code learn(tm_usernames *u, tm_base **bases, size_t n, tm_error *err) {
  if (n == 0) return TM_OK;
  bson_t filter = BSON_INITIALIZER, or_arr;
  if (u->caps.filters_scan) {
    /* Every username: FerretDB decodes every customer for any filter, and the per-document cost
     * of hundreds of clauses is what it cannot afford; tm_bases_mark_name keeps what concerns a
     * cached base. */
    return tm_un_read_taken(u, &filter, false, err);
  }
  bson_append_array_begin(&filter, "$or", 3, &or_arr);
  for (size_t i = 0; i < n; i++) {
    char key[16], regex[TM_USERNAME_BASE_MAX + 16], upper[TM_USERNAME_BASE_MAX + 1];
    const char *k;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    /* Bases are [a-z0-9] only: nothing to escape, and the strings starting with the base are
     * those in [base, base with its last byte + 1). The range comes first: MongoDB scans just
     * that part of the index, and FerretDB, which compiles a $regex anew for every document it
     * tests, only reaches the regex for the few documents inside the range. */
    snprintf(regex, sizeof regex, "^%s[0-9]*$", bases[i]->base);
    memcpy(upper, bases[i]->base, bases[i]->len + 1);
    upper[bases[i]->len - 1]++;
    bson_t clause, cond;
    bson_append_document_begin(&or_arr, k, -1, &clause);
    bson_append_document_begin(&clause, u->field->field, -1, &cond);
    BSON_APPEND_UTF8(&cond, "$gte", bases[i]->base);
    BSON_APPEND_UTF8(&cond, "$lt", upper);
    BSON_APPEND_UTF8(&cond, "$regex", regex);
    bson_append_document_end(&clause, &cond);
    bson_append_document_end(&or_arr, &clause);
  }
  bson_append_array_end(&filter, &or_arr);
  return tm_un_read_taken(u, &filter, false, err);
}

/* What read_taken does with each stored name. */
typedef struct {
  tm_usernames *u;
  bool fill; /* also reserve it (the directory) */
  name_insert batch;
  tm_code code;
  tm_error *err;
} taken_sink;

static void sink_name(taken_sink *k, const char *s, size_t len) {
  tm_bases_mark_name(&k->u->cache, s, len);
  if (!k->fill || k->code != TM_OK || !tm_un_candidate_shaped(s, len)) return;
  tm_un_name_insert_add(&k->batch, s, len, NULL);
  if (k->batch.n < DIRECTORY_FILL_BATCH) return;
  /* Refused ones are reserved already: by an earlier run, or held twice (the watch's business). */
  k->code = tm_un_name_insert_send(k->u, &k->batch, NULL, k->err);
  tm_un_name_insert_init(&k->batch);
}

/* Reads the usernames that filter (destroyed here) selects and marks them taken (and reserves
 * them: fill). A name in an array counts: a multikey unique index holds each element. */
tm_code tm_un_read_taken(tm_usernames *u, bson_t *filter, bool fill, tm_error *err) {
  bson_t opts = BSON_INITIALIZER, proj;
  bson_append_document_begin(&opts, "projection", -1, &proj);
  BSON_APPEND_INT32(&proj, "_id", 0);
  BSON_APPEND_INT32(&proj, u->field->field, 1);
  bson_append_document_end(&opts, &proj);
  BSON_APPEND_INT32(&opts, "batchSize", 10000);

  taken_sink sink = {.u = u, .fill = fill, .code = TM_OK, .err = err};
  tm_un_name_insert_init(&sink.batch);
  bool watched = u->watch.active && bson_empty(filter);
  mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(u->customers, filter, &opts, NULL);
  const bson_t *doc;
  while (sink.code == TM_OK && mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it, elem;
    if (!bson_iter_init_find(&it, doc, u->field->field)) continue;
    if (watched) tm_un_watch_value(&u->watch, &it);
    if (BSON_ITER_HOLDS_UTF8(&it)) {
      uint32_t len;
      const char *s = bson_iter_utf8(&it, &len);
      sink_name(&sink, s, len);
    } else if (BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &elem)) {
      while (bson_iter_next(&elem)) {
        if (!BSON_ITER_HOLDS_UTF8(&elem)) continue;
        uint32_t len;
        const char *s = bson_iter_utf8(&elem, &len);
        sink_name(&sink, s, len);
      }
    }
  }
  bson_error_t berr;
  tm_code code = sink.code;
  if (code == TM_OK && mongoc_cursor_error(cursor, &berr)) {
    code = tm_store_error(&berr, err, "reading the usernames taken");
  }
  if (code == TM_OK && fill) {
    code = tm_un_name_insert_send(u, &sink.batch, NULL, err);
  } else {
    bson_append_array_end(&sink.batch.cmd, &sink.batch.docs);
    bson_destroy(&sink.batch.cmd);
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(&opts);
  bson_destroy(filter);
  if (code == TM_OK && watched) code = watch_verdict(u, err);
  return code;
}

/* Gives every pending item its base entry, learning the bases not cached (all of them afresh
 * when `fresh`, after a conflict showed the cache stale) with one query. */
static tm_code learn_bases(tm_usernames *u, item *items, size_t n, bool fresh, tm_error *err) {
  tm_base **learning = bson_malloc((n ? n : 1) * sizeof *learning);
  size_t n_learning = 0;
  if (fresh) {
    for (size_t i = 0; i < n; i++) {
      tm_base *e = items[i].base;
      if (items[i].state != ITEM_PENDING || !e) continue;
      for (size_t j = 0; j < n; j++) {
        if (items[j].base == e) items[j].base = NULL;
      }
      tm_bases_drop(&u->cache, e);
    }
  }
  for (size_t i = 0; i < n; i++) {
    item *it = &items[i];
    if (it->state != ITEM_PENDING) continue;
    char base[TM_USERNAME_BASE_MAX + 1];
    bson_iter_t name_it;
    const bson_value_t *name = NULL;
    if (bson_iter_init_find(&name_it, it->doc, u->field->derived_from)) {
      name = bson_iter_value(&name_it);
    }
    tm_username_base(name, base);
    size_t len = strlen(base);
    if (len == 0)
      len = (size_t)snprintf(base, sizeof base, "user"); /* never empty, per username.h */
    tm_base *e = tm_bases_find(&u->cache, base, len);
    if (!e) {
      e = tm_bases_add(&u->cache, base, len);
      learning[n_learning++] = e;
    }
    tm_bases_touch(&u->cache, e);
    it->base = e;
  }
  /* The directory's bases start knowing nothing: refused reservations teach them. After a
   * conflict, though, the customers themselves are read (someone wrote past the directory). */
  tm_code code = u->directory && !fresh ? TM_OK : learn(u, learning, n_learning, err);
  if (code != TM_OK) {
    /* Half-learned bases must not stay: they would claim names free that are taken. */
    for (size_t i = 0; i < n; i++) items[i].base = NULL;
    for (size_t j = 0; j < n_learning; j++) tm_bases_drop(&u->cache, learning[j]);
  }
  bson_free(learning);
  return code;
}

/* True when e, just learned from the database, holds name (one of e's candidates). */
static bool entry_holds(const tm_base *e, const char *name, size_t len) {
  uint64_t k;
  if (!e || len < e->len || !tm_bases_parse_suffix(name + e->len, len - e->len, &k)) return false;
  return k < e->next || tm_base_has_hole(e, k);
}

/* Picks the next free candidate of each pending item, in order, as if one at a time, starting
 * `skip` suffixes above each base's next free one (0 but under sustained contention). */
tm_code tm_un_plan(tm_usernames *u, item *items, size_t n, uint64_t skip, tm_error *err) {
  for (size_t i = 0; i < n; i++) {
    item *it = &items[i];
    if (it->state != ITEM_PENDING) continue;
    tm_base *e = it->base;
    uint64_t k = e->next + skip < e->next ? e->next : e->next + skip;
    for (;; k++) {
      if (k == TM_U64SET_EMPTY) {
        return tm_error_set(err, TM_ERR_RESOURCE, "usernames: every suffix of %s is taken",
                            e->base);
      }
      if (k < e->next || tm_base_has_hole(e, k)) continue;
      it->k = k;
      it->name_len = tm_bases_candidate(e, k, it->name);
      if (!tm_bases_is_taken(&u->cache, it->name, it->name_len)) break;
      tm_bases_mark_suffix(&u->cache, e, k);
    }
    tm_bases_mark_name(&u->cache, it->name, it->name_len);
  }
  return TM_OK;
}

/* How far above the frontier to plan in a round after conflicts. A concurrent writer taking
 * names from the same frontier wins it again and again while we re-learn, so from the third
 * round on the planner jumps a random distance, growing each round, past where the other one is
 * writing. The gap is filled by whoever learns that base next. */
static uint64_t contention_skip(tm_usernames *u, int round, size_t pending) {
  if (round < 2) return 0;
  uint64_t span = (uint64_t)pending << (round - 2 < 20 ? round - 2 : 20);
  if (span > (1u << 20) || span == 0) span = 1u << 20;
  u->rng ^= u->rng << 13; /* xorshift64 */
  u->rng ^= u->rng >> 7;
  u->rng ^= u->rng << 17;
  return 1 + u->rng % span;
}

/* ---------------------------------------------------------------------------------------------
 * apply */

static tm_code apply_rounds(tm_usernames *u, item *items, size_t n, tm_error *err) {
  own_names own = {0}; /* the directory's reservations for this batch */
  bool *sent = bson_malloc0((n ? n : 1) * sizeof *sent);
  size_t to_plan = 0;
  for (size_t i = 0; i < n; i++) to_plan += items[i].state == ITEM_PENDING;
  tm_code code = TM_OK;
  if (u->directory && !u->directory_filled && to_plan > 0) code = tm_un_fill_directory(u, err);
  if (code == TM_OK) code = learn_bases(u, items, n, false, err);
  for (int round = 0; code == TM_OK; round++) {
    to_plan = 0;
    for (size_t i = 0; i < n; i++) to_plan += items[i].state == ITEM_PENDING;
    uint64_t skip = contention_skip(u, round, to_plan);
    if (u->directory) {
      code = tm_un_plan_and_reserve(u, items, n, &own, sent, err);
      if (code != TM_OK && code != TM_ERR_UNAVAILABLE) code = tm_un_index_took_over(u, code, err);
    } else {
      code = tm_un_plan(u, items, n, skip, err);
      if (code != TM_OK || u->dry_run) break;
    }
    if (code != TM_OK) break;
    if (u->index != INDEX_DEFERRED) {
      for (size_t i = 0; i < n; i++) sent[i] = items[i].state == ITEM_PENDING;
    }
    write_outcome outcome = {.clean = true};
    code = tm_un_write_planned(u, items, n, sent, round > 0, &outcome, err);
    if (code != TM_OK) break;
    size_t pending = 0;
    for (size_t i = 0; i < n; i++) pending += items[i].state == ITEM_PENDING;
    if (pending == 0) break;
    if (round + 1 >= MAX_ROUNDS) {
      code = tm_error_set(err, TM_ERR_CONFLICT,
                          "usernames: %zu customers still conflict after %d rounds of planning; "
                          "run %s again",
                          pending, MAX_ROUNDS, u->m->name);
      break;
    }
    /* Re-learn the pending bases from the database, then confirm the failure was a duplicate:
     * some name that did not get written is now held by another customer. */
    code = learn_bases(u, items, n, true, err);
    if (code != TM_OK) break;
    bool confirmed = outcome.dup_error;
    size_t unwritten_sent = 0;
    for (size_t i = 0; i < n; i++) {
      if (!sent[i] || items[i].state != ITEM_PENDING) continue;
      unwritten_sent++;
      if (entry_holds(items[i].base, items[i].name, items[i].name_len)) confirmed = true;
    }
    if (outcome.other_error && !confirmed) {
      code = tm_store_error(&outcome.berr, err, "writing usernames");
      break;
    }
    u->conflicts += (int64_t)unwritten_sent;
    tm_log(TM_LOG_DEBUG, "usernames: conflicts; planning again", "migration",
           TM_LOG_STR(u->m->name), "pending", TM_LOG_INT(pending), "round", TM_LOG_INT(round + 1),
           NULL);
  }
  if (code == TM_OK) code = tm_un_release_unused(u, &own, items, n, err);
  tm_un_own_clear(&own);
  bson_free(sent);
  return code;
}

tm_code tm_usernames_apply(tm_usernames *u, const bson_t *const *docs, size_t n,
                           char (*assigned)[TM_USERNAME_MAX + 1], int64_t *updated,
                           tm_refused *refused, tm_error *err) {
  *updated = 0;
  u->refused = refused;
  for (size_t i = 0; i < n; i++) assigned[i][0] = '\0';
  if (n == 0) return TM_OK;
  u->batches++;
  item *items = bson_malloc0(n * sizeof *items);
  tm_code code = TM_OK;
  for (size_t i = 0; i < n && code == TM_OK; i++) {
    item *it = &items[i];
    bson_iter_t iter;
    it->doc = docs[i];
    if (!docs[i] || !bson_iter_init_find(&iter, docs[i], "_id")) {
      code =
          tm_error_set(err, TM_ERR_INVALID, "usernames: document %zu of the batch has no _id", i);
      break;
    }
    it->id = *bson_iter_value(&iter);
    if (!tm_filter_doc_misses(docs[i], u->field)) {
      it->state = ITEM_SKIP;
      continue;
    }
    it->state = ITEM_PENDING;
    it->present_falsy =
        bson_iter_init_find(&iter, docs[i], u->field->field) && !BSON_ITER_HOLDS_UNDEFINED(&iter);
  }
  if (code == TM_OK) code = apply_rounds(u, items, n, err);
  if (code == TM_OK) {
    for (size_t i = 0; i < n; i++) {
      item *it = &items[i];
      bool done = u->dry_run ? it->state == ITEM_PENDING : it->state == ITEM_WRITTEN;
      if (!done) continue;
      memcpy(assigned[i], it->name, it->name_len + 1);
      (*updated)++;
      if (it->present_falsy || u->caps.plain_indexes_missing) u->blockers_replaced++;
    }
  }
  bson_free(items);
  u->refused = NULL;
  /* A real run's names are all in the database, so forgetting old bases only costs learning them
   * again. A dry run's names exist only here: it keeps every base it has seen. */
  if (!u->dry_run) tm_bases_trim(&u->cache, u->max_bases, u->max_holes);
  if (code == TM_OK && u->index == INDEX_DEFERRED && !u->build_tried &&
      u->blockers - u->blockers_replaced <= 1) {
    tm_un_try_deferred_index(u, false, err, &code);
  }
  return code;
}

size_t tm_usernames_lookahead(const tm_usernames *u) {
  return u->caps.filters_scan && !u->directory ? FERRET_LOOKAHEAD_DOCS : 0;
}

tm_code tm_usernames_prepare(tm_usernames *u, const bson_t *const *docs, size_t n, tm_error *err) {
  item *items = bson_malloc0((n ? n : 1) * sizeof *items);
  for (size_t i = 0; i < n; i++) {
    items[i].doc = docs[i];
    items[i].state = tm_filter_doc_misses(docs[i], u->field) ? ITEM_PENDING : ITEM_SKIP;
  }
  tm_code code = learn_bases(u, items, n, false, err);
  bson_free(items);
  if (code == TM_OK && u->watch.active) {
    /* Nothing to learn made no pass: the duplicates are still to be looked for before writing. */
    bson_t all = BSON_INITIALIZER;
    code = tm_un_read_taken(u, &all, false, err);
  }
  return code;
}

tm_code tm_usernames_end(tm_usernames *u, tm_error *err) {
  tm_code code = TM_OK;
  if (u->dry_run) return TM_OK;
  if (u->index == INDEX_DEFERRED) tm_un_try_deferred_index(u, true, err, &code);
  if (code == TM_OK && u->used_reservations) {
    /* Reservations only stood in for the index, which now arbitrates. */
    bson_t cmd = BSON_INITIALIZER, reply;
    bson_error_t berr;
    BSON_APPEND_UTF8(&cmd, "drop", TM_USERNAMES_RESERVATIONS);
    if (!tm_un_write_command(u, &cmd, &reply, &berr) &&
        tm_profile_classify(&berr, NULL) != TM_SERVER_ERR_NAMESPACE_MISSING) {
      tm_log(TM_LOG_WARN, "usernames: could not drop the reservations", "collection",
             TM_LOG_STR(TM_USERNAMES_RESERVATIONS), "error", TM_LOG_STR(berr.message), NULL);
    }
    bson_destroy(&reply);
    bson_destroy(&cmd);
  }
  tm_log(TM_LOG_INFO, "usernames: run ended", "migration", TM_LOG_STR(u->m->name), "index",
         TM_LOG_STR(tm_un_index_path_names[u->index]), "batches", TM_LOG_INT(u->batches),
         "conflicts", TM_LOG_INT(u->conflicts), "refused_reservations", TM_LOG_INT(u->refusals),
         "released_reservations", TM_LOG_INT(u->released), "dry_run", TM_LOG_BOOL(u->dry_run),
         NULL);
  return code;
}

void tm_usernames_destroy(tm_usernames *u) {
  if (!u) return;
  tm_bases_clear(&u->cache);
  tm_un_watch_clear(&u->watch);
  bson_free(u);
}
