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

/* An insert command of reservations being built. */
typedef struct {
  bson_t cmd, docs;
  size_t n;
} name_insert;

static void name_insert_init(name_insert *b) {
  bson_init(&b->cmd);
  BSON_APPEND_UTF8(&b->cmd, "insert", TM_USERNAMES_RESERVATIONS);
  BSON_APPEND_BOOL(&b->cmd, "ordered", false);
  bson_append_array_begin(&b->cmd, "documents", -1, &b->docs);
  b->n = 0;
}

/* customer: who the name is reserved for, or NULL (a name a customer already holds). */
static void name_insert_add(name_insert *b, const char *name, size_t len,
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
static tm_code name_insert_send(tm_usernames *u, name_insert *b, bool *refused, tm_error *err) {
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
static bool candidate_shaped(const char *s, size_t len) {
  if (len == 0 || len > TM_USERNAME_MAX) return false;
  for (size_t i = 0; i < len; i++) {
    if (!tm_bases_is_base_char(s[i])) return false;
  }
  return true;
}

/* ---------------------------------------------------------------------------------------------
 * Learning taken names */

static tm_code read_taken(tm_usernames *u, bson_t *filter, bool fill, tm_error *err);

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
    return read_taken(u, &filter, false, err);
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
  return read_taken(u, &filter, false, err);
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
  if (!k->fill || k->code != TM_OK || !candidate_shaped(s, len)) return;
  name_insert_add(&k->batch, s, len, NULL);
  if (k->batch.n < DIRECTORY_FILL_BATCH) return;
  /* Refused ones are reserved already: by an earlier run, or held twice (the watch's business). */
  k->code = name_insert_send(k->u, &k->batch, NULL, k->err);
  name_insert_init(&k->batch);
}

/* Reads the usernames that filter (destroyed here) selects and marks them taken (and reserves
 * them: fill). A name in an array counts: a multikey unique index holds each element. */
static tm_code read_taken(tm_usernames *u, bson_t *filter, bool fill, tm_error *err) {
  bson_t opts = BSON_INITIALIZER, proj;
  bson_append_document_begin(&opts, "projection", -1, &proj);
  BSON_APPEND_INT32(&proj, "_id", 0);
  BSON_APPEND_INT32(&proj, u->field->field, 1);
  bson_append_document_end(&opts, &proj);
  BSON_APPEND_INT32(&opts, "batchSize", 10000);

  taken_sink sink = {.u = u, .fill = fill, .code = TM_OK, .err = err};
  name_insert_init(&sink.batch);
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
    code = name_insert_send(u, &sink.batch, NULL, err);
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
static tm_code plan(tm_usernames *u, item *items, size_t n, uint64_t skip, tm_error *err) {
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

/* The names a batch holds reservations for, during the directory's rounds: a later round may
 * give one to another customer or to none, and a name already ours is not reserved again (the
 * refusal would read as taken). */
typedef struct {
  char (*names)[TM_USERNAME_MAX + 1];
  bool *used;
  size_t n, cap;
  tm_u64set hashes;
} own_names;

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

static void own_clear(own_names *o) {
  bson_free(o->names);
  bson_free(o->used);
  tm_u64set_clear(&o->hashes);
}

/* Deletes this batch's reservations that no customer of it was written with: left in place they
 * would read as taken to the next batch, which one customer at a time would not have seen. */
static tm_code release_unused(tm_usernames *u, own_names *o, const item *items, size_t n,
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
static tm_code plan_and_reserve(tm_usernames *u, item *items, size_t n, own_names *own, bool *sent,
                                tm_error *err) {
  size_t *index_of = bson_malloc((n ? n : 1) * sizeof *index_of);
  bool *refused = bson_malloc((n ? n : 1) * sizeof *refused);
  tm_code code;
  for (;;) {
    tm_bases_journal_on(&u->cache, true);
    code = plan(u, items, n, 0, err);
    tm_bases_journal_on(&u->cache, false);
    if (code != TM_OK) break;
    name_insert b;
    name_insert_init(&b);
    for (size_t i = 0; i < n; i++) {
      if (items[i].state != ITEM_PENDING || own_find(own, items[i].name) >= 0) continue;
      index_of[b.n] = i;
      name_insert_add(&b, items[i].name, items[i].name_len, &items[i].id);
    }
    size_t count = b.n, n_refused = 0;
    code = name_insert_send(u, &b, refused, err);
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
static tm_code fill_directory(tm_usernames *u, tm_error *err) {
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
  tm_code code = read_taken(u, &all, true, err);
  if (code == TM_OK) u->directory_filled = true;
  tm_log(TM_LOG_INFO, "usernames: stored names reserved", "migration", TM_LOG_STR(u->m->name),
         "collection", TM_LOG_STR(TM_USERNAMES_RESERVATIONS), "ok", TM_LOG_BOOL(code == TM_OK),
         NULL);
  return code;
}

/* ---------------------------------------------------------------------------------------------
 * Writing */

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

typedef struct {
  bool clean;       /* every statement matched and none failed */
  bool dup_error;   /* the server said duplicate key (11000) for some statement */
  bool other_error; /* a failure that is not (or not certainly) a duplicate */
  bson_error_t berr;
} write_outcome;

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
      bson_iter_t we;
      n_errors++;
      bson_iter_t msg;
      if (bson_iter_recurse(&errs, &we) && bson_iter_find(&we, "code") &&
          tm_un_is_duplicate_entry(bson_iter_as_int64(&we),
                                   bson_iter_recurse(&errs, &msg) &&
                                           bson_iter_find(&msg, "errmsg") &&
                                           BSON_ITER_HOLDS_UTF8(&msg)
                                       ? bson_iter_utf8(&msg, NULL)
                                       : NULL)) {
        out->dup_error = true;
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
static tm_code write_planned(tm_usernames *u, item *items, size_t n, const bool *sent,
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

/* ---------------------------------------------------------------------------------------------
 * apply */

static tm_code apply_rounds(tm_usernames *u, item *items, size_t n, tm_error *err) {
  own_names own = {0}; /* the directory's reservations for this batch */
  bool *sent = bson_malloc0((n ? n : 1) * sizeof *sent);
  size_t to_plan = 0;
  for (size_t i = 0; i < n; i++) to_plan += items[i].state == ITEM_PENDING;
  tm_code code = TM_OK;
  if (u->directory && !u->directory_filled && to_plan > 0) code = fill_directory(u, err);
  if (code == TM_OK) code = learn_bases(u, items, n, false, err);
  for (int round = 0; code == TM_OK; round++) {
    to_plan = 0;
    for (size_t i = 0; i < n; i++) to_plan += items[i].state == ITEM_PENDING;
    uint64_t skip = contention_skip(u, round, to_plan);
    if (u->directory) {
      code = plan_and_reserve(u, items, n, &own, sent, err);
      if (code != TM_OK && code != TM_ERR_UNAVAILABLE) code = tm_un_index_took_over(u, code, err);
    } else {
      code = plan(u, items, n, skip, err);
      if (code != TM_OK || u->dry_run) break;
    }
    if (code != TM_OK) break;
    if (u->index != INDEX_DEFERRED) {
      for (size_t i = 0; i < n; i++) sent[i] = items[i].state == ITEM_PENDING;
    }
    write_outcome outcome = {.clean = true};
    code = write_planned(u, items, n, sent, round > 0, &outcome, err);
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
  if (code == TM_OK) code = release_unused(u, &own, items, n, err);
  own_clear(&own);
  bson_free(sent);
  return code;
}

tm_code tm_usernames_apply(tm_usernames *u, const bson_t *const *docs, size_t n,
                           char (*assigned)[TM_USERNAME_MAX + 1], int64_t *updated, tm_error *err) {
  *updated = 0;
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
    code = read_taken(u, &all, false, err);
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
