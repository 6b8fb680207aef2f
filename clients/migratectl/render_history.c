/* Text output of history: a table line per run record, and under it what happened to the run. */
#include <inttypes.h>
#include <string.h>

#include "render.h"

/* Who a caller was: its identity when it proved one, else where it called from. */
static const char *who(const Twigz__Migrations__V1__Caller *c) {
  if (!c) return "?";
  if (c->identity && c->identity[0]) return c->identity;
  return c->peer && c->peer[0] ? c->peer : "?";
}

/* "paused", "tuned": how an action reads before "by <caller>"; an action newer than this client
 * is shown as the service named it. */
static const char *done_word(const char *action) {
  static const struct {
    const char *action, *word;
  } words[] = {
      {"pause", "paused"}, {"resume", "resumed"}, {"tune", "tuned"}, {"cancel", "canceled"}};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (action && strcmp(action, words[i].action) == 0) return words[i].word;
  return action && action[0] ? action : "?";
}

static bool has_event(const tm_ctl_pb_run_record *r, const char *action) {
  for (size_t i = 0; i < r->n_events; i++)
    if (r->events[i]->action && strcmp(r->events[i]->action, action) == 0) return true;
  return false;
}

void tm_ctl_print_history_header(FILE *out) {
  fprintf(out, "%-20s  %-23s  %-11s  %9s  %9s  %9s  %-24s  %s\n", "STARTED", "MIGRATION", "STATE",
          "PROCESSED", "TOTAL", "UPDATED", "RUN", "CALLER");
}

void tm_ctl_print_history_record(FILE *out, const tm_ctl_pb_run_record *r) {
  char started[40], state[24], at[40];
  tm_ctl_format_time(started, sizeof started, r->started_at);
  snprintf(state, sizeof state, "%s", tm_ctl_state_name(r->state));
  fprintf(out, "%-20s  %-23s  %-11s  %9" PRId64 "  %9" PRId64 "  %9" PRId64 "  %-24s  %s\n",
          started, r->migration, state, r->processed, r->total, r->updated, r->run_id,
          who(r->caller));
  if (r->error && r->error[0]) fprintf(out, "  error: %s\n", r->error);
  if (r->swept_drift) fprintf(out, "  swept drift: documents had come back after it SUCCEEDED\n");
  /* A service that records control events records the cancel among them too. */
  if (r->canceled_by && !has_event(r, "cancel")) {
    tm_ctl_format_time(at, sizeof at, r->canceled_at);
    fprintf(out, "  canceled by %s at %s\n", who(r->canceled_by), at);
  }
  for (size_t i = 0; i < r->n_events; i++) {
    const Twigz__Migrations__V1__ControlEvent *e = r->events[i];
    tm_ctl_format_time(at, sizeof at, e->at);
    bool detail = e->detail && e->detail[0];
    fprintf(out, "  %s by %s at %s%s%s\n", done_word(e->action), who(e->by), at, detail ? ": " : "",
            detail ? e->detail : "");
  }
  if (r->failed_documents > 0) {
    fprintf(out, "  %" PRId64 " documents refused and skipped\n", r->failed_documents);
    tm_ctl_print_refused(out, "    ", r->failed, r->n_failed, r->failed_documents);
  }
}
