/* One run of one migration: count, one cursor over the filter in _id order (resuming after a saved
 * cursor), batches written in bulk, a checkpoint after each, a progress line at the engine's
 * cadence. Before a real run ends SUCCEEDED it looks for documents matching the whole filter (some
 * may have landed behind its cursor, or sat behind the saved cursor it resumed from) and sweeps
 * them from the start. Also the dry run of it, which reads the same documents and writes nothing.
 *
 * A real run paces itself by its controls (pacing.h): before each batch it waits for the rate limit
 * and while the database is under strain, applies a Tune at the next batch, stops after a batch on
 * Pause, and skips documents the server refuses alone while they fit its error budget (retrying
 * the ones an earlier run recorded before anything else).
 *
 * Memory stays flat: one window of projected documents at a time, at most TM_MAX_SAMPLES samples,
 * and the _ids of the documents refused (at most the error budget). */
#ifndef TM_RUNNER_H
#define TM_RUNNER_H

#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stdint.h>

#include "../store/controls.h"
#include "engine_ctx.h"
#include "heartbeat.h"
#include "registry.h"

typedef struct {
  tm_engine *engine;
  mongoc_client_t *client; /* the chain thread's */
  const tm_migration *m;
  size_t registry_index; /* m's position in the registry: its metrics series */
  int batch_size;
  tm_controls controls; /* real run: as it starts (controls.batch_size is batch_size) */
  bool dry_run;
  const bson_value_t *resume_after; /* NULL: from the beginning */
  int64_t done_before;              /* resuming: documents the earlier runs processed */
  /* Refused documents an earlier run recorded ({_id, error} array; may be NULL): retried first. */
  const bson_t *retry_first;
  int64_t failed_before; /* a Resume: refused documents that already count against the budget */
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
  TM_RUN_PAUSED,      /* a Pause was seen at a batch boundary */
} tm_run_outcome;

typedef struct {
  tm_run_outcome outcome;
  int64_t total, processed, updated;
  int64_t failed;     /* refused documents skipped (failed_before included) */
  tm_refused refused; /* the first TM_FAILED_KEEP of them */
  bson_t skipped;     /* the _ids of this run's refused documents: later sweeps leave them out */
  uint32_t n_skipped;
  tm_controls controls; /* as applied when it ended */
  bool has_cursor;
  bson_value_t cursor; /* the last _id done; owned: tm_runner_result_clear */
  tm_error err;
} tm_runner_result;

/* Empty, SUCCEEDED (tm_runner_run does it). clear releases what it holds; it stays valid. */
void tm_runner_result_init(tm_runner_result *r);
void tm_runner_result_clear(tm_runner_result *r);

/* Runs p->m to the end, a stop, or a failure. Dry run samples go into samples (may be NULL). */
void tm_runner_run(const tm_runner_params *p, tm_runner_result *r, tm_status *samples);

#endif
