/* The commands. Each returns the process exit code (exit_codes.h) and has printed what it
 * had to say: results on stdout, errors as one line on stderr. */
#ifndef TM_CTL_COMMANDS_H
#define TM_CTL_COMMANDS_H

#include "cli.h"
#include "pb.h"
#include "rpc.h"

int tm_ctl_cmd_list(tm_ctl_conn *conn, const tm_ctl_options *opts);
int tm_ctl_cmd_status(tm_ctl_conn *conn, const tm_ctl_options *opts);
int tm_ctl_cmd_run(tm_ctl_conn *conn, const tm_ctl_options *opts);
int tm_ctl_cmd_cancel(tm_ctl_conn *conn, const tm_ctl_options *opts);
int tm_ctl_cmd_history(tm_ctl_conn *conn, const tm_ctl_options *opts);
int tm_ctl_cmd_pause(tm_ctl_conn *conn, const tm_ctl_options *opts);
int tm_ctl_cmd_resume(tm_ctl_conn *conn, const tm_ctl_options *opts);
int tm_ctl_cmd_tune(tm_ctl_conn *conn, const tm_ctl_options *opts);

/* A command made of one unary call: calls method with req (retrying as rpc.h says, within
 * --timeout), then prints the answer, as proto3 JSON with --json, else with print. Returns the exit
 * code: 0, or what the failure maps to (exit_codes.h). */
typedef void (*tm_ctl_print_fn)(const ProtobufCMessage *resp, const tm_ctl_options *opts);
int tm_ctl_unary_command(tm_ctl_conn *conn, const tm_ctl_options *opts, const char *method,
                         const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_type,
                         tm_ctl_print_fn print);

/* 65 when any of the statuses ended FAILED or CANCELED, else 75 when one was INTERRUPTED (run
 * again to resume) or is PAUSED or PAUSING (resume it), else 0. */
int tm_ctl_outcome_exit(tm_ctl_pb_status *const *statuses, size_t n);

/* Whether nothing among the statuses moves any more: none is held by a run, except QUEUED ones
 * behind a PAUSED migration of their run, which wait for a Resume. */
bool tm_ctl_statuses_settled(tm_ctl_pb_status *const *statuses, size_t n);

#endif
