/* One migration's pass: count, cursor, batches, checkpoints; or the dry run of the same. */
#include "runner.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../config.h"
#include "../log.h"
#include "../metrics/metrics.h"
#include "../store/clock.h"
#include "../store/state.h"
#include "../store/store.h"
#include "../util/backoff.h"
#include "backfill.h"
#include "filter.h"
#include "json.h"
#include "query.h"
#include "report.h"
#include "runner_impl.h"
#include "usernames/usernames.h"

/* What the cursor projects: _id and what planning reads. */
static void build_projection(const tm_migration *m, bson_t *out) {
  BSON_APPEND_INT32(out, "_id", 1);
  for (size_t i = 0; i < m->n_fields; i++) {
    BSON_APPEND_INT32(out, m->fields[i].field, 1);
    if (m->fields[i].derived_from) BSON_APPEND_INT32(out, m->fields[i].derived_from, 1);
  }
}

static void drop_cursor(tm_runner_result *r) {
  if (r->has_cursor) bson_value_destroy(&r->cursor);
  r->has_cursor = false;
}

void tm_runner_result_init(tm_runner_result *r) {
  memset(r, 0, sizeof *r);
  r->outcome = TM_RUN_SUCCEEDED;
  tm_refused_init(&r->refused);
  bson_init(&r->skipped);
}

void tm_runner_result_clear(tm_runner_result *r) {
  drop_cursor(r);
  tm_refused_clear(&r->refused);
  bson_reinit(&r->skipped);
  r->n_skipped = 0;
}

/* A run's state across batches, whatever the migration's kind. */
typedef struct {
  run_ctl *ctl;
  tm_backfill *backfill;   /* constants */
  tm_usernames *usernames; /* usernames */
  uint32_t *masks;
  char (*assigned)[TM_USERNAME_MAX + 1];
  /* The last progress line: when, and what was processed then (for docs/s). */
  int64_t progress_ms, progress_processed;
} batch_worker;

/* The per-kind work of a run, one entry per tm_derive_kind (registry.h): the runner never tests
 * a migration's kind itself. */
typedef struct {
  tm_code (*begin)(const tm_runner_params *p, mongoc_collection_t *coll,
                   const tm_profile_view *caps, batch_worker *w, tm_error *err);
  /* Plans (and unless dry run writes) one batch; *updated: documents changed (or that would be).
   * refused (NULL for a kind without an error budget): documents the server refused alone. */
  tm_code (*apply)(const tm_runner_params *p, batch_worker *w, mongoc_collection_t *coll,
                   const bson_t *const *docs, size_t n, int64_t *updated, tm_status *samples,
                   tm_refused *refused, tm_error *err);
  /* Documents it wants read ahead and handed to prepare (0: one batch at a time). */
  size_t (*lookahead)(const batch_worker *w);
  tm_code (*prepare)(batch_worker *w, const bson_t *const *docs, size_t n, tm_error *err);
  /* After the last batch of a run that succeeded. */
  tm_code (*end)(batch_worker *w, tm_error *err);
  void (*destroy)(batch_worker *w);
  /* It builds a unique index: the profile must learn how the server indexes null and missing. */
  bool probes_indexes;
  /* A dry run's plan lives only in memory, half updated by a failure: start it over. */
  bool replans_after_outage;
} kind_ops;

static tm_code constants_begin(const tm_runner_params *p, mongoc_collection_t *coll,
                               const tm_profile_view *caps, batch_worker *w, tm_error *err) {
  (void)coll;
  w->masks = calloc(TM_MAX_BATCH_SIZE, sizeof *w->masks); /* a Tune may grow batches */
  return tm_backfill_new(p->m, caps, &w->backfill, err);
}

