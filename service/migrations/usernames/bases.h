/* What a username run knows about taken names, by base (private to usernames/).
 *
 * For each base the cache keeps `next`, the smallest suffix not known to be taken (every smaller
 * one is held in the database or assigned by this run), and `holes`, the taken suffixes above it.
 * Suffix 0 stands for the bare base. A name can lie in the candidate space of several bases
 * ("abc11" is abc+11 and abc1+1): marking a name marks it in every cached base it belongs to.
 *
 * Bases are forgotten least recently used first, cheap ones before the rest (tm_bases_trim); a
 * forgotten base leaves a hint of where its `next` had reached. A journal can record changes while
 * a plan is tentative, to take them back. Not thread safe; a zero-initialised tm_bases is empty. */
#ifndef TM_USERNAMES_BASES_H
#define TM_USERNAMES_BASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../util/u64set.h"
#include "derive.h"

typedef struct tm_base tm_base;
struct tm_base {
  char base[TM_USERNAME_BASE_MAX + 1];
  size_t len;
  uint64_t hash;
  uint64_t next;
  tm_u64set holes;        /* taken suffixes above next */
  tm_base *chain;         /* next entry in the same bucket */
  tm_base *newer, *older; /* LRU list */
};

/* What forgotten bases knew: `next` by base hash. */
typedef struct {
  uint64_t *keys;
  uint32_t *check;
  uint32_t *next;
  size_t n;
} tm_bases_hints;

typedef enum { TM_UNDO_NEXT, TM_UNDO_HOLE_ADDED, TM_UNDO_HOLE_REMOVED } tm_bases_undo_kind;

typedef struct {
  tm_base *e;
  uint64_t v; /* the old next, or the hole */
  tm_bases_undo_kind kind;
} tm_bases_undo;

typedef struct {
  tm_bases_undo *ops;
  size_t n, cap;
  bool on;
} tm_bases_journal;

typedef struct {
  tm_base **buckets;
  size_t n_buckets;
  size_t n;
  tm_bases_hints hints;
  size_t total_holes;
  tm_base *newest, *oldest;
  tm_bases_journal journal; /* entries are not dropped while it is on or holds changes */
} tm_bases;

tm_base *tm_bases_find(const tm_bases *c, const char *base, size_t len);
/* A new entry for base (not cached yet), its next from a hint when one is left. */
tm_base *tm_bases_add(tm_bases *c, const char *base, size_t len);
/* Marks e as just used. */
void tm_bases_touch(tm_bases *c, tm_base *e);
void tm_bases_drop(tm_bases *c, tm_base *e);
/* Forgets bases until at most max_bases are cached with max_holes holes in all. */
void tm_bases_trim(tm_bases *c, size_t max_bases, size_t max_holes);
void tm_bases_clear(tm_bases *c);

bool tm_base_has_hole(const tm_base *e, uint64_t k);
/* Records suffix k of e as taken. */
void tm_bases_mark_suffix(tm_bases *c, tm_base *e, uint64_t k);
/* Marks name as taken in every cached base whose candidates include it. */
void tm_bases_mark_name(tm_bases *c, const char *name, size_t len);
/* True when some cached base knows name as taken. */
bool tm_bases_is_taken(const tm_bases *c, const char *name, size_t len);
/* Writes candidate k of e (the base, then k unless 0) into out; returns its length. */
size_t tm_bases_candidate(const tm_base *e, uint64_t k, char out[TM_USERNAME_MAX + 1]);

/* A base's characters: what tm_username_base keeps. */
bool tm_bases_is_base_char(char ch);
/* The suffix a candidate carries after its base: "" is 0, otherwise a decimal without leading
 * zeros. False when the text is no suffix (so the name is no candidate of that base). */
bool tm_bases_parse_suffix(const char *s, size_t n, uint64_t *out);

/* The journal: while on, changes to entries are recorded; undo takes them back newest first and
 * empties it, keep forgets them (the plan stands). */
void tm_bases_journal_on(tm_bases *c, bool on);
void tm_bases_journal_undo(tm_bases *c);
void tm_bases_journal_keep(tm_bases *c);

#endif
