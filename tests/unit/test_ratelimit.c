/* Repeated log lines: a burst per window, and the count of what was held back. */
#include <criterion/criterion.h>

#include "util/ratelimit.h"

Test(ratelimit, a_burst_passes_then_lines_are_held_back) {
  tm_ratelimit rl = TM_RATELIMIT_INIT(3, 1000);
  uint64_t held = 99;
  for (int i = 0; i < 3; i++) {
    cr_assert(tm_ratelimit_allow_at(&rl, 5000, &held));
    cr_assert_eq(held, 0);
  }
  for (int i = 0; i < 10; i++) cr_assert_not(tm_ratelimit_allow_at(&rl, 5999, &held));
}
Test(ratelimit, the_first_line_of_a_new_window_carries_the_count_held_back) {
  tm_ratelimit rl = TM_RATELIMIT_INIT(1, 1000);
  uint64_t held;
  cr_assert(tm_ratelimit_allow_at(&rl, 5000, &held));
  for (int i = 0; i < 7; i++) tm_ratelimit_allow_at(&rl, 5500, &held);
  cr_assert(tm_ratelimit_allow_at(&rl, 6000, &held));
  cr_assert_eq(held, 7);
  cr_assert_not(tm_ratelimit_allow_at(&rl, 6001, &held));
}
Test(ratelimit, a_clock_that_goes_back_starts_a_new_window) {
  tm_ratelimit rl = TM_RATELIMIT_INIT(1, 1000);
  uint64_t held;
  cr_assert(tm_ratelimit_allow_at(&rl, 5000, &held));
  cr_assert(tm_ratelimit_allow_at(&rl, 10, &held));
}
