/* Status's reads of the state documents, shared by concurrent callers (see state_reads.h). */
#include "state_reads.h"

#include <stdlib.h>

#include "../store/store.h"
#include "engine_impl.h"
#include "registry.h"

struct tm_state_waiter {
  tm_state_reads_fn fn;
  void *arg;
  tm_state_waiter *next;
};

/* One query for every migration's document. */
static tm_code read_all(tm_engine *e, tm_state_doc *docs, size_t n, tm_error *err) {
  const char **names = calloc(n ? n : 1, sizeof *names);
  for (size_t i = 0; i < n; i++) names[i] = tm_registry_at(i)->name;
  mongoc_client_t *client = tm_store_pop_control(e->store);
  mongoc_collection_t *states = tm_engine_collection(e, client, e->state_collection);
  tm_code code = tm_state_read_many(states, names, n, docs, err);
  mongoc_collection_destroy(states);
  tm_store_push_control(e->store, client);
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

static void *reads_thread(void *arg) {
  tm_state_reads *r = arg;
  size_t n = tm_registry_count();
  pthread_mutex_lock(&r->mu);
  while (!r->stopping) {
    if (!r->head) {
      pthread_cond_wait(&r->wake, &r->mu);
      continue;
    }
    /* Everyone who asked so far is answered by the read that begins now. */
    tm_state_waiter *batch = r->head;
    r->head = NULL;
    r->tail = &r->head;
    pthread_mutex_unlock(&r->mu);
    tm_state_doc *docs = calloc(n ? n : 1, sizeof *docs);
    tm_error err = {0};
    tm_code code = read_all(r->engine, docs, n, &err);
    answer(batch, code, &err, docs);
    if (code == TM_OK) {
      for (size_t i = 0; i < n; i++) tm_state_doc_clear(&docs[i]);
    }
    free(docs);
    pthread_mutex_lock(&r->mu);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

void tm_state_reads_init(tm_state_reads *r, tm_engine *e) {
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->wake, NULL);
  r->stopping = false;
  r->head = NULL;
  r->tail = &r->head;
  r->engine = e;
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
