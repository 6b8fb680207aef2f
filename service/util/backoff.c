/* Exponential backoff with jitter under an overall bound. */
#include "backoff.h"

#include <time.h>

void tm_backoff_init(tm_backoff *b, int64_t bound_ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  *b = (tm_backoff){.bound_ms = bound_ms,
                    .rng = ((uint64_t)ts.tv_nsec << 17) ^ (uint64_t)ts.tv_sec ^ (uintptr_t)b};
  if (b->rng == 0) b->rng = 0x9e3779b97f4a7c15ULL;
}

/* xorshift64: enough for spreading waits. */
static uint64_t next_random(tm_backoff *b) {
  b->rng ^= b->rng << 13;
  b->rng ^= b->rng >> 7;
  b->rng ^= b->rng << 17;
  return b->rng;
}

int64_t tm_backoff_next(tm_backoff *b, int64_t now_ms) {
  if (b->started_ms == 0) {
    b->started_ms = now_ms > 0 ? now_ms : 1;
    b->attempts = 0;
  }
  int64_t left = b->started_ms + b->bound_ms - now_ms;
  if (left <= 0) return -1;
  int64_t wait = TM_BACKOFF_FIRST_MS;
  for (int i = 0; i < b->attempts && wait < TM_BACKOFF_MAX_MS; i++) wait *= 2;
  if (wait > TM_BACKOFF_MAX_MS) wait = TM_BACKOFF_MAX_MS;
  b->attempts++;
  int64_t quarter = wait / 4; /* +-25%, the same either way */
  wait += (int64_t)(next_random(b) % (uint64_t)(2 * quarter + 1)) - quarter;
  return wait < left ? wait : left;
}

void tm_backoff_reset(tm_backoff *b) {
  b->started_ms = 0;
  b->attempts = 0;
}

int64_t tm_backoff_elapsed(const tm_backoff *b, int64_t now_ms) {
  return b->started_ms ? now_ms - b->started_ms : 0;
}
