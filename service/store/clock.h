/* Time as the engine stores and compares it.
 *
 * Wall-clock milliseconds go into documents (lease expiry, start and finish times) because other
 * replicas read them; the monotonic clock fences this process's own lease, so a clock step never
 * makes a holder believe it still holds a lease it lost. */
#ifndef TM_CLOCK_H
#define TM_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch. */
int64_t tm_clock_wall_ms(void);
/* Milliseconds on a clock that never goes back; only differences mean anything. */
int64_t tm_clock_mono_ms(void);

#endif
