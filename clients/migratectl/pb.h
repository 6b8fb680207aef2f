/* Short names for the generated MigrationService types migratectl handles everywhere. */
#ifndef TM_CTL_PB_H
#define TM_CTL_PB_H

#include <stdbool.h>

#include "twigz/migrations/v1/migration_service.pb-c.h"

typedef Twigz__Migrations__V1__MigrationStatus tm_ctl_pb_status;
typedef Twigz__Migrations__V1__StatusResponse tm_ctl_pb_status_response;
typedef Twigz__Migrations__V1__RunResponse tm_ctl_pb_run_response;
typedef Twigz__Migrations__V1__ListResponse tm_ctl_pb_list_response;
typedef Twigz__Migrations__V1__CancelResponse tm_ctl_pb_cancel_response;
typedef Twigz__Migrations__V1__HistoryResponse tm_ctl_pb_history_response;
typedef Twigz__Migrations__V1__RunRecord tm_ctl_pb_run_record;
typedef Twigz__Migrations__V1__PauseResponse tm_ctl_pb_pause_response;
typedef Twigz__Migrations__V1__TuneResponse tm_ctl_pb_tune_response;
typedef Twigz__Migrations__V1__Controls tm_ctl_pb_controls;

#define TM_CTL_STATE(s) TWIGZ__MIGRATIONS__V1__MIGRATION_STATE__MIGRATION_STATE_##s
#define TM_CTL_PENDING TM_CTL_STATE(PENDING)
#define TM_CTL_RUNNING TM_CTL_STATE(RUNNING)
#define TM_CTL_SUCCEEDED TM_CTL_STATE(SUCCEEDED)
#define TM_CTL_FAILED TM_CTL_STATE(FAILED)
#define TM_CTL_CANCELED TM_CTL_STATE(CANCELED)
#define TM_CTL_QUEUED TM_CTL_STATE(QUEUED)
#define TM_CTL_CANCELING TM_CTL_STATE(CANCELING)
#define TM_CTL_INTERRUPTED TM_CTL_STATE(INTERRUPTED)
#define TM_CTL_PAUSED TM_CTL_STATE(PAUSED)
#define TM_CTL_PAUSING TM_CTL_STATE(PAUSING)
#define TM_CTL_THROTTLED TM_CTL_STATE(THROTTLED)

/* A run holds it: it has not settled yet. PAUSED is settled: nothing moves until a Resume. */
static inline bool tm_ctl_state_held(int state) {
  return state == TM_CTL_QUEUED || state == TM_CTL_RUNNING || state == TM_CTL_CANCELING ||
         state == TM_CTL_PAUSING || state == TM_CTL_THROTTLED;
}

#endif
