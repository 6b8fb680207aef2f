/* Pacing: the rate limit's bucket, the throttle and adaptive batches (see pacing.h). */
#include "pacing.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void tm_pacing_init(tm_pacing *p, const tm_controls *c, int64_t now_ms) {
  memset(p, 0, sizeof *p);
  p->filled_ms = now_ms;
  p->backoff_ms = TM_PACING_BACKOFF_MIN_MS;
  tm_pacing_set(p, c);
}

void tm_pacing_set(tm_pacing *p, const tm_controls *c) {
  int32_t current = p->c.current_batch_size;
  bool resized = c->batch_size != p->c.batch_size;
  p->c = *c;
  if (p->c.batch_size < 1) p->c.batch_size = 1;
  /* A new batch size is a fresh start; otherwise the adaptive size stays where batches put it. */
  if (resized || current < 1 || current > p->c.batch_size) {
    current = c->current_batch_size > 0 && !resized ? c->current_batch_size : p->c.batch_size;
  }
  p->c.current_batch_size = current < p->c.batch_size ? current : p->c.batch_size;
  if (p->cause == TM_THROTTLE_LATENCY && p->c.max_write_ms == 0) p->cause = TM_THROTTLE_NONE;
  if (p->cause == TM_THROTTLE_LAG && p->c.max_lag_ms == 0) p->cause = TM_THROTTLE_NONE;
}

size_t tm_pacing_batch(const tm_pacing *p) {
  size_t n = (size_t)p->c.current_batch_size;
  if (p->c.max_docs_per_s > 0) {
    size_t second = p->c.max_docs_per_s < 1 ? 1 : (size_t)p->c.max_docs_per_s;
    if (n > second) n = second;
  }
  return n ? n : 1;
}

static void fill(tm_pacing *p, int64_t now_ms) {
  if (now_ms <= p->filled_ms) return;
  p->tokens += (double)(now_ms - p->filled_ms) * p->c.max_docs_per_s / 1000.0;
  p->filled_ms = now_ms;
  /* Saved-up tokens are capped at one batch: an idle stretch never buys a burst. */
  double cap = (double)tm_pacing_batch(p);
  if (p->tokens > cap) p->tokens = cap;
}

int64_t tm_pacing_rate_wait(tm_pacing *p, size_t n, int64_t now_ms) {
  if (p->c.max_docs_per_s <= 0) return 0;
  fill(p, now_ms);
  double missing = (double)n - p->tokens;
  if (missing <= 0) return 0;
  int64_t wait = (int64_t)(missing * 1000.0 / p->c.max_docs_per_s);
  return wait > 0 ? wait : 1;
}

void tm_pacing_take(tm_pacing *p, size_t n, int64_t now_ms) {
  if (p->c.max_docs_per_s <= 0) return;
  fill(p, now_ms);
  p->tokens -= (double)n;
}

static void shrink(tm_pacing *p) {
  int32_t half = p->c.current_batch_size / 2;
  p->c.current_batch_size = half > 0 ? half : 1;
}

void tm_pacing_after_write(tm_pacing *p, int64_t write_ms) {
  int64_t limit = p->c.max_write_ms;
  if (limit > 0 && write_ms > limit) {
    shrink(p);
    p->cause = TM_THROTTLE_LATENCY;
    snprintf(p->reason, sizeof p->reason,
             "batch writes took %" PRId64 " ms, over max_write_latency_ms %" PRId64, write_ms,
             limit);
    return;
  }
  if (p->cause == TM_THROTTLE_LATENCY) {
    p->cause = TM_THROTTLE_NONE;
    p->backoff_ms = TM_PACING_BACKOFF_MIN_MS;
  }
  if (limit == 0 || write_ms < limit / 4) {
    int64_t grown = (int64_t)p->c.current_batch_size * 2;
    p->c.current_batch_size = (int32_t)(grown < p->c.batch_size ? grown : p->c.batch_size);
  }
}

void tm_pacing_after_timeout(tm_pacing *p) { shrink(p); }

void tm_pacing_lag(tm_pacing *p, int64_t lag_ms) {
  if (p->c.max_lag_ms > 0 && lag_ms > p->c.max_lag_ms) {
    p->cause = TM_THROTTLE_LAG;
    snprintf(p->reason, sizeof p->reason,
             "secondaries lag %" PRId64
             " ms behind the primary, over max_replication_lag_ms %" PRId64,
             lag_ms, p->c.max_lag_ms);
  } else if (p->cause == TM_THROTTLE_LAG) {
    p->cause = TM_THROTTLE_NONE;
    p->backoff_ms = TM_PACING_BACKOFF_MIN_MS;
  }
}

bool tm_pacing_throttled(const tm_pacing *p) { return p->cause != TM_THROTTLE_NONE; }

int tm_pacing_backoff(tm_pacing *p) {
  int wait = p->backoff_ms;
  p->backoff_ms = wait >= TM_PACING_BACKOFF_MAX_MS / 2 ? TM_PACING_BACKOFF_MAX_MS : wait * 2;
  return wait;
}
