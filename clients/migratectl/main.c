/* migratectl: the operators' and Jobs' client of twigz-migrations. */
#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"
#include "exit_codes.h"
#include "rpc.h"

/* gRPC core logs connection trouble on stderr in its own format; our error line already says what
 * failed, and stderr must stay one clear line. GRPC_VERBOSITY brings them back for debugging. */
static void drop_log(gpr_log_func_args *args) { (void)args; }

int main(int argc, char **argv) {
  tm_ctl_options opts;
  int code;
  if (tm_ctl_parse(argc, argv, &opts, &code) != TM_CTL_PARSE_OK) {
    tm_ctl_options_clear(&opts);
    return code;
  }
  if (!getenv("GRPC_VERBOSITY")) gpr_set_log_function(drop_log);
  grpc_init();
  tm_ctl_conn_options conn_opts = {
      .target = opts.addr,
      .token = opts.token,
      .tls = opts.tls,
      .tls_ca = opts.tls_ca,
      .tls_cert = opts.tls_cert,
      .tls_key = opts.tls_key,
      .tls_server_name = opts.tls_server_name,
  };
  tm_ctl_conn *conn = tm_ctl_conn_open(&conn_opts);
  switch (opts.command) {
  case TM_CTL_CMD_LIST: code = tm_ctl_cmd_list(conn, &opts); break;
  case TM_CTL_CMD_STATUS: code = tm_ctl_cmd_status(conn, &opts); break;
  case TM_CTL_CMD_RUN: code = tm_ctl_cmd_run(conn, &opts); break;
  case TM_CTL_CMD_CANCEL: code = tm_ctl_cmd_cancel(conn, &opts); break;
  case TM_CTL_CMD_HISTORY: code = tm_ctl_cmd_history(conn, &opts); break;
  case TM_CTL_CMD_PAUSE: code = tm_ctl_cmd_pause(conn, &opts); break;
  case TM_CTL_CMD_RESUME: code = tm_ctl_cmd_resume(conn, &opts); break;
  case TM_CTL_CMD_TUNE: code = tm_ctl_cmd_tune(conn, &opts); break;
  default: code = TM_CTL_EXIT_SOFTWARE;
  }
  fflush(stdout);
  tm_ctl_conn_close(conn);
  grpc_shutdown();
  tm_ctl_options_clear(&opts);
  return code;
}
