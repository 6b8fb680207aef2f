/* The filters that select what a migration still has to do.
 *
 * One definition of "missing" serves the cursor's find, every write's own filter (so a document a
 * concurrent writer completed is never overwritten), the live pending count, and the per-document
 * choice of which fields to set. */
#ifndef TM_FILTER_H
#define TM_FILTER_H

#include <bson/bson.h>
#include <stdbool.h>

#include "../store/profile.h"
#include "registry.h"

/* Filters take the server profile (store/profile.h): where the server refuses `$type:
 * "undefined"` (and NaN), those clauses are left out. */

/* Appends to out, under key, a document matching `field` missing under its rule, e.g.
 * {$or: [{status: {$exists: false}}, {status: {$type: "undefined"}}]}. */
void tm_filter_append_field(bson_t *out, const char *key, const tm_field *field,
                            const tm_profile_view *caps);

/* Builds into out (initialised by the caller) the migration's filter: documents missing any of its
 * fields. */
void tm_filter_build(const tm_migration *m, const tm_profile_view *caps, bson_t *out);

/* True when doc misses field under its rule; decides which fields one document gets. */
bool tm_filter_doc_misses(const bson_t *doc, const tm_field *field);
/* Whether the value under it is one a TM_MISSING_FALSY field counts as missing: null, undefined,
 * false, "", a zero or NaN of any numeric type. */
bool tm_filter_value_falsy(const bson_iter_t *it);

#endif
