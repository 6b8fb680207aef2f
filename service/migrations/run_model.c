/* Release of the run model's values, and the write filter's names (see run_model.h). */
#include "run_model.h"

#include <stdlib.h>
#include <string.h>

void tm_status_clear(tm_status *st) {
  if (!st) return;
  free(st->run_id);
  free(st->cursor);
  free(st->error);
  free(st->owner);
  free(st->throttle_reason);
  for (size_t i = 0; i < st->n_samples; i++) free(st->samples[i]);
  for (size_t i = 0; i < st->n_failed; i++) {
    free(st->failed_ids[i]);
    free(st->failed_errors[i]);
  }
  memset(st, 0, sizeof *st);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void tm_status_copy(const tm_status *src, tm_status *dst) {
  *dst = *src;
  dst->run_id = dup_or_null(src->run_id);
  dst->cursor = dup_or_null(src->cursor);
  dst->error = dup_or_null(src->error);
  dst->owner = dup_or_null(src->owner);
  dst->throttle_reason = dup_or_null(src->throttle_reason);
  for (size_t i = 0; i < src->n_samples; i++) dst->samples[i] = strdup(src->samples[i]);
  for (size_t i = 0; i < src->n_failed; i++) {
    dst->failed_ids[i] = strdup(src->failed_ids[i]);
    dst->failed_errors[i] = strdup(src->failed_errors[i]);
  }
}

void tm_status_list_clear(tm_status_list *list) {
  if (!list) return;
  for (size_t i = 0; i < list->n; i++) tm_status_clear(&list->items[i]);
  free(list->items);
  list->items = NULL;
  list->n = 0;
}

bool tm_write_filter_parse(const char *s, tm_write_filter *out) {
  static const char *const names[] = {"auto", "migration", "id"};
  for (int i = 0; i < 3; i++) {
    if (strcmp(s, names[i]) == 0) {
      *out = (tm_write_filter)i;
      return true;
    }
  }
  return false;
}
