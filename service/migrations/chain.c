/* A Run's thread: claim every asked migration, run them in order, report once.
 *
 * Claim phase: for each migration, a SUCCEEDED one is skipped (unless rerun) once one query has
 * found no document matching its filter; one with documents left (drift) is swept again from the
 * start. Otherwise the chain takes its lease (lease.h) and marks it QUEUED, keeping the replaced
 * state in `prev`; one whose lease is live elsewhere is left to wait for when its turn comes.
 * Holding every claim before the first migration runs means no other replica starts a later
 * migration of this chain meanwhile, and an async Run can answer with all of them QUEUED. The
 * heartbeat keeps the claims alive.
 *
 * Run phase, in registry order: a claimed migration runs (runner.h); a busy one is waited for by
 * polling its state and lease every POLL_MS: when its holder ends it, its outcome is this Run's
 * outcome too; when the holder dies (lease expired) or was shut down (interrupted), this chain
 * takes it over from the saved cursor. The first FAILED, CANCELED or INTERRUPTED stops the chain:
 * the claims not reached are put back as they were, and every migration not reached is reported
 * in its stored state.
 *
 * Waiting cannot deadlock: a chain only waits on a migration whose holder either runs it or holds
 * it queued behind an earlier migration, and chains claim and run in the same (registry) order.
 *
 * Callers: a Run identical to a chain that has not answered yet joins it as one more waiter rather
 * than starting a thread, so retries by Jobs and operators cost nothing; the chains of one replica
 * are bounded (engine max_runs). A waiter whose caller leaves is answered at once; a chain left
 * with none stops waiting, since nobody would hear its outcome, but runs what it has claimed. */
#include "chain.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../metrics/metrics.h"
#include "../store/clock.h"
#include "../store/lease.h"
#include "../store/state.h"
#include "../util/ratelimit.h"
#include "chain_impl.h"
#include "heartbeat.h"
#include "json.h"
#include "report.h"
#include "runner.h"

/* How long a chain keeps trying to save a migration's outcome while the database is away. */
#define FINISH_RETRY_MS (10 * 60 * 1000)

#define POLL_MS 300

/* This chain wrote a state document: the metrics read the collection again soon. */
static void state_written(chain *c) { tm_state_reads_poke(&c->e->state_reads); }

/* --- reporting --- */

/* Answers every caller still waiting; later joiners start a chain of their own. */
void tm_chain_report(chain *c, tm_code code, const tm_error *err) {
  if (c->reported) return;
  c->reported = true;
  pthread_mutex_lock(&c->e->mu);
  waiter *w = c->waiters;
  c->waiters = NULL;
  c->rec->joinable = NULL;
  pthread_mutex_unlock(&c->e->mu);
  if (code != TM_OK && !atomic_load(&c->abandoned)) {
    tm_log(TM_LOG_WARN, "run ended without results", "run_id", TM_LOG_STR(c->run_id), "code",
           TM_LOG_STR(tm_code_name(code)), "error", TM_LOG_STR(err->msg), NULL);
  }
  /* The result borrows the items' statuses: valid during the call only, as engine.h says. */
  tm_run_result result;
  memset(&result, 0, sizeof result);
  snprintf(result.run_id, sizeof result.run_id, "%s", c->run_id);
  result.migrations.items = calloc(c->n ? c->n : 1, sizeof *result.migrations.items);
  result.migrations.n = c->n;
  for (size_t i = 0; i < c->n; i++) result.migrations.items[i] = c->items[i].st;
  while (w) {
    waiter *next = w->next;
    result.joined = w->joined;
    w->done(w->arg, code, err, code == TM_OK ? &result : NULL);
    free(w);
    w = next;
  }
  free(result.migrations.items);
}

/* True once every caller has left: nobody would hear what a wait or a dry run finds. */
bool tm_chain_abandoned(chain *c) { return atomic_load(&c->abandoned); }

void tm_chain_set_status(item *it, const tm_state_doc *doc, bool skipped) {
  tm_status_clear(&it->st);
  tm_report_from_state(it->m, doc, &it->st);
  it->st.skipped = skipped;
}

