/* Waits between retries of a transient failure: 250 ms doubling to at most 10 s, each wait moved
 * at random by up to a quarter either way (so that replicas that failed together do not retry in
 * step), within an overall bound counted from the first failure. Not thread safe: one per retry
 * loop. */
#ifndef TM_UTIL_BACKOFF_H
#define TM_UTIL_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define TM_BACKOFF_FIRST_MS 250
#define TM_BACKOFF_MAX_MS 10000

typedef struct {
  int64_t bound_ms;   /* how long failures may go on, from the first */
  int64_t started_ms; /* the first failure's time; 0: none since the last success */
  int attempts;
  uint64_t rng;
} tm_backoff;

/* A backoff allowing failures to go on for bound_ms. */
void tm_backoff_init(tm_backoff *b, int64_t bound_ms);

/* A failure at now_ms: the wait before the next try, never past the bound; -1 when the bound is
 * spent (the caller gives up). */
int64_t tm_backoff_next(tm_backoff *b, int64_t now_ms);

/* A success: the next failure starts a new bound. */
void tm_backoff_reset(tm_backoff *b);

/* Milliseconds since the first failure of the current run of failures (0 when none). */
int64_t tm_backoff_elapsed(const tm_backoff *b, int64_t now_ms);

#endif
