/* migratectl status [NAME...] [--pending] [--watch] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "commands.h"
#include "exit_codes.h"
#include "live.h"
#include "pbjson.h"
#include "render.h"

/* Watching reads state documents (and counts, with --pending) on every poll: once a second is
 * plenty for a human and cheap for the database. */
#define WATCH_INTERVAL_MS 1000

static bool any_running(const tm_ctl_pb_status_response *resp) {
  for (size_t i = 0; i < resp->n_migrations; i++)
    if (resp->migrations[i]->state == TM_CTL_RUNNING) return true;
  return false;
}

/* The packed bytes of a response, to print a JSON line only when something changed. */
static uint8_t *pack(const ProtobufCMessage *msg, size_t *len) {
  *len = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(*len ? *len : 1);
  if (!buf) abort();
  protobuf_c_message_pack(msg, buf);
  return buf;
}

static int watch(tm_ctl_conn *conn, const tm_ctl_options *opts,
                 const Twigz__Migrations__V1__StatusRequest *req) {
  tm_ctl_retry retry;
  tm_ctl_retry_init(&retry, opts->timeout_s, opts->verbose);
  tm_ctl_live *live = tm_ctl_live_new(
      stdout, tm_ctl_live_stdout_is_terminal() ? TM_CTL_LIVE_TTY : TM_CTL_LIVE_PLAIN);
  uint8_t *last = NULL;
  size_t last_len = 0;
  int code;
  for (;;) {
    int64_t polled_ms = tm_ctl_now_ms();
    tm_ctl_call *call = tm_ctl_unary(conn, &retry, "Status", &req->base,
                                     &twigz__migrations__v1__status_response__descriptor);
    if (tm_ctl_call_status(call) != GRPC_STATUS_OK) {
      tm_ctl_live_finish(live, NULL, 0);
      code = tm_ctl_report_failure(call, &retry);
      tm_ctl_call_free(call);
      break;
    }
    const tm_ctl_pb_status_response *resp = (const void *)tm_ctl_call_response(call);
    if (opts->json) {
      size_t len;
      uint8_t *now = pack(&resp->base, &len);
      if (!last || len != last_len || memcmp(now, last, len) != 0) {
        tm_ctl_json_print(stdout, &resp->base, -1);
        fputc('\n', stdout);
        fflush(stdout);
      }
      free(last);
      last = now;
      last_len = len;
    } else {
      tm_ctl_live_update(live, resp, tm_ctl_now_ms());
    }
    if (!any_running(resp)) {
      tm_ctl_live_finish(live, NULL, 0);
      code = tm_ctl_outcome_exit(resp->migrations, resp->n_migrations);
      tm_ctl_call_free(call);
      break;
    }
    tm_ctl_call_free(call);
    int64_t next_ms = polled_ms + WATCH_INTERVAL_MS;
    if (next_ms >= retry.deadline_ms) {
      tm_ctl_live_finish(live, NULL, 0);
      fprintf(stderr,
              "migratectl: Status: DEADLINE_EXCEEDED: still RUNNING when --timeout %g s ran out\n",
              opts->timeout_s);
      code = TM_CTL_EXIT_TEMPFAIL;
      break;
    }
    tm_ctl_sleep_ms(next_ms - tm_ctl_now_ms());
  }
  free(last);
  tm_ctl_live_free(live);
  return code;
}

int tm_ctl_cmd_status(tm_ctl_conn *conn, const tm_ctl_options *opts) {
  Twigz__Migrations__V1__StatusRequest req = TWIGZ__MIGRATIONS__V1__STATUS_REQUEST__INIT;
  req.names = (char **)opts->names;
  req.n_names = opts->n_names;
  req.include_pending = opts->pending;
  if (opts->watch) return watch(conn, opts, &req);

  tm_ctl_retry retry;
  tm_ctl_retry_init(&retry, opts->timeout_s, opts->verbose);
  tm_ctl_call *call = tm_ctl_unary(conn, &retry, "Status", &req.base,
                                   &twigz__migrations__v1__status_response__descriptor);
  int code = TM_CTL_EXIT_OK;
  if (tm_ctl_call_status(call) != GRPC_STATUS_OK) {
    code = tm_ctl_report_failure(call, &retry);
  } else if (opts->json) {
    tm_ctl_json_print(stdout, tm_ctl_call_response(call), 2);
    fputc('\n', stdout);
  } else {
    tm_ctl_print_status_table(stdout, (const void *)tm_ctl_call_response(call), opts->pending);
  }
  tm_ctl_call_free(call);
  return code;
}
