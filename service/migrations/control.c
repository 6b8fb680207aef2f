/* Control calls on a migration wherever it runs: Cancel, Pause, Resume and Tune. Each records its
 * request in the state document (and, for a holder, in a lease-collection marker its heartbeat
 * reads), retries a transient failure for a bounded time, and adds an event to the run's history.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../store/clock.h"
#include "../store/lease.h"
#include "../store/state.h"
#include "../util/backoff.h"
#include "chain.h"
#include "engine.h"
#include "engine_ctx.h"
#include "registry.h"
#include "report.h"

/* How long a control call retries a transient failure before it answers UNAVAILABLE: a busy
 * FerretDB or a replica-set election is over in seconds. */
#define CONTROL_RETRY_MS 10000

static const char *stop_word(tm_stop_kind kind) {
  return kind == TM_STOP_CANCEL ? "cancel" : "pause";
}

/* Records a Cancel or a Pause of m: idempotent, so a transient failure repeats all of it. */
static tm_code stop_once(mongoc_collection_t *states, mongoc_collection_t *leases,
                         const tm_migration *m, tm_stop_kind kind, tm_status *out, tm_error *err) {
  tm_state_doc doc;
  tm_code code = tm_state_read(states, m->name, &doc, err);
  bool recorded = false;
  if (code == TM_OK && (doc.state == TM_STATE_QUEUED || doc.state == TM_STATE_RUNNING)) {
    code = tm_state_request_stop(states, m->name, kind, &recorded, err);
    /* The marker reaches the holder even if a concurrent checkpoint overwrites the flag (FerretDB
     * writes whole documents, without a lock). */
    if (code == TM_OK && recorded) {
      code = tm_lease_request_stop(leases, m->name, doc.lease_gen, stop_word(kind), err);
    }
  }
  if (code == TM_OK && !recorded) {
    code = tm_error_set(err, TM_ERR_PRECONDITION, "%s is not running (state %s)", m->name,
                        tm_state_name(doc.state));
  }
  if (code == TM_OK) {
    tm_state_doc_clear(&doc);
    code = tm_state_read(states, m->name, &doc, err);
  }
  if (code == TM_OK) {
    tm_report_from_state(m, &doc, out);
    /* Recorded: the holder may have ended it since, but it no longer runs as before. */
    if (tm_state_is_held(out->state)) {
      out->state = kind == TM_STOP_CANCEL ? TM_STATE_CANCELING : TM_STATE_PAUSING;
    }
    tm_log(TM_LOG_INFO, kind == TM_STOP_CANCEL ? "cancel requested" : "pause requested",
           "migration", TM_LOG_STR(m->name), "owner", TM_LOG_STR(doc.owner ? doc.owner : ""),
           "run_id", TM_LOG_STR(doc.run_id ? doc.run_id : ""), NULL);
  }
  tm_state_doc_clear(&doc);
  return code;
}

/* What a control call works with: the control pool's client and the state and lease handles. */
typedef struct {
  mongoc_client_t *client;
  mongoc_collection_t *states, *leases;
  tm_backoff retry;
} control;

/* Finds the migration named (TM_ERR_INVALID: unknown) and opens a control on it. */
static tm_code control_open(tm_engine *e, const char *name, const tm_migration **m, control *c,
                            tm_error *err) {
  *m = tm_registry_find(name ? name : "");
  if (!*m) return tm_engine_invalid_name(err, name ? name : "", "unknown");
  c->client = tm_store_pop_control(e->store);
  c->states = tm_engine_collection(e, c->client, e->state_collection);
  c->leases = tm_engine_collection(e, c->client, e->lease_collection);
  tm_backoff_init(&c->retry, CONTROL_RETRY_MS);
  return TM_OK;
}

static void control_close(tm_engine *e, control *c) {
  mongoc_collection_destroy(c->leases);
  mongoc_collection_destroy(c->states);
  tm_store_push_control(e->store, c->client);
}

/* After an attempt that failed with code: whether to try again (transient, within the bound). */
static bool control_retry(tm_engine *e, control *c, tm_code code, const char *what,
                          const tm_migration *m, const tm_error *err) {
  if (code != TM_ERR_UNAVAILABLE) return false;
  int64_t wait = tm_backoff_next(&c->retry, tm_clock_mono_ms());
  if (wait < 0 || !tm_engine_nap(e, (int)wait)) return false;
  tm_log(TM_LOG_WARN, what, "migration", TM_LOG_STR(m->name), "attempt",
         TM_LOG_INT(c->retry.attempts), "error", TM_LOG_STR(err->msg), NULL);
  return true;
}

/* One try of a control call on m; out is cleared before each. */
typedef tm_code (*control_attempt)(tm_engine *e, control *c, const tm_migration *m, void *ctx,
                                   tm_status *out, tm_error *err);

/* Opens a control on the migration named, tries attempt until it succeeds, fails for good or the
 * retry bound passes (what: the log line of a retry), and closes it. */