void tm_chain_set_pending(item *it) {
  tm_status_clear(&it->st);
  tm_report_pending(it->m, &it->st);
}

/* For a migration the chain stops before: what is stored now, never a guess. Keeps the last
 * status read if the database does not answer. */
static void set_stored_status(chain *c, item *it) {
  tm_state_doc s;
  tm_error err;
  if (tm_state_read(c->states, it->m->name, &s, &err) != TM_OK) return;
  tm_chain_set_status(it, &s, false);
  tm_state_doc_clear(&s);
}

static void set_claimed_status(chain *c, item *it, int64_t now) {
  tm_chain_set_pending(it);
  it->st.state = TM_STATE_QUEUED;
  it->st.swept_drift = it->drift;
  it->st.run_id = strdup(c->run_id);
  it->st.owner = strdup(c->e->instance_id);
  it->st.started_at_ms = now;
  if (it->base.has_cursor && it->base.state != TM_STATE_SUCCEEDED) {
    it->st.cursor = tm_json_canonical_value(&it->base.cursor);
  }
}

/* --- claims --- */

/* The state a claim replaces: a dead chain's unstarted claim counts as its prev, and a held state
 * whose holder is gone (we hold the lease now) as INTERRUPTED, resumable. */
void tm_chain_effective_base(const tm_state_doc *s, tm_state_doc *base) {
  if (s->prev) {
    tm_state_doc_parse(s->prev, base);
  } else {
    tm_state_doc_copy(s, base);
    base->prev = NULL;
  }
  if (base->exists && tm_state_is_held(base->state)) {
    char msg[TM_LEASE_OWNER_MAX + 64];
    snprintf(msg, sizeof msg, "interrupted: the lease of %s expired",
             base->owner ? base->owner : "a previous holder");
    base->state = TM_STATE_INTERRUPTED;
    free(base->error);
    base->error = strdup(msg);
  }
}

static void release(chain *c, item *it) {
  tm_lease lease = it->lease;
  if (it->hb_slot >= 0) tm_heartbeat_remove(c->hb, it->hb_slot, &lease);
  it->hb_slot = -1;
  tm_error err;
  if (tm_lease_release(c->leases, &lease, &err) != TM_OK) {
    tm_log(TM_LOG_WARN, "could not release a lease; it will expire", "migration",
           TM_LOG_STR(it->m->name), "error", TM_LOG_STR(err.msg), NULL);
  }
}

/* Whether a SUCCEEDED migration is to be skipped: when no document matches its filter. Sets
 * it->drift otherwise; asks the database once per chain. */
tm_code tm_chain_skip_succeeded(chain *c, item *it, bool *skip, tm_error *err) {
  *skip = false;
  if (c->rerun) return TM_OK;
  if (!it->drift) {
    bool left;
    tm_code code = tm_engine_any_left(c->e, c->client, it->m, NULL, &left, err);
    if (code != TM_OK) return code;
    it->drift = left;
    if (left) {
      tm_log(TM_LOG_WARN,
             "migration had succeeded, but documents match its filter again; sweeping them as a "
             "new run",
             "migration", TM_LOG_STR(it->m->name), "run_id", TM_LOG_STR(c->run_id), NULL);
    }
  }
  *skip = !it->drift;
  return TM_OK;
}

