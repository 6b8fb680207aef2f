/* Status's reads of the state documents, shared by concurrent callers, and the metrics' view of
 * them.
 *
 * Every caller is answered from a read that began after it asked, so it never sees a state older
 * than its own arrival (a Run that answered before a Status call was made, on any replica, is in
 * that call's answer); callers that ask while a read is in flight share the next one. Under
 * concurrency c, one database round trip answers up to c calls.
 *
 * One thread per engine does the reads and calls each caller back: a waiting caller holds no
 * thread, and a read wakes one thread, not one per caller.
 *
 * Every read also exports what it found to the metrics (migration_state and the run gauges), and
 * the thread reads at least every refresh_ms: /metrics shows the shared state collection, the same
 * on every replica, whichever replica or one-shot run wrote it. Thread safe. */
#ifndef TM_STATE_READS_H
#define TM_STATE_READS_H

#include <pthread.h>
#include <stdbool.h>

#include "../error.h"
#include "../store/state.h"
#include "../store/store.h"

/* docs: one per registered migration, in registry order, valid only during the call (NULL when
 * code is not TM_OK). Runs on the reads thread: it must not block. */
typedef void (*tm_state_reads_fn)(void *arg, tm_code code, const tm_error *err,
                                  const tm_state_doc *docs);

typedef struct tm_state_waiter tm_state_waiter;

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t wake;
  pthread_t thread;
  bool stopping;
  bool refresh; /* a read is due without a caller: the metrics' or a poke */
  int refresh_ms;
  tm_state_waiter *head, **tail; /* asked since the last read began, in order */
  tm_store *store;               /* borrowed */
  const char *collection;        /* the state collection's name, borrowed */
} tm_state_reads;

/* Starts the reads thread over the state collection of store (both borrowed: they outlive r); it
 * reads for the metrics every refresh_ms (> 0). */
void tm_state_reads_init(tm_state_reads *r, tm_store *store, const char *collection,
                         int refresh_ms);
/* Answers every caller still waiting (TM_ERR_UNAVAILABLE, without reading) and joins the thread. */
void tm_state_reads_destroy(tm_state_reads *r);

/* Calls fn(arg, ...) once, on the reads thread, with the states as of a read that began after
 * this call. */
void tm_state_reads_ask(tm_state_reads *r, tm_state_reads_fn fn, void *arg);

/* A state document changed: the metrics read it soon, without waiting for the period. */
void tm_state_reads_poke(tm_state_reads *r);

#endif
