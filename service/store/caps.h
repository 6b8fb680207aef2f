/* What the server accepts, learnt by trying.
 *
 * The same answer decides the NaN clause of falsy filters (filter.h): FerretDB also drops the
 * connection on any message holding a NaN, so NaN is never sent to probe it.
 *
 * Real MongoDB matches the deprecated BSON undefined type with `$type: "undefined"`; FerretDB
 * refuses the alias (BadValue, code 2), and only when a document actually reaches that clause: an
 * empty collection, or an `$or` whose first branch matched, says nothing. So the probe asks a
 * question every document must answer ({$nor: [{_id: {$type: "undefined"}}]}, limit 1) on a
 * collection that has documents, and the answer is kept for the life of the process (one server per
 * process). Thread safe. */
#ifndef TM_CAPS_H
#define TM_CAPS_H

#include <mongoc/mongoc.h>
#include <stdbool.h>

#include "../error.h"

typedef struct {
  _Atomic int type_undefined; /* 0 unknown, 1 accepted, -1 refused */
} tm_caps;

void tm_caps_init(tm_caps *caps);

/* Sets *type_undefined, querying coll unless the answer is known. An empty coll teaches nothing:
 * the answer stays unknown and reads false (an empty collection needs no filter that could be
 * refused). Logs the answer once, with the filter path it selects. */
tm_code tm_caps_probe(tm_caps *caps, mongoc_collection_t *coll, bool *type_undefined,
                      tm_error *err);

#endif
