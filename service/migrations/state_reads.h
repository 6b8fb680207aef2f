/* Status's reads of the state documents, shared by concurrent callers.
 *
 * Every call gets the result of a read that began after the call did, so it never sees a state
 * older than its own arrival (a Run that answered before a Status call was made is in that call's
 * answer); calls that arrive while a read is in flight wait for the next one and share it. Under
 * concurrency c, one database round trip answers up to c calls. Thread safe. */
#ifndef TM_STATE_READS_H
#define TM_STATE_READS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../error.h"
#include "../store/state.h"

typedef struct tm_engine tm_engine;

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t done;
  uint64_t started, finished; /* reads begun and the index of the last one finished */
  bool reading;
  /* The last finished read: one document per registered migration, in registry order. */
  tm_state_doc *docs;
  size_t n;
  tm_code code;
  tm_error err;
} tm_state_reads;

void tm_state_reads_init(tm_state_reads *r);
void tm_state_reads_destroy(tm_state_reads *r);

/* Copies into out[0..tm_registry_count()) the state of every migration, in registry order, from a
 * read that began after this call (release each with tm_state_doc_clear). */
tm_code tm_state_reads_get(tm_state_reads *r, tm_engine *e, tm_state_doc *out, tm_error *err);

#endif
