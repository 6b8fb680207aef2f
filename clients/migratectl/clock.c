/* Monotonic time and sleeping. */
#include "clock.h"

#include <errno.h>
#include <time.h>

int64_t tm_ctl_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tm_ctl_sleep_ms(int64_t ms) {
  if (ms <= 0) return;
  struct timespec req = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L}, rem;
  while (nanosleep(&req, &rem) != 0 && errno == EINTR) req = rem;
}
