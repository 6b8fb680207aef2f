/* Pacing: when a run may write its next batch, and how large that batch is.
 *
 * Three things slow a run down, all from its controls (store/controls.h):
 * - the rate limit, a token bucket over documents written: it starts empty and fills at
 *   max_docs_per_s, a batch of n waits for n tokens, so no stretch of the run (the first batch
 *   included) writes faster than the limit; batches are capped at one second's worth, so the
 *   writes come steadily rather than in bursts;
 * - the throttle: the secondaries the write concern waits for lag more than max_lag_ms (replica
 *   sets; no batch is written until they catch up), or the last batch's write took longer than
 *   max_write_ms (one more batch is written after each wait, half as large, to learn whether the
 *   server recovered). While throttled the run waits with exponential backoff;
 * - adaptive batches: a slow or timed-out batch halves the next ones; fast batches (under a quarter
 *   of max_write_ms) double them back up to the batch size asked for.
 *
 * Pure logic over times handed in (milliseconds), so it is unit tested without a server. */
#ifndef TM_PACING_H
#define TM_PACING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../store/controls.h"

#define TM_PACING_REASON_MAX 160
#define TM_PACING_BACKOFF_MIN_MS 250
#define TM_PACING_BACKOFF_MAX_MS 30000

typedef enum { TM_THROTTLE_NONE, TM_THROTTLE_LAG, TM_THROTTLE_LATENCY } tm_throttle_cause;

typedef struct {
  tm_controls c; /* as applied; c.current_batch_size is the adaptive size */
  double tokens;
  int64_t filled_ms; /* when tokens were last topped up */
  tm_throttle_cause cause;
  char reason[TM_PACING_REASON_MAX];
  int backoff_ms; /* the next throttle wait */
} tm_pacing;

void tm_pacing_init(tm_pacing *p, const tm_controls *c, int64_t now_ms);
/* New controls (Tune) from the next batch on; the bucket keeps what it holds. */
void tm_pacing_set(tm_pacing *p, const tm_controls *c);

/* The size of the next batch: the adaptive size, capped at a second's worth of the rate. */
size_t tm_pacing_batch(const tm_pacing *p);

/* How long to wait before writing n documents under the rate limit (0: now). */
int64_t tm_pacing_rate_wait(tm_pacing *p, size_t n, int64_t now_ms);
/* n documents are being written now: takes their tokens. */
void tm_pacing_take(tm_pacing *p, size_t n, int64_t now_ms);

/* A batch of n documents took write_ms to write; adapts the batch size and the latency throttle. */
void tm_pacing_after_write(tm_pacing *p, int64_t write_ms);
/* A batch failed with a timeout or an outage: smaller batches from now on. */
void tm_pacing_after_timeout(tm_pacing *p);
/* The lag of the secondaries that the write concern waits for (replica sets), just measured. */
void tm_pacing_lag(tm_pacing *p, int64_t lag_ms);

/* Whether the run must wait before its next batch; reason says why. */
bool tm_pacing_throttled(const tm_pacing *p);
/* The wait before the next look (and doubles the one after, up to TM_PACING_BACKOFF_MAX_MS). */
int tm_pacing_backoff(tm_pacing *p);

#endif
