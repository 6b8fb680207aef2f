/* Replication lag: how far behind the primary the secondaries are that a majority write waits for.
 *
 * A w:majority write returns once writeMajorityCount members (the primary among them) have it, so
 * what slows it, and what the backfill must not outrun, is the lag of the (count - 1)-th freshest
 * healthy secondary: with three members, the freshest secondary; a lagging third member does not
 * hold majority writes back. Read from replSetGetStatus (the clusterMonitor role); a server that is
 * no replica set (a standalone, mongos, FerretDB, mongo-java-server) has no lag to throttle on. */
#ifndef TM_REPLICATION_H
#define TM_REPLICATION_H

#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stdint.h>

#include "../error.h"

/* From a replSetGetStatus reply: *lag_ms and true, or false when it names no primary or too few
 * healthy secondaries (then the writes themselves wait, and their latency throttles). */
bool tm_replication_lag_of(const bson_t *status, int64_t *lag_ms);

typedef enum {
  TM_REPLICATION_LAG,     /* *lag_ms holds it */
  TM_REPLICATION_NONE,    /* not a replica set, or replSetGetStatus is not allowed: no lag known */
  TM_REPLICATION_UNKNOWN, /* a replica set whose status names no usable majority */
} tm_replication_answer;

/* Asks the server. Database errors other than "not a replica set" and "not allowed" are returned
 * (the caller treats them as the batch's own would be). */
tm_code tm_replication_lag(mongoc_client_t *client, tm_replication_answer *answer, int64_t *lag_ms,
                           tm_error *err);

#endif
