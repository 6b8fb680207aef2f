/* migratectl history [NAME] [--limit N] */
#include <stdio.h>

#include "commands.h"
#include "exit_codes.h"
#include "pbjson.h"
#include "render.h"

#define DEFAULT_LIMIT 20
#define PAGE_MAX 1000

int tm_ctl_cmd_history(tm_ctl_conn *conn, const tm_ctl_options *opts) {
  int32_t left = opts->limit > 0 ? opts->limit : DEFAULT_LIMIT;
  char *token = NULL; /* the previous page's next_page_token, owned by prev */
  tm_ctl_call *prev = NULL;
  tm_ctl_retry retry;
  tm_ctl_retry_init(&retry, opts->timeout_s, opts->verbose);
  int code = TM_CTL_EXIT_OK;
  bool header = false;
  while (left > 0) {
    Twigz__Migrations__V1__HistoryRequest req = TWIGZ__MIGRATIONS__V1__HISTORY_REQUEST__INIT;
    req.name = opts->n_names ? (char *)opts->names[0] : (char *)"";
    req.page_size = left < PAGE_MAX ? left : PAGE_MAX;
    req.page_token = token ? token : (char *)"";
    tm_ctl_call *call = tm_ctl_unary(conn, &retry, "History", &req.base,
                                     &twigz__migrations__v1__history_response__descriptor);
    tm_ctl_call_free(prev);
    prev = call;
    if (tm_ctl_call_status(call) != GRPC_STATUS_OK) {
      code = tm_ctl_report_failure(call, &retry);
      break;
    }
    const tm_ctl_pb_history_response *resp = (const void *)tm_ctl_call_response(call);
    if (opts->json) {
      tm_ctl_json_print(stdout, tm_ctl_call_response(call), -1); /* a line per page */
      fputc('\n', stdout);
    } else {
      if (!header && resp->n_runs) tm_ctl_print_history_header(stdout);
      header = header || resp->n_runs;
      for (size_t i = 0; i < resp->n_runs; i++) tm_ctl_print_history_record(stdout, resp->runs[i]);
    }
    left -= (int32_t)resp->n_runs;
    token = resp->next_page_token;
    if (!token || !token[0] || resp->n_runs == 0) break;
  }
  if (!opts->json && !header && code == TM_CTL_EXIT_OK) printf("no runs recorded\n");
  tm_ctl_call_free(prev);
  return code;
}
