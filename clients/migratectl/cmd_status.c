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

static bool any_held(const tm_ctl_pb_status_response *resp) {
  return !tm_ctl_statuses_settled(resp->migrations, resp->n_migrations);
}

/* --json: a line on each change of state (or of run), and at the progress cadence while the
 * counts move; not on every poll, which would fill a Job log with one line a second. */
static bool states_differ(const tm_ctl_pb_status_response *a, const tm_ctl_pb_status_response *b) {
  if (!a || a->n_migrations != b->n_migrations) return true;
  for (size_t i = 0; i < a->n_migrations; i++) {
    const tm_ctl_pb_status *x = a->migrations[i], *y = b->migrations[i];
    if (x->state != y->state || strcmp(x->run_id, y->run_id) != 0 || strcmp(x->name, y->name) != 0)
      return true;
  }
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
  tm_ctl_live_set_progress(live, (int64_t)opts->progress_s * 1000);
  uint8_t *last = NULL;
  size_t last_len = 0;
  tm_ctl_call *printed = NULL; /* --json: the answer last printed */
  int64_t printed_ms = 0;
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
    bool keep = false;
    if (opts->json) {
      size_t len;
      uint8_t *now = pack(&resp->base, &len);
      bool moved = !last || len != last_len || memcmp(now, last, len) != 0;
      const tm_ctl_pb_status_response *before =
          printed ? (const void *)tm_ctl_call_response(printed) : NULL;
      bool due = polled_ms - printed_ms >= (int64_t)opts->progress_s * 1000;
      if (states_differ(before, resp) || (moved && due) || !any_held(resp)) {
        if (moved || !printed) {
          tm_ctl_json_print(stdout, &resp->base, -1);
          fputc('\n', stdout);
          fflush(stdout);
        }
        free(last);
        last = now;
        last_len = len;
        tm_ctl_call_free(printed);
        printed = call;
        printed_ms = polled_ms;
        keep = true;
      } else {
        free(now);
      }
    } else {
      tm_ctl_live_update(live, resp, tm_ctl_now_ms());
    }
    if (!any_held(resp)) {
      tm_ctl_live_finish(live, NULL, 0);
      code = tm_ctl_outcome_exit(resp->migrations, resp->n_migrations);
      if (!keep) tm_ctl_call_free(call);
      break;
    }
    if (!keep) tm_ctl_call_free(call);
    int64_t next_ms = polled_ms + WATCH_INTERVAL_MS;
    if (next_ms >= retry.deadline_ms) {
      tm_ctl_live_finish(live, NULL, 0);
      fprintf(stderr,
              "migratectl: Status: DEADLINE_EXCEEDED: still running when --timeout %g s ran out\n",
              opts->timeout_s);
      code = TM_CTL_EXIT_TEMPFAIL;
      break;
    }
    tm_ctl_sleep_ms(next_ms - tm_ctl_now_ms());
  }
  free(last);
  tm_ctl_call_free(printed);
  tm_ctl_live_free(live);
  return code;
}

static void print_table(const ProtobufCMessage *resp, const tm_ctl_options *opts) {
  tm_ctl_print_status_table(stdout, (const void *)resp, opts->pending);
}

int tm_ctl_cmd_status(tm_ctl_conn *conn, const tm_ctl_options *opts) {
  Twigz__Migrations__V1__StatusRequest req = TWIGZ__MIGRATIONS__V1__STATUS_REQUEST__INIT;
  req.names = (char **)opts->names;
  req.n_names = opts->n_names;
  req.include_pending = opts->pending;
  if (opts->watch) return watch(conn, opts, &req);
  return tm_ctl_unary_command(conn, opts, "Status", &req.base,
                              &twigz__migrations__v1__status_response__descriptor, print_table);
}
