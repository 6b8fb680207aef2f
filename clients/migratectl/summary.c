/* Run summaries. */
#include "summary.h"

#include <inttypes.h>

#include "render.h"

#define N_STATES (TM_CTL_THROTTLED + 1)

void tm_ctl_print_run_summary(FILE *out, const tm_ctl_pb_run_response *resp, const char *what,
                              bool dry_run, int64_t took_ms) {
  int counts[N_STATES] = {0}, skipped = 0, swept = 0;
  int64_t refused = 0;
  for (size_t i = 0; i < resp->n_migrations; i++) {
    const tm_ctl_pb_status *m = resp->migrations[i];
    swept += m->swept_drift;
    refused += m->failed_documents > 0 ? m->failed_documents : 0;
    if (m->skipped)
      skipped++;
    else
      counts[m->state >= 0 && m->state < N_STATES ? m->state : 0]++;
  }
  static const char *const words[N_STATES] = {"in an unknown state",
                                              "not run",
                                              "running",
                                              "succeeded",
                                              "failed",
                                              "canceled",
                                              "queued",
                                              "canceling",
                                              "interrupted",
                                              "paused",
                                              "pausing",
                                              "throttled"};
  /* Settled outcomes first, the worst of them early; then what is still moving. */
  static const int order[] = {TM_CTL_SUCCEEDED,   TM_CTL_FAILED,    TM_CTL_CANCELED,
                              TM_CTL_INTERRUPTED, TM_CTL_PAUSED,    TM_CTL_PAUSING,
                              TM_CTL_CANCELING,   TM_CTL_THROTTLED, TM_CTL_RUNNING,
                              TM_CTL_QUEUED,      TM_CTL_PENDING,   0};
  fprintf(out, "%s %s:", what, resp->run_id && resp->run_id[0] ? resp->run_id : "-");
  const char *sep = " ";
  for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
    int s = order[k];
    if (!counts[s]) continue;
    fprintf(out, "%s%d %s", sep, counts[s],
            dry_run && s == TM_CTL_SUCCEEDED ? "planned" : words[s]);
    sep = ", ";
    if (s == TM_CTL_SUCCEEDED && skipped) {
      fprintf(out, ", %d skipped", skipped);
      skipped = 0;
    }
  }
  if (skipped) fprintf(out, "%s%d skipped", sep, skipped);
  if (swept) fprintf(out, " (%d swept drift)", swept);
  if (!resp->n_migrations) fprintf(out, " nothing to do");
  if (took_ms >= 0) {
    char took[32];
    tm_ctl_format_seconds(took, sizeof took, (double)took_ms / 1000.0);
    fprintf(out, " (%s)", took);
  }
  if (refused > 0) fprintf(out, "; %" PRId64 " documents refused and skipped", refused);
  fputc('\n', out);
}