/* Claims it->m: sets it->kind (and status) to SKIPPED, CLAIMED or BUSY. */
static tm_code claim(chain *c, item *it, tm_error *err) {
  const char *name = it->m->name;
  tm_state_doc s;
  bool skip = false;
  tm_code code = tm_state_read(c->states, name, &s, err);
  if (code != TM_OK) return code;
  if (s.exists && s.state == TM_STATE_PAUSED && !s.prev && !c->resume) {
    it->kind = ITEM_PAUSED;
    tm_chain_set_status(it, &s, false);
    tm_state_doc_clear(&s);
    return TM_OK;
  }
  if (s.exists && s.state == TM_STATE_SUCCEEDED && !s.prev) {
    code = tm_chain_skip_succeeded(c, it, &skip, err);
    if (code == TM_OK && skip) {
      it->kind = ITEM_SKIPPED;
      tm_chain_set_status(it, &s, true);
    }
  }
  if (code != TM_OK || skip) {
    tm_state_doc_clear(&s);
    return code;
  }
  tm_lease_info holder;
  code = tm_lease_take(c->leases, name, c->e->instance_id, c->run_id, c->e->lease_ms, &it->lease,
                       &holder, err);
  if (code == TM_ERR_CONFLICT) {
    it->kind = ITEM_BUSY;
    it->waited_gen = holder.gen;
    it->seen_finished_ms = s.exists && !tm_state_is_held(s.state) ? s.finished_at_ms : -1;
    tm_chain_set_status(it, &s, false);
    tm_state_doc_clear(&s);
    return TM_OK;
  }
  tm_state_doc_clear(&s);
  if (code != TM_OK) return code;
  it->hb_slot = tm_heartbeat_add(c->hb, &it->lease);
  if (it->hb_slot < 0) {
    release(c, it);
    return tm_error_set(err, TM_ERR_RESOURCE, "too many migrations in one run");
  }

  /* We hold the lease: read again, the state may have moved since. */
  code = tm_state_read(c->states, name, &s, err);
  if (code != TM_OK) {
    release(c, it);
    return code;
  }
  tm_state_doc base;
  tm_chain_effective_base(&s, &base);
  if (base.exists && base.state == TM_STATE_SUCCEEDED)
    code = tm_chain_skip_succeeded(c, it, &skip, err);
  if (code != TM_OK) {
    tm_state_doc_clear(&s);
    tm_state_doc_clear(&base);
    release(c, it);
    return code;
  }
  bool paused = base.exists && base.state == TM_STATE_PAUSED && !c->resume;
  if (base.exists && ((base.state == TM_STATE_SUCCEEDED && skip) || paused)) {
    if (s.prev) code = tm_state_restore(c->states, name, s.lease_gen, &base, err);
    release(c, it);
    it->kind = paused ? ITEM_PAUSED : ITEM_SKIPPED;
    tm_chain_set_status(it, &base, !paused);
    tm_state_doc_clear(&s);
    tm_state_doc_clear(&base);
    return code;
  }
  int64_t now = tm_clock_wall_ms();
  tm_state_claim cl = {
      .run_id = c->run_id,
      .owner = c->e->instance_id,
      .lease_gen = it->lease.gen,
      .lease_expires_at_ms = it->lease.expires_at_ms,
      .now_ms = now,
      .reset_cursor = base.state == TM_STATE_SUCCEEDED,
      .controls = c->resume && base.has_controls ? &base.controls : &c->controls,
      .keep_failed = c->resume && base.state == TM_STATE_PAUSED,
  };
  code = tm_state_claim_write(c->states, name, &cl, &base, err);
  if (code == TM_OK && tm_state_is_held(s.state) && !s.prev && s.run_id) {
    /* The holder we replace is gone: its history entry ends as its state did. */
    tm_history_outcome end = {
        .state = base.state,
        .error = base.error,
        .total = s.total,
        .processed = s.processed,
        .updated = s.updated,
        .finished_at_ms = now,
        .only_if_held = true,
    };
    tm_engine_history_end(c->e, c->client, s.run_id, name, &end);
  }
  tm_state_doc_clear(&s);
  if (code != TM_OK) {
    tm_state_doc_clear(&base);
    release(c, it);
    return code;
  }
  it->kind = ITEM_CLAIMED;
  it->base = base;
  set_claimed_status(c, it, now);
  state_written(c);
  tm_log(TM_LOG_INFO, "migration claimed", "migration", TM_LOG_STR(name), "run_id",
         TM_LOG_STR(c->run_id), "lease_gen", TM_LOG_INT(it->lease.gen), "from_state",
         TM_LOG_STR(tm_state_name(base.exists ? base.state : TM_STATE_PENDING)), NULL);
  return TM_OK;
}

