/* The filter a migration's cursor and counts send: the registry's "still missing" filter
 * (filter.h) under what the server accepts, and, when resuming, restricted to the documents after
 * the saved cursor in _id order. */
#ifndef TM_QUERY_H
#define TM_QUERY_H

#include <bson/bson.h>

#include "filter.h"
#include "registry.h"

/* Builds into out (initialised by the caller) m's filter under caps, past after when not NULL. */
void tm_query_build(const tm_migration *m, const tm_profile_view *caps, const bson_value_t *after,
                    bson_t *out);

/* Narrows query to the _ids in ids (op "$in") or to the others ("$nin"); ids is an array of _id
 * values. */
void tm_query_restrict_ids(bson_t *query, const char *op, const bson_t *ids);

/* Whether a and b are in one BSON type bracket (numbers, strings, ObjectIds, ...), so that
 * {$gte: a, $lte: b} can match the values between them. */
bool tm_query_same_bracket(const bson_value_t *a, const bson_value_t *b);

#endif
