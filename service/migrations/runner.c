/* One migration's pass: count, cursor, batches, checkpoints; or the dry run of the same. */
#include "runner.h"

#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../metrics/metrics.h"
#include "../store/clock.h"
#include "../store/state.h"
#include "../store/store.h"
#include "backfill.h"
#include "filter.h"
#include "json.h"
#include "query.h"
#include "report.h"
#include "usernames.h"

/* What the cursor projects: _id and what planning reads. */
static void build_projection(const tm_migration *m, bson_t *out) {
  BSON_APPEND_INT32(out, "_id", 1);
  for (size_t i = 0; i < m->n_fields; i++) {
    BSON_APPEND_INT32(out, m->fields[i].field, 1);
    if (m->fields[i].derived_from) BSON_APPEND_INT32(out, m->fields[i].derived_from, 1);
  }
}

void tm_runner_result_clear(tm_runner_result *r) {
  if (r->has_cursor) bson_value_destroy(&r->cursor);
  r->has_cursor = false;
}

/* The per-kind work on one batch. */
typedef struct {
  tm_backfill *backfill;   /* constants */
  tm_usernames *usernames; /* usernames */
  uint32_t *masks;
  char (*assigned)[TM_USERNAME_MAX + 1];
  int64_t next_poke_ms; /* when to ask the heartbeat for a renewal (and Cancel markers) again */
} batch_worker;

static tm_code worker_begin(const tm_runner_params *p, mongoc_collection_t *coll,
                            const tm_filter_caps *caps, batch_worker *w, tm_error *err) {
  memset(w, 0, sizeof *w);
  size_t n = (size_t)p->batch_size;
  if (p->m->derive == TM_DERIVE_USERNAME) {
    w->assigned = calloc(n, sizeof *w->assigned);
    tm_code code = tm_usernames_begin(coll, p->m, caps, p->dry_run, &w->usernames, err);
    if (code == TM_OK) tm_usernames_hold_lease(w->usernames); /* the chain claimed it */
    return code;
  }
  w->masks = calloc(n, sizeof *w->masks);
  return tm_backfill_new(p->m, caps, &w->backfill, err);
}

static void worker_destroy(batch_worker *w) {
  tm_backfill_destroy(w->backfill);
  if (w->usernames) tm_usernames_destroy(w->usernames);
  free(w->masks);
  free(w->assigned);
}

static void add_username_sample(tm_status *samples, const bson_t *doc, const char *username) {
  bson_t sample = BSON_INITIALIZER;
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, "_id")) BSON_APPEND_VALUE(&sample, "_id", bson_iter_value(&it));
  BSON_APPEND_UTF8(&sample, "username", username);
  tm_report_add_sample(samples, tm_json_relaxed_doc(&sample));
  bson_destroy(&sample);
}

/* Plans (and unless dry run writes) one batch; *updated: documents changed (or that would be). */
static tm_code worker_apply(const tm_runner_params *p, batch_worker *w, mongoc_collection_t *coll,
                            const bson_t *const *docs, size_t n, int64_t *updated,
                            tm_status *samples, tm_error *err) {
  *updated = 0;
  if (w->usernames) {
    tm_code code = tm_usernames_apply(w->usernames, docs, n, w->assigned, updated, err);
    if (code != TM_OK || !p->dry_run || !samples) return code;
    for (size_t i = 0; i < n && samples->n_samples < TM_MAX_SAMPLES; i++) {
      if (w->assigned[i][0]) add_username_sample(samples, docs[i], w->assigned[i]);
    }
    return TM_OK;
  }
  for (size_t i = 0; i < n; i++) w->masks[i] = tm_backfill_plan(w->backfill, docs[i], p->covered);
  if (!p->dry_run) return tm_backfill_write(w->backfill, coll, docs, w->masks, n, updated, err);
  for (size_t i = 0; i < n; i++) {
    if (!w->masks[i]) continue;
    (*updated)++;
    if (samples && samples->n_samples < TM_MAX_SAMPLES) {
      tm_report_add_sample(samples, tm_backfill_sample(w->backfill, docs[i], w->masks[i]));
    }
  }
  return TM_OK;
}