/* Puts a claim that never started back as it was, and reports that. */
static void unclaim(chain *c, item *it) {
  tm_error err;
  if (tm_state_restore(c->states, it->m->name, it->lease.gen, &it->base, &err) != TM_OK) {
    tm_log(TM_LOG_WARN, "could not put back an unstarted claim; a later run takes it over",
           "migration", TM_LOG_STR(it->m->name), "error", TM_LOG_STR(err.msg), NULL);
  }
  release(c, it);
  state_written(c);
  tm_chain_set_status(it, &it->base, false);
  tm_state_doc_clear(&it->base);
  it->kind = ITEM_SETTLED;
}

/* Leaves a claim the chain did not reach QUEUED behind paused, its lease released: a Resume of
 * paused takes it up again (any Run may claim it meanwhile). */
static void leave_waiting(chain *c, item *it, const char *paused) {
  tm_error err;
  if (tm_state_wait_behind(c->states, it->m->name, it->lease.gen, paused, &err) != TM_OK) {
    unclaim(c, it);
    return;
  }
  release(c, it);
  state_written(c);
  tm_state_doc_clear(&it->base);
  it->kind = ITEM_SETTLED; /* its status stays the claim's: QUEUED */
}

/* --- history --- */

/* Records that this run starts it->m; the strings are borrowed. A dry run writes nothing at all,
 * its history included: its log lines (run accepted, dry run ended) are its record. */
static void history_begin(chain *c, const item *it) {
  const char **names = calloc(c->n ? c->n : 1, sizeof *names);
  for (size_t i = 0; i < c->n; i++) names[i] = c->items[i].m->name;
  tm_history_entry e = {
      .run_id = c->run_id,
      .migration = (char *)it->m->name,
      .migrations = (char **)names,
      .n_migrations = c->n,
      .rerun = c->rerun,
      .async = c->async,
      .swept_drift = it->drift,
      .batch_size = c->batch_size,
      .caller = c->caller,
      .has_controls = true,
      .controls = c->controls,
      .state = TM_STATE_RUNNING,
      .started_at_ms = tm_clock_wall_ms(),
  };
  tm_engine_history_begin(c->e, c->client, &e);
  free(names);
}

static void history_end(chain *c, const item *it, const tm_status *st, const bson_t *failed) {
  tm_history_outcome end = {
      .state = st->state,
      .error = st->error,
      .total = st->total,
      .processed = st->processed,
      .updated = st->updated,
      .finished_at_ms = st->finished_at_ms,
      .failed_count = st->failed_count,
      .failed = failed,
  };
  tm_engine_history_end(c->e, c->client, c->run_id, it->m->name, &end);
}

/* --- running a claimed migration --- */

static tm_state state_of_outcome(tm_run_outcome o) {
  switch (o) {
  case TM_RUN_SUCCEEDED: return TM_STATE_SUCCEEDED;
  case TM_RUN_CANCELED: return TM_STATE_CANCELED;
  case TM_RUN_INTERRUPTED: return TM_STATE_INTERRUPTED;
  case TM_RUN_LOST: return TM_STATE_INTERRUPTED;
  case TM_RUN_PAUSED: return TM_STATE_PAUSED;
  default: return TM_STATE_FAILED;
  }
}

/* Writes the outcome (unless the lease is lost) and releases the lease. */
static void finish(chain *c, item *it, tm_state state, const char *error, bool lost,
                   int64_t processed, int64_t updated) {
  tm_error err;
  tm_code code = TM_OK;
  /* Until the database is back: a run that failed because it went away would otherwise stay
   * RUNNING in its state document until someone runs it again. The write is fenced by the lease
   * generation, so a late one cannot overwrite a new holder's state. Bounded, and at shutdown a few
   * quick tries only (the naps then return at once). */
  int64_t give_up = tm_clock_mono_ms() + FINISH_RETRY_MS;
  for (int attempt = 0; !lost; attempt++) {
    code = tm_state_finish(c->states, it->m->name, it->lease.gen, state, error, processed, updated,
                           tm_clock_wall_ms(), &err);
    if (code != TM_ERR_UNAVAILABLE || tm_clock_mono_ms() > give_up) break;
    if (!tm_engine_nap(c->e, attempt < 4 ? 500 << attempt : 8000) && attempt >= 3) break;
  }
  if (code != TM_OK) {
    tm_log(TM_LOG_ERROR, "could not save the outcome; a later run takes the migration over",
           "migration", TM_LOG_STR(it->m->name), "error", TM_LOG_STR(err.msg), NULL);
  }
  if (lost) {
    tm_heartbeat_remove(c->hb, it->hb_slot, NULL);
    it->hb_slot = -1;
  } else {
    release(c, it);
  }
}

