/* What the server accepts, learnt by trying.
 *
 * NaN: FerretDB drops the connection on any message that holds a NaN, while MongoDB matches NaN
 * like any number (JavaScript counts NaN as falsy, so the username filter asks for it). The probe
 * sends {_id: NaN} once; a dropped connection followed by a ping that works means "refused".
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
  _Atomic int nan;            /* likewise */
} tm_caps;

/* What a query may hold, as far as known (unknown counts as refused). */
typedef struct {
  bool type_undefined;
  bool nan;
} tm_caps_known;

void tm_caps_init(tm_caps *caps);

/* Learns what is not known yet by querying coll. An empty coll teaches nothing about undefined:
 * that answer stays unknown and reads false (an empty collection needs no filter that could be
 * refused). Logs each answer once, with the filter path it selects. */
tm_code tm_caps_probe(tm_caps *caps, mongoc_collection_t *coll, tm_caps_known *out, tm_error *err);

#endif
