/* Time as the engine stores and compares it.
 *
 * Wall-clock milliseconds go into documents (lease expiry, start and finish times) because other
 * replicas read them; the monotonic clock fences this process's own lease, so a clock step never
 * makes a holder believe it still holds a lease it lost. */
#ifndef TM_CLOCK_H
#define TM_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds since the Unix epoch. */
int64_t tm_clock_wall_ms(void);
/* Milliseconds on a clock that never goes back; only differences mean anything. */
int64_t tm_clock_mono_ms(void);

/* The monotonic instant ms from now, for pthread_cond_timedwait on a condition variable made by
 * tm_clock_cond_init (a wall-clock step must not stretch or cut a wait). */
void tm_clock_deadline(struct timespec *out, int64_t ms);
/* Initialises cond on the monotonic clock. */
void tm_clock_cond_init(pthread_cond_t *cond);

#endif