static tm_state run_claimed(chain *c, item *it, bool *interrupted) {
  const char *name = it->m->name;
  tm_state_doc s;
  tm_error err = {0};
  int64_t started = tm_clock_wall_ms();
  tm_code code = tm_state_read(c->states, name, &s, &err);
  tm_runner_result r;
  tm_runner_result_init(&r);
  tm_heartbeat_view view;
  tm_heartbeat_view_of(c->hb, it->hb_slot, &view);
  tm_state state;
  bool ran = false; /* it started: the history has its entry */

  if (code == TM_OK && tm_engine_stopping(c->e)) {
    tm_state_doc_clear(&s);
    *interrupted = true;
    unclaim(c, it);
    return it->st.state;
  }
  if (code != TM_OK) {
    r.outcome = TM_RUN_FAILED;
    r.err = err;
  } else if (s.lease_gen != it->lease.gen || view.lost) {
    r.outcome = TM_RUN_LOST;
    tm_error_set(&r.err, TM_ERR_CONFLICT, "lease lost to another holder before the start");
  } else if (s.cancel_requested || view.cancel) {
    r.outcome = TM_RUN_CANCELED;
  } else if (s.pause_requested || view.pause) {
    r.outcome = TM_RUN_PAUSED;
  } else {
    bool resumed = c->resume && it->base.state == TM_STATE_PAUSED;
    /* The claim stored the run's controls; a Tune since has changed them there. */
    tm_controls controls = s.has_controls ? s.controls : c->controls;
    tm_runner_params p = {
        .engine = c->e,
        .client = c->client,
        .m = it->m,
        .registry_index = tm_registry_index(it->m),
        .batch_size = controls.batch_size > 0 ? controls.batch_size : c->batch_size,
        .controls = controls,
        .resume_after = s.has_cursor ? &s.cursor : NULL,
        .done_before = s.has_cursor ? it->base.processed : 0,
        .retry_first = it->base.failed,
        .failed_before = resumed ? it->base.failed_count : 0,
        .states = c->states,
        .hb = c->hb,
        .hb_slot = it->hb_slot,
        .lease_gen = it->lease.gen,
    };
    if (resumed) {
      tm_engine_history_resume(c->e, c->client, c->run_id, name);
    } else {
      history_begin(c, it);
    }
    ran = true;
    tm_runner_run(&p, &r, NULL);
  }
  state = state_of_outcome(r.outcome);
  bool was_interrupted = r.outcome == TM_RUN_INTERRUPTED;
  const char *error = state == TM_STATE_FAILED || state == TM_STATE_INTERRUPTED ? r.err.msg : NULL;
  finish(c, it, state, error, r.outcome == TM_RUN_LOST, r.processed, r.updated);
  state_written(c);
  if (was_interrupted) {
    *interrupted = true;
    if (!tm_engine_stopping(c->e)) c->interrupt = r.err;
  }

  tm_log(state == TM_STATE_SUCCEEDED ? TM_LOG_INFO : TM_LOG_WARN, "migration ended", "migration",
         TM_LOG_STR(name), "run_id", TM_LOG_STR(c->run_id), "state",
         TM_LOG_STR(tm_state_name(state)), "total", TM_LOG_INT(r.total), "processed",
         TM_LOG_INT(r.processed), "updated", TM_LOG_INT(r.updated), "duration_ms",
         TM_LOG_INT(tm_clock_wall_ms() - started), "error", TM_LOG_STR(error ? error : ""), NULL);

  tm_chain_set_pending(it);
  it->st.state = state;
  it->st.swept_drift = it->drift;
  it->st.run_id = strdup(c->run_id);
  it->st.owner = strdup(c->e->instance_id);
  it->st.total = r.total;
  it->st.processed = r.processed;
  it->st.updated = r.updated;
  it->st.started_at_ms = started;
  it->st.finished_at_ms = tm_clock_wall_ms();
  if (error) it->st.error = strdup(error);
  it->st.has_controls = ran;
  it->st.controls = r.controls;
  tm_report_failed(&it->st, r.failed, r.refused.n ? &r.refused.list : NULL);
  if (r.has_cursor) {
    it->st.cursor = tm_json_canonical_value(&r.cursor);
  } else if (code == TM_OK && s.has_cursor) {
    it->st.cursor = tm_json_canonical_value(&s.cursor);
  }
  if (ran) history_end(c, it, &it->st, r.refused.n ? &r.refused.list : NULL);
  tm_runner_result_clear(&r);
  if (code == TM_OK) tm_state_doc_clear(&s);
  tm_state_doc_clear(&it->base);
  it->kind = ITEM_SETTLED;
  return state;
}

