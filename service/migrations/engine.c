/* The engine object, request validation, Status and History; Runs are carried out by chain.c,
 * control calls (Cancel, Pause, Resume, Tune) by control.c. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../config.h"
#include "../log.h"
#include "../metrics/metrics.h"
#include "../store/clock.h"
#include "../store/lease.h"
#include "../store/profile.h"
#include "../store/state.h"
#include "../util/backoff.h"
#include "chain.h"
#include "engine_ctx.h"
#include "filter.h"
#include "json.h"
#include "query.h"
#include "registry.h"
#include "report.h"

/* --- lifecycle --- */

/* The metrics' label values for what the engine owns: its migrations and their states. */
static void label_metrics(void) {
  static const char *names[64], *states[TM_STATE_THROTTLED];
  size_t n = tm_registry_count() < 64 ? tm_registry_count() : 64;
  for (size_t i = 0; i < n; i++) names[i] = tm_registry_at(i)->name;
  for (int s = TM_STATE_PENDING; s <= TM_STATE_THROTTLED; s++) states[s - 1] = tm_state_name(s);
  tm_metrics_label_migrations(names, n);
  tm_metrics_label_states(states, TM_STATE_THROTTLED);
}

tm_code tm_engine_new(tm_store *store, const tm_engine_options *opts, tm_engine **out,
                      tm_error *err) {
  const char *states = opts && opts->state_collection && *opts->state_collection
                           ? opts->state_collection
                           : "_migrations";
  int batch = opts && opts->default_batch_size ? opts->default_batch_size : TM_DEFAULT_BATCH_SIZE;
  if (batch < 1 || batch > TM_MAX_BATCH_SIZE) {
    return tm_error_set(err, TM_ERR_INVALID, "batch size must be 1..%d, got %d", TM_MAX_BATCH_SIZE,
                        batch);
  }
  int lease_ms = opts && opts->lease_ms ? opts->lease_ms : TM_DEFAULT_LEASE_SECONDS * 1000;
  if (lease_ms < 100) {
    return tm_error_set(err, TM_ERR_INVALID, "lease time must be at least 100 ms, got %d",
                        lease_ms);
  }
  if (strlen(states) > 100 || strchr(states, '$') || states[0] == '.') {
    return tm_error_set(err, TM_ERR_INVALID, "state collection name not usable: %s", states);
  }
  label_metrics();
  tm_engine *e = calloc(1, sizeof *e);
  e->store = store;
  e->state_collection = strdup(states);
  size_t len = strlen(states) + sizeof "_history";
  e->lease_collection = malloc(len);
  snprintf(e->lease_collection, len, "%s_leases", states);
  e->history_collection = malloc(len);
  snprintf(e->history_collection, len, "%s_history", states);
  e->history_keep = opts && opts->history_keep > 0 ? opts->history_keep : TM_DEFAULT_HISTORY_KEEP;
  if (opts && opts->instance_id && *opts->instance_id) {
    e->instance_id = strndup(opts->instance_id, TM_LEASE_OWNER_MAX - 1);
  } else {
    bson_oid_t oid;
    char hex[25];
    bson_oid_init(&oid, NULL);
    bson_oid_to_string(&oid, hex);
    e->instance_id = strdup(hex);
  }
  e->lease_ms = lease_ms;
  e->outage_wait_ms = !opts || !opts->outage_wait_ms ? TM_DEFAULT_OUTAGE_WAIT_SECONDS * 1000
                      : opts->outage_wait_ms < 0     ? 0
                                                     : opts->outage_wait_ms;
  e->default_batch_size = batch;
  e->max_runs = opts && opts->max_runs > 0 ? opts->max_runs : TM_DEFAULT_MAX_RUNS;
  e->progress_ms =
      opts && opts->progress_ms > 0 ? opts->progress_ms : TM_DEFAULT_PROGRESS_SECONDS * 1000;
  e->write_filter = opts ? opts->write_filter : TM_WRITE_FILTER_AUTO;
  e->default_controls = (tm_controls){.batch_size = batch, .current_batch_size = batch};
  if (opts) {
    e->default_controls.max_docs_per_s = opts->max_documents_per_second;
    e->default_controls.max_lag_ms = opts->max_replication_lag_ms;
    e->default_controls.max_write_ms = opts->max_write_latency_ms;
    e->default_controls.max_failed = opts->max_failed_documents;
  }
  tm_profile_init(&e->profile);
  tm_state_reads_init(&e->state_reads, e->store, e->state_collection,
                      opts && opts->metrics_refresh_ms > 0
                          ? opts->metrics_refresh_ms
                          : TM_DEFAULT_METRICS_REFRESH_SECONDS * 1000);
  pthread_mutex_init(&e->mu, NULL);
  tm_clock_cond_init(&e->cond);
  *out = e;
  return TM_OK;
}

