/* Between a run's batches: its rate limit and throttle, Tunes, stops heard from the markers, and
 * the error budget (see runner_impl.h). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../store/clock.h"
#include "../store/replication.h"
#include "../store/state.h"
#include "json.h"
#include "runner_impl.h"

/* How often a throttled or rate-limited wait looks at the markers and the stop flag. */
#define WAIT_SLICE_MS 500
/* How often the replication lag is asked for. */
#define LAG_POLL_MS 1000

bool tm_runner_keep_going(const tm_runner_params *p, bool cancel, bool pause, tm_runner_result *r) {
  if (tm_engine_stopping(p->engine)) {
    r->outcome = TM_RUN_INTERRUPTED;
    tm_error_set(&r->err, TM_ERR_UNAVAILABLE, "interrupted: service shutting down");
    return false;
  }
  if (p->abandoned && atomic_load(p->abandoned)) {
    r->outcome = TM_RUN_INTERRUPTED;
    tm_error_set(&r->err, TM_ERR_CANCELED, "every caller left");
    return false;
  }
  if (cancel || pause) {
    r->outcome = cancel ? TM_RUN_CANCELED : TM_RUN_PAUSED;
    return false;
  }
  return true;
}

/* A Tune the heartbeat found applies from the next batch. */
void tm_runner_apply_tune(const tm_runner_params *p, run_ctl *ctl, const tm_heartbeat_view *view) {
  if (view->tune_seq <= ctl->tune_seq) return;
  ctl->tune_seq = view->tune_seq;
  char changes[512];
  tm_controls_change all = {.batch_size = true,
                            .rate = true,
                            .lag = true,
                            .write = true,
                            .failed = true,
                            .v = view->tune};
  tm_controls now = ctl->pacing.c;
  if (tm_controls_apply(&now, &all, changes, sizeof changes) == 0) return;
  tm_pacing_set(&ctl->pacing, &now);
  tm_log(TM_LOG_INFO, "controls changed; applying them from the next batch", "migration",
         TM_LOG_STR(p->m->name), "changes", TM_LOG_STR(changes), NULL);
}

/* Asks for the replication lag at most every LAG_POLL_MS; a server without one is not asked
 * again. A failure to ask is not the run's: the batch's own write will meet the same server. */
static void look_at_lag(const tm_runner_params *p, run_ctl *ctl, int64_t now) {
  if (ctl->pacing.c.max_lag_ms == 0 || now < ctl->next_lag_ms) return;
  tm_replication_answer answer;
  int64_t lag = 0;
  tm_error err = {0};
  if (tm_replication_lag(p->client, &answer, &lag, &err) != TM_OK) {
    ctl->next_lag_ms = now + LAG_POLL_MS;
    return;
  }
  if (answer == TM_REPLICATION_NONE) {
    tm_log(TM_LOG_INFO, "no replication lag to throttle on (not a replica set, or not allowed)",
           "migration", TM_LOG_STR(p->m->name), NULL);
    ctl->next_lag_ms = INT64_MAX;
    return;
  }
  ctl->next_lag_ms = now + LAG_POLL_MS;
  if (answer == TM_REPLICATION_LAG) tm_pacing_lag(&ctl->pacing, lag);
}

/* Keeps the state document's throttle in step with the pacing's, so every replica's Status says
 * THROTTLED, why, and since when. */
static void store_throttle(const tm_runner_params *p, run_ctl *ctl) {
  bool throttled = tm_pacing_throttled(&ctl->pacing);
  if (throttled == ctl->throttle_stored) return;
  tm_error err;
  const char *reason = throttled ? ctl->pacing.reason : NULL;
  if (tm_state_set_throttle(p->states, p->m->name, p->lease_gen, reason, tm_clock_wall_ms(),
                            &err) == TM_OK) {
    ctl->throttle_stored = throttled;
    tm_state_reads_poke(&p->engine->state_reads);
  }
  if (throttled) {
    tm_log(TM_LOG_WARN, "migration throttled: waiting for the database", "migration",
           TM_LOG_STR(p->m->name), "reason", TM_LOG_STR(ctl->pacing.reason), NULL);
  } else {
    tm_log(TM_LOG_INFO, "throttle lifted", "migration", TM_LOG_STR(p->m->name), NULL);
  }
}

/* The wait the next batch of n documents needs now, and whether the throttle asks for it. */
static int64_t wait_needed(run_ctl *ctl, size_t n, int64_t now, bool *throttle) {
  *throttle = false;
  tm_pacing *pc = &ctl->pacing;
  if (pc->cause == TM_THROTTLE_LAG || (pc->cause == TM_THROTTLE_LATENCY && !ctl->latency_waited)) {
    *throttle = true;
    return tm_pacing_backoff(pc);
  }
  return tm_pacing_rate_wait(pc, n, now);
}

