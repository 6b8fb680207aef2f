/* The shape of list, cancel and status without --watch: one call, its answer printed. */
#include <stdio.h>

#include "commands.h"
#include "exit_codes.h"
#include "pbjson.h"

int tm_ctl_unary_command(tm_ctl_conn *conn, const tm_ctl_options *opts, const char *method,
                         const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_type,
                         tm_ctl_print_fn print) {
  tm_ctl_retry retry;
  tm_ctl_retry_init(&retry, opts->timeout_s, opts->verbose);
  tm_ctl_call *call = tm_ctl_unary(conn, &retry, method, req, resp_type);
  int code = TM_CTL_EXIT_OK;
  if (tm_ctl_call_status(call) != GRPC_STATUS_OK) {
    code = tm_ctl_report_failure(call, &retry);
  } else if (opts->json) {
    tm_ctl_json_print(stdout, tm_ctl_call_response(call), 2);
    fputc('\n', stdout);
  } else {
    print(tm_ctl_call_response(call), opts);
  }
  tm_ctl_call_free(call);
  return code;
}
