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
 * process). Thread safe.
 *
 * FerretDB also finds a write's documents through SQL only when the filter is `{_id: <string or
 * ObjectId>}` and nothing else; any other filter reads and decodes the whole collection in Go, for
 * every statement (about 10 s per statement at 100,000 documents); it wedges on update commands
 * of about 100 statements and drops the connection on any message holding a NaN. buildInfo's
 * ferretdbVersion says which server it is (there is nothing to try that would not cost that scan
 * or that connection). */
#ifndef TM_CAPS_H
#define TM_CAPS_H

#include <mongoc/mongoc.h>
#include <stdbool.h>

#include "../error.h"

typedef struct {
  _Atomic int type_undefined; /* 0 unknown, 1 accepted, -1 refused */
  _Atomic int ferretdb;       /* 0 unknown, 1 FerretDB, -1 another server (MongoDB) */
} tm_caps;

/* The answers for one run. */
typedef struct {
  bool type_undefined; /* `$type: "undefined"` (and NaN) may appear in filters */
  bool ferretdb; /* FerretDB: small write commands, no NaN in any message, scans for filters */
  bool lone_id_writes; /* writes select by _id alone (a scan each otherwise): ferretdb, unless
                          --write-filter says otherwise */
} tm_caps_view;

void tm_caps_init(tm_caps *caps);

/* Fills *out, querying coll's server for what is not known yet. An empty coll teaches nothing
 * about undefined: that answer stays unknown and reads false (an empty collection needs no filter
 * that could be refused). Logs each answer once, with the path it selects. */
tm_code tm_caps_probe(tm_caps *caps, mongoc_collection_t *coll, tm_caps_view *out, tm_error *err);

#endif