static tm_code control_call(tm_engine *e, const char *name, const char *what,
                            control_attempt attempt, void *ctx, tm_status *out, tm_error *err) {
  memset(out, 0, sizeof *out);
  const tm_migration *m;
  control c;
  if (control_open(e, name, &m, &c, err) != TM_OK) return err->code;
  tm_code code;
  do {
    tm_status_clear(out);
    code = attempt(e, &c, m, ctx, out, err);
  } while (control_retry(e, &c, code, what, m, err));
  control_close(e, &c);
  if (code == TM_OK) tm_state_reads_poke(&e->state_reads);
  return code;
}

typedef struct {
  tm_stop_kind kind;
  const tm_caller *caller;
} stop_ask;

static tm_code stop_attempt(tm_engine *e, control *c, const tm_migration *m, void *ctx,
                            tm_status *out, tm_error *err) {
  const stop_ask *ask = ctx;
  tm_code code = stop_once(c->states, c->leases, m, ask->kind, out, err);
  if (code == TM_OK && out->run_id) {
    tm_engine_history_event(e, c->client, out->run_id, m->name, stop_word(ask->kind), ask->caller,
                            NULL);
  }
  return code;
}

static tm_code request_stop(tm_engine *engine, const char *name, tm_stop_kind kind,
                            const tm_caller *caller, tm_status *out, tm_error *err) {
  stop_ask ask = {kind, caller};
  return control_call(engine, name,
                      kind == TM_STOP_CANCEL ? "cancel: transient failure; retrying"
                                             : "pause: transient failure; retrying",
                      stop_attempt, &ask, out, err);
}

tm_code tm_engine_cancel(tm_engine *engine, const char *name, const tm_caller *caller,
                         tm_status *out, tm_error *err) {
  return request_stop(engine, name, TM_STOP_CANCEL, caller, out, err);
}

tm_code tm_engine_pause(tm_engine *engine, const char *name, const tm_caller *caller,
                        tm_status *out, tm_error *err) {
  return request_stop(engine, name, TM_STOP_PAUSE, caller, out, err);
}

/* m and the claims waiting behind it, in registry order, into ms (tm_registry_count() slots). */
static tm_code resume_set(control *c, const tm_migration *m, const tm_migration **ms, size_t *n,
                          tm_error *err) {
  char **waiting;
  size_t n_waiting;
  tm_code code = tm_state_waiting_behind(c->states, m->name, &waiting, &n_waiting, err);
  if (code != TM_OK) return code;
  *n = 0;
  for (size_t i = 0; i < tm_registry_count(); i++) {
    const tm_migration *r = tm_registry_at(i);
    bool take = r == m;
    for (size_t j = 0; j < n_waiting && !take; j++) take = strcmp(waiting[j], r->name) == 0;
    if (take) ms[(*n)++] = r;
  }
  for (size_t j = 0; j < n_waiting; j++) free(waiting[j]);
  free(waiting);
  return TM_OK;
}

/* One look at m: resume it (started set), withdraw a pending Pause (withdrawn set), or refuse. */
static tm_code resume_once(tm_engine *engine, control *c, const tm_migration *m,
                           const tm_caller *caller, tm_run_done_fn done, void *arg, bool *started,
                           bool *withdrawn, tm_status *out, tm_error *err) {
  tm_state_doc doc;
  tm_code code = tm_state_read(c->states, m->name, &doc, err);
  if (code != TM_OK) return code;
  if (doc.state == TM_STATE_PAUSED && doc.run_id && !doc.prev) {
    const tm_migration **ms = calloc(tm_registry_count(), sizeof *ms);
    size_t n = 0;
    code = resume_set(c, m, ms, &n, err);
    if (code == TM_OK) {
      tm_chain_resume resume = {.run_id = doc.run_id, .controls = doc.controls};
      if (!doc.has_controls) resume.controls = engine->default_controls;
      tm_run_request req = {
          .async = true, .caller = caller, .batch_size = resume.controls.batch_size};
      tm_chain_reap(engine, false);
      code =
          tm_chain_start(engine, ms, n, &req, resume.controls.batch_size, &resume, done, arg, err);
      *started = code == TM_OK;
    }
    if (*started) {
      tm_engine_history_event(engine, c->client, doc.run_id, m->name, "resume", caller, NULL);
    }
    free(ms);
  } else if (tm_state_is_held(doc.state) && doc.pause_requested) {
    code = tm_state_withdraw_pause(c->states, m->name, withdrawn, err);
    if (code == TM_OK && *withdrawn) {
      code = tm_lease_withdraw_pause(c->leases, m->name, doc.lease_gen, err);
    }
    if (code == TM_OK && *withdrawn) {
      tm_engine_history_event(engine, c->client, doc.run_id, m->name, "resume", caller,
                              "withdrew a pause not yet acted on");
      tm_state_doc_clear(&doc);
      code = tm_state_read(c->states, m->name, &doc, err);
      if (code == TM_OK) tm_report_from_state(m, &doc, out);
    }
  } else {
    code = tm_error_set(
        err, TM_ERR_PRECONDITION, "%s is not paused (state %s)", m->name,
        tm_state_name(doc.pause_requested && tm_state_is_held(doc.state) ? TM_STATE_PAUSING
                                                                         : doc.state));
  }
  tm_state_doc_clear(&doc);
  return code;
}

