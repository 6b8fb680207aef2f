/* The server profile: every difference between MongoDB-compatible servers that the service knows
 * about lives here, with its evidence. Code above store/ asks the profile for a capability or for
 * the class of an error; it never tests a server's name.
 *
 * Evidence (FerretDB v1.24.2 on SQLite, its source and measurements here; mongo-java-server
 * 1.47.0 with its memory backend; MongoDB 5.0+ from its documentation):
 *
 * - Filters. FerretDB hands a query's filter to SQL only when it is `{_id: <string or ObjectId>}`
 *   and nothing else (internal/backends/sqlite/collection.go); any other filter reads and decodes
 *   the whole collection in Go, for every statement (about 10 s per statement at 100,000
 *   documents). Trying such a filter would cost that scan, but explain says it without reading:
 *   FerretDB answers `filterPushdown: false` for `{_id: X, f: {$exists: false}}` (true for a lone
 *   _id); MongoDB answers a winningPlan whose stages say IDHACK/EXPRESS or IXSCAN (COLLSCAN would
 *   mean a scan). A server without explain (mongo-java-server: CommandNotFound) is taken as
 *   MongoDB is, filtering through its indexes.
 * - Statements per command. FerretDB keeps every statement's query open until an update command
 *   ends, and its SQLite pool holds 100 connections per database: an update command of about 100
 *   statements waits forever for a connection and wedges that database. 16 leaves room for the
 *   engine's cursor and for other replicas writing at the same time.
 * - `$type: "undefined"` and NaN. Real MongoDB matches the deprecated BSON undefined type; FerretDB
 *   refuses the alias (BadValue, code 2), and only when a document actually reaches that clause: an
 *   empty collection, or an `$or` whose first branch matched, says nothing. So the probe asks a
 *   question every document must answer ({$nor: [{_id: {$type: "undefined"}}]}, limit 1) on a
 *   collection that has documents. FerretDB also drops the connection on any message holding a
 *   NaN, so NaN is never sent to probe it: the same answer decides both.
 * - Partial indexes. MongoDB applies `partialFilterExpression`; FerretDB refuses it
 * (NotImplemented, 238); mongo-java-server accepts it, lists it back and does not apply it, so two
 * documents whose field is null collide in a "partial" unique index over strings. The probe builds
 * one on a scratch collection holding two nulls. The same probe asks whether a plain unique index
 * counts a missing field as null (MongoDB, mongo-java-server) or leaves it out (FerretDB: SQL
 * NULL).
 * - Unique violations. MongoDB: 11000 (11001 from old servers). FerretDB: 11000 for inserts, but
 *   an update or an index build that breaks a unique index is InternalError (1) "UNIQUE
 *   constraint failed".
 * - Transient errors. Network and server-selection failures; MongoDB's failover and shutdown
 *   codes; WriteConflict (112); anything labelled RetryableWriteError or TransientTransactionError;
 *   FerretDB's SQLite "database is locked" / SQLITE_BUSY (InternalError 1), which it returns when
 *   busy_timeout runs out under concurrent writers.
 * - Credentials. AuthenticationFailed (18), or the driver's own authentication error.
 * - Refused documents. MongoDB refuses one document of a write, alone, for a collection validator
 *   (DocumentValidationFailure 121), a document grown past 16 MB (BSONObjectTooLarge 10334,
 *   17419, 17420) or a unique index (11000, and FerretDB's InternalError above). Neither test
 *   server has validators (FerretDB: NotImplemented 238 for create/collMod with one;
 *   mongo-java-server accepts the option and ignores it, and has no collMod), and neither limits
 *   the size an update grows a document to; both enforce unique indexes.
 * - Replica sets. replSetGetStatus answers NoReplicationEnabled (76) on a standalone
 *   (mongo-java-server), NotYetInitialized (94) before rs.initiate, CommandNotFound (59) where it
 *   does not exist (FerretDB, and mongos says so too), and Unauthorized (13) without the
 *   clusterMonitor role: none of them is a lag to throttle on.
 * - Commands racing a drop. mongo-java-server's drop removes the collection's indexes without the
 *   collection's lock (AbstractMongoDatabase.dropCollection, dropAllIndexes), which its deletes
 *   hold while they walk those indexes: a delete meeting a drop of its collection throws
 *   ConcurrentModificationException, answered {ok: 0, errmsg: "Unknown error: null"} with no code
 *   (a RuntimeException without a message; libmongoc gives such a reply code 17). Sent again, the
 *   same delete answers ok, n: 0 (seen 15 times of 15 here). MongoDB runs a drop under an
 *   exclusive lock on the collection, so its writes end before or start after it, and it always
 *   sends a code. */
#ifndef TM_PROFILE_H
#define TM_PROFILE_H

#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stddef.h>

#include "../error.h"

