/* migratectl cancel NAME */
#include <stdio.h>

#include "commands.h"
#include "exit_codes.h"
#include "pbjson.h"
#include "render.h"

int tm_ctl_cmd_cancel(tm_ctl_conn *conn, const tm_ctl_options *opts) {
  Twigz__Migrations__V1__CancelRequest req = TWIGZ__MIGRATIONS__V1__CANCEL_REQUEST__INIT;
  req.name = (char *)opts->names[0];
  tm_ctl_retry retry;
  tm_ctl_retry_init(&retry, opts->timeout_s, opts->verbose);
  tm_ctl_call *call = tm_ctl_unary(conn, &retry, "Cancel", &req.base,
                                   &twigz__migrations__v1__cancel_response__descriptor);
  int code = TM_CTL_EXIT_OK;
  if (tm_ctl_call_status(call) != GRPC_STATUS_OK) {
    code = tm_ctl_report_failure(call, &retry);
  } else if (opts->json) {
    tm_ctl_json_print(stdout, tm_ctl_call_response(call), 2);
    fputc('\n', stdout);
  } else {
    const tm_ctl_pb_cancel_response *resp = (const void *)tm_ctl_call_response(call);
    printf("%s: cancel requested; it stops after its current batch\n", opts->names[0]);
    if (resp->migration) tm_ctl_print_outcome(stdout, resp->migration, 0);
  }
  tm_ctl_call_free(call);
  return code;
}