tm_code tm_engine_resume(tm_engine *engine, const char *name, const tm_caller *caller,
                         tm_run_done_fn done, void *arg, bool *withdrawn, tm_status *out,
                         tm_error *err) {
  memset(out, 0, sizeof *out);
  *withdrawn = false;
  const tm_migration *m;
  control c;
  if (control_open(engine, name, &m, &c, err) != TM_OK) return err->code;
  tm_code code;
  bool started = false;
  /* A PAUSING migration may turn PAUSED under us (the pause then cannot be withdrawn): look
   * again, and resume it. */
  for (int looks = 0; looks < 3; looks++) {
    do {
      code = resume_once(engine, &c, m, caller, done, arg, &started, withdrawn, out, err);
    } while (!started &&
             control_retry(engine, &c, code, "resume: transient failure; retrying", m, err));
    if (code != TM_OK || started || *withdrawn) break;
  }
  if (code == TM_OK && !started && !*withdrawn) {
    code = tm_error_set(err, TM_ERR_UNAVAILABLE, "%s is changing state; retry", m->name);
  }
  control_close(engine, &c);
  if (code == TM_OK) tm_state_reads_poke(&engine->state_reads);
  return code;
}

static bool any_change(const tm_controls_change *ch) {
  return ch->batch_size || ch->rate || ch->lag || ch->write || ch->failed;
}

typedef struct {
  const tm_controls_change *change;
  const tm_caller *caller;
  char *changes;
  size_t cap;
} tune_ask;

/* One attempt at a Tune: read, change, hand the holder (or the stored PAUSED state) the result. */
static tm_code tune_attempt(tm_engine *engine, control *c, const tm_migration *m, void *ctx,
                            tm_status *out, tm_error *err) {
  const tune_ask *ask = ctx;
  const tm_controls_change *change = ask->change;
  char *changes = ask->changes;
  tm_state_doc doc;
  tm_code code = tm_state_read(c->states, m->name, &doc, err);
  if (code != TM_OK) return code;
  bool held = doc.state == TM_STATE_QUEUED || doc.state == TM_STATE_RUNNING;
  if (!held && doc.state != TM_STATE_PAUSED) {
    code = tm_error_set(err, TM_ERR_PRECONDITION,
                        "%s is not queued, running or paused (state %s): its controls are a "
                        "Run's to set",
                        m->name, tm_state_name(doc.state));
  }
  tm_controls now = doc.has_controls ? doc.controls : engine->default_controls;
  if (code == TM_OK) tm_controls_apply(&now, change, changes, ask->cap);
  bool matched = true;
  if (code == TM_OK && held) {
    /* The marker reaches the holder whatever a concurrent checkpoint writes; the state document
     * shows the change at once (the holder's next checkpoint writes what it applies). */
    int64_t seq = tm_clock_wall_ms() * 1000 + (int64_t)(tm_clock_mono_ms() % 1000);
    code = tm_lease_tune(c->leases, m->name, doc.lease_gen, seq, &now, err);
  }
  if (code == TM_OK) {
    code = tm_state_set_controls(c->states, m->name, doc.state, &now, &matched, err);
  }
  if (code == TM_OK && !matched) {
    code =
        tm_error_set(err, TM_ERR_UNAVAILABLE, "%s changed state during the Tune; retry", m->name);
  }
  if (code == TM_OK) {
    tm_report_from_state(m, &doc, out);
    out->has_controls = true;
    out->controls = now;
    if (doc.run_id) {
      tm_engine_history_event(engine, c->client, doc.run_id, m->name, "tune", ask->caller,
                              changes[0] ? changes : "no change");
    }
    tm_log(TM_LOG_INFO, "controls tuned", "migration", TM_LOG_STR(m->name), "changes",
           TM_LOG_STR(changes[0] ? changes : "none"), NULL);
  }
  tm_state_doc_clear(&doc);
  return code;
}

tm_code tm_engine_tune(tm_engine *engine, const char *name, const tm_controls_change *change,
                       const tm_caller *caller, tm_status *out, char *changes, size_t cap,
                       tm_error *err) {
  memset(out, 0, sizeof *out);
  if (cap) changes[0] = '\0';
  if (!any_change(change)) {
    return tm_error_set(err, TM_ERR_INVALID,
                        "nothing to change: set batch_size, max_documents_per_second, "
                        "max_replication_lag_ms, max_write_latency_ms or max_failed_documents");
  }
  if (tm_controls_check(change, err) != TM_OK) return err->code;
  tune_ask ask = {change, caller, changes, cap};
  return control_call(engine, name, "tune: transient failure; retrying", tune_attempt, &ask, out,
                      err);
}
