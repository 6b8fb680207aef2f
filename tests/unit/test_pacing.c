/* Pacing without a server: the token bucket never lets a stretch of a run go faster than its
 * rate, the throttle follows the latency and lag it is told, and batches halve and grow back. */
#include <criterion/criterion.h>

#include "migrations/pacing.h"

static tm_pacing make(int32_t batch, double rate, int64_t max_write_ms, int64_t max_lag_ms) {
  tm_controls c = {.batch_size = batch,
                   .max_docs_per_s = rate,
                   .max_write_ms = max_write_ms,
                   .max_lag_ms = max_lag_ms};
  tm_pacing p;
  tm_pacing_init(&p, &c, 0);
  return p;
}

/* Writes n documents in batches as a runner would, each as soon as the bucket allows; returns
 * when the last batch could start (ms). */
static int64_t last_start(tm_pacing *p, int n) {
  int64_t now = 0;
  for (int done = 0; done < n;) {
    size_t take = tm_pacing_batch(p);
    if (take > (size_t)(n - done)) take = (size_t)(n - done);
    now += tm_pacing_rate_wait(p, take, now);
    cr_assert_eq(tm_pacing_rate_wait(p, take, now), 0, "the wait it gave is enough");
    tm_pacing_take(p, take, now);
    done += (int)take;
    now += 3; /* the write itself */
  }
  return now - 3;
}

Test(pacing, no_rate_means_no_wait) {
  tm_pacing p = make(500, 0, 0, 0);
  cr_assert_eq(tm_pacing_rate_wait(&p, 500, 0), 0);
  cr_assert_eq(tm_pacing_batch(&p), 500);
}

Test(pacing, a_run_never_goes_faster_than_its_rate_first_batch_included) {
  tm_pacing p = make(500, 50, 0, 0);
  cr_assert_eq(tm_pacing_batch(&p), 50, "batches hold a second's worth of the rate");
  int64_t at = last_start(&p, 150);
  /* 150 documents at 50/s: the last batch starts no sooner than 3 s in. */
  cr_assert_geq(at, 3000, "last batch at %lld ms", (long long)at);
  cr_assert_lt(at, 3100, "and not much later: %lld ms", (long long)at);
}

Test(pacing, an_idle_stretch_buys_no_burst) {
  tm_pacing p = make(100, 10, 0, 0);
  tm_pacing_take(&p, 10, 0);
  /* An hour idle tops the bucket up to one batch, not to 36,000 documents. */
  int64_t hour = 3600 * 1000;
  cr_assert_eq(tm_pacing_rate_wait(&p, 10, hour), 0);
  tm_pacing_take(&p, 10, hour);
  cr_assert_geq(tm_pacing_rate_wait(&p, 10, hour), 999);
}

Test(pacing, a_fractional_rate_writes_one_document_at_a_time) {
  tm_pacing p = make(500, 0.5, 0, 0);
  cr_assert_eq(tm_pacing_batch(&p), 1);
  cr_assert_geq(tm_pacing_rate_wait(&p, 1, 0), 2000);
}

Test(pacing, slow_batches_throttle_and_halve_fast_ones_grow_back) {
  tm_pacing p = make(400, 0, 200, 0);
  tm_pacing_after_write(&p, 500);
  cr_assert(tm_pacing_throttled(&p));
  cr_assert_str_eq(p.reason, "batch writes took 500 ms, over max_write_latency_ms 200");
  cr_assert_eq(tm_pacing_batch(&p), 200);
  tm_pacing_after_write(&p, 300);
  cr_assert_eq(tm_pacing_batch(&p), 100);
  tm_pacing_after_write(&p, 120); /* under the limit, not fast: lifted, size kept */
  cr_assert_not(tm_pacing_throttled(&p));
  cr_assert_eq(tm_pacing_batch(&p), 100);
  tm_pacing_after_write(&p, 10);
  tm_pacing_after_write(&p, 10);
  tm_pacing_after_write(&p, 10);
  cr_assert_eq(tm_pacing_batch(&p), 400, "back to the batch size asked for, not beyond");
}

Test(pacing, a_timeout_halves_down_to_one) {
  tm_pacing p = make(3, 0, 0, 0);
  tm_pacing_after_timeout(&p);
  cr_assert_eq(tm_pacing_batch(&p), 1);
  tm_pacing_after_timeout(&p);
  cr_assert_eq(tm_pacing_batch(&p), 1);
}

Test(pacing, lag_over_the_limit_throttles_until_it_falls) {
  tm_pacing p = make(100, 0, 0, 1000);
  tm_pacing_lag(&p, 999);
  cr_assert_not(tm_pacing_throttled(&p));
  tm_pacing_lag(&p, 4000);
  cr_assert(tm_pacing_throttled(&p));
  cr_assert_eq(p.cause, TM_THROTTLE_LAG);
  cr_assert_eq(tm_pacing_backoff(&p), TM_PACING_BACKOFF_MIN_MS);
  cr_assert_eq(tm_pacing_backoff(&p), 2 * TM_PACING_BACKOFF_MIN_MS);
  for (int i = 0; i < 20; i++) tm_pacing_backoff(&p);
  cr_assert_eq(tm_pacing_backoff(&p), TM_PACING_BACKOFF_MAX_MS);
  tm_pacing_lag(&p, 10);
  cr_assert_not(tm_pacing_throttled(&p));
  cr_assert_eq(tm_pacing_backoff(&p), TM_PACING_BACKOFF_MIN_MS, "backoff starts over");
}

Test(pacing, a_tune_applies_new_limits_and_turning_one_off_lifts_its_throttle) {
  tm_pacing p = make(100, 0, 200, 0);
  tm_pacing_after_write(&p, 900);
  cr_assert(tm_pacing_throttled(&p));
  tm_controls c = p.c;
  c.max_write_ms = 0;
  c.batch_size = 30;
  tm_pacing_set(&p, &c);
  cr_assert_not(tm_pacing_throttled(&p));
  cr_assert_eq(tm_pacing_batch(&p), 30, "a new batch size starts fresh");
}