static void set_cursor(tm_runner_result *r, const bson_t *doc) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "_id")) return;
  tm_runner_result_clear(r);
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

/* Transient failures worth a retry: the connection, server selection, a failover (not primary,
 * stepping down, shutting down), a cursor the server forgot. Our writes are idempotent (each is
 * filtered on the fields still missing) and a cursor reopens after the last _id done, so retrying
 * repeats no work; after RETRIES the migration fails, resumable. */
#define RETRIES 5

/* How often a run asks for the Cancel markers (tm_heartbeat_poke). */
#define CANCEL_POLL_MS 1000

static bool transient(const bson_error_t *e) {
  if (e->domain == MONGOC_ERROR_STREAM || e->domain == MONGOC_ERROR_SERVER_SELECTION) return true;
  /* Server codes only: client-side errors reuse small numbers for other meanings. */
  if (e->domain != MONGOC_ERROR_SERVER && e->domain != MONGOC_ERROR_QUERY &&
      e->domain != MONGOC_ERROR_WRITE_CONCERN) {
    return false;
  }
  switch (e->code) {
  case 6:     /* HostUnreachable */
  case 7:     /* HostNotFound */
  case 43:    /* CursorNotFound */
  case 89:    /* NetworkTimeout */
  case 91:    /* ShutdownInProgress */
  case 189:   /* PrimarySteppedDown */
  case 9001:  /* SocketException */
  case 10107: /* NotWritablePrimary */
  case 11600: /* InterruptedAtShutdown */
  case 11602: /* InterruptedDueToReplStateChange */
  case 13435: /* NotPrimaryNoSecondaryOk */
  case 13436: /* NotPrimaryOrSecondary */ return true;
  default: return false;
  }
}

