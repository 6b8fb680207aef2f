/* The migration engine: runs registered migrations against the store, one chain at a time per Run,
 * with persisted state, resumable cursors and a lease that keeps each migration in one place across
 * every replica of the service.
 *
 * The rpc layer is the only caller. Every function is thread safe. tm_engine_run never blocks on
 * the database work itself: chains run on threads the engine owns and report through a callback, so
 * a gRPC thread is never held by a long migration.
 *
 * A chain (one Run) first claims every asked migration: it takes each one's lease and marks it
 * QUEUED (a SUCCEEDED one is skipped unless rerun or drifted; one held elsewhere is waited for when
 * its turn comes). Then it runs them one after another in registry order; the first that does not
 * end SUCCEEDED stops the chain, and the claims it did not reach are put back as they were. Each
 * migration reads one cursor over its filter in _id order, resuming after the saved cursor, writes
 * each batch in bulk and checkpoints the state document after it (chain.h, runner.h). */
#ifndef TM_ENGINE_H
#define TM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../caller.h"
#include "../error.h"
#include "../store/history.h" /* tm_history_page */
#include "../store/store.h"
#include "run_model.h"

typedef struct {
  const char *state_collection; /* default "_migrations"; leases live in "<it>_leases" */
  int lease_ms;                 /* default 30000 */
  int default_batch_size;       /* default 500 (1..10000) */
  const char *instance_id;      /* this replica's owner name, e.g. "host:pid:random" */
  tm_write_filter write_filter; /* default TM_WRITE_FILTER_AUTO */
  /* How long a run waits, retrying, for a database that went away before it stops resumable:
   * default 300000; negative: not at all. */
  int outage_wait_ms;
  /* Runs in flight on this replica (each holds a thread, its heartbeat's and two pooled clients);
   * past it a new Run is TM_ERR_RESOURCE. Identical Runs share one and count once. Default 32. */
  int max_runs;
  int progress_ms; /* how often a running migration logs its progress; default 30000 */
  /* How often the metrics read the state collection; default 10000. */
  int metrics_refresh_ms;
  int history_keep; /* run history entries kept per migration; default 100 */
  /* A Run's controls where it sets none (controls.h; 0: no limit, off, none): the service's
   * --max-documents-per-second, --max-replication-lag-ms, --max-write-latency-ms and
   * --max-failed-documents. */
  double max_documents_per_second;
  int64_t max_replication_lag_ms, max_write_latency_ms, max_failed_documents;
} tm_engine_options;

typedef struct tm_engine tm_engine;

/* The store is borrowed and must outlive the engine. Does not touch the database. */
tm_code tm_engine_new(tm_store *store, const tm_engine_options *opts, tm_engine **out,
                      tm_error *err);
/* Asks running chains to stop after their current batch (their migrations are saved INTERRUPTED,
 * resumable; sync Runs report TM_ERR_UNAVAILABLE) and refuses new Runs; returns at
 * once. Safe from any thread, any number of times. */
void tm_engine_stop(tm_engine *engine);
/* Stops as tm_engine_stop does, waits for every chain to end (each done callback has returned by
 * then), and frees the engine. */
void tm_engine_destroy(tm_engine *engine);

/* Validates req (unknown or repeated names, batch size out of range: TM_ERR_INVALID naming the
 * problem and listing the valid names; engine stopping: TM_ERR_UNAVAILABLE) and starts the chain
 * without touching the database, or joins an identical one that has not answered yet (same
 * migrations and flags). Too many Runs in flight: TM_ERR_RESOURCE. Returns TM_OK when done will be
 * called; otherwise done is never called. */
tm_code tm_engine_run(tm_engine *engine, const tm_run_request *req, tm_run_done_fn done, void *arg,
                      tm_error *err);

/* The caller of the Run accepted with arg has gone (deadline, cancel): done(arg) is called now
 * with TM_ERR_CANCELED unless the Run answered already. A Run whose every caller has gone stops
 * waiting (for a migration held elsewhere) and a dry run stops at its next batch; migrations it
 * has claimed run on to the end, as for an async Run. */
