/* A limit on how often one kind of log line is written: a client that floods the service with
 * junk handshakes or unauthenticated calls must not flood the log too. At most `burst` lines pass
 * per window; the next line that passes after some were held back carries their count. Thread
 * safe; a zero-initialised tm_ratelimit with burst and window_ms set is ready. */
#ifndef TM_UTIL_RATELIMIT_H
#define TM_UTIL_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
  int burst;
  int64_t window_ms;
  pthread_mutex_t mu;
  int64_t window_start_ms;
  int passed;          /* lines passed in the current window */
  uint64_t suppressed; /* lines held back since the last one that passed */
} tm_ratelimit;

#define TM_RATELIMIT_INIT(burst_, window_ms_) \
  { .burst = (burst_), .window_ms = (window_ms_), .mu = PTHREAD_MUTEX_INITIALIZER }

/* True when a line may be written now (the monotonic clock); then *suppressed is how many were
 * held back before it. */
bool tm_ratelimit_allow(tm_ratelimit *rl, uint64_t *suppressed);

/* The same at a given time in milliseconds, for tests. */
bool tm_ratelimit_allow_at(tm_ratelimit *rl, int64_t now_ms, uint64_t *suppressed);

#endif
