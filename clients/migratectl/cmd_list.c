/* migratectl list */
#include <stdio.h>

#include "commands.h"
#include "render.h"

static void print_list(const ProtobufCMessage *resp, const tm_ctl_options *opts) {
  (void)opts;
  tm_ctl_print_list(stdout, (const tm_ctl_pb_list_response *)resp);
}

int tm_ctl_cmd_list(tm_ctl_conn *conn, const tm_ctl_options *opts) {
  Twigz__Migrations__V1__ListRequest req = TWIGZ__MIGRATIONS__V1__LIST_REQUEST__INIT;
  return tm_ctl_unary_command(conn, opts, "List", &req.base,
                              &twigz__migrations__v1__list_response__descriptor, print_list);
}