/* Waits before retry k (0-based): 0.5 s, 1 s, 2 s, ...; false when the engine stops meanwhile. */
static bool backoff(const tm_runner_params *p, int k, const char *what, const char *error) {
  tm_log(TM_LOG_WARN, "transient failure; retrying", "migration", TM_LOG_STR(p->m->name), "what",
         TM_LOG_STR(what), "attempt", TM_LOG_INT(k + 1), "error", TM_LOG_STR(error), NULL);
  return tm_engine_nap(p->engine, 500 << k);
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

/* After a batch: save progress, hear a Cancel, notice a stop. Returns false to end the run. */
static bool checkpoint(const tm_runner_params *p, tm_runner_result *r) {
  if (!p->dry_run) {
    tm_heartbeat_view view;
    tm_heartbeat_view_of(p->hb, p->hb_slot, &view);
    bool cancel = false;
    tm_code code;
    for (int attempt = 0;; attempt++) {
      code = tm_state_checkpoint(p->states, p->m->name, p->lease_gen,
                                 r->has_cursor ? &r->cursor : NULL, r->processed, r->updated,
                                 view.lease.expires_at_ms, &cancel, &r->err);
      if (code != TM_ERR_UNAVAILABLE || attempt == RETRIES ||
          !backoff(p, attempt, "saving progress", r->err.msg)) {
        break;
      }
    }
    if (code == TM_ERR_CONFLICT) {
      r->outcome = TM_RUN_LOST;
      return false;
    }
    if (code != TM_OK) {
      r->outcome = TM_RUN_FAILED;
      return false;
    }
    if (cancel || view.cancel) {
      r->outcome = TM_RUN_CANCELED;
      return false;
    }
  }
  if (tm_engine_stopping(p->engine)) {
    r->outcome = TM_RUN_INTERRUPTED;
    tm_error_set(&r->err, TM_ERR_UNAVAILABLE, "interrupted: service shutting down");
    return false;
  }
  return true;
}

/* The cursor of a run, reopened after the last _id done when the server loses it. */
typedef struct {
  const tm_runner_params *p;
  mongoc_collection_t *coll;
  const tm_filter_caps *caps;
  mongoc_cursor_t *cursor;
  bool exhausted;
} scan;

static void scan_open(scan *sc, const bson_value_t *after) {
  bson_t query = BSON_INITIALIZER;
  tm_query_build(sc->p->m, sc->caps, after, &query);
  sc->cursor = open_cursor(sc->p, sc->coll, &query);
  sc->exhausted = false;
  bson_destroy(&query);
}

/* Reads up to max documents into docs (copies); returns how many. On failure returns 0 with
 * *failed set and r's outcome and error. */
static size_t read_docs(scan *sc, bson_t **docs, size_t max, tm_runner_result *r, bool *failed) {
  const tm_runner_params *p = sc->p;
  for (int attempt = 0;; attempt++) {
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
    if (!transient(&berr) || attempt == RETRIES ||
        !backoff(p, attempt, "reading documents", berr.message)) {
      r->outcome = TM_RUN_FAILED;
      tm_store_error(&berr, &r->err, "reading documents");
      return 0;
    }
    mongoc_cursor_destroy(sc->cursor);
    scan_open(sc, r->has_cursor ? &r->cursor : p->resume_after);
  }
}

/* Plans and writes one batch, retrying a constant backfill's transient failures (a username
 * batch is not retried here: its planner has counted the names as assigned; a new run re-learns).
 */
static tm_code apply_batch(const tm_runner_params *p, batch_worker *w, mongoc_collection_t *coll,
                           const bson_t *const *docs, size_t n, int64_t *updated,
                           tm_status *samples, tm_error *err) {
  for (int attempt = 0;; attempt++) {
    tm_code code = worker_apply(p, w, coll, docs, n, updated, samples, err);
    if (code != TM_ERR_UNAVAILABLE || w->usernames || attempt == RETRIES ||
        !backoff(p, attempt, "writing a batch", err->msg) || !may_write_now(p)) {
      return code;
    }
  }
}

/* Documents read ahead of the batch being written: one batch, or a window of whole batches where
 * the worker learns more cheaply in bulk (usernames on FerretDB). */
static size_t window_size(const tm_runner_params *p, const batch_worker *w) {
  size_t batch = (size_t)p->batch_size;
  size_t ahead = w->usernames ? tm_usernames_lookahead(w->usernames) : 0;
  return ahead > batch ? ahead / batch * batch : batch;
}

/* Writes docs[0..n), one batch, and saves progress. Returns false to end the run. */
static bool run_batch(const tm_runner_params *p, batch_worker *w, mongoc_collection_t *coll,
                      bson_t **docs, size_t n, tm_runner_result *r, tm_status *samples) {
  if (!may_write(p, r)) return false;
  int64_t updated = 0, t1 = tm_clock_mono_ms();
  tm_code code =
      apply_batch(p, w, coll, (const bson_t *const *)docs, n, &updated, samples, &r->err);
  if (code != TM_OK) {
    r->outcome = TM_RUN_FAILED;
    return false;
  }
  r->processed += (int64_t)n;
  r->updated += updated;
  if (!p->dry_run) tm_metrics_migration_progress(p->registry_index, (int64_t)n, updated);
  set_cursor(r, docs[n - 1]);
  int64_t t2 = tm_clock_mono_ms();
  if (!p->dry_run && t2 >= w->next_poke_ms) {
    tm_heartbeat_poke(p->hb);
    w->next_poke_ms = t2 + CANCEL_POLL_MS;
  }
  bool go_on = checkpoint(p, r);
  tm_log(TM_LOG_DEBUG, "batch done", "migration", TM_LOG_STR(p->m->name), "documents",
         TM_LOG_INT(n), "updated", TM_LOG_INT(updated), "write_ms", TM_LOG_INT(t2 - t1),
         "checkpoint_ms", TM_LOG_INT(tm_clock_mono_ms() - t2), NULL);
  return go_on;
}

static void run_batches(const tm_runner_params *p, mongoc_collection_t *coll,
                        const tm_filter_caps *caps, batch_worker *w, tm_runner_result *r,
                        tm_status *samples) {
  scan sc = {.p = p, .coll = coll, .caps = caps};
  scan_open(&sc, p->resume_after);
  size_t batch = (size_t)p->batch_size, window = window_size(p, w);
  bson_t **docs = calloc(window, sizeof *docs);
  for (;;) {
    bool failed;
    int64_t t0 = tm_clock_mono_ms();
    size_t n = read_docs(&sc, docs, window, r, &failed);
    bool go_on = !failed && n > 0;
    if (go_on && window > batch &&
        tm_usernames_prepare(w->usernames, (const bson_t *const *)docs, n, &r->err) != TM_OK) {
      r->outcome = TM_RUN_FAILED;
      go_on = false;
    }
    if (go_on) {
      tm_log(TM_LOG_DEBUG, "documents read", "migration", TM_LOG_STR(p->m->name), "documents",
             TM_LOG_INT(n), "read_ms", TM_LOG_INT(tm_clock_mono_ms() - t0), NULL);
    }
    for (size_t off = 0; go_on && off < n; off += batch) {
      go_on = run_batch(p, w, coll, docs + off, n - off < batch ? n - off : batch, r, samples);
    }
    for (size_t i = 0; i < n; i++) bson_destroy(docs[i]);
    if (!go_on) break;
  }
  free(docs);
  mongoc_cursor_destroy(sc.cursor);
}

void tm_runner_run(const tm_runner_params *p, tm_runner_result *r, tm_status *samples) {
  memset(r, 0, sizeof *r);
  r->outcome = TM_RUN_SUCCEEDED;
  mongoc_collection_t *coll = tm_engine_collection(p->engine, p->client, p->m->collection);
  tm_filter_caps caps = {0};
  bson_t query = BSON_INITIALIZER;
  batch_worker w = {0};
  bool have_worker = false;
  tm_code code = tm_caps_probe(&p->engine->caps, coll, &caps, &r->err);
  if (p->engine->write_filter != TM_WRITE_FILTER_AUTO) {
    caps.lone_id_writes = p->engine->write_filter == TM_WRITE_FILTER_ID;
  }
  if (code == TM_OK) {
    tm_query_build(p->m, &caps, p->resume_after, &query);
    bson_error_t berr;
    mongoc_read_prefs_t *primary = mongoc_read_prefs_new(MONGOC_READ_PRIMARY);
    r->total = mongoc_collection_count_documents(coll, &query, NULL, primary, NULL, &berr);
    mongoc_read_prefs_destroy(primary);
    if (r->total < 0) {
      r->total = 0;
      code = tm_store_error(&berr, &r->err, "counting documents");
    }
  }
  if (code == TM_OK && !p->dry_run) {
    code =
        tm_state_start(p->states, p->m->name, p->lease_gen, r->total, tm_clock_wall_ms(), &r->err);
    if (code == TM_ERR_CONFLICT) r->outcome = TM_RUN_LOST;
  }
  if (code == TM_OK) {
    code = worker_begin(p, coll, &caps, &w, &r->err);
    have_worker = true;
  }
  if (code == TM_OK) {
    tm_log(TM_LOG_INFO, p->dry_run ? "dry run started" : "migration started", "migration",
           TM_LOG_STR(p->m->name), "total", TM_LOG_INT(r->total), "resume",
           TM_LOG_BOOL(p->resume_after != NULL), "batch_size", TM_LOG_INT(p->batch_size),
           "filter_undefined_clause", TM_LOG_BOOL(caps.type_undefined), NULL);
    run_batches(p, coll, &caps, &w, r, samples);
    if (r->outcome == TM_RUN_SUCCEEDED && w.usernames) {
      code = tm_usernames_end(w.usernames, &r->err);
    }
  }
  if (code != TM_OK && r->outcome == TM_RUN_SUCCEEDED) r->outcome = TM_RUN_FAILED;
  if (have_worker) worker_destroy(&w);
  bson_destroy(&query);
  mongoc_collection_destroy(coll);
}
