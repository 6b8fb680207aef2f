/* Engine values to MigrationService messages (see convert.h). */
#include "convert.h"

#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../migrations/report.h"

/* The last millisecond of 9999-12-31, the end of the range a Timestamp may hold. */
#define TIMESTAMP_MAX_MS 253402300799999LL

/* A Timestamp before 1970 is valid protobuf but refused by grpcurl and Python, one after 9999 is
 * invalid everywhere, and a state document holding either was written by something else: clamp
 * it and say so. */
static void set_time(Google__Protobuf__Timestamp *ts, int64_t ms, const char *migration,
                     const char *field) {
  google__protobuf__timestamp__init(ts);
  if (ms < 0 || ms > TIMESTAMP_MAX_MS) {
    tm_log(TM_LOG_WARN, "time out of range in a state document, clamped to 1970..9999", "migration",
           TM_LOG_STR(migration), "field", TM_LOG_STR(field), "ms", TM_LOG_INT(ms), NULL);
    ms = ms < 0 ? 0 : TIMESTAMP_MAX_MS;
  }
  ts->seconds = ms / 1000;
  ts->nanos = (int32_t)(ms % 1000) * 1000000;
}

static char empty[] = "";

static void convert_controls(const tm_controls *c, Twigz__Migrations__V1__Controls *pb) {
  twigz__migrations__v1__controls__init(pb);
  pb->batch_size = c->batch_size;
  pb->current_batch_size = c->current_batch_size ? c->current_batch_size : c->batch_size;
  pb->max_documents_per_second = c->max_docs_per_s;
  pb->max_replication_lag_ms = c->max_lag_ms;
  pb->max_write_latency_ms = c->max_write_ms;
  pb->max_failed_documents = c->max_failed;
}

/* st's refused documents into docs/ptrs; returns how many. */
static size_t convert_failed(const tm_status *st, Twigz__Migrations__V1__FailedDocument *docs,
                             Twigz__Migrations__V1__FailedDocument **ptrs) {
  for (size_t i = 0; i < st->n_failed; i++) {
    twigz__migrations__v1__failed_document__init(&docs[i]);
    docs[i].id = st->failed_ids[i];
    docs[i].error = st->failed_errors[i];
    ptrs[i] = &docs[i];
  }
  return st->n_failed;
}

void tm_convert_status(const tm_status *st, tm_status_box *box) {
  pb_status *pb = &box->pb;
  twigz__migrations__v1__migration_status__init(pb);
  pb->name = (char *)st->name;
  pb->state = (Twigz__Migrations__V1__MigrationState)st->state;
  pb->run_id = st->run_id ? st->run_id : empty;
  pb->total = st->total;
  pb->processed = st->processed;
  pb->updated = st->updated;
  pb->pending = st->has_pending ? st->pending : 0;
  pb->cursor = st->cursor ? st->cursor : empty;
  if (st->started_at_ms) {
    set_time(&box->started, st->started_at_ms, st->name, "startedAt");
    pb->started_at = &box->started;
  }
  if (st->finished_at_ms) {
    set_time(&box->finished, st->finished_at_ms, st->name, "finishedAt");
    pb->finished_at = &box->finished;
  }
  pb->error = st->error ? st->error : empty;
  pb->skipped = st->skipped;
  pb->dry_run = st->dry_run;
  pb->drifted = st->drifted;
  pb->swept_drift = st->swept_drift;
  pb->n_samples = st->n_samples;
  pb->samples = (char **)st->samples;
  pb->owner = st->owner ? st->owner : empty;
  if (st->has_controls) {
    convert_controls(&st->controls, &box->controls);
    pb->controls = &box->controls;
  }
  pb->throttle_reason = st->throttle_reason ? st->throttle_reason : empty;
  if (st->throttle_reason) {
    set_time(&box->throttled_since, st->throttled_since_ms, st->name, "throttle.since");
    pb->throttled_since = &box->throttled_since;
  }
  pb->failed_documents = st->failed_count;
  pb->n_failed = convert_failed(st, box->failed, box->failed_ptrs);
  pb->failed = box->failed_ptrs;
}

