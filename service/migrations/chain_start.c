/* Starting chains: a Run identical to one that has not answered joins it; the rest get a thread
 * of their own, bounded by max_runs; callers that leave are answered at once; finished threads are
 * joined. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "chain.h"
#include "chain_impl.h"
#include "report.h"

static bool same_run(const chain *c, const tm_migration *const *ms, size_t n, const chain *want) {
  if (c->n != n || c->dry_run != want->dry_run || c->rerun != want->rerun ||
      c->async != want->async || c->batch_size != want->batch_size || c->resume != want->resume ||
      memcmp(&c->controls, &want->controls, sizeof c->controls) != 0) {
    return false;
  }
  if (c->resume && strcmp(c->run_id, want->run_id) != 0) return false;
  for (size_t i = 0; i < n; i++) {
    if (c->items[i].m != ms[i]) return false;
  }
  return true;
}

static waiter *new_waiter(tm_run_done_fn done, void *arg, bool joined) {
  waiter *w = calloc(1, sizeof *w);
  *w = (waiter){.done = done, .arg = arg, .joined = joined};
  return w;
}

/* Under e->mu: an identical chain that has not answered and still has callers, or NULL; *live is
 * the number of chains not yet ended. */
static chain *find_joinable(tm_engine *e, const tm_migration *const *ms, size_t n,
                            const chain *want, int *live) {
  chain *found = NULL;
  *live = 0;
  for (tm_chain_rec *rec = e->chains; rec; rec = rec->next) {
    if (rec->finished) continue;
    (*live)++;
    chain *c = rec->joinable;
    if (!found && c && c->waiters && !atomic_load(&c->abandoned) && same_run(c, ms, n, want)) {
      found = c;
    }
  }
  return found;
}

static void free_chain(chain *c) {
  free(c->items);
  free(c);
}

void tm_chain_controls(const tm_engine *e, const tm_run_request *req, int batch_size,
                       tm_controls *out) {
  *out = e->default_controls;
  out->batch_size = batch_size;
  out->current_batch_size = batch_size;
  tm_controls_change ch = req->controls;
  ch.batch_size = false;
  tm_controls_apply(out, &ch, NULL, 0);
}

tm_code tm_chain_start(tm_engine *e, const tm_migration *const *ms, size_t n,
                       const tm_run_request *req, int batch_size, const tm_chain_resume *resume,
                       tm_run_done_fn done, void *arg, tm_error *err) {
  chain *c = calloc(1, sizeof *c);
  c->e = e;
  c->resume = resume != NULL;
  if (resume) {
    snprintf(c->run_id, sizeof c->run_id, "%s", resume->run_id);
    c->controls = resume->controls;
  } else {
    tm_chain_controls(e, req, batch_size, &c->controls);
  }
  c->dry_run = req->dry_run;
  c->rerun = req->rerun;
  c->async = req->async && !req->dry_run; /* a dry run's answer is its plan: always at the end */
  if (req->caller) c->caller = *req->caller;
  c->batch_size = batch_size;
  c->n = n;
  c->items = calloc(n ? n : 1, sizeof *c->items);
  for (size_t i = 0; i < n; i++) {
    c->items[i].m = ms[i];
    c->items[i].hb_slot = -1;
    tm_report_pending(ms[i], &c->items[i].st);
  }

  pthread_mutex_lock(&e->mu);
  if (e->stopping) {
    pthread_mutex_unlock(&e->mu);
    free_chain(c);
    return tm_error_set(err, TM_ERR_UNAVAILABLE, "service shutting down");
  }
  int live;
  chain *same = find_joinable(e, ms, n, c, &live);
  if (same) {
    waiter *w = new_waiter(done, arg, true);
    w->next = same->waiters;
    same->waiters = w;
    tm_log(TM_LOG_INFO, "run joined an identical one in flight", "run_id", TM_LOG_STR(same->run_id),
           NULL);
    pthread_mutex_unlock(&e->mu);
    free_chain(c);
    return TM_OK;
  }
  if (live >= e->max_runs) {
    pthread_mutex_unlock(&e->mu);
    free_chain(c);
    return tm_error_set(err, TM_ERR_RESOURCE,
                        "%d runs are in flight on this replica, its limit (--max-runs); retry in a "
                        "few seconds, or follow them with Status",
                        live);
  }
  if (!c->resume) {
    bson_oid_t oid;
    bson_oid_init(&oid, NULL);
    bson_oid_to_string(&oid, c->run_id);
  }
  c->waiters = new_waiter(done, arg, false);
  tm_chain_rec *rec = calloc(1, sizeof *rec);
  c->rec = rec;
  rec->joinable = c;
  tm_log(TM_LOG_INFO, c->resume ? "resume accepted" : "run accepted", "run_id",
         TM_LOG_STR(c->run_id), "migrations", TM_LOG_INT(n), "dry_run", TM_LOG_BOOL(req->dry_run),
         "async", TM_LOG_BOOL(req->async), "rerun", TM_LOG_BOOL(req->rerun), "batch_size",
         TM_LOG_INT(batch_size), NULL);
  /* Created under the lock so that destroy, which takes it to set stopping, sees every chain. */
  int rc = pthread_create(&rec->thread, NULL, tm_chain_main, c);
  if (rc == 0) {
    rec->next = e->chains;
    e->chains = rec;
  }
  pthread_mutex_unlock(&e->mu);
  if (rc != 0) {
    free(c->waiters);
    free(rec);
    free_chain(c);
    return tm_error_set(err, TM_ERR_RESOURCE, "cannot start a thread for the run");
  }
  return TM_OK;
}

void tm_chain_leave(tm_engine *e, void *arg) {
  waiter *gone = NULL;
  pthread_mutex_lock(&e->mu);
  for (tm_chain_rec *rec = e->chains; rec && !gone; rec = rec->next) {
    chain *c = rec->joinable;
    if (!c) continue;
    for (waiter **link = &c->waiters; *link; link = &(*link)->next) {
      if ((*link)->arg != arg) continue;
      gone = *link;
      *link = gone->next;
      if (!c->waiters) {
        atomic_store(&c->abandoned, true);
        pthread_cond_broadcast(&e->cond);
      }
      break;
    }
  }
  pthread_mutex_unlock(&e->mu);
  if (!gone) return; /* answered already */
  tm_error err;
  tm_error_set(&err, TM_ERR_CANCELED, "the caller left before the run answered");
  gone->done(gone->arg, TM_ERR_CANCELED, &err, NULL);
  free(gone);
}

void tm_chain_reap(tm_engine *e, bool all) {
  pthread_mutex_lock(&e->mu);
  tm_chain_rec *take = NULL, **link = &e->chains;
  while (*link) {
    tm_chain_rec *rec = *link;
    if (all || rec->finished) {
      *link = rec->next;
      rec->next = take;
      take = rec;
    } else {
      link = &rec->next;
    }
  }
  pthread_mutex_unlock(&e->mu);
  while (take) {
    tm_chain_rec *next = take->next;
    pthread_join(take->thread, NULL);
    free(take);
    take = next;
  }
}
