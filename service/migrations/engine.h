/* The migration engine: runs registered migrations against the store, one chain at a time per Run,
 * with persisted state, resumable cursors and a lease that keeps each migration in one place across
 * every replica of the service.
 *
 * The rpc layer is the only caller. Every function is thread safe. tm_engine_run never blocks on the
 * database work itself: chains run on threads the engine owns and report through a callback, so a
 * gRPC thread is never held by a long migration. */
#ifndef TM_ENGINE_H
#define TM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../error.h"
#include "../store/store.h"

typedef enum {
  TM_STATE_PENDING = 1, /* values equal the proto's MigrationState */
  TM_STATE_RUNNING = 2,
  TM_STATE_SUCCEEDED = 3,
  TM_STATE_FAILED = 4,
  TM_STATE_CANCELED = 5,
} tm_state;

#define TM_MAX_SAMPLES 10

/* One migration's status, as Run, Status and Cancel report it. Owns its strings: release with
 * tm_status_clear. Times are milliseconds since the Unix epoch; 0 means unset. */
typedef struct {
  const char *name; /* points into the registry */
  tm_state state;
  char *run_id;
  int64_t total, processed, updated;
  bool has_pending; /* pending was asked for and counted */
  int64_t pending;
  char *cursor; /* canonical extended JSON of the last _id done, or NULL */
  int64_t started_at_ms, finished_at_ms;
  char *error;
  bool skipped, dry_run;
  char *samples[TM_MAX_SAMPLES];
  size_t n_samples;
  char *owner;
} tm_status;

void tm_status_clear(tm_status *st);

typedef struct {
  tm_status *items;
  size_t n;
} tm_status_list;

void tm_status_list_clear(tm_status_list *list);

typedef struct {
  const char *state_collection; /* default "_migrations" */
  int lease_ms;                 /* default 30000 */
  int default_batch_size;       /* default 500 */
  const char *instance_id;      /* this replica's owner name, e.g. "host:pid:random" */
} tm_engine_options;

typedef struct tm_engine tm_engine;

/* The store is borrowed and must outlive the engine. */
tm_code tm_engine_new(tm_store *store, const tm_engine_options *opts, tm_engine **out, tm_error *err);
/* Asks running chains to stop after their current batch (their migrations are saved FAILED,
 * "interrupted", resumable; sync Runs report TM_ERR_UNAVAILABLE) and refuses new Runs; returns at
 * once. Safe from any thread, any number of times. */
void tm_engine_stop(tm_engine *engine);
/* Asks running chains to stop after their current batch (their state is saved, resumable), waits
 * for them, and frees the engine. */
void tm_engine_destroy(tm_engine *engine);

typedef struct {
  const char *const *names; /* empty: every migration in registry order */
  size_t n_names;
  bool dry_run;
  int32_t batch_size; /* 0: default; else 1..10000 */
  bool rerun;
  bool async;
} tm_run_request;

typedef struct {
  char run_id[40];
  tm_status_list migrations; /* one per asked migration, in run order */
} tm_run_result;

/* Called exactly once per accepted Run, on an engine thread: when the chain ends, or for async Runs
 * once every asked migration is started (RUNNING) or settled. On failure before any migration ran
 * (e.g. the database is unreachable) code/err say why and result is NULL. The callee takes nothing:
 * result and err are valid only during the call. */
typedef void (*tm_run_done_fn)(void *arg, tm_code code, const tm_error *err,
                               const tm_run_result *result);

/* Validates req (unknown or repeated names, batch size out of range: TM_ERR_INVALID naming the
 * problem and listing the valid names) and starts the chain. Returns TM_OK when done will be
 * called; otherwise done is never called. */
tm_code tm_engine_run(tm_engine *engine, const tm_run_request *req, tm_run_done_fn done, void *arg,
                      tm_error *err);

/* Blocking. names empty: all, registry order. Unknown name: TM_ERR_INVALID. Database down:
 * TM_ERR_UNAVAILABLE. out is filled on TM_OK and must be cleared by the caller. */
tm_code tm_engine_status(tm_engine *engine, const char *const *names, size_t n_names,
                         bool include_pending, tm_status_list *out, tm_error *err);

/* Blocking. Records a cancel request for a RUNNING migration (wherever it runs); not running:
 * TM_ERR_PRECONDITION; unknown: TM_ERR_NOT_FOUND... see engine.c. out is filled on TM_OK. */
tm_code tm_engine_cancel(tm_engine *engine, const char *name, tm_status *out, tm_error *err);

#endif