void tm_engine_run_leave(tm_engine *engine, void *arg);

/* Blocking. names empty: all, registry order; else in the order asked. Unknown or repeated name:
 * TM_ERR_INVALID. Database down: TM_ERR_UNAVAILABLE. A migration never run is PENDING. The states
 * come from a read that began after this call, shared with concurrent callers (state_reads.h).
 * include_pending counts, live, the documents still matching each filter, each count stopped by
 * the server after budget_ms (0: no limit; the caller's deadline). out is filled on TM_OK and must
 * be cleared by the caller. */
tm_code tm_engine_status(tm_engine *engine, const char *const *names, size_t n_names,
                         bool include_pending, int budget_ms, tm_status_list *out, tm_error *err);

/* list: on TM_OK the statuses asked for; the callee may take its items (then leave it empty). */
typedef void (*tm_status_done_fn)(void *arg, tm_code code, const tm_error *err,
                                  tm_status_list *list);

/* tm_engine_status without include_pending, not blocking: checks names now (TM_ERR_INVALID, and
 * done is never called); otherwise calls done once, on the engine's state-reads thread, which it
 * must not block. */
tm_code tm_engine_status_async(tm_engine *engine, const char *const *names, size_t n_names,
                               tm_status_done_fn done, void *arg, tm_error *err);

/* Blocking. Records a cancel request for a RUNNING migration (wherever it runs); its holder stops
 * after the current batch: CANCELED, cursor kept. Not running: TM_ERR_PRECONDITION; unknown name:
 * TM_ERR_INVALID listing the valid names. out (the status once the request is saved) is filled on
 * TM_OK and must be cleared by the caller. */
tm_code tm_engine_cancel(tm_engine *engine, const char *name, const tm_caller *caller,
                         tm_status *out, tm_error *err);

/* Blocking. Records a Pause for a QUEUED or RUNNING migration, as tm_engine_cancel does a Cancel:
 * its holder stops after the current batch and stores it PAUSED (resumable), the migrations after
 * it in its Run wait QUEUED. out: PAUSING (or PAUSED), filled on TM_OK. */
tm_code tm_engine_pause(tm_engine *engine, const char *name, const tm_caller *caller,
                        tm_status *out, tm_error *err);

/* Resumes a PAUSED migration and the claims waiting behind it, on this replica, under the paused
 * run's id and controls: answers through done as an async Run does (TM_OK: done will be called).
 * A PAUSING migration has its Pause withdrawn instead: TM_OK with *withdrawn set, out filled, done
 * never called. Neither: TM_ERR_PRECONDITION. */
tm_code tm_engine_resume(tm_engine *engine, const char *name, const tm_caller *caller,
                         tm_run_done_fn done, void *arg, bool *withdrawn, tm_status *out,
                         tm_error *err);

/* Blocking. Changes the controls of a QUEUED, RUNNING or PAUSED migration (a running holder
 * applies them from its next batch) and records the change in its run's history. Values out of
 * range or nothing to change: TM_ERR_INVALID; another state: TM_ERR_PRECONDITION. out (with the
 * new controls) is filled on TM_OK; changes (size cap) says what changed. */
tm_code tm_engine_tune(tm_engine *engine, const char *name, const tm_controls_change *change,
                       const tm_caller *caller, tm_status *out, char *changes, size_t cap,
                       tm_error *err);

/* Reads the state collection for the metrics now rather than at the next period; returns at
 * once. */
void tm_engine_refresh_metrics(tm_engine *engine);

/* Blocking. A page of the run history (history.h), newest first: of name (NULL or "": every
 * migration; unknown: TM_ERR_INVALID), page_size 1..1000 (0: 20), from page_token ("" or NULL:
 * the newest). next (TM_HISTORY_TOKEN_MAX) gets the next page's token, "" at the end. out is
 * filled on TM_OK; clear it with tm_history_page_clear. */
tm_code tm_engine_history(tm_engine *engine, const char *name, const char *page_token,
                          int page_size, tm_history_page *out, char *next, tm_error *err);

#endif
