/* The engine's values as MigrationService messages: statuses (with their controls, throttle and
 * refused documents) and history records (with their control events). Every message borrows the
 * strings of what it was converted from: keep that alive until the response is serialised. */
#ifndef TM_RPC_CONVERT_H
#define TM_RPC_CONVERT_H

#include "../migrations/engine.h"
#include "twigz/migrations/v1/migration_service.pb-c.h"

typedef Twigz__Migrations__V1__MigrationStatus pb_status;

/* Storage for one converted status; pb points into it and into the tm_status. */
typedef struct {
  pb_status pb;
  Google__Protobuf__Timestamp started, finished, throttled_since;
  Twigz__Migrations__V1__Controls controls;
  Twigz__Migrations__V1__FailedDocument failed[TM_FAILED_REPORT], *failed_ptrs[TM_FAILED_REPORT];
} tm_status_box;

void tm_convert_status(const tm_status *st, tm_status_box *box);

/* A converted list for a repeated field; release with tm_status_array_free. */
typedef struct {
  tm_status_box *boxes;
  pb_status **ptrs;
} tm_status_array;

tm_status_array tm_convert_status_list(const tm_status_list *list);
void tm_status_array_free(tm_status_array a);

/* Storage for one converted history entry; release with tm_record_box_free. */
typedef struct {
  Twigz__Migrations__V1__RunRecord pb;
  Twigz__Migrations__V1__Caller caller, canceled_by;
  Google__Protobuf__Timestamp started, finished, canceled;
  Twigz__Migrations__V1__Controls controls;
  tm_status failed; /* the entry's refused documents, as strings */
  Twigz__Migrations__V1__FailedDocument failed_docs[TM_FAILED_REPORT],
      *failed_ptrs[TM_FAILED_REPORT];
  Twigz__Migrations__V1__ControlEvent *events, **event_ptrs;
  Twigz__Migrations__V1__Caller *event_by;
  Google__Protobuf__Timestamp *event_at;
} tm_record_box;

void tm_convert_record(const tm_history_entry *e, tm_record_box *box);
void tm_record_box_free(tm_record_box *box);

#endif