/* Real run, before a batch of n documents: applies a Tune, then waits out the throttle and the
 * rate limit in slices, hearing the markers and the stop flag meanwhile. Returns false (outcome
 * set) when the run is to end instead. */
bool tm_runner_pace(const tm_runner_params *p, run_ctl *ctl, size_t n, tm_runner_result *r) {
  for (;;) {
    int64_t now = tm_clock_mono_ms();
    if (now >= ctl->next_poke_ms) {
      tm_heartbeat_poke(p->hb);
      ctl->next_poke_ms = now + TM_RUNNER_MARKER_POLL_MS;
    }
    tm_heartbeat_view view;
    tm_heartbeat_view_of(p->hb, p->hb_slot, &view);
    if (!tm_runner_keep_going(p, view.cancel, view.pause, r)) return false;
    tm_runner_apply_tune(p, ctl, &view);
    look_at_lag(p, ctl, now);
    bool throttle;
    int64_t wait = wait_needed(ctl, n, now, &throttle);
    store_throttle(p, ctl);
    if (wait == 0) break;
    int64_t end = now + wait;
    while ((now = tm_clock_mono_ms()) < end) {
      int slice = (int)(end - now < WAIT_SLICE_MS ? end - now : WAIT_SLICE_MS);
      tm_engine_nap(p->engine, slice);
      tm_heartbeat_view_of(p->hb, p->hb_slot, &view);
      if (!tm_runner_keep_going(p, view.cancel, view.pause, r)) return false;
    }
    if (throttle && ctl->pacing.cause == TM_THROTTLE_LATENCY) ctl->latency_waited = true;
  }
  tm_pacing_take(&ctl->pacing, n, tm_clock_mono_ms());
  return true;
}

/* Counts this batch's refused documents against the budget. Returns false (FAILED) past it. */
bool tm_runner_spend_budget(const tm_runner_params *p, const run_ctl *ctl, tm_refused *batch,
                            tm_runner_result *r) {
  bson_iter_t it, entry;
  if (!batch->n || !bson_iter_init(&it, &batch->list)) return true;
  const char *first_error = NULL;
  char first_id[256] = "";
  while (bson_iter_next(&it)) {
    bson_iter_t id, error;
    if (!bson_iter_recurse(&it, &entry) || !bson_iter_find_descendant(&entry, "_id", &id)) {
      continue;
    }
    bson_iter_recurse(&it, &error);
    const char *msg = bson_iter_find(&error, "error") && BSON_ITER_HOLDS_UTF8(&error)
                          ? bson_iter_utf8(&error, NULL)
                          : "";
    r->failed++;
    if (r->refused.n < TM_FAILED_KEEP) tm_refused_add(&r->refused, bson_iter_value(&id), msg);
    char key[16];
    const char *k;
    bson_uint32_to_string(r->n_skipped++, &k, key, sizeof key);
    bson_append_value(&r->skipped, k, -1, bson_iter_value(&id));
    char *json = tm_json_canonical_value(bson_iter_value(&id));
    tm_log(TM_LOG_WARN, "document refused by the server; skipped (error budget)", "migration",
           TM_LOG_STR(p->m->name), "_id", TM_LOG_STR(json), "error", TM_LOG_STR(msg), "failed",
           TM_LOG_INT(r->failed), "max_failed_documents", TM_LOG_INT(ctl->pacing.c.max_failed),
           NULL);
    if (!first_error) {
      first_error = msg;
      snprintf(first_id, sizeof first_id, "%s", json);
    }
    free(json);
  }
  if (r->failed <= ctl->pacing.c.max_failed) return true;
  r->outcome = TM_RUN_FAILED;
  tm_error_set(&r->err, TM_ERR_INTERNAL,
               "%" PRId64 " documents refused by the server, over max_failed_documents %" PRId64
               "; e.g. _id %s: %s",
               r->failed, ctl->pacing.c.max_failed, first_id, first_error ? first_error : "");
  return false;
}

/* The run's controls as it starts: a dry run has only its batch size. */
void tm_runner_init_ctl(const tm_runner_params *p, run_ctl *ctl) {
  tm_controls c = p->dry_run ? (tm_controls){0} : p->controls;
  if (c.batch_size < 1) c.batch_size = p->batch_size;
  memset(ctl, 0, sizeof *ctl);
  tm_pacing_init(&ctl->pacing, &c, tm_clock_mono_ms());
}
