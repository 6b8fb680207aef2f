/* The retry backoff: doubling with jitter, capped, never past its bound. */
#include <criterion/criterion.h>

#include "util/backoff.h"

Test(backoff, doubles_with_jitter_up_to_the_cap) {
  tm_backoff b;
  tm_backoff_init(&b, 3600000);
  int64_t expect = TM_BACKOFF_FIRST_MS, now = 1000;
  for (int i = 0; i < 12; i++) {
    int64_t w = tm_backoff_next(&b, now);
    cr_assert_geq(w, expect * 3 / 4, "wait %d: %ld < 75%% of %ld", i, (long)w, (long)expect);
    cr_assert_leq(w, expect * 5 / 4, "wait %d: %ld > 125%% of %ld", i, (long)w, (long)expect);
    now += w;
    expect = expect * 2 > TM_BACKOFF_MAX_MS ? TM_BACKOFF_MAX_MS : expect * 2;
  }
}

Test(backoff, stops_at_the_bound_and_never_waits_past_it) {
  tm_backoff b;
  tm_backoff_init(&b, 5000);
  int64_t now = 100, spent = 0;
  for (;;) {
    int64_t w = tm_backoff_next(&b, now);
    if (w < 0) break;
    cr_assert_gt(w, 0);
    now += w;
    spent += w;
    cr_assert_leq(spent, 5000);
  }
  cr_assert_eq(spent, 5000, "the last wait ends at the bound, not before: %ld", (long)spent);
  cr_assert_eq(tm_backoff_elapsed(&b, now), 5000);
}

Test(backoff, a_success_starts_a_new_bound) {
  tm_backoff b;
  tm_backoff_init(&b, 1000);
  cr_assert_geq(tm_backoff_next(&b, 10), 0);
  cr_assert_eq(tm_backoff_next(&b, 2000), -1, "the bound is spent");
  tm_backoff_reset(&b);
  cr_assert_eq(tm_backoff_elapsed(&b, 2000), 0);
  int64_t w = tm_backoff_next(&b, 2000);
  cr_assert(w >= TM_BACKOFF_FIRST_MS * 3 / 4 && w <= TM_BACKOFF_FIRST_MS * 5 / 4, "%ld", (long)w);
}