static tm_code constants_apply(const tm_runner_params *p, batch_worker *w,
                               mongoc_collection_t *coll, const bson_t *const *docs, size_t n,
                               int64_t *updated, tm_status *samples, tm_refused *refused,
                               tm_error *err) {
  for (size_t i = 0; i < n; i++) w->masks[i] = tm_backfill_plan(w->backfill, docs[i], p->covered);
  if (!p->dry_run) {
    return tm_backfill_write(w->backfill, coll, docs, w->masks, n, updated, refused, err);
  }
  for (size_t i = 0; i < n; i++) {
    if (!w->masks[i]) continue;
    (*updated)++;
    if (samples && samples->n_samples < TM_MAX_SAMPLES) {
      tm_report_add_sample(samples, tm_backfill_sample(w->backfill, docs[i], w->masks[i]));
    }
  }
  return TM_OK;
}

static void constants_destroy(batch_worker *w) {
  tm_backfill_destroy(w->backfill);
  free(w->masks);
}

static tm_code usernames_begin(const tm_runner_params *p, mongoc_collection_t *coll,
                               const tm_profile_view *caps, batch_worker *w, tm_error *err) {
  w->assigned = calloc(TM_MAX_BATCH_SIZE, sizeof *w->assigned); /* a Tune may grow batches */
  tm_code code = tm_usernames_begin(coll, p->m, caps, p->dry_run, &w->usernames, err);
  if (code == TM_OK) tm_usernames_hold_lease(w->usernames); /* the chain claimed it */
  return code;
}

static void add_username_sample(tm_status *samples, const bson_t *doc, const char *username) {
  bson_t sample = BSON_INITIALIZER;
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, "_id")) BSON_APPEND_VALUE(&sample, "_id", bson_iter_value(&it));
  BSON_APPEND_UTF8(&sample, "username", username);
  tm_report_add_sample(samples, tm_json_relaxed_doc(&sample));
  bson_destroy(&sample);
}

static tm_code usernames_apply(const tm_runner_params *p, batch_worker *w,
                               mongoc_collection_t *coll, const bson_t *const *docs, size_t n,
                               int64_t *updated, tm_status *samples, tm_refused *refused,
                               tm_error *err) {
  (void)coll;
  tm_code code = tm_usernames_apply(w->usernames, docs, n, w->assigned, updated, refused, err);
  if (code != TM_OK || !p->dry_run || !samples) return code;
  for (size_t i = 0; i < n && samples->n_samples < TM_MAX_SAMPLES; i++) {
    if (w->assigned[i][0]) add_username_sample(samples, docs[i], w->assigned[i]);
  }
  return TM_OK;
}

static size_t usernames_lookahead(const batch_worker *w) {
  return tm_usernames_lookahead(w->usernames);
}

static tm_code usernames_prepare(batch_worker *w, const bson_t *const *docs, size_t n,
                                 tm_error *err) {
  return tm_usernames_prepare(w->usernames, docs, n, err);
}

static tm_code usernames_end(batch_worker *w, tm_error *err) {
  return tm_usernames_end(w->usernames, err);
}

static void usernames_destroy(batch_worker *w) {
  if (w->usernames) tm_usernames_destroy(w->usernames);
  free(w->assigned);
}

static const kind_ops kinds[] = {
    [TM_DERIVE_NONE] = {.begin = constants_begin,
                        .apply = constants_apply,
                        .destroy = constants_destroy},
    [TM_DERIVE_USERNAME] = {.begin = usernames_begin,
                            .apply = usernames_apply,
                            .lookahead = usernames_lookahead,
                            .prepare = usernames_prepare,
                            .end = usernames_end,
                            .destroy = usernames_destroy,
                            .probes_indexes = true,
                            .replans_after_outage = true},
};

static const kind_ops *kind_of(const tm_runner_params *p) { return &kinds[p->m->derive]; }

static tm_code worker_begin(const tm_runner_params *p, mongoc_collection_t *coll,
                            const tm_profile_view *caps, run_ctl *ctl, batch_worker *w,
                            tm_error *err) {
  memset(w, 0, sizeof *w);
  w->ctl = ctl;
  w->progress_ms = tm_clock_mono_ms();
  return kind_of(p)->begin(p, coll, caps, w, err);
}

