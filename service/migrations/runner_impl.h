/* What the runner's parts share (runner.c: passes and batches; runner_pace.c: what a run does
 * between batches: waits for its rate and throttle, applies a Tune, counts refused documents).
 * Private to them; see runner.h. */
#ifndef TM_RUNNER_IMPL_H
#define TM_RUNNER_IMPL_H

#include "../store/controls.h"
#include "heartbeat.h"
#include "pacing.h"
#include "runner.h"

/* How often a run asks for the Cancel, Pause and Tune markers (tm_heartbeat_poke). */
#define TM_RUNNER_MARKER_POLL_MS 1000

/* How a real run paces itself, across its attempts: the pacing (pacing.h), the Tune applied last,
 * when to ask for the replication lag, and the throttle as the state document shows it. */
typedef struct {
  tm_pacing pacing;
  int64_t tune_seq;
  int64_t next_lag_ms;  /* monotonic; INT64_MAX: the server has no lag to ask about */
  bool latency_waited;  /* the wait after a slow batch is done: the next batch probes */
  bool throttle_stored; /* the state document says throttled */
  int64_t next_poke_ms; /* when to ask the heartbeat for a renewal (and the markers) again */
} run_ctl;

/* The controls a run starts with (a dry run has only its batch size) into a fresh ctl. */
void tm_runner_init_ctl(const tm_runner_params *p, run_ctl *ctl);

/* A stop that needs no write to learn of: shutdown, every caller gone, a Cancel or a Pause marker
 * the heartbeat found. Sets r's outcome and returns false when the run is to end. */
bool tm_runner_keep_going(const tm_runner_params *p, bool cancel, bool pause, tm_runner_result *r);

/* A Tune the heartbeat found (view) applies from the next batch. */
void tm_runner_apply_tune(const tm_runner_params *p, run_ctl *ctl, const tm_heartbeat_view *view);

/* Real run, before a batch of n documents: applies a Tune, then waits out the throttle and the
 * rate limit, hearing the markers and the stop flag meanwhile. false (outcome set): end the run. */
bool tm_runner_pace(const tm_runner_params *p, run_ctl *ctl, size_t n, tm_runner_result *r);

/* Counts a batch's refused documents against the budget; false (FAILED) past it. */
bool tm_runner_spend_budget(const tm_runner_params *p, const run_ctl *ctl, tm_refused *batch,
                            tm_runner_result *r);

#endif
