/* Everything specific to addUsernamesToCustomers beyond the base: the by_username unique index (or
 * its fallback), what this run knows about taken names, and writes that survive concurrent
 * assigners.
 *
 * One tm_usernames per run of the migration, owned by the engine thread running it (not thread
 * safe). The engine feeds it batches in ascending _id order; the outcome equals assigning one
 * customer at a time in that order. */
#ifndef TM_USERNAMES_H
#define TM_USERNAMES_H

#include <mongoc/mongoc.h>
#include <stdbool.h>

#include "../../error.h"
#include "../../store/controls.h"
#include "../filter.h"
#include "../registry.h"
#include "derive.h"

typedef struct tm_usernames tm_usernames;

/* Where names are reserved, {_id: name, customer: _id}, in the customers' database: while a plain
 * by_username index cannot be built yet (servers without partial indexes, with stored falsy
 * usernames that this run replaces), and on FerretDB in every real run, where it also holds every
 * stored name and refused reservations are how taken names are learned. Dropped by tm_usernames_end
 * once the index exists. */
#define TM_USERNAMES_RESERVATIONS "_migrations_usernames"

/* customers is borrowed (configured by the engine: majority writes, primary reads) and must outlive
 * the result, and so must m (caps is copied). Checks existing usernames for duplicates
 * (TM_ERR_DATA naming one; nothing written) and, unless dry_run, ensures the by_username unique
 * index (partial over non-empty strings; plain where the server refuses partial indexes; deferred
 * behind reservations where stored falsy usernames block the plain one) or accepts an existing one
 * that is unique on {username: 1} without a collation (any other definition: TM_ERR_DATA). A dry
 * run writes nothing at all. */
tm_code tm_usernames_begin(mongoc_collection_t *customers, const tm_migration *m,
                           const tm_profile_view *caps, bool dry_run, tm_usernames **out,
                           tm_error *err);

/* Assigns usernames to one batch: docs[i] are customers in ascending _id order, each with at least
 * _id, name and username (docs are borrowed for the call). assigned[i] receives the username given
 * to docs[i], or "" when it needed none (its username is not falsy) or no longer needed one (a
 * concurrent writer completed it). Unless dry run, writes them, each write filtered on _id and the
 * document still missing its username; a write refused as a duplicate is planned again with the
 * next free candidate. *updated receives the number of documents changed (dry run: that would
 * change). Round trips per batch do not depend on how many suffixes are taken: one query learning
 * the batch's new bases and one update command (FerretDB: one per 16 statements, and after a
 * conflict one per statement: see usernames.c); on conflicts, per round, a re-read, a re-learn
 * and the update again, at most 16 rounds (then TM_ERR_CONFLICT, retrying helps). FerretDB, real
 * run: no query, but one insert of reservations per round of refusals (each round plans the
 * whole batch again; a base meeting a run of taken names for the first time takes one round per
 * name), a delete of the reservations the final plan gave to nobody, if any, and before the
 * first batch one pass over every customer reserving the names they hold. With refused (may be
 * NULL: any refusal fails the batch), a customer whose write the server refuses for itself alone
 * (a validator) is added there and skipped; a duplicate name is never a refusal, it is planned
 * again. */
tm_code tm_usernames_apply(tm_usernames *u, const bson_t *const *docs, size_t n,
                           char (*assigned)[TM_USERNAME_MAX + 1], int64_t *updated,
                           tm_refused *refused, tm_error *err);

/* How many customers ahead the caller should pass to tm_usernames_prepare before applying their
 * batches: 0 where learning per batch is cheap (MongoDB answers each base from the index, and a
 * real run on FerretDB learns from reservations); for a dry run on FerretDB, where every learning
 * query reads the whole collection, a window of many batches. */
size_t tm_usernames_lookahead(const tm_usernames *u);

/* Learns, with one query, the bases of docs (the customers of the next batches, in order) that are
 * not cached yet, so that their batches need no query of their own. docs are borrowed. */
tm_code tm_usernames_prepare(tm_usernames *u, const bson_t *const *docs, size_t n, tm_error *err);

/* Ends the run: builds a deferred index if any. When it returns TM_OK (and not dry run),
 * by_username exists and is unique. */
tm_code tm_usernames_end(tm_usernames *u, tm_error *err);

void tm_usernames_destroy(tm_usernames *u);

/* Which by_username path this run took, for logs and tests: "none" (dry run), "existing",
 * "partial", "plain" (created, or built after being deferred) or "deferred" (not built yet). */
const char *tm_usernames_index_path(const tm_usernames *u);

/* Tells u that the caller holds the migration's lease, so no other run is writing: on FerretDB,
 * reservations left by a stopped run are dropped before this run's first write (see usernames.c).
 */
void tm_usernames_hold_lease(tm_usernames *u);
/* Bounds what a real run remembers between batches (default: 65536 bases, 8192 on FerretDB, and
 * 262144 known-taken suffixes in all); bases that know few taken names are forgotten first, and a
 * forgotten base is learned again when it comes back (one query; on FerretDB, refused
 * reservations), from the suffix it had reached. A dry run keeps every base it has seen: its names
 * exist nowhere else. For tests and tuning. */
void tm_usernames_limit_cache(tm_usernames *u, size_t max_bases, size_t max_holes);

#endif
