/* One run of one migration: count, one cursor over the filter in _id order (resuming after a saved
 * cursor), batches written in bulk, a checkpoint after each, a progress line at the engine's
 * cadence. Before a real run ends SUCCEEDED it looks for documents matching the whole filter (some
 * may have landed behind its cursor, or sat behind the saved cursor it resumed from) and sweeps
 * them from the start. Also the dry run of it, which reads the same documents and writes nothing.
 *
 * Memory stays flat: one batch of projected documents at a time, at most TM_MAX_SAMPLES samples. */
#ifndef TM_RUNNER_H
#define TM_RUNNER_H

#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine_ctx.h"
#include "heartbeat.h"
#include "registry.h"

typedef struct {
  tm_engine *engine;
  mongoc_client_t *client; /* the chain thread's */
  const tm_migration *m;
  size_t registry_index; /* m's position in the registry: its metrics series */
  int batch_size;
  bool dry_run;
  const bson_value_t *resume_after; /* NULL: from the beginning */
  int64_t done_before;              /* resuming: documents the earlier runs processed */
  /* Dry run: fields (bit i: m->fields[i]) an earlier migration of the same run would have set. */
  uint32_t covered;
  /* Dry run: set when every caller has gone; the run stops at the next batch. May be NULL. */
  const _Atomic bool *abandoned;
  /* Real run: where progress goes and the lease it is written under. */
  mongoc_collection_t *states;
  tm_heartbeat *hb;
  int hb_slot;
  int64_t lease_gen;
} tm_runner_params;

typedef enum {
  TM_RUN_SUCCEEDED,
  TM_RUN_FAILED,      /* err says why; resumable */
  TM_RUN_CANCELED,    /* a Cancel was seen at a batch boundary */
  TM_RUN_INTERRUPTED, /* the engine is stopping */
  TM_RUN_LOST,        /* the lease went to another holder: nothing more may be written */
} tm_run_outcome;

typedef struct {
  tm_run_outcome outcome;
  int64_t total, processed, updated;
  bool has_cursor;
  bson_value_t cursor; /* the last _id done; owned: tm_runner_result_clear */
  tm_error err;
} tm_runner_result;

void tm_runner_result_clear(tm_runner_result *r);

/* Runs p->m to the end, a stop, or a failure. Dry run samples go into samples (may be NULL). */
void tm_runner_run(const tm_runner_params *p, tm_runner_result *r, tm_status *samples);

#endif
