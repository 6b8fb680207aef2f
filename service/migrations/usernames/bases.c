/* The cache of bases (see bases.h). */
#include "bases.h"

#include <bson/bson.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* What forgotten bases knew: `next` by base hash (open addressing, TM_U64SET_EMPTY marks a free
 * slot), so a base that comes back skips the suffixes it had passed instead of learning them again
 * (on the directory, one refused reservation each). Everything below a base's next stays taken, so
 * a hint is never wrong, only perhaps low; a second, unrelated hash of the base must match too, so
 * that two bases whose first hashes collide do not share one. The table is emptied when full. */
#define HINT_SLOTS 65536

static void journal_record(tm_bases *c, tm_base *e, tm_bases_undo_kind kind, uint64_t v) {
  tm_bases_journal *j = &c->journal;
  if (!j->on) return;
  if (j->n == j->cap) {
    j->cap = j->cap ? j->cap * 2 : 64;
    j->ops = bson_realloc(j->ops, j->cap * sizeof *j->ops);
  }
  j->ops[j->n++] = (tm_bases_undo){.e = e, .v = v, .kind = kind};
}

bool tm_base_has_hole(const tm_base *e, uint64_t k) { return tm_u64set_has(&e->holes, k); }

static void holes_add(tm_bases *c, tm_base *e, uint64_t k) {
  if (!tm_u64set_add(&e->holes, k)) return;
  c->total_holes++;
  journal_record(c, e, TM_UNDO_HOLE_ADDED, k);
}

static bool holes_remove(tm_bases *c, tm_base *e, uint64_t k) {
  if (!tm_u64set_remove(&e->holes, k)) return false;
  c->total_holes--;
  journal_record(c, e, TM_UNDO_HOLE_REMOVED, k);
  return true;
}

/* Takes back every change the journal holds, newest first, and empties it. */
void tm_bases_journal_undo(tm_bases *c) {
  tm_bases_journal *j = &c->journal;
  bool on = j->on;
  j->on = false;
  while (j->n > 0) {
    tm_bases_undo *op = &j->ops[--j->n];
    if (op->kind == TM_UNDO_NEXT) {
      op->e->next = op->v;
    } else if (op->kind == TM_UNDO_HOLE_ADDED) {
      holes_remove(c, op->e, op->v);
    } else {
      holes_add(c, op->e, op->v);
    }
  }
  j->on = on;
}

/* Records suffix k of e as taken, keeping everything below e->next taken and holes above it. */
void tm_bases_mark_suffix(tm_bases *c, tm_base *e, uint64_t k) {
  if (k < e->next) return;
  if (k > e->next) {
    holes_add(c, e, k);
    return;
  }
  journal_record(c, e, TM_UNDO_NEXT, e->next);
  e->next++;
  while (holes_remove(c, e, e->next)) e->next++;
}

tm_base *tm_bases_find(const tm_bases *c, const char *base, size_t len) {
  if (!c->n_buckets) return NULL;
  uint64_t h = tm_hash_bytes(base, len);
  for (tm_base *e = c->buckets[h & (c->n_buckets - 1)]; e; e = e->chain) {
    if (e->hash == h && e->len == len && memcmp(e->base, base, len) == 0) return e;
  }
  return NULL;
}

static void lru_unlink(tm_bases *c, tm_base *e) {
  if (e->newer)
    e->newer->older = e->older;
  else
    c->newest = e->older;
  if (e->older)
    e->older->newer = e->newer;
  else
    c->oldest = e->newer;
  e->newer = e->older = NULL;
}

static void lru_push(tm_bases *c, tm_base *e) {
  e->older = c->newest;
  e->newer = NULL;
  if (c->newest) c->newest->newer = e;
  c->newest = e;
  if (!c->oldest) c->oldest = e;
}

void tm_bases_touch(tm_bases *c, tm_base *e) {
  if (c->newest == e) return;
  lru_unlink(c, e);
  lru_push(c, e);
}

static size_t hint_slot(const tm_bases_hints *h, uint64_t key) {
  size_t i = (size_t)tm_hash_mix64(key) & (HINT_SLOTS - 1);
  while (h->keys[i] != TM_U64SET_EMPTY && h->keys[i] != key) i = (i + 1) & (HINT_SLOTS - 1);
  return i;
}

/* The second hash: 32-bit djb2 (xor form), unrelated to FNV-1a. */
static uint32_t hint_check(const char *base, size_t len) {
  uint32_t h = 5381;
  for (size_t i = 0; i < len; i++) h = (h * 33) ^ (unsigned char)base[i];
  return h;
}

static void hint_record(tm_bases_hints *h, const tm_base *e) {
  if (e->next < 2 || e->next > UINT32_MAX || e->hash == TM_U64SET_EMPTY) return;
  if (!h->keys) {
    h->keys = bson_malloc(HINT_SLOTS * sizeof *h->keys);
    h->check = bson_malloc(HINT_SLOTS * sizeof *h->check);
    h->next = bson_malloc(HINT_SLOTS * sizeof *h->next);
    h->n = HINT_SLOTS; /* emptied below */
  }
  if ((h->n + 1) * 10 > HINT_SLOTS * 7) {
    for (size_t i = 0; i < HINT_SLOTS; i++) h->keys[i] = TM_U64SET_EMPTY;
    h->n = 0;
  }
  size_t i = hint_slot(h, e->hash);
  if (h->keys[i] == TM_U64SET_EMPTY) h->n++;
  h->keys[i] = e->hash;
  h->check[i] = hint_check(e->base, e->len);
  h->next[i] = (uint32_t)e->next;
}

