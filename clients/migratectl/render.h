/* Human-readable text for MigrationService answers: tables for list and status, and the one-line
 * account of a migration that run, watch and cancel print. */
#ifndef TM_CTL_RENDER_H
#define TM_CTL_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "pb.h"

/* "RUNNING" for MIGRATION_STATE_RUNNING; "UNKNOWN_STATE" for a value newer than our contract. */
const char *tm_ctl_state_name(int state);

/* Whether a RUNNING migration has begun its work (it counts its documents first). */
bool tm_ctl_status_started(const tm_ctl_pb_status *m);

/* "0.4s", "42s", "3m05s", "2h07m". */
void tm_ctl_format_seconds(char *buf, size_t size, double seconds);

/* What a status says after its name, e.g. "SUCCEEDED  processed 5000/5000, updated 4980 in 3.2s".
 */
void tm_ctl_describe_status(char *buf, size_t size, const tm_ctl_pb_status *m);

/* The name, padded to name_width, the description, and a dry run's planned changes beneath. */
void tm_ctl_print_outcome(FILE *out, const tm_ctl_pb_status *m, int name_width);

void tm_ctl_print_list(FILE *out, const tm_ctl_pb_list_response *resp);
void tm_ctl_print_status_table(FILE *out, const tm_ctl_pb_status_response *resp, bool pending);
/* The history table's header, then one line per record (and its details under it). */
void tm_ctl_print_history_header(FILE *out);
void tm_ctl_print_history_record(FILE *out, const tm_ctl_pb_run_record *r);

#endif
