/* migratectl resume NAME
 *
 * Resume answers once the migrations are claimed, as an async Run does, so it prints what
 * run --async prints: a line per migration and the run's summary. */
#include <stdio.h>

#include "commands.h"
#include "live.h"
#include "summary.h"

static void print_resume(const ProtobufCMessage *msg, const tm_ctl_options *opts) {
  (void)opts;
  const tm_ctl_pb_run_response *resp = (const void *)msg;
  tm_ctl_live *out = tm_ctl_live_new(
      stdout, tm_ctl_live_stdout_is_terminal() ? TM_CTL_LIVE_TTY : TM_CTL_LIVE_PLAIN);
  tm_ctl_live_finish(out, resp->migrations, resp->n_migrations);
  tm_ctl_live_free(out);
  tm_ctl_print_run_summary(stdout, resp, "resumed run", false, -1);
}

int tm_ctl_cmd_resume(tm_ctl_conn *conn, const tm_ctl_options *opts) {
  Twigz__Migrations__V1__ResumeRequest req = TWIGZ__MIGRATIONS__V1__RESUME_REQUEST__INIT;
  req.name = (char *)opts->names[0];
  return tm_ctl_unary_command(conn, opts, "Resume", &req.base,
                              &twigz__migrations__v1__run_response__descriptor, print_resume);
}
