/* Follows migrations through successive Status answers and says what changed: on a terminal, a
 * live progress line per RUNNING migration (processed/total, documents per second, time left)
 * redrawn in place, with a line printed above them whenever one settles; off a terminal, one plain
 * timestamped line per change of state and a progress line per running migration at a fixed
 * cadence, which suits Job logs. */
#ifndef TM_CTL_LIVE_H
#define TM_CTL_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pb.h"

typedef enum { TM_CTL_LIVE_TTY, TM_CTL_LIVE_PLAIN } tm_ctl_live_mode;

typedef struct tm_ctl_live tm_ctl_live;

/* out is borrowed. */
tm_ctl_live *tm_ctl_live_new(FILE *out, tm_ctl_live_mode mode);
void tm_ctl_live_free(tm_ctl_live *l);

/* Off a terminal: how often a running migration gets a progress line (default 30 s). */
void tm_ctl_live_set_progress(tm_ctl_live *l, int64_t every_ms);

/* Reports only these migrations (names borrowed for the call); not called: every one it sees. */
void tm_ctl_live_follow(tm_ctl_live *l, const char *const *names, size_t n);

/* Whether stdout can show a live display: a terminal that understands cursor movement. */
bool tm_ctl_live_stdout_is_terminal(void);

/* States from before the caller's own run began: they are old news and stay unreported until they
 * change (a RUNNING one is reported: the run will wait for it). */
void tm_ctl_live_baseline(tm_ctl_live *l, const tm_ctl_pb_status_response *resp);

/* A Status answer received at now_ms (tm_ctl_now_ms clock). resp is borrowed for the call only. */
void tm_ctl_live_update(tm_ctl_live *l, const tm_ctl_pb_status_response *resp, int64_t now_ms);

/* On a terminal, while nothing runs, a line "<text> <elapsed since since_ms>"; NULL: none. text is
 * borrowed until replaced. */
void tm_ctl_live_set_idle(tm_ctl_live *l, const char *text, int64_t since_ms);

/* Redraws the idle line's elapsed time while nothing runs. */
void tm_ctl_live_tick(tm_ctl_live *l, int64_t now_ms);

/* Removes the live lines and prints the final word on each status not already reported in that
 * state, with a dry run's planned changes. */
void tm_ctl_live_finish(tm_ctl_live *l, tm_ctl_pb_status *const *statuses, size_t n);

#endif