static void set_cursor(tm_runner_result *r, const bson_t *doc) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "_id")) return;
  drop_cursor(r);
  bson_value_copy(bson_iter_value(&it), &r->cursor);
  r->has_cursor = true;
}

static mongoc_cursor_t *open_cursor(const tm_runner_params *p, mongoc_collection_t *coll,
                                    const bson_t *query) {
  bson_t opts = BSON_INITIALIZER, projection, sort;
  BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &projection);
  build_projection(p->m, &projection);
  bson_append_document_end(&opts, &projection);
  BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
  BSON_APPEND_INT32(&sort, "_id", 1);
  bson_append_document_end(&opts, &sort);
  BSON_APPEND_INT32(&opts, "batchSize", p->batch_size);
  mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, query, &opts, NULL);
  bson_destroy(&opts);
  return cursor;
}

static bool may_write_now(const tm_runner_params *p) {
  return p->dry_run || tm_heartbeat_may_write(p->hb, p->hb_slot);
}

/* Real run: may the next batch be written? Sets the outcome when not. */
static bool may_write(const tm_runner_params *p, tm_runner_result *r) {
  if (may_write_now(p) || tm_heartbeat_refresh(p->hb, p->hb_slot, p->engine->lease_ms)) {
    return true;
  }
  r->outcome = TM_RUN_LOST;
  tm_error_set(&r->err, TM_ERR_CONFLICT,
               "lease lost: another holder took over, or renewals failed for too long");
  return false;
}

/* After a batch: save progress, hear a Cancel or a Pause, notice a stop. Returns false to end the
 * run. */
static bool checkpoint(const tm_runner_params *p, const run_ctl *ctl, tm_runner_result *r) {
  if (p->dry_run) return tm_runner_keep_going(p, false, false, r);
  tm_heartbeat_view view;
  tm_heartbeat_view_of(p->hb, p->hb_slot, &view);
  bool cancel = false, pause = false;
  tm_state_progress pr = {
      .cursor = r->has_cursor ? &r->cursor : NULL,
      .processed = r->processed,
      .updated = r->updated,
      .lease_expires_at_ms = view.lease.expires_at_ms,
      .controls = &ctl->pacing.c,
      .failed_count = r->failed,
      .failed = r->refused.n ? &r->refused.list : NULL,
  };
  tm_code code =
      tm_state_checkpoint(p->states, p->m->name, p->lease_gen, &pr, &cancel, &pause, &r->err);
  if (code == TM_ERR_CONFLICT) {
    r->outcome = TM_RUN_LOST;
    return false;
  }
  if (code != TM_OK) {
    r->outcome = TM_RUN_FAILED;
    return false;
  }
  return tm_runner_keep_going(p, cancel || view.cancel, pause || view.pause, r);
}

/* The cursor of a run. */
typedef struct {
  const tm_runner_params *p;
  mongoc_collection_t *coll;
  const tm_profile_view *caps;
  const bson_t *skip; /* _ids to leave out (may be NULL) */
  const bson_t *only; /* _ids to read alone (may be NULL) */
  mongoc_cursor_t *cursor;
  bool exhausted;
} scan;

static void scan_open(scan *sc, const bson_value_t *after) {
  bson_t query = BSON_INITIALIZER;
  tm_query_build(sc->p->m, sc->caps, after, &query);
  if (sc->skip) tm_query_restrict_ids(&query, "$nin", sc->skip);
  if (sc->only) tm_query_restrict_ids(&query, "$in", sc->only);
  sc->cursor = open_cursor(sc->p, sc->coll, &query);
  sc->exhausted = false;
  bson_destroy(&query);
}

/* Reads up to max documents into docs (copies); returns how many. On failure returns 0 with
 * *failed set and r's outcome and error. */
