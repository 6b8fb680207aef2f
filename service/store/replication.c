/* Replication lag from replSetGetStatus (see replication.h). */
#include "replication.h"

#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "store.h"

/* members[i]: {stateStr, health, optimeDate}. */
typedef struct {
  bool primary, secondary, healthy;
  int64_t optime_ms;
} member;

static void parse_member(const bson_iter_t *it, member *out) {
  memset(out, 0, sizeof *out);
  out->healthy = true;
  bson_iter_t f;
  if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &f)) return;
  while (bson_iter_next(&f)) {
    const char *k = bson_iter_key(&f);
    if (strcmp(k, "stateStr") == 0 && BSON_ITER_HOLDS_UTF8(&f)) {
      const char *s = bson_iter_utf8(&f, NULL);
      out->primary = strcmp(s, "PRIMARY") == 0;
      out->secondary = strcmp(s, "SECONDARY") == 0;
    } else if (strcmp(k, "health") == 0 && BSON_ITER_HOLDS_NUMBER(&f)) {
      out->healthy = bson_iter_as_double(&f) > 0;
    } else if (strcmp(k, "optimeDate") == 0 && BSON_ITER_HOLDS_DATE_TIME(&f)) {
      out->optime_ms = bson_iter_date_time(&f);
    }
  }
}

static int by_lag(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

bool tm_replication_lag_of(const bson_t *status, int64_t *lag_ms) {
  bson_iter_t it, members;
  int64_t majority = 0, primary_ms = -1;
  size_t n = 0, n_members = 0;
  if (bson_iter_init_find(&it, status, "writeMajorityCount") && BSON_ITER_HOLDS_NUMBER(&it)) {
    majority = bson_iter_as_int64(&it);
  }
  if (!bson_iter_init_find(&it, status, "members") || !BSON_ITER_HOLDS_ARRAY(&it)) return false;
  bson_iter_recurse(&it, &members);
  int64_t *optimes = NULL;
  while (bson_iter_next(&members)) {
    member m;
    parse_member(&members, &m);
    n_members++;
    if (m.primary) primary_ms = m.optime_ms;
    if (m.secondary && m.healthy) {
      optimes = realloc(optimes, (n + 1) * sizeof *optimes);
      optimes[n++] = m.optime_ms;
    }
  }
  if (majority <= 0) majority = (int64_t)n_members / 2 + 1; /* before MongoDB 4.4 */
  bool known = primary_ms >= 0 && majority >= 1 && (size_t)(majority - 1) <= n;
  if (known && majority == 1) {
    *lag_ms = 0; /* a majority of one: the primary alone */
  } else if (known) {
    for (size_t i = 0; i < n; i++) optimes[i] = primary_ms - optimes[i];
    qsort(optimes, n, sizeof *optimes, by_lag);
    int64_t lag = optimes[majority - 2];
    *lag_ms = lag > 0 ? lag : 0;
  }
  free(optimes);
  return known;
}

tm_code tm_replication_lag(mongoc_client_t *client, tm_replication_answer *answer, int64_t *lag_ms,
                           tm_error *err) {
  bson_t cmd = BSON_INITIALIZER, reply;
  BSON_APPEND_INT32(&cmd, "replSetGetStatus", 1);
  bson_error_t berr;
  mongoc_read_prefs_t *primary = mongoc_read_prefs_new(MONGOC_READ_PRIMARY);
  bool ok = mongoc_client_command_simple(client, "admin", &cmd, primary, &reply, &berr);
  mongoc_read_prefs_destroy(primary);
  bson_destroy(&cmd);
  tm_code code = TM_OK;
  if (ok) {
    *answer = tm_replication_lag_of(&reply, lag_ms) ? TM_REPLICATION_LAG : TM_REPLICATION_UNKNOWN;
  } else if (tm_profile_no_replication(&berr)) {
    *answer = TM_REPLICATION_NONE;
  } else {
    code = tm_store_error(&berr, err, "reading the replica set's status");
  }
  bson_destroy(&reply);
  return code;
}
