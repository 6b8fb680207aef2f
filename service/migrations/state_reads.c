/* Status's reads of the state documents, shared by concurrent callers, and the metrics' view of
 * them (see state_reads.h). */
#include "state_reads.h"

#include <stdlib.h>
#include <time.h>

#include "../metrics/metrics.h"
#include "../store/clock.h"
#include "../store/store.h"
#include "registry.h"
#include "report.h"

struct tm_state_waiter {
  tm_state_reads_fn fn;
  void *arg;
  tm_state_waiter *next;
};

/* One query for every migration's document. */
static tm_code read_all(tm_state_reads *r, tm_state_doc *docs, size_t n, tm_error *err) {
  const char **names = calloc(n ? n : 1, sizeof *names);
  for (size_t i = 0; i < n; i++) names[i] = tm_registry_at(i)->name;
  mongoc_client_t *client = tm_store_pop_control(r->store);
  mongoc_collection_t *states = tm_store_collection(r->store, client, r->collection);
  tm_code code = tm_state_read_many(states, names, n, docs, err);
  mongoc_collection_destroy(states);
  tm_store_push_control(r->store, client);
  free(names);
  return code;
}

/* Answers and frees a list of waiters. */
static void answer(tm_state_waiter *w, tm_code code, const tm_error *err,
                   const tm_state_doc *docs) {
  while (w) {
    tm_state_waiter *next = w->next;
    w->fn(w->arg, code, err, code == TM_OK ? docs : NULL);
    free(w);
    w = next;
  }
}

/* What Status would report, as the metrics' gauges. */
static void export_metrics(const tm_state_doc *docs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    tm_status st;
    tm_report_from_state(tm_registry_at(i), &docs[i], &st);
    bool has_run = docs[i].exists && st.state != TM_STATE_PENDING;
    int64_t left = st.total > st.processed ? st.total - st.processed : 0;
    tm_metrics_stored stored = {
        .state = (int)st.state,
        .has_run = has_run,
        .total = st.total,
        .processed = st.processed,
        .pending = st.state == TM_STATE_SUCCEEDED ? 0 : left,
        .last_success = st.state == TM_STATE_SUCCEEDED ? (double)st.finished_at_ms / 1000.0 : 0,
    };
    tm_metrics_migration_stored(i, &stored);
    tm_status_clear(&st);
  }
}

/* Waits, r->mu held, until a caller asks, a poke, or the metrics' period ends. */
static void wait_for_work(tm_state_reads *r, int64_t due_ms) {
  while (!r->stopping && !r->head && !r->refresh) {
    int64_t left = due_ms - tm_clock_mono_ms();
    if (left <= 0) {
      r->refresh = true;
      break;
    }
    struct timespec until;
    tm_clock_deadline(&until, left);
    pthread_cond_timedwait(&r->wake, &r->mu, &until);
  }
}

static void *reads_thread(void *arg) {
  tm_state_reads *r = arg;
  size_t n = tm_registry_count();
  /* The first read waits for a caller, a poke (tm_engine_refresh_metrics once the service
   * serves) or the period: nothing touches the database before the service says it listens. */
  int64_t due = tm_clock_mono_ms() + r->refresh_ms;
  pthread_mutex_lock(&r->mu);
  for (;;) {
    wait_for_work(r, due);
    if (r->stopping) break;
    /* Everyone who asked so far is answered by the read that begins now. */
    tm_state_waiter *batch = r->head;
    r->head = NULL;
    r->tail = &r->head;
    r->refresh = false;
    pthread_mutex_unlock(&r->mu);
    tm_state_doc *docs = calloc(n ? n : 1, sizeof *docs);
    tm_error err = {0};
    tm_code code = read_all(r, docs, n, &err);
    answer(batch, code, &err, docs);
    if (code == TM_OK) {
      export_metrics(docs, n);
      for (size_t i = 0; i < n; i++) tm_state_doc_clear(&docs[i]);
    }
    free(docs);
    due = tm_clock_mono_ms() + r->refresh_ms;
    pthread_mutex_lock(&r->mu);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

void tm_state_reads_init(tm_state_reads *r, tm_store *store, const char *collection,
                         int refresh_ms) {
  pthread_mutex_init(&r->mu, NULL);
  tm_clock_cond_init(&r->wake);
  r->stopping = false;
  r->refresh = false;
  r->refresh_ms = refresh_ms;
  r->head = NULL;
  r->tail = &r->head;
  r->store = store;
  r->collection = collection;
  pthread_create(&r->thread, NULL, reads_thread, r);
}

void tm_state_reads_destroy(tm_state_reads *r) {
  pthread_mutex_lock(&r->mu);
  r->stopping = true;
  pthread_cond_signal(&r->wake);
  pthread_mutex_unlock(&r->mu);
  pthread_join(r->thread, NULL);
  tm_error err;
  tm_error_set(&err, TM_ERR_UNAVAILABLE, "service shutting down");
  answer(r->head, TM_ERR_UNAVAILABLE, &err, NULL);
  pthread_cond_destroy(&r->wake);
  pthread_mutex_destroy(&r->mu);
}

void tm_state_reads_ask(tm_state_reads *r, tm_state_reads_fn fn, void *arg) {
  tm_state_waiter *w = malloc(sizeof *w);
  *w = (tm_state_waiter){.fn = fn, .arg = arg};
  pthread_mutex_lock(&r->mu);
  bool idle = r->head == NULL;
  *r->tail = w;
  r->tail = &w->next;
  if (idle) pthread_cond_signal(&r->wake);
  pthread_mutex_unlock(&r->mu);
}

void tm_state_reads_poke(tm_state_reads *r) {
  pthread_mutex_lock(&r->mu);
  r->refresh = true;
  pthread_cond_signal(&r->wake);
  pthread_mutex_unlock(&r->mu);
}
