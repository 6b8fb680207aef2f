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

#include "../error.h"
#include "filter.h"
#include "registry.h"
#include "username.h"

typedef struct tm_usernames tm_usernames;

/* customers is borrowed (configured by the engine: majority writes, primary reads) and must outlive
 * the result. Checks existing usernames for duplicates (TM_ERR_DATA naming one; nothing written) and,
 * unless dry_run, ensures the by_username unique index or prepares the fallback. A dry run writes
 * nothing at all. */
tm_code tm_usernames_begin(mongoc_collection_t *customers, const tm_migration *m,
                           const tm_filter_caps *caps, bool dry_run, tm_usernames **out,
                           tm_error *err);

/* Assigns usernames to one batch: docs[i] are customers in ascending _id order, each with at least
 * _id and name. assigned[i] receives the username given to docs[i], or "" when it no longer needed
 * one (a concurrent writer completed it). Unless dry run, writes them, each write filtered on the
 * document still missing its username; a write refused as a duplicate is planned again with the
 * next free candidate. *updated receives the number of documents changed (dry run: that would
 * change). Round trips per batch are bounded by a small constant. */
tm_code tm_usernames_apply(tm_usernames *u, const bson_t *const *docs, size_t n,
                           char (*assigned)[TM_USERNAME_MAX + 1], int64_t *updated, tm_error *err);

/* Ends the run: builds a deferred index if any. When it returns TM_OK (and not dry run),
 * by_username exists and is unique. */
tm_code tm_usernames_end(tm_usernames *u, tm_error *err);

void tm_usernames_destroy(tm_usernames *u);

#endif
