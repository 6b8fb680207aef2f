/* migratectl pause NAME */
#include <stdio.h>

#include "commands.h"
#include "render.h"

static void print_pause(const ProtobufCMessage *msg, const tm_ctl_options *opts) {
  const tm_ctl_pb_pause_response *resp = (const void *)msg;
  const char *name = opts->names[0];
  /* One that had not started yet is PAUSED at once; a running one finishes its batch first. */
  if (resp->migration && resp->migration->state == TM_CTL_PAUSED)
    printf("%s: paused; migratectl resume %s goes on from its cursor\n", name, name);
  else
    printf("%s: pause requested; it stops after its current batch\n", name);
  if (resp->migration) tm_ctl_print_outcome(stdout, resp->migration, 0);
}

int tm_ctl_cmd_pause(tm_ctl_conn *conn, const tm_ctl_options *opts) {
  Twigz__Migrations__V1__PauseRequest req = TWIGZ__MIGRATIONS__V1__PAUSE_REQUEST__INIT;
  req.name = (char *)opts->names[0];
  return tm_ctl_unary_command(conn, opts, "Pause", &req.base,
                              &twigz__migrations__v1__pause_response__descriptor, print_pause);
}
