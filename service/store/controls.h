/* A run's controls: how it paces itself (batch size, rate limit, throttle thresholds) and how many
 * documents the server may refuse before it fails (the error budget). They travel as one BSON
 * subdocument: in the state document ("controls", what Status reports and a Resume starts from)
 * and in the Tune markers of the lease collection (what a running holder applies, lease.h).
 *
 *   {batchSize, currentBatchSize, maxDocumentsPerSecond, maxReplicationLagMs, maxWriteLatencyMs,
 *    maxFailedDocuments}
 *
 * Also the documents a run skipped under its budget: {count, first: [{_id, error}, ...]}. */
#ifndef TM_CONTROLS_H
#define TM_CONTROLS_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../error.h"

#define TM_CONTROLS_MAX_FAILED 10000        /* max_failed_documents' upper bound */
#define TM_CONTROLS_MAX_MS (86400LL * 1000) /* a day: the throttle thresholds' upper bound */
#define TM_CONTROLS_MAX_RATE 1000000.0

typedef struct {
  int32_t batch_size;         /* as asked */
  int32_t current_batch_size; /* as applied now (adaptive); 0: batch_size */
  double max_docs_per_s;      /* 0: no limit */
  int64_t max_lag_ms;         /* 0: off */
  int64_t max_write_ms;       /* 0: off */
  int64_t max_failed;         /* 0: the first refusal fails the run */
} tm_controls;

/* A partial change, as Tune (or a Run's request over the service defaults) asks. */
typedef struct {
  bool batch_size, rate, lag, write, failed; /* which of v's fields are set */
  tm_controls v;
} tm_controls_change;

void tm_controls_append(bson_t *doc, const char *key, const tm_controls *c);
/* Reads a stored subdocument; missing or mistyped fields are left as they are in *out. */
void tm_controls_parse(const bson_iter_t *it, tm_controls *out);

/* TM_ERR_INVALID naming the first value out of range. */
tm_code tm_controls_check(const tm_controls_change *ch, tm_error *err);

/* Applies ch to c; writes "batch_size 500 -> 100; ..." for what really changed into changes (may
 * be NULL) and returns how many did. A new batch_size also resets current_batch_size. */
int tm_controls_apply(tm_controls *c, const tm_controls_change *ch, char *changes, size_t cap);

/* Documents refused one by one and skipped, as stored: the count and the first of them. */
#define TM_FAILED_KEEP 100  /* recorded in the state document, retried first by the next run */
#define TM_FAILED_REPORT 10 /* reported by Status and History */

/* A list of refused documents in the stored form: an array of {_id, error}. */
typedef struct {
  bson_t list;
  uint32_t n;
} tm_refused;

void tm_refused_init(tm_refused *r);
void tm_refused_add(tm_refused *r, const bson_value_t *id, const char *error);
void tm_refused_clear(tm_refused *r);

#endif
