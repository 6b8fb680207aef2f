/* Full-jitter exponential backoff. */
#include "backoff.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void tm_ctl_backoff_init(tm_ctl_backoff *b, int64_t base_ms, int64_t cap_ms) {
  b->base_ms = base_ms > 0 ? base_ms : 1;
  b->cap_ms = cap_ms > b->base_ms ? cap_ms : b->base_ms;
  b->attempt = 0;
  if (getrandom(&b->rng, sizeof b->rng, GRND_NONBLOCK) != (ssize_t)sizeof b->rng) {
    /* No entropy yet (early boot): a seed that still differs between concurrent Jobs. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    b->rng = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
  }
}

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int64_t tm_ctl_backoff_next(tm_ctl_backoff *b) {
  int64_t ceiling = b->base_ms;
  for (int i = 0; i < b->attempt && ceiling < b->cap_ms; i++) ceiling *= 2;
  if (ceiling > b->cap_ms) ceiling = b->cap_ms;
  b->attempt++;
  return (int64_t)(splitmix64(&b->rng) % (uint64_t)(ceiling + 1));
}
