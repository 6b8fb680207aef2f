/* The closing line of run and resume: the run id and how many of its migrations stand where. */
#ifndef TM_CTL_SUMMARY_H
#define TM_CTL_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pb.h"

/* "run 1a2b: 3 succeeded, 1 skipped (4.2s)", then "; 3 documents refused and skipped" when the
 * database refused some within the error budget (the run still succeeded, so the exit code cannot
 * say it). what: "run", "dry run", "resumed run"; took_ms < 0: no duration. */
void tm_ctl_print_run_summary(FILE *out, const tm_ctl_pb_run_response *resp, const char *what,
                              bool dry_run, int64_t took_ms);

#endif