static size_t read_docs(scan *sc, bson_t **docs, size_t max, tm_runner_result *r, bool *failed) {
  size_t n = 0;
  const bson_t *doc;
  while (!sc->exhausted && n < max) {
    if (mongoc_cursor_next(sc->cursor, &doc)) {
      docs[n++] = bson_copy(doc);
    } else {
      sc->exhausted = true;
    }
  }
  bson_error_t berr;
  *failed = mongoc_cursor_error(sc->cursor, &berr);
  if (!*failed) return n;
  for (size_t i = 0; i < n; i++) bson_destroy(docs[i]);
  r->outcome = TM_RUN_FAILED;
  tm_store_error(&berr, &r->err, "reading documents");
  return 0;
}

/* Documents read ahead of the batch being written: one batch, or a window of whole batches where
 * the worker learns more cheaply in bulk (usernames on FerretDB). */
static size_t window_size(const batch_worker *w, const tm_runner_params *p) {
  size_t batch = (size_t)w->ctl->pacing.c.batch_size;
  size_t ahead = kind_of(p)->lookahead ? kind_of(p)->lookahead(w) : 0;
  return ahead > batch ? ahead / batch * batch : batch;
}

/* At the engine's cadence, one info line: how far the run is, how fast, and when it should end. */
static void log_progress(const tm_runner_params *p, batch_worker *w, const tm_runner_result *r) {
  int64_t now = tm_clock_mono_ms(), since = now - w->progress_ms;
  if (since < p->engine->progress_ms) return;
  double rate = (double)(r->processed - w->progress_processed) * 1000.0 / (double)since;
  int64_t left = r->total - r->processed;
  tm_log(TM_LOG_INFO, p->dry_run ? "dry run progress" : "migration progress", "migration",
         TM_LOG_STR(p->m->name), "processed", TM_LOG_INT(r->processed), "total",
         TM_LOG_INT(r->total), "updated", TM_LOG_INT(r->updated), "docs_per_s",
         TM_LOG_DBL((double)(int64_t)(rate * 10) / 10), "eta_s",
         TM_LOG_INT(rate > 0 && left > 0 ? (int64_t)((double)left / rate) : 0), NULL);
  w->progress_ms = now;
  w->progress_processed = r->processed;
}

/* Writes docs[0..n), one batch, and saves progress; move_cursor: the batch is the next of the
 * pass (not refused documents retried out of order). Returns false to end the run. */
static bool run_batch(const tm_runner_params *p, batch_worker *w, mongoc_collection_t *coll,
                      bson_t **docs, size_t n, bool move_cursor, tm_runner_result *r,
                      tm_status *samples) {
  run_ctl *ctl = w->ctl;
  if (!p->dry_run && !tm_runner_pace(p, ctl, n, r)) return false;
  if (!may_write(p, r)) return false;
  int64_t updated = 0, t1 = tm_clock_mono_ms();
  tm_refused refused;
  tm_refused_init(&refused);
  bool budget = !p->dry_run; /* 0 too: the first refusal fails it, and says why */
  tm_code code = kind_of(p)->apply(p, w, coll, (const bson_t *const *)docs, n, &updated, samples,
                                   budget ? &refused : NULL, &r->err);
  int64_t t2 = tm_clock_mono_ms();
  if (code != TM_OK) {
    tm_refused_clear(&refused);
    r->outcome = TM_RUN_FAILED;
    return false;
  }
  r->processed += (int64_t)n;
  r->updated += updated;
  if (!p->dry_run) {
    tm_metrics_migration_progress(p->registry_index, (int64_t)n, updated);
    tm_pacing_after_write(&ctl->pacing, t2 - t1);
    ctl->latency_waited = false;
  }
  bool in_budget = tm_runner_spend_budget(p, ctl, &refused, r);
  /* Over the budget, the run fails at the batch's start, as a failed write does: the next run
   * examines the batch again (what went through no longer matches), the refused ones first. */
  if (move_cursor && in_budget) set_cursor(r, docs[n - 1]);
  tm_refused_clear(&refused);
  if (!p->dry_run && t2 >= ctl->next_poke_ms) {
    tm_heartbeat_poke(p->hb);
    ctl->next_poke_ms = t2 + TM_RUNNER_MARKER_POLL_MS;
  }
  bool go_on = checkpoint(p, ctl, r) && in_budget;
  if (!in_budget) r->outcome = TM_RUN_FAILED; /* over the budget, whatever the checkpoint heard */
  if (!p->dry_run) {
    tm_metrics_migration_batch(p->registry_index, (double)(tm_clock_mono_ms() - t1) / 1000.0);
  }
  tm_log(TM_LOG_DEBUG, "batch done", "migration", TM_LOG_STR(p->m->name), "documents",
         TM_LOG_INT(n), "updated", TM_LOG_INT(updated), "write_ms", TM_LOG_INT(t2 - t1),
         "checkpoint_ms", TM_LOG_INT(tm_clock_mono_ms() - t2), NULL);
  if (go_on) log_progress(p, w, r);
  return go_on;
}