/* --- waiting for a migration held elsewhere --- */

static tm_state wait_busy(chain *c, item *it, bool *interrupted) {
  const char *name = it->m->name;
  int64_t first_error = 0, last_log = tm_clock_mono_ms();
  for (;;) {
    if (tm_engine_stopping(c->e) || tm_chain_abandoned(c)) {
      *interrupted = true;
      return it->st.state; /* as last read */
    }
    tm_error err = {0};
    tm_state_doc s;
    tm_lease_info latest;
    tm_code code = tm_state_read(c->states, name, &s, &err);
    if (code == TM_OK) {
      if (s.exists && tm_state_is_final(s.state) && !s.prev && s.lease_gen >= it->waited_gen &&
          s.finished_at_ms != it->seen_finished_ms) {
        /* The run we waited for ended: its outcome is ours. */
        tm_chain_set_status(it, &s, false);
        tm_state_doc_clear(&s);
        it->kind = ITEM_SETTLED;
        return it->st.state;
      }
      tm_chain_set_status(it, &s, false);
      tm_state_doc_clear(&s);
      code = tm_lease_latest(c->leases, name, &latest, &err);
    }
    if (code == TM_OK && !tm_lease_live(&latest, tm_clock_wall_ms())) {
      code = claim(c, it, &err);
      if (code == TM_OK && it->kind == ITEM_CLAIMED) {
        tm_log(TM_LOG_INFO, "took over a migration whose holder is gone", "migration",
               TM_LOG_STR(name), "run_id", TM_LOG_STR(c->run_id), NULL);
        return run_claimed(c, it, interrupted);
      }
      if (code == TM_OK && it->kind == ITEM_SKIPPED) {
        it->kind = ITEM_SETTLED;
        return TM_STATE_SUCCEEDED;
      }
    } else if (code == TM_OK && latest.gen > it->waited_gen) {
      it->waited_gen = latest.gen;
    }
    if (code != TM_OK) {
      int64_t now = tm_clock_mono_ms();
      if (!first_error) first_error = now;
      if (now - first_error > 2 * (int64_t)c->e->lease_ms) {
        tm_chain_set_pending(it);
        it->st.state = TM_STATE_FAILED;
        char msg[TM_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof msg, "while waiting for its holder: %s", err.msg);
        it->st.error = strdup(msg);
        it->kind = ITEM_SETTLED;
        return TM_STATE_FAILED;
      }
    } else {
      first_error = 0;
    }
    /* Every waiting chain says so each 10 s, and a flood of Runs makes many: a few lines per
     * window for all of them, the next one counting those held back. */
    static tm_ratelimit waiting_lines = TM_RATELIMIT_INIT(5, 10000);
    uint64_t held = 0;
    if (tm_clock_mono_ms() - last_log > 10000) {
      last_log = tm_clock_mono_ms();
      if (tm_ratelimit_allow(&waiting_lines, &held)) {
        tm_log(TM_LOG_INFO, "waiting for a migration held elsewhere", "migration", TM_LOG_STR(name),
               "run_id", TM_LOG_STR(c->run_id), "holder", TM_LOG_STR(latest.owner),
               held ? "suppressed" : NULL, TM_LOG_INT(held), NULL);
      }
    }
    tm_engine_nap(c->e, POLL_MS);
  }
}

