/* The values a Run's parts hand each other and the rpc layer: statuses, requests, results, the
 * write filter. Types only (and their release); the engine (engine.h) is what acts on them. */
#ifndef TM_RUN_MODEL_H
#define TM_RUN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../caller.h"
#include "../error.h"
#include "../store/controls.h"
#include "../store/state.h" /* tm_state: the proto's MigrationState values */

#define TM_MAX_SAMPLES 10

/* One migration's status, as Run, Status and Cancel report it. Owns its strings: release with
 * tm_status_clear. Times are milliseconds since the Unix epoch; 0 means unset. */
typedef struct {
  const char *name; /* points into the registry */
  tm_state state;
  char *run_id; /* the run that last claimed it */
  /* total: documents matching the filter when the run started (after the saved cursor when it
   * resumed); processed: examined by the run; updated: changed (dry run: would change). */
  int64_t total, processed, updated;
  bool has_pending; /* pending was asked for and counted */
  int64_t pending;
  char *cursor; /* canonical extended JSON of the last _id done, or NULL */
  int64_t started_at_ms, finished_at_ms;
  char *error;
  bool skipped, dry_run;
  bool drifted;     /* SUCCEEDED, yet the pending count found documents matching its filter */
  bool swept_drift; /* a Run found such documents and swept them instead of skipping it */
  /* Dry run: relaxed extended JSON objects, {"_id": ..., "<field>": <value it would get>, ...}. */
  char *samples[TM_MAX_SAMPLES];
  size_t n_samples;
  char *owner; /* the instance that holds (or last held) it */
  bool has_controls;
  tm_controls controls;
  char *throttle_reason; /* THROTTLED: why; NULL otherwise */
  int64_t throttled_since_ms;
  /* Documents refused and skipped under the error budget; the first of them, canonical extended
   * JSON of the _id and the server's error. */
  int64_t failed_count;
  size_t n_failed;
  char *failed_ids[TM_FAILED_REPORT], *failed_errors[TM_FAILED_REPORT];
} tm_status;

void tm_status_clear(tm_status *st);
/* Deep copy; dst is overwritten (not cleared first). */
void tm_status_copy(const tm_status *src, tm_status *dst);

typedef struct {
  tm_status *items;
  size_t n;
} tm_status_list;

void tm_status_list_clear(tm_status_list *list);

/* What selects each write (--write-filter). */
typedef enum {
  TM_WRITE_FILTER_AUTO,      /* MIGRATION, or ID where the server scans for any other filter */
  TM_WRITE_FILTER_MIGRATION, /* _id and the migration's filter */
  TM_WRITE_FILTER_ID,        /* _id alone */
} tm_write_filter;

/* Parses "auto", "migration" or "id"; false for anything else. */
bool tm_write_filter_parse(const char *s, tm_write_filter *out);

typedef struct {
  const char *const *names; /* empty: every migration; always run in registry order */
  size_t n_names;
  bool dry_run;
  int32_t batch_size; /* 0: default; else 1..10000 */
  bool rerun;
  bool async; /* ignored by a dry run, whose answer is its plan: it answers when done */
  /* Rate, throttle thresholds and error budget the request sets (batch_size is above); the rest
   * are the service's defaults. */
  tm_controls_change controls;
  const tm_caller *caller; /* recorded in the history; NULL: unknown */
} tm_run_request;

typedef struct {
  char run_id[40];
  tm_status_list migrations; /* one per asked migration, in run (registry) order */
  bool joined;               /* this caller joined an identical Run already in flight */
} tm_run_result;

/* Called exactly once per accepted Run, on an engine thread: when the chain ends, or for async Runs
 * once every asked migration is claimed (RUNNING), held elsewhere (reported as stored), or settled.
 * On failure before any migration ran, code/err say why and result is NULL: the database
 * unreachable at the start is TM_ERR_UNAVAILABLE here (never tm_engine_run's return), and so is a
 * sync Run cut short by tm_engine_stop (resumable: retry, possibly on another replica). A failure
 * mid-run is not an error code: that migration is FAILED in the result, with its error. The callee
 * takes nothing: result and err are valid only during the call. */
typedef void (*tm_run_done_fn)(void *arg, tm_code code, const tm_error *err,
                               const tm_run_result *result);

#endif