/* Reads through sc to its end, a stop or a failure, writing batch after batch. */
static void run_scan(const tm_runner_params *p, batch_worker *w, scan *sc, bool move_cursor,
                     tm_runner_result *r, tm_status *samples) {
  /* Room for the largest batch a Tune may ask for; the window is sized again for every read. */
  size_t cap = window_size(w, p) > TM_MAX_BATCH_SIZE ? window_size(w, p) : TM_MAX_BATCH_SIZE;
  bson_t **docs = calloc(cap, sizeof *docs);
  for (;;) {
    bool failed;
    if (!p->dry_run) {
      /* A Tune sizes the next read already. */
      tm_heartbeat_view view;
      tm_heartbeat_view_of(p->hb, p->hb_slot, &view);
      tm_runner_apply_tune(p, w->ctl, &view);
    }
    size_t window = window_size(w, p);
    if (window > cap) window = cap;
    int64_t t0 = tm_clock_mono_ms();
    size_t n = read_docs(sc, docs, window, r, &failed);
    bool go_on = !failed && n > 0;
    if (go_on && window > (size_t)w->ctl->pacing.c.batch_size &&
        kind_of(p)->prepare(w, (const bson_t *const *)docs, n, &r->err) != TM_OK) {
      r->outcome = TM_RUN_FAILED;
      go_on = false;
    }
    if (go_on) {
      tm_log(TM_LOG_DEBUG, "documents read", "migration", TM_LOG_STR(p->m->name), "documents",
             TM_LOG_INT(n), "read_ms", TM_LOG_INT(tm_clock_mono_ms() - t0), NULL);
    }
    for (size_t off = 0, take; go_on && off < n; off += take) {
      take = tm_pacing_batch(&w->ctl->pacing);
      if (take > n - off) take = n - off;
      go_on = run_batch(p, w, sc->coll, docs + off, take, move_cursor, r, samples);
    }
    for (size_t i = 0; i < n; i++) bson_destroy(docs[i]);
    if (!go_on) break;
  }
  free(docs);
  mongoc_cursor_destroy(sc->cursor);
  sc->cursor = NULL;
}

/* One pass over the filter after `after` (NULL: from the start) to its end, a stop or a failure;
 * documents refused earlier in this run are left out. */
static void run_batches(const tm_runner_params *p, mongoc_collection_t *coll,
                        const tm_profile_view *caps, batch_worker *w, const bson_value_t *after,
                        tm_runner_result *r, tm_status *samples) {
  scan sc = {.p = p, .coll = coll, .caps = caps, .skip = r->n_skipped ? &r->skipped : NULL};
  scan_open(&sc, after);
  run_scan(p, w, &sc, true, r, samples);
}

/* Before the pass: the documents an earlier run recorded as refused, in case they can be written
 * now (a fixed validator, a freed unique value). */