/* --- the thread --- */

static void run_chain(chain *c) {
  tm_error err = {0};
  tm_code code =
      tm_heartbeat_start(c->e->store, c->e->lease_collection, c->e->lease_ms, &c->hb, &err);
  for (size_t i = 0; i < c->n && code == TM_OK; i++) {
    if (tm_engine_stopping(c->e)) {
      code = tm_error_set(&err, TM_ERR_UNAVAILABLE, "service shutting down");
    } else {
      code = claim(c, &c->items[i], &err);
    }
  }
  if (code != TM_OK) {
    for (size_t i = 0; i < c->n; i++) {
      if (c->items[i].kind == ITEM_CLAIMED) unclaim(c, &c->items[i]);
    }
    tm_chain_report(c, code, &err);
    return;
  }
  if (c->async) tm_chain_report(c, TM_OK, NULL);

  bool stop = false, interrupted = false;
  /* A migration the chain stopped at because it is paused: the rest of the chain waits behind it,
   * for its Resume, whoever paused it. */
  const char *paused = NULL;
  for (size_t i = 0; i < c->n; i++) {
    item *it = &c->items[i];
    if (stop) {
      if (it->kind == ITEM_CLAIMED && paused) {
        leave_waiting(c, it, paused);
      } else if (it->kind == ITEM_CLAIMED) {
        unclaim(c, it);
      } else if (it->kind == ITEM_BUSY) {
        set_stored_status(c, it);
      }
      continue;
    }
    tm_state state = TM_STATE_SUCCEEDED;
    if (it->kind == ITEM_CLAIMED) {
      state = run_claimed(c, it, &interrupted);
    } else if (it->kind == ITEM_BUSY) {
      state = wait_busy(c, it, &interrupted);
    } else if (it->kind == ITEM_PAUSED) {
      state = TM_STATE_PAUSED;
    }
    if (interrupted || state != TM_STATE_SUCCEEDED) stop = true;
    if (state == TM_STATE_PAUSED && !interrupted) paused = it->m->name;
  }
  if (interrupted && c->interrupt.code != TM_OK) {
    tm_chain_report(c, TM_ERR_UNAVAILABLE, &c->interrupt);
  } else if (interrupted) {
    tm_error_set(&err, TM_ERR_UNAVAILABLE,
                 "interrupted: service shutting down; run again (on any replica) to resume");
    tm_chain_report(c, TM_ERR_UNAVAILABLE, &err);
  } else {
    tm_chain_report(c, TM_OK, NULL);
  }
}

void *tm_chain_main(void *arg) {
  chain *c = arg;
  tm_engine *e = c->e;
  c->client = tm_store_pop(e->store);
  c->states = tm_engine_collection(e, c->client, e->state_collection);
  c->leases = tm_engine_collection(e, c->client, e->lease_collection);
  if (c->dry_run) {
    tm_chain_run_dry(c);
  } else {
    run_chain(c);
  }
  tm_heartbeat_stop(c->hb);
  mongoc_collection_destroy(c->states);
  mongoc_collection_destroy(c->leases);
  tm_store_push(e->store, c->client);
  for (size_t i = 0; i < c->n; i++) {
    tm_status_clear(&c->items[i].st);
    tm_state_doc_clear(&c->items[i].base);
  }
  free(c->items);
  tm_chain_rec *rec = c->rec;
  free(c);

  pthread_mutex_lock(&e->mu);
  rec->finished = true;
  pthread_cond_broadcast(&e->cond);
  pthread_mutex_unlock(&e->mu);
  return NULL;
}
