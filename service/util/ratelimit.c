/* Fixed windows: simple, and a burst at a window's edge passes at most twice `burst` lines. */
#include "ratelimit.h"

#include <time.h>

bool tm_ratelimit_allow_at(tm_ratelimit *rl, int64_t now_ms, uint64_t *suppressed) {
  pthread_mutex_lock(&rl->mu);
  if (now_ms - rl->window_start_ms >= rl->window_ms || now_ms < rl->window_start_ms) {
    rl->window_start_ms = now_ms;
    rl->passed = 0;
  }
  bool allow = rl->passed < rl->burst;
  if (allow) {
    rl->passed++;
    *suppressed = rl->suppressed;
    rl->suppressed = 0;
  } else {
    rl->suppressed++;
  }
  pthread_mutex_unlock(&rl->mu);
  return allow;
}

bool tm_ratelimit_allow(tm_ratelimit *rl, uint64_t *suppressed) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return tm_ratelimit_allow_at(rl, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, suppressed);
}