static void retry_refused(const tm_runner_params *p, mongoc_collection_t *coll,
                          const tm_profile_view *caps, batch_worker *w, tm_runner_result *r) {
  bson_t ids = BSON_INITIALIZER;
  bson_iter_t it, entry;
  uint32_t n = 0;
  if (p->retry_first && bson_iter_init(&it, p->retry_first)) {
    while (bson_iter_next(&it)) {
      if (!bson_iter_recurse(&it, &entry) || !bson_iter_find(&entry, "_id")) continue;
      char key[16];
      const char *k;
      bson_uint32_to_string(n++, &k, key, sizeof key);
      bson_append_value(&ids, k, -1, bson_iter_value(&entry));
    }
  }
  if (n > 0 && p->failed_before > 0) {
    /* A Resume: these were refused in this very run and count already; leave them out. */
    bson_iter_init(&it, p->retry_first);
    while (bson_iter_next(&it) && r->refused.n < TM_FAILED_KEEP) {
      bson_iter_t id, error;
      if (!bson_iter_recurse(&it, &id) || !bson_iter_find(&id, "_id")) continue;
      bson_iter_recurse(&it, &error);
      bool has_error = bson_iter_find(&error, "error") && BSON_ITER_HOLDS_UTF8(&error);
      tm_refused_add(&r->refused, bson_iter_value(&id),
                     has_error ? bson_iter_utf8(&error, NULL) : "");
    }
    bson_destroy(&r->skipped);
    bson_copy_to(&ids, &r->skipped);
    r->n_skipped = n;
  } else if (n > 0) {
    tm_log(TM_LOG_INFO, "retrying the documents an earlier run recorded as refused", "migration",
           TM_LOG_STR(p->m->name), "documents", TM_LOG_INT(n), NULL);
    scan sc = {.p = p, .coll = coll, .caps = caps, .only = &ids};
    scan_open(&sc, NULL);
    run_scan(p, w, &sc, false, r, NULL);
  }
  bson_destroy(&ids);
}

/* What one attempt at a run has done, so that an attempt after an outage does not repeat it. */
typedef struct {
  tm_profile_view caps;
  run_ctl ctl;
  bool probed, counted, started, retried;
  int sweeps;      /* passes from the start for documents left behind */
  bool from_start; /* the pass in progress is a sweep: it ignores the saved cursor */
} attempt_state;

/* A pass that keeps finding documents behind it is racing writers that insert without the field;
 * past this many sweeps the run ends and the next Run (or Status with pending) sees the drift. */
#define MAX_SWEEPS 2

static tm_code probe(const tm_runner_params *p, mongoc_collection_t *coll, attempt_state *a,
                     tm_error *err) {
  if (a->probed) return TM_OK;
  tm_code code = tm_profile_probe(&p->engine->profile, coll, &a->caps, err);
  if (p->engine->write_filter != TM_WRITE_FILTER_AUTO) {
    a->caps.lone_id_writes = p->engine->write_filter == TM_WRITE_FILTER_ID;
  }
  if (code == TM_OK && !p->dry_run && kind_of(p)->probes_indexes) {
    /* The username index depends on how the server's unique indexes treat null and missing. */
    code = tm_profile_probe_indexes(&p->engine->profile, p->client,
                                    tm_store_database(p->engine->store),
                                    p->engine->state_collection, &a->caps, err);
  }
  a->probed = code == TM_OK;
  return code;
}

static tm_code count_total(const tm_runner_params *p, mongoc_collection_t *coll, attempt_state *a,
                           tm_runner_result *r) {
  if (a->counted) return TM_OK;
  bson_t query = BSON_INITIALIZER;
  tm_query_build(p->m, &a->caps, p->resume_after, &query);
  bson_error_t berr;
  mongoc_read_prefs_t *primary = mongoc_read_prefs_new(MONGOC_READ_PRIMARY);
  int64_t total = mongoc_collection_count_documents(coll, &query, NULL, primary, NULL, &berr);
  mongoc_read_prefs_destroy(primary);
  bson_destroy(&query);
  if (total < 0) return tm_store_error(&berr, &r->err, "counting documents");
  r->total = total;
  a->counted = true;
  return TM_OK;
}

