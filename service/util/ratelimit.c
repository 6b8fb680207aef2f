/* Fixed windows: simple, and a burst at a window's edge passes at most twice `burst` lines. */
#include "ratelimit.h"

bool tm_ratelimit_allow(tm_ratelimit *rl, int64_t now_ms, uint64_t *suppressed) {
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
