/* migratectl cancel NAME */
#include <stdio.h>

#include "commands.h"
#include "render.h"

static void print_cancel(const ProtobufCMessage *msg, const tm_ctl_options *opts) {
  const tm_ctl_pb_cancel_response *resp = (const void *)msg;
  printf("%s: cancel requested; it stops after its current batch\n", opts->names[0]);
  if (resp->migration) tm_ctl_print_outcome(stdout, resp->migration, 0);
}

int tm_ctl_cmd_cancel(tm_ctl_conn *conn, const tm_ctl_options *opts) {
  Twigz__Migrations__V1__CancelRequest req = TWIGZ__MIGRATIONS__V1__CANCEL_REQUEST__INIT;
  req.name = (char *)opts->names[0];
  return tm_ctl_unary_command(conn, opts, "Cancel", &req.base,
                              &twigz__migrations__v1__cancel_response__descriptor, print_cancel);
}
