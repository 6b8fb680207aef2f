/* The filters that select what a migration still has to do.
 *
 * One definition of "missing" serves the cursor's find, every write's own filter (so a document a
 * concurrent writer completed is never overwritten), the live pending count, and the per-document
 * choice of which fields to set. */
#ifndef TM_FILTER_H
#define TM_FILTER_H

#include <bson/bson.h>
#include <stdbool.h>

#include "../store/caps.h"
#include "registry.h"

/* What the server can express (store/caps.h). Real MongoDB can match the deprecated BSON undefined
 * type and NaN; FerretDB refuses `$type: "undefined"`, drops the connection on any message holding
 * a NaN, and can store neither, so there both clauses are left out. */
typedef tm_caps_view tm_filter_caps;

/* Appends to out, under key, a document matching `field` missing under its rule, e.g.
 * {$or: [{status: {$exists: false}}, {status: {$type: "undefined"}}]}. */
void tm_filter_append_field(bson_t *out, const char *key, const tm_field *field,
                            const tm_filter_caps *caps);

/* Builds into out (initialised by the caller) the migration's filter: documents missing any of its
 * fields. */
void tm_filter_build(const tm_migration *m, const tm_filter_caps *caps, bson_t *out);

/* True when doc misses field under its rule; decides which fields one document gets. */
bool tm_filter_doc_misses(const bson_t *doc, const tm_field *field);
/* Whether the value under it is one a TM_MISSING_FALSY field counts as missing: null, undefined,
 * false, "", a zero or NaN of any numeric type. */
bool tm_filter_value_falsy(const bson_iter_t *it);

#endif
