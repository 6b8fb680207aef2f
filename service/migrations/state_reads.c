/* Status's reads of the state documents, shared by concurrent callers (see state_reads.h). */
#include "state_reads.h"

#include <stdlib.h>

#include "../store/store.h"
#include "engine_impl.h"
#include "registry.h"

void tm_state_reads_init(tm_state_reads *r) {
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->done, NULL);
  r->started = r->finished = 0;
  r->reading = false;
  r->n = tm_registry_count();
  r->docs = calloc(r->n ? r->n : 1, sizeof *r->docs);
  r->code = TM_OK;
}

void tm_state_reads_destroy(tm_state_reads *r) {
  for (size_t i = 0; i < r->n; i++) tm_state_doc_clear(&r->docs[i]);
  free(r->docs);
  pthread_cond_destroy(&r->done);
  pthread_mutex_destroy(&r->mu);
}

/* One query for every migration's document. */
static tm_code read_all(tm_engine *e, tm_state_doc *docs, size_t n, tm_error *err) {
  const char **names = calloc(n ? n : 1, sizeof *names);
  for (size_t i = 0; i < n; i++) names[i] = tm_registry_at(i)->name;
  mongoc_client_t *client = tm_store_pop(e->store);
  mongoc_collection_t *states = tm_engine_collection(e, client, e->state_collection);
  tm_code code = tm_state_read_many(states, names, n, docs, err);
  mongoc_collection_destroy(states);
  tm_store_push(e->store, client);
  free(names);
  return code;
}

tm_code tm_state_reads_get(tm_state_reads *r, tm_engine *e, tm_state_doc *out, tm_error *err) {
  pthread_mutex_lock(&r->mu);
  /* A read in flight began before this call: only the next one will do. */
  uint64_t need = r->started + 1;
  while (r->finished < need) {
    if (r->reading) {
      pthread_cond_wait(&r->done, &r->mu);
      continue;
    }
    r->reading = true;
    uint64_t index = ++r->started;
    pthread_mutex_unlock(&r->mu);
    tm_state_doc *fresh = calloc(r->n ? r->n : 1, sizeof *fresh);
    tm_error read_err = {0};
    tm_code code = read_all(e, fresh, r->n, &read_err);
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) tm_state_doc_clear(&r->docs[i]);
    free(r->docs);
    r->docs = fresh;
    r->code = code;
    r->err = read_err;
    r->finished = index;
    r->reading = false;
    pthread_cond_broadcast(&r->done);
  }
  tm_code code = r->code;
  if (code == TM_OK) {
    for (size_t i = 0; i < r->n; i++) tm_state_doc_copy(&r->docs[i], &out[i]);
  } else {
    *err = r->err;
  }
  pthread_mutex_unlock(&r->mu);
  return code;
}