typedef enum {
  TM_PARTIAL_UNKNOWN = 0,
  TM_PARTIAL_APPLIED, /* MongoDB */
  TM_PARTIAL_REFUSED, /* the server says it cannot (FerretDB) */
  TM_PARTIAL_IGNORED, /* accepted, listed, not applied (mongo-java-server) */
} tm_partial_indexes;

/* What one process learnt of its server (one server per process). Thread safe. */
typedef struct {
  _Atomic int type_undefined; /* 0 unknown, 1 accepted, -1 refused */
  _Atomic int filters_scan;   /* 0 unknown, 1 a filter beyond _id reads the collection, -1 not */
  _Atomic int partial;        /* tm_partial_indexes */
  _Atomic int plain_indexes_missing; /* 0 unknown, 1 a missing field is indexed as null, -1 not */
} tm_profile;

/* The answers, as one run reads them. */
typedef struct {
  bool type_undefined; /* `$type: "undefined"` and NaN may appear in filters and messages */
  bool filters_scan;   /* only a lone _id filter is indexed; any other reads the collection */
  bool lone_id_writes; /* writes select by _id alone: filters_scan, unless --write-filter says
                          otherwise (the caller's decision) */
  size_t max_write_statements; /* per update command; 0: no limit */
  tm_partial_indexes partial;  /* TM_PARTIAL_UNKNOWN unless tm_profile_probe_indexes ran */
  bool plain_indexes_missing;  /* a plain unique index counts a missing field as null */
} tm_profile_view;

void tm_profile_init(tm_profile *p);

/* Fills *out, querying coll's server for what is not known yet. An empty coll teaches nothing
 * about undefined: that answer stays unknown and reads false (an empty collection needs no filter
 * that could be refused). Logs each answer once, with the path it selects. */
tm_code tm_profile_probe(tm_profile *p, mongoc_collection_t *coll, tm_profile_view *out,
                         tm_error *err);

/* Also learns how unique indexes behave, once per process, on a scratch collection of its own
 * (created in coll's database and dropped again). */
tm_code tm_profile_probe_indexes(tm_profile *p, mongoc_client_t *client, const char *database,
                                 const char *scratch, tm_profile_view *out, tm_error *err);

/* The classes of server errors the service reacts to. */
typedef enum {
  TM_SERVER_ERR_OTHER,
  TM_SERVER_ERR_TRANSIENT,         /* retrying may succeed: network, failover, busy, conflict */
  TM_SERVER_ERR_DUPLICATE,         /* a unique index refused a value */
  TM_SERVER_ERR_NAMESPACE_MISSING, /* the collection does not exist (26) */
  TM_SERVER_ERR_OPTION_REFUSED,    /* the server cannot build that index (partial) */
  TM_SERVER_ERR_INDEX_CONFLICT,    /* another index is in the way (85, 86) */
  TM_SERVER_ERR_CREDENTIALS,       /* the server rejected the credentials */
  TM_SERVER_ERR_DOCUMENT_REFUSED,  /* one document broke a validator or the size limit */
  TM_SERVER_ERR_RACED_DROP,        /* the command met a drop of its collection (mongo-java) */
} tm_server_error;

/* Classifies a driver error; reply (may be NULL) is the server's reply, for errorLabels. */
tm_server_error tm_profile_classify(const bson_error_t *berr, const bson_t *reply);

/* Classifies a server's code and message, e.g. one entry of a reply's writeErrors. */
tm_server_error tm_profile_classify_code(int64_t code, const char *message);

/* Whether a write error refuses its document alone (a validator, the size limit, a unique index):
 * the error budget skips such a document. */
bool tm_profile_refuses_document(int64_t code, const char *message);

/* "E<code> <message>" for a record of a refused document: FerretDB's leading "[file.go:N
 * function] " frames cut, and no second code where the message starts with one ("E11000 ..."). */
void tm_profile_describe_error(char *out, size_t size, int64_t code, const char *message);

/* Whether a replSetGetStatus error means there is no replication lag to ask about. */
bool tm_profile_no_replication(const bson_error_t *berr);

/* "transient", "duplicate", ...: for logs. */
const char *tm_server_error_name(tm_server_error kind);

/* The user name of the URI's credentials, for the message of a rejected login; call once, before
 * any thread starts (one server per process). */
void tm_profile_set_user(const char *user);

/* Maps a driver error onto the service's codes by its class: transient TM_ERR_UNAVAILABLE,
 * duplicate TM_ERR_CONFLICT, rejected credentials TM_ERR_PRECONDITION ("MongoDB rejected the
 * credentials for user ..."), the rest TM_ERR_INTERNAL. Fills err with "what: <driver message>".
 * reply (may be NULL) is the server's reply, for errorLabels. */
tm_code tm_store_error_reply(const bson_error_t *berr, const bson_t *reply, tm_error *err,
                             const char *what);
tm_code tm_store_error(const bson_error_t *berr, tm_error *err, const char *what);

#endif
