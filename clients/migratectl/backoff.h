/* Exponential backoff with full jitter: the wait before retry n is uniform in
 * [0, min(cap, base * 2^n)], so many Jobs retrying against one recovering service spread out
 * instead of arriving together. */
#ifndef TM_CTL_BACKOFF_H
#define TM_CTL_BACKOFF_H

#include <stdint.h>

typedef struct {
  int64_t base_ms, cap_ms;
  int attempt;  /* retries already waited for */
  uint64_t rng; /* splitmix64 state, seeded from the kernel */
} tm_ctl_backoff;

void tm_ctl_backoff_init(tm_ctl_backoff *b, int64_t base_ms, int64_t cap_ms);

/* The next wait in milliseconds; advances the attempt count. */
int64_t tm_ctl_backoff_next(tm_ctl_backoff *b);

#endif
