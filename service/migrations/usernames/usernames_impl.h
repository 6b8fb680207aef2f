/* What the parts of a username run share. Private to usernames/:
 *   usernames.c  the round loop per batch, learning taken names, planning;
 *   index.c      the by_username index (existing, partial, plain, deferred), the duplicate check;
 *   reserve.c    the directory of reserved names and reserving a batch's plan;
 *   write.c      writing a planned batch and re-reading what did not come back clean;
 *   bases.c      the cache of what is known of taken names, by base. */
#ifndef TM_USERNAMES_IMPL_H
#define TM_USERNAMES_IMPL_H

#include <mongoc/mongoc.h>

#include "../../util/u64set.h"
#include "bases.h"
#include "usernames.h"

#define INDEX_NAME "by_username"
/* Bounds of the cache between batches (a real run only; see tm_usernames_apply). Forgetting a
 * base costs one query learning it again later. */
#define MAX_BASES 65536
#define MAX_HOLES 262144
/* The directory (FerretDB, real runs): bases forgotten cost only refused reservations when they
 * come back, so fewer are kept. */
#define DIRECTORY_MAX_BASES 8192

typedef enum {
  INDEX_NONE,     /* dry run: nothing is created */
  INDEX_EXISTING, /* by_username was there and is acceptable */
  INDEX_PARTIAL,  /* created: unique, partial over non-empty strings */
  INDEX_PLAIN,    /* created: unique, not partial (the server refused partial indexes) */
  INDEX_DEFERRED, /* plain, blocked by falsy duplicates: names are reserved until it can be built */
} index_path;

extern const char *const tm_un_index_path_names[];

/* Stored usernames met by a pass over all of them, by hash, to notice a value held twice without
 * a server-side $group (on FerretDB one costs more than the pass the run makes anyway). Values
 * the run replaces (tm_filter_value_falsy) are left out: they cannot stay duplicated. A repeated
 * hash is only a suspect: the server confirms it (two values can share a hash). */
typedef struct {
  bool active; /* the next full pass is watched */
  tm_u64set seen;
  bool has_suspect;
  bson_value_t suspect; /* owned */
} dup_watch;

struct tm_usernames {
  mongoc_collection_t *customers; /* borrowed */
  tm_refused *refused;            /* the batch being applied: where refused customers go */
  const tm_migration *m;
  const tm_field *field; /* the username field of m */
  tm_profile_view caps;
  bool dry_run;
  size_t max_statements; /* per update command; 0: no limit */
  index_path index;
  bool used_reservations;
  /* FerretDB, real run: taken names are learned by reserving them (see "The directory"). */
  bool directory, directory_filled;
  /* The caller holds the migration's lease (tm_usernames_hold_lease): reservations found before
   * this run's first write are a stopped run's, and are dropped. */
  bool exclusive;
  /* Present falsy usernames (null, "", false, 0) that blocked the plain index, and how many of
   * them this run has replaced: with at most one left, the index can be built. */
  int64_t blockers, blockers_replaced;
  bool build_tried;
  dup_watch watch;
  tm_bases cache;
  size_t max_bases, max_holes;
  uint64_t rng;
  uint64_t batches;
  int64_t conflicts; /* names written by someone else first */
  int64_t refusals;  /* reservations refused: the name was taken */
  int64_t released;  /* reservations deleted: a batch planned again gave the name to nobody */
};

/* One document of the batch being applied. */
typedef enum {
  ITEM_SKIP,
  ITEM_PENDING,
  ITEM_WRITTEN,
  ITEM_OTHERS,
  ITEM_REFUSED, /* the server refused its write for itself alone (a validator): skipped */
} item_state;

typedef struct {
  const bson_t *doc;
  bson_value_t id; /* borrowed from doc */
  item_state state;
  bool present_falsy; /* the username field held null, "", false or 0 (not absent) */
  tm_base *base;
  uint64_t k; /* name is candidate k of base */
  char name[TM_USERNAME_MAX + 1];
  size_t name_len;
} item;

/* usernames.c */
void tm_un_value_json(const bson_value_t *v, char *out, size_t size);
void tm_un_value_key(const bson_value_t *v, bson_t *out);
bool tm_un_values_equal(const bson_value_t *a, const bson_value_t *b);
bool tm_un_is_duplicate_entry(int64_t code, const char *message);
bool tm_un_write_command(tm_usernames *u, const bson_t *cmd, bson_t *reply, bson_error_t *berr);
bool tm_un_directory_inherited(tm_usernames *u);
void tm_un_watch_value(dup_watch *w, const bson_iter_t *it);
void tm_un_watch_clear(dup_watch *w);

typedef struct {
  bool clean;       /* every statement matched and none failed */
  bool dup_error;   /* the server said duplicate key (11000) for some statement */
  bool other_error; /* a failure that is not (or not certainly) a duplicate */
  bson_error_t berr;
} write_outcome;

/* usernames.c: learning taken names by query; planning a batch's names from what is known. */
tm_code tm_un_read_taken(tm_usernames *u, bson_t *filter, bool fill, tm_error *err);
tm_code tm_un_plan(tm_usernames *u, item *items, size_t n, uint64_t skip, tm_error *err);

/* reserve.c: the directory of reserved names (_migrations_usernames) and reserving a batch. */
/* An insert command of reservations being built. */
typedef struct {
  bson_t cmd, docs;
  size_t n;
} name_insert;

/* The names a batch holds reservations for, during the directory's rounds: a later round may
 * give one to another customer or to none, and a name already ours is not reserved again (the
 * refusal would read as taken). */
typedef struct {
  char (*names)[TM_USERNAME_MAX + 1];
  bool *used;
  size_t n, cap;
  tm_u64set hashes;
} own_names;

tm_code tm_un_name_insert_send(tm_usernames *u, name_insert *b, bool *refused, tm_error *err);
void tm_un_name_insert_add(name_insert *b, const char *name, size_t len,
                           const bson_value_t *customer);
tm_code tm_un_release_unused(tm_usernames *u, own_names *o, const item *items, size_t n,
                             tm_error *err);
void tm_un_own_clear(own_names *o);
tm_code tm_un_plan_and_reserve(tm_usernames *u, item *items, size_t n, own_names *own, bool *sent,
                               tm_error *err);
void tm_un_name_insert_init(name_insert *b);
tm_code tm_un_fill_directory(tm_usernames *u, tm_error *err);
bool tm_un_candidate_shaped(const char *s, size_t len);

/* write.c: writes the batch's planned names and re-reads what did not come back clean. */
tm_code tm_un_write_planned(tm_usernames *u, item *items, size_t n, const bool *sent,
                            bool contended, write_outcome *failure, tm_error *err);

/* index.c */
void tm_un_append_missing(const tm_usernames *u, bson_t *out, const char *key);
tm_code tm_un_report_duplicate(tm_usernames *u, const bson_t *match, tm_error *err);
/* Reserving failed with failure: where another run built by_username meanwhile, reservations are
 * no longer needed (TM_OK); otherwise the failure stands. */
tm_code tm_un_index_took_over(tm_usernames *u, tm_code failure, tm_error *err);
/* Builds a deferred by_username once at most one blocker is left (at_end: the last chance);
 * *code gets a failure that ends the run. */
void tm_un_try_deferred_index(tm_usernames *u, bool at_end, tm_error *err, tm_code *code);

#endif