static uint64_t hint_next(const tm_bases_hints *h, const char *base, size_t len, uint64_t hash) {
  if (!h->keys || hash == TM_U64SET_EMPTY) return 0;
  size_t i = hint_slot(h, hash);
  return h->keys[i] == hash && h->check[i] == hint_check(base, len) ? h->next[i] : 0;
}

tm_base *tm_bases_add(tm_bases *c, const char *base, size_t len) {
  if ((c->n + 1) * 4 > c->n_buckets * 3) {
    size_t nb = c->n_buckets ? c->n_buckets * 2 : 64;
    tm_base **buckets = bson_malloc0(nb * sizeof *buckets);
    for (size_t i = 0; i < c->n_buckets; i++) {
      for (tm_base *e = c->buckets[i], *nx; e; e = nx) {
        nx = e->chain;
        e->chain = buckets[e->hash & (nb - 1)];
        buckets[e->hash & (nb - 1)] = e;
      }
    }
    bson_free(c->buckets);
    c->buckets = buckets;
    c->n_buckets = nb;
  }
  tm_base *e = bson_malloc0(sizeof *e);
  memcpy(e->base, base, len);
  e->len = len;
  e->hash = tm_hash_bytes(base, len);
  e->next = hint_next(&c->hints, base, len, e->hash);
  tm_base **slot = &c->buckets[e->hash & (c->n_buckets - 1)];
  e->chain = *slot;
  *slot = e;
  lru_push(c, e);
  c->n++;
  return e;
}

void tm_bases_drop(tm_bases *c, tm_base *e) {
  tm_base **p = &c->buckets[e->hash & (c->n_buckets - 1)];
  while (*p != e) p = &(*p)->chain;
  *p = e->chain;
  lru_unlink(c, e);
  c->total_holes -= e->holes.n;
  c->n--;
  tm_u64set_clear(&e->holes);
  bson_free(e);
}

/* Bases that know this few taken suffixes, and no holes, are the cheap ones to forget. */
#define CHEAP_NEXT 4

/* Forgets bases until the cache is within its bounds: the least recently used cheap ones first
 * (a popular name's long run of taken suffixes stays known however rarely it comes back), then,
 * if that is not enough, the least recently used of all. */
void tm_bases_trim(tm_bases *c, size_t max_bases, size_t max_holes) {
  for (tm_base *e = c->oldest, *newer; e && c->n > max_bases; e = newer) {
    newer = e->newer;
    if (e->next < CHEAP_NEXT && e->holes.n == 0) {
      hint_record(&c->hints, e);
      tm_bases_drop(c, e);
    }
  }
  while (c->n > max_bases || c->total_holes > max_holes) {
    hint_record(&c->hints, c->oldest);
    tm_bases_drop(c, c->oldest);
  }
}

void tm_bases_clear(tm_bases *c) {
  while (c->oldest) tm_bases_drop(c, c->oldest);
  bson_free(c->buckets);
  bson_free(c->hints.keys);
  bson_free(c->hints.check);
  bson_free(c->hints.next);
  bson_free(c->journal.ops);
  memset(c, 0, sizeof *c);
}

bool tm_bases_is_base_char(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); }

/* The suffix a candidate name carries after its base: "" is 0, otherwise a decimal without
 * leading zeros. False when the text is no suffix (so the name is no candidate of that base). */
bool tm_bases_parse_suffix(const char *s, size_t n, uint64_t *out) {
  uint64_t k = 0;
  if (n == 0) {
    *out = 0;
    return true;
  }
  if (n > 20 || s[0] == '0') return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    uint64_t d = (uint64_t)(s[i] - '0');
    if (k > (UINT64_MAX - 1 - d) / 10) return false; /* UINT64_MAX itself is TM_U64SET_EMPTY */
    k = k * 10 + d;
  }
  *out = k;
  return true;
}

/* Marks name as taken in every cached base whose candidates include it. */
void tm_bases_mark_name(tm_bases *c, const char *name, size_t len) {
  if (len == 0 || len > TM_USERNAME_MAX) return;
  for (size_t p = 1; p <= len && p <= TM_USERNAME_BASE_MAX; p++) {
    if (!tm_bases_is_base_char(name[p - 1])) break;
    uint64_t k;
    if (!tm_bases_parse_suffix(name + p, len - p, &k)) continue;
    tm_base *e = tm_bases_find(c, name, p);
    if (e) tm_bases_mark_suffix(c, e, k);
  }
}

/* True when some cached base knows name as taken. */
bool tm_bases_is_taken(const tm_bases *c, const char *name, size_t len) {
  for (size_t p = 1; p <= len && p <= TM_USERNAME_BASE_MAX; p++) {
    if (!tm_bases_is_base_char(name[p - 1])) break;
    uint64_t k;
    if (!tm_bases_parse_suffix(name + p, len - p, &k)) continue;
    const tm_base *e = tm_bases_find(c, name, p);
    if (e && (k < e->next || tm_base_has_hole(e, k))) return true;
  }
  return false;
}

size_t tm_bases_candidate(const tm_base *e, uint64_t k, char out[TM_USERNAME_MAX + 1]) {
  memcpy(out, e->base, e->len);
  if (k == 0) {
    out[e->len] = '\0';
    return e->len;
  }
  int n = snprintf(out + e->len, TM_USERNAME_MAX + 1 - e->len, "%" PRIu64, k);
  return e->len + (size_t)n;
}

void tm_bases_journal_on(tm_bases *c, bool on) { c->journal.on = on; }

void tm_bases_journal_keep(tm_bases *c) { c->journal.n = 0; }