/* The pass from the saved cursor (or the start), then, for a real run, sweeps from the start while
 * documents matching the whole filter are left, up to MAX_SWEEPS. */
static tm_code run_passes(const tm_runner_params *p, mongoc_collection_t *coll, attempt_state *a,
                          batch_worker *w, tm_runner_result *r, tm_status *samples) {
  for (;;) {
    const bson_value_t *after = r->has_cursor ? &r->cursor : a->from_start ? NULL : p->resume_after;
    run_batches(p, coll, &a->caps, w, after, r, samples);
    if (r->outcome != TM_RUN_SUCCEEDED || p->dry_run) return TM_OK;
    bool left;
    tm_code code = tm_engine_any_left(p->engine, p->client, p->m, r->n_skipped ? &r->skipped : NULL,
                                      &left, &r->err);
    if (code != TM_OK || !left) return code;
    if (a->sweeps == MAX_SWEEPS) {
      tm_log(TM_LOG_WARN, "documents keep arriving without the field; the next Run sweeps them",
             "migration", TM_LOG_STR(p->m->name), "sweeps", TM_LOG_INT(a->sweeps), NULL);
      return TM_OK;
    }
    a->sweeps++;
    a->from_start = true;
    drop_cursor(r); /* the sweep starts over */
    tm_log(TM_LOG_INFO, "documents left behind the cursor; sweeping again from the start",
           "migration", TM_LOG_STR(p->m->name), "sweep", TM_LOG_INT(a->sweeps), NULL);
  }
}

/* One attempt: from the start, or after an outage from the last batch done. */
static void attempt(const tm_runner_params *p, mongoc_collection_t *coll, attempt_state *a,
                    tm_runner_result *r, tm_status *samples) {
  tm_code code = probe(p, coll, a, &r->err);
  if (code == TM_OK) code = count_total(p, coll, a, r);
  if (code == TM_OK && !p->dry_run && !a->started) {
    code =
        tm_state_start(p->states, p->m->name, p->lease_gen, r->total, tm_clock_wall_ms(), &r->err);
    if (code == TM_ERR_CONFLICT) r->outcome = TM_RUN_LOST;
    a->started = code == TM_OK;
    if (a->started) tm_state_reads_poke(&p->engine->state_reads);
  }
  batch_worker w = {0};
  bool have_worker = false;
  if (code == TM_OK) {
    code = worker_begin(p, coll, &a->caps, &a->ctl, &w, &r->err);
    have_worker = true;
  }
  if (code == TM_OK && !p->dry_run && !a->retried) {
    a->retried = true;
    retry_refused(p, coll, &a->caps, &w, r);
    if (r->outcome != TM_RUN_SUCCEEDED) code = r->err.code ? r->err.code : TM_ERR_INTERNAL;
  }
  if (code == TM_OK) {
    bool resumed = p->resume_after != NULL && !r->has_cursor && !a->from_start;
    tm_log(TM_LOG_INFO, p->dry_run ? "dry run started" : "migration started", "migration",
           TM_LOG_STR(p->m->name), "total", TM_LOG_INT(r->total), "resume",
           TM_LOG_BOOL(p->resume_after != NULL || r->has_cursor), "batch_size",
           TM_LOG_INT(a->ctl.pacing.c.batch_size), "max_documents_per_second",
           TM_LOG_DBL(a->ctl.pacing.c.max_docs_per_s), "max_failed_documents",
           TM_LOG_INT(a->ctl.pacing.c.max_failed), "filter_undefined_clause",
           TM_LOG_BOOL(a->caps.type_undefined), NULL);
    if (resumed) {
      char at[64];
      snprintf(at, sizeof at, "resumed at %" PRId64 " of %" PRId64, p->done_before,
               p->done_before + r->total);
      tm_log(TM_LOG_INFO, "migration resumed from its saved cursor", "migration",
             TM_LOG_STR(p->m->name), "progress", TM_LOG_STR(at), "done_before",
             TM_LOG_INT(p->done_before), "left", TM_LOG_INT(r->total), NULL);
    }
    code = run_passes(p, coll, a, &w, r, samples);
    if (code == TM_OK && r->outcome == TM_RUN_SUCCEEDED && kind_of(p)->end) {
      code = kind_of(p)->end(&w, &r->err);
    }
  }
  if (code != TM_OK && r->outcome == TM_RUN_SUCCEEDED) r->outcome = TM_RUN_FAILED;
  if (have_worker) kind_of(p)->destroy(&w);
}

