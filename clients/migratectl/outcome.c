/* When a set of statuses has settled, and the exit code it then calls for. */
#include <string.h>

#include "commands.h"
#include "exit_codes.h"

int tm_ctl_outcome_exit(tm_ctl_pb_status *const *statuses, size_t n) {
  int code = TM_CTL_EXIT_OK;
  for (size_t i = 0; i < n; i++) {
    int state = statuses[i]->state;
    if (state == TM_CTL_FAILED || state == TM_CTL_CANCELED) return TM_CTL_EXIT_DATA;
    /* Not a failure, but not done either: a Job must come back (or someone resume it). */
    if (state == TM_CTL_INTERRUPTED || state == TM_CTL_PAUSED || state == TM_CTL_PAUSING)
      code = TM_CTL_EXIT_TEMPFAIL;
  }
  return code;
}

/* A QUEUED migration of a run whose migration ahead is PAUSED waits for a Resume, which may never
 * come: it is as settled as the paused one. */
static bool waits_for_resume(tm_ctl_pb_status *const *statuses, size_t n,
                             const tm_ctl_pb_status *m) {
  if (m->state != TM_CTL_QUEUED || !m->run_id || !m->run_id[0]) return false;
  for (size_t i = 0; i < n; i++)
    if (statuses[i]->state == TM_CTL_PAUSED && statuses[i]->run_id &&
        strcmp(statuses[i]->run_id, m->run_id) == 0)
      return true;
  return false;
}

bool tm_ctl_statuses_settled(tm_ctl_pb_status *const *statuses, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (tm_ctl_state_held(statuses[i]->state) && !waits_for_resume(statuses, n, statuses[i]))
      return false;
  return true;
}
