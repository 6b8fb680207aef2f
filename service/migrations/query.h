/* The filter a migration's cursor and counts send: the registry's "still missing" filter
 * (filter.h) adapted to what the server accepts (caps.h), and, when resuming, restricted to the
 * documents after the saved cursor in _id order. */
#ifndef TM_QUERY_H
#define TM_QUERY_H

#include <bson/bson.h>

#include "../store/caps.h"
#include "registry.h"

/* Builds into out (initialised by the caller) m's filter under caps, past after when not NULL. */
void tm_query_build(const tm_migration *m, const tm_caps_known *caps, const bson_value_t *after,
                    bson_t *out);

#endif
