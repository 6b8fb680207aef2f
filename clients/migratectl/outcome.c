/* The exit code a set of final statuses calls for. */
#include "commands.h"
#include "exit_codes.h"

int tm_ctl_outcome_exit(tm_ctl_pb_status *const *statuses, size_t n) {
  int code = TM_CTL_EXIT_OK;
  for (size_t i = 0; i < n; i++) {
    int state = statuses[i]->state;
    if (state == TM_CTL_FAILED || state == TM_CTL_CANCELED) return TM_CTL_EXIT_DATA;
    if (state == TM_CTL_INTERRUPTED) code = TM_CTL_EXIT_TEMPFAIL;
  }
  return code;
}