void tm_engine_stop(tm_engine *engine) {
  if (!engine) return;
  pthread_mutex_lock(&engine->mu);
  bool first = !engine->stopping;
  bool busy = engine->chains != NULL; /* nothing to say when no run was ever started */
  engine->stopping = true;
  pthread_cond_broadcast(&engine->cond);
  pthread_mutex_unlock(&engine->mu);
  if (first && busy) {
    tm_log(TM_LOG_INFO, "engine stopping: runs stop after their current batch", NULL);
  }
}

void tm_engine_destroy(tm_engine *engine) {
  if (!engine) return;
  tm_engine_stop(engine);
  tm_chain_reap(engine, true);
  tm_state_reads_destroy(&engine->state_reads);
  pthread_cond_destroy(&engine->cond);
  pthread_mutex_destroy(&engine->mu);
  free(engine->state_collection);
  free(engine->lease_collection);
  free(engine->history_collection);
  free(engine->instance_id);
  free(engine);
}

/* --- validation --- */

/* Resolves names into out[] (n_names entries, or every migration when none are named) and checks
 * for unknown and repeated ones; *n_out receives the count. out has tm_registry_count() slots. */
static tm_code resolve(const char *const *names, size_t n_names, const tm_migration **out,
                       size_t *n_out, tm_error *err) {
  size_t count = tm_registry_count();
  if (n_names > 0 && !names) return tm_error_set(err, TM_ERR_INVALID, "names missing");
  if (n_names == 0) {
    for (size_t i = 0; i < count; i++) out[i] = tm_registry_at(i);
    *n_out = count;
    return TM_OK;
  }
  bool *seen = calloc(count, sizeof *seen);
  tm_code code = TM_OK;
  size_t n = 0;
  for (size_t i = 0; i < n_names && code == TM_OK; i++) {
    const char *name = names[i] ? names[i] : "";
    const tm_migration *m = tm_registry_find(name);
    if (!m) {
      code = tm_engine_invalid_name(err, name, "unknown");
    } else if (seen[tm_registry_index(m)]) {
      code = tm_engine_invalid_name(err, name, "repeated");
    } else {
      seen[tm_registry_index(m)] = true;
      out[n++] = m;
    }
  }
  free(seen);
  *n_out = n;
  return code;
}

/* --- Run --- */

tm_code tm_engine_run(tm_engine *engine, const tm_run_request *req, tm_run_done_fn done, void *arg,
                      tm_error *err) {
  if (!req || !done) return tm_error_set(err, TM_ERR_INVALID, "run request or callback missing");
  if (req->batch_size < 0 || req->batch_size > TM_MAX_BATCH_SIZE) {
    return tm_error_set(err, TM_ERR_INVALID,
                        "batch_size must be 0 (the default, %d) or 1..%d, got %d",
                        engine->default_batch_size, TM_MAX_BATCH_SIZE, (int)req->batch_size);
  }
  if (tm_controls_check(&req->controls, err) != TM_OK) return err->code;
  size_t count = tm_registry_count(), n = 0;
  const tm_migration **asked = calloc(count, sizeof *asked);
  tm_code code = resolve(req->names, req->n_names, asked, &n, err);
  if (code == TM_OK) {
    /* Run order is registry order, whatever order the names came in. */
    const tm_migration **ordered = calloc(count, sizeof *ordered);
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
      for (size_t j = 0; j < n; j++) {
        if (asked[j] == tm_registry_at(i)) ordered[k++] = asked[j];
      }
    }
    tm_chain_reap(engine, false);
    int batch = req->batch_size ? req->batch_size : engine->default_batch_size;
    code = tm_chain_start(engine, ordered, k, req, batch, NULL, done, arg, err);
    free(ordered);
  }
  free(asked);
  return code;
}

void tm_engine_run_leave(tm_engine *engine, void *arg) { tm_chain_leave(engine, arg); }

/* --- Status --- */

/* One Status caller waiting on the shared state reads. */
typedef struct {
  const tm_migration **asked; /* in the order asked */
  size_t n;
  tm_status_done_fn done;
  void *arg;
} status_ask;

static void on_states(void *arg, tm_code code, const tm_error *err, const tm_state_doc *docs) {
  status_ask *q = arg;
  tm_status_list list = {0};
  if (code == TM_OK) {
    list.items = calloc(q->n ? q->n : 1, sizeof *list.items);
    list.n = q->n;
    for (size_t i = 0; i < q->n; i++) {
      tm_report_from_state(q->asked[i], &docs[tm_registry_index(q->asked[i])], &list.items[i]);
    }
  }
  q->done(q->arg, code, err, &list);
  tm_status_list_clear(&list);
  free(q->asked);
  free(q);
}

tm_code tm_engine_status_async(tm_engine *engine, const char *const *names, size_t n_names,
                               tm_status_done_fn done, void *arg, tm_error *err) {
  status_ask *q = calloc(1, sizeof *q);
  q->asked = calloc(tm_registry_count(), sizeof *q->asked);
  tm_code code = resolve(names, n_names, q->asked, &q->n, err);
  if (code != TM_OK) {
    free(q->asked);
    free(q);
    return code;
  }
  q->done = done;
  q->arg = arg;
  tm_state_reads_ask(&engine->state_reads, on_states, q);
  return TM_OK;
}

