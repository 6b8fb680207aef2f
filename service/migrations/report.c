/* tm_status: construction from state documents and release. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void tm_report_pending(const tm_migration *m, tm_status *st) {
  memset(st, 0, sizeof *st);
  st->name = m->name;
  st->state = TM_STATE_PENDING;
}

void tm_report_from_state(const tm_migration *m, const tm_state_doc *doc, tm_status *st) {
  tm_report_pending(m, st);
  if (!doc->exists) return;
  st->state = doc->state;
  /* The stored state lags a Cancel by the batch in flight; the request itself is the news. */
  if (doc->cancel_requested && tm_state_is_held(doc->state)) st->state = TM_STATE_CANCELING;
  /* The same for a Pause; a throttled run says why it waits. */
  if (doc->pause_requested && st->state != TM_STATE_CANCELING && tm_state_is_held(doc->state)) {
    st->state = TM_STATE_PAUSING;
  }
  if (doc->throttle_reason && st->state == TM_STATE_RUNNING) {
    st->state = TM_STATE_THROTTLED;
    st->throttle_reason = strdup(doc->throttle_reason);
    st->throttled_since_ms = doc->throttled_since_ms;
  }
  st->has_controls = doc->has_controls;
  st->controls = doc->controls;
  tm_report_failed(st, doc->failed_count, doc->failed);
  st->run_id = dup_or_null(doc->run_id);
  st->owner = dup_or_null(doc->owner);
  st->error = dup_or_null(doc->error);
  st->total = doc->total;
  st->processed = doc->processed;
  st->updated = doc->updated;
  st->started_at_ms = doc->started_at_ms;
  st->finished_at_ms = doc->finished_at_ms;
  if (doc->has_cursor) st->cursor = tm_json_canonical_value(&doc->cursor);
}

void tm_report_failed(tm_status *st, int64_t count, const bson_t *list) {
  st->failed_count = count;
  bson_iter_t it, f;
  if (!list || !bson_iter_init(&it, list)) return;
  while (bson_iter_next(&it) && st->n_failed < TM_FAILED_REPORT) {
    if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &f)) continue;
    char *id = NULL, *error = NULL;
    while (bson_iter_next(&f)) {
      if (strcmp(bson_iter_key(&f), "_id") == 0 && !id) {
        id = tm_json_canonical_value(bson_iter_value(&f));
      }
      if (strcmp(bson_iter_key(&f), "error") == 0 && BSON_ITER_HOLDS_UTF8(&f) && !error) {
        error = strdup(bson_iter_utf8(&f, NULL));
      }
    }
    st->failed_ids[st->n_failed] = id ? id : strdup("");
    st->failed_errors[st->n_failed++] = error ? error : strdup("");
  }
}

void tm_report_add_sample(tm_status *st, char *json) {
  if (st->n_samples < TM_MAX_SAMPLES) {
    st->samples[st->n_samples++] = json;
  } else {
    free(json);
  }
}

void tm_report_clear_samples(tm_status *st) {
  for (size_t i = 0; i < st->n_samples; i++) free(st->samples[i]);
  st->n_samples = 0;
}
