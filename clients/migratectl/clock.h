/* Monotonic milliseconds: every deadline and rate in migratectl is measured on this clock, so wall
 * clock jumps never shorten or stretch a --timeout. */
#ifndef TM_CTL_CLOCK_H
#define TM_CTL_CLOCK_H

#include <stdint.h>

int64_t tm_ctl_now_ms(void);

/* Sleeps ms milliseconds (nothing when ms <= 0), resuming after signals. */
void tm_ctl_sleep_ms(int64_t ms);

#endif