/* After a failure: whether to try again once the database is back. A transient failure is waited
 * for, with backoff, for up to the engine's outage bound since the last batch that went through;
 * past it the run stops resumable (TM_RUN_INTERRUPTED), as at shutdown. */
static bool wait_for_database(const tm_runner_params *p, tm_backoff *outage, tm_runner_result *r) {
  if (r->outcome != TM_RUN_FAILED || r->err.code != TM_ERR_UNAVAILABLE) return false;
  int64_t now = tm_clock_mono_ms();
  int64_t wait = tm_backoff_next(outage, now);
  if (wait < 0) {
    r->outcome = TM_RUN_INTERRUPTED;
    tm_error_wrap(&r->err,
                  "the database was unavailable for %" PRId64
                  " s (--outage-wait-seconds); run again to resume",
                  tm_backoff_elapsed(outage, now) / 1000);
    return false;
  }
  tm_log(TM_LOG_WARN, "database unavailable; waiting to resume from the last batch done",
         "migration", TM_LOG_STR(p->m->name), "attempt", TM_LOG_INT(outage->attempts), "wait_ms",
         TM_LOG_INT(wait), "unavailable_ms", TM_LOG_INT(tm_backoff_elapsed(outage, now)), "error",
         TM_LOG_STR(r->err.msg), NULL);
  if (!tm_engine_nap(p->engine, (int)wait)) {
    r->outcome = TM_RUN_INTERRUPTED;
    tm_error_set(&r->err, TM_ERR_UNAVAILABLE, "interrupted: service shutting down");
    return false;
  }
  r->outcome = TM_RUN_SUCCEEDED;
  r->err = (tm_error){0};
  return true;
}

void tm_runner_run(const tm_runner_params *p, tm_runner_result *r, tm_status *samples) {
  tm_runner_result_init(r);
  r->failed = p->failed_before;
  mongoc_collection_t *coll = tm_engine_collection(p->engine, p->client, p->m->collection);
  attempt_state a = {0};
  tm_runner_init_ctl(p, &a.ctl);
  tm_backoff outage;
  tm_backoff_init(&outage, p->engine->outage_wait_ms);
  int outages = 0;
  for (;;) {
    int64_t processed = r->processed;
    attempt(p, coll, &a, r, samples);
    if (r->processed > processed) tm_backoff_reset(&outage);
    if (!wait_for_database(p, &outage, r)) break;
    outages++;
    tm_pacing_after_timeout(&a.ctl.pacing);
    if (p->dry_run && kind_of(p)->replans_after_outage) {
      /* A dry run's names live only in its planner, which the failure left half updated: plan
       * again from the start. */
      int64_t total = r->total;
      tm_runner_result_clear(r);
      tm_runner_result_init(r);
      r->total = total;
      if (samples) tm_report_clear_samples(samples);
    }
  }
  r->controls = a.ctl.pacing.c;
  if (r->outcome == TM_RUN_SUCCEEDED && outages > 0) {
    tm_log(TM_LOG_INFO, "database back; the run went on", "migration", TM_LOG_STR(p->m->name),
           "retries", TM_LOG_INT(outages), NULL);
  }
  mongoc_collection_destroy(coll);
}
