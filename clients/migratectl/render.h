/* Human-readable text for MigrationService answers: tables for list, status and history, and the
 * one-line account of a migration that run, watch, cancel, pause, resume and tune print. */
#ifndef TM_CTL_RENDER_H
#define TM_CTL_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pb.h"

/* "RUNNING" for MIGRATION_STATE_RUNNING; "UNKNOWN_STATE" for a value newer than our contract. */
const char *tm_ctl_state_name(int state);

/* Whether a RUNNING migration has begun its work (it counts its documents first). */
bool tm_ctl_status_started(const tm_ctl_pb_status *m);

/* "0.4s", "42s", "3m05s", "2h07m". */
void tm_ctl_format_seconds(char *buf, size_t size, double seconds);

/* "2026-11-25T19:40:33Z" (RFC 3339, as --json and the plain lines write it), or "-" when unset. */
void tm_ctl_format_time(char *buf, size_t size, const Google__Protobuf__Timestamp *t);

/* "batch 120 of 500, at most 50 docs/s, lag <= 1000 ms, write latency <= 200 ms, up to 10
 * refused documents" (the batch as it is now, when slow writes shrank it, of the size asked): the
 * controls that are set. Returns the length (0: nothing to say). */
size_t tm_ctl_describe_controls(char *buf, size_t size, const tm_ctl_pb_controls *c);

/* A THROTTLED migration's "since 2026-11-25T19:40:33Z (42s): <reason>". */
void tm_ctl_describe_throttle(char *buf, size_t size, const tm_ctl_pb_status *m);

/* What a status says after its name, e.g. "SUCCEEDED  processed 5000/5000, updated 4980 in 3.2s".
 */
void tm_ctl_describe_status(char *buf, size_t size, const tm_ctl_pb_status *m);

/* The name, padded to name_width, the description, and beneath it a dry run's planned changes
 * and the documents the database refused. */
void tm_ctl_print_outcome(FILE *out, const tm_ctl_pb_status *m, int name_width);

/* "<indent>refused <id>: <error>" for the first refused documents, then how many more there were
 * (total in all). */
void tm_ctl_print_refused(FILE *out, const char *indent,
                          Twigz__Migrations__V1__FailedDocument *const *failed, size_t n,
                          int64_t total);

void tm_ctl_print_list(FILE *out, const tm_ctl_pb_list_response *resp);
void tm_ctl_print_status_table(FILE *out, const tm_ctl_pb_status_response *resp, bool pending);
/* The history table's header, then one line per record (and its details under it). */
void tm_ctl_print_history_header(FILE *out);
void tm_ctl_print_history_record(FILE *out, const tm_ctl_pb_run_record *r);

#endif