/* tm_engine_status's wait for its answer. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool answered;
  tm_code code;
  tm_error err;
  tm_status_list list;
} status_wait;

static void status_answered(void *arg, tm_code code, const tm_error *err, tm_status_list *list) {
  status_wait *w = arg;
  pthread_mutex_lock(&w->mu);
  w->code = code;
  if (code == TM_OK) {
    w->list = *list; /* taken: the caller clears it */
    *list = (tm_status_list){0};
  } else {
    w->err = *err;
  }
  w->answered = true;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->mu);
}

static tm_code count_pending(tm_engine *e, mongoc_client_t *client, const tm_migration *m,
                             int budget_ms, int64_t *pending, tm_error *err) {
  mongoc_collection_t *coll;
  bson_t filter;
  tm_code code = tm_engine_whole_filter(e, client, m, &coll, &filter, err);
  if (code == TM_OK) {
    bson_error_t berr;
    bson_t opts = BSON_INITIALIZER;
    if (budget_ms > 0) BSON_APPEND_INT64(&opts, "maxTimeMS", budget_ms);
    *pending = mongoc_collection_count_documents(coll, &filter, &opts, NULL, NULL, &berr);
    bson_destroy(&opts);
    if (*pending < 0) {
      *pending = 0;
      code = tm_store_error(&berr, err, "counting pending documents");
    }
  }
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  return code;
}

tm_code tm_engine_status(tm_engine *engine, const char *const *names, size_t n_names,
                         bool include_pending, int budget_ms, tm_status_list *out, tm_error *err) {
  memset(out, 0, sizeof *out);
  status_wait w = {.answered = false};
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cond, NULL);
  tm_code code = tm_engine_status_async(engine, names, n_names, status_answered, &w, err);
  if (code == TM_OK) {
    pthread_mutex_lock(&w.mu);
    while (!w.answered) pthread_cond_wait(&w.cond, &w.mu);
    pthread_mutex_unlock(&w.mu);
    code = w.code;
    if (code != TM_OK) *err = w.err;
  }
  pthread_cond_destroy(&w.cond);
  pthread_mutex_destroy(&w.mu);
  if (code != TM_OK || !include_pending) {
    *out = w.list;
    return code;
  }
  mongoc_client_t *client = tm_store_pop_control(engine->store);
  int64_t until = budget_ms > 0 ? tm_clock_mono_ms() + budget_ms : 0;
  for (size_t i = 0; i < w.list.n && code == TM_OK; i++) {
    tm_status *st = &w.list.items[i];
    int left = until ? (int)(until - tm_clock_mono_ms()) : 0;
    if (until && left <= 0) {
      code = TM_ERR_DEADLINE;
    } else {
      code = count_pending(engine, client, tm_registry_find(st->name), left, &st->pending, err);
    }
    /* The server stopped the count at maxTimeMS, however it words that. */
    if (code != TM_OK && until && tm_clock_mono_ms() >= until) {
      code = tm_error_set(err, TM_ERR_DEADLINE,
                          "the caller's deadline passed while counting pending documents");
    }
    st->has_pending = code == TM_OK;
    st->drifted = st->has_pending && st->state == TM_STATE_SUCCEEDED && st->pending > 0;
  }
  tm_store_push_control(engine->store, client);
  if (code != TM_OK) tm_status_list_clear(&w.list);
  *out = w.list;
  return code;
}

void tm_engine_refresh_metrics(tm_engine *engine) { tm_state_reads_poke(&engine->state_reads); }

/* --- History --- */

#define HISTORY_PAGE_DEFAULT 20
#define HISTORY_PAGE_MAX 1000

tm_code tm_engine_history(tm_engine *engine, const char *name, const char *page_token,
                          int page_size, tm_history_page *out, char *next, tm_error *err) {
  memset(out, 0, sizeof *out);
  next[0] = '\0';
  const tm_migration *m = NULL;
  if (name && *name && !(m = tm_registry_find(name)))
    return tm_engine_invalid_name(err, name, "unknown");
  if (page_size < 0 || page_size > HISTORY_PAGE_MAX) {
    return tm_error_set(err, TM_ERR_INVALID, "page_size must be 0..%d (0: %d), got %d",
                        HISTORY_PAGE_MAX, HISTORY_PAGE_DEFAULT, page_size);
  }
  mongoc_client_t *client = tm_store_pop_control(engine->store);
  mongoc_collection_t *h = tm_engine_collection(engine, client, engine->history_collection);
  tm_code code = tm_history_list(h, m ? m->name : NULL, page_token,
                                 page_size ? page_size : HISTORY_PAGE_DEFAULT, out, next, err);
  mongoc_collection_destroy(h);
  tm_store_push_control(engine->store, client);
  return code;
}