tm_status_array tm_convert_status_list(const tm_status_list *list) {
  tm_status_array a = {calloc(list->n + 1, sizeof *a.boxes), calloc(list->n + 1, sizeof *a.ptrs)};
  for (size_t i = 0; i < list->n; i++) {
    tm_convert_status(&list->items[i], &a.boxes[i]);
    a.ptrs[i] = &a.boxes[i].pb;
  }
  return a;
}

void tm_status_array_free(tm_status_array a) {
  free(a.boxes);
  free(a.ptrs);
}

static void convert_caller(const tm_caller *from, Twigz__Migrations__V1__Caller *to) {
  twigz__migrations__v1__caller__init(to);
  to->peer = (char *)from->peer;
  to->identity = (char *)from->identity;
  to->user_agent = (char *)from->user_agent;
}

static void convert_events(const tm_history_entry *e, tm_record_box *box) {
  size_t n = e->n_events;
  box->events = calloc(n ? n : 1, sizeof *box->events);
  box->event_ptrs = calloc(n ? n : 1, sizeof *box->event_ptrs);
  box->event_by = calloc(n ? n : 1, sizeof *box->event_by);
  box->event_at = calloc(n ? n : 1, sizeof *box->event_at);
  for (size_t i = 0; i < n; i++) {
    const tm_history_event *ev = &e->events[i];
    Twigz__Migrations__V1__ControlEvent *pb = &box->events[i];
    twigz__migrations__v1__control_event__init(pb);
    pb->action = (char *)ev->action;
    convert_caller(&ev->by, &box->event_by[i]);
    pb->by = &box->event_by[i];
    set_time(&box->event_at[i], ev->at_ms, e->migration, "history event");
    pb->at = &box->event_at[i];
    pb->detail = ev->detail ? ev->detail : empty;
    box->event_ptrs[i] = pb;
  }
  box->pb.events = box->event_ptrs;
  box->pb.n_events = n;
}

void tm_record_box_free(tm_record_box *box) {
  free(box->events);
  free(box->event_ptrs);
  free(box->event_by);
  free(box->event_at);
  tm_status_clear(&box->failed);
}

void tm_convert_record(const tm_history_entry *e, tm_record_box *box) {
  memset(box, 0, sizeof *box);
  Twigz__Migrations__V1__RunRecord *pb = &box->pb;
  twigz__migrations__v1__run_record__init(pb);
  pb->run_id = e->run_id;
  pb->migration = e->migration;
  pb->state = (Twigz__Migrations__V1__MigrationState)e->state;
  pb->migrations = e->migrations;
  pb->n_migrations = e->n_migrations;
  pb->rerun = e->rerun;
  pb->async = e->async;
  pb->batch_size = e->batch_size;
  convert_caller(&e->caller, &box->caller);
  pb->caller = &box->caller;
  set_time(&box->started, e->started_at_ms, e->migration, "history startedAt");
  pb->started_at = &box->started;
  if (e->finished_at_ms) {
    set_time(&box->finished, e->finished_at_ms, e->migration, "history finishedAt");
    pb->finished_at = &box->finished;
  }
  pb->total = e->total;
  pb->processed = e->processed;
  pb->updated = e->updated;
  pb->error = e->error ? e->error : empty;
  pb->swept_drift = e->swept_drift;
  if (e->canceled) {
    convert_caller(&e->canceled_by, &box->canceled_by);
    pb->canceled_by = &box->canceled_by;
    set_time(&box->canceled, e->canceled_at_ms, e->migration, "history canceledAt");
    pb->canceled_at = &box->canceled;
  }
  if (e->has_controls) {
    convert_controls(&e->controls, &box->controls);
    pb->controls = &box->controls;
  }
  tm_report_failed(&box->failed, e->failed_count, e->failed);
  pb->failed_documents = e->failed_count;
  pb->n_failed = convert_failed(&box->failed, box->failed_docs, box->failed_ptrs);
  pb->failed = box->failed_ptrs;
  convert_events(e, box);
}
