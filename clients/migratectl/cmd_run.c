/* migratectl run [NAME...] [--dry-run] [--batch-size N] [--rerun] [--async] [--rate R]
 *   [--max-lag-ms N] [--max-write-latency-ms N] [--max-failed-documents N]
 *
 * The Run call stays in flight for the whole chain. Meanwhile, on the same completion queue, a
 * Status call every POLL_INTERVAL_MS feeds the progress display; the polls are best effort (a
 * failed one is ignored) and the Run answer is the only authority on the outcome. */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "commands.h"
#include "exit_codes.h"
#include "live.h"
#include "pacing.h"
#include "pbjson.h"
#include "render.h"
#include "summary.h"

#define POLL_INTERVAL_MS 500
#define POLL_TIMEOUT_MS 5000

typedef struct {
  tm_ctl_conn *conn;
  const tm_ctl_options *opts;
  tm_ctl_retry retry;
  tm_ctl_live *live; /* NULL: no progress shown (--json, --async) */
  bool poll;         /* Status polls tell something (not for dry runs: they write no state) */
} run_ctx;

static const Twigz__Migrations__V1__StatusRequest all_statuses =
    TWIGZ__MIGRATIONS__V1__STATUS_REQUEST__INIT;

/* Status of every migration before the run starts: what the display must not report as news.
 * Asking for all (not the named ones) leaves an unknown name to Run, whose error says it best. */
static int take_baseline(run_ctx *ctx) {
  tm_ctl_call *call = tm_ctl_unary(ctx->conn, &ctx->retry, "Status", &all_statuses.base,
                                   &twigz__migrations__v1__status_response__descriptor);
  int code = TM_CTL_EXIT_OK;
  if (tm_ctl_call_status(call) != GRPC_STATUS_OK)
    code = tm_ctl_report_failure(call, &ctx->retry);
  else
    tm_ctl_live_baseline(ctx->live, (const void *)tm_ctl_call_response(call));
  tm_ctl_call_free(call);
  return code;
}

/* One attempt of Run, polling Status while it is in flight. Returns the finished Run call. */
static tm_ctl_call *attempt(run_ctx *ctx, const Twigz__Migrations__V1__RunRequest *req) {
  int64_t deadline = ctx->retry.deadline_ms;
  tm_ctl_call *run = tm_ctl_call_start(ctx->conn, "Run", &req->base,
                                       &twigz__migrations__v1__run_response__descriptor, deadline);
  tm_ctl_call *poll = NULL;
  int64_t next_poll = tm_ctl_now_ms() + POLL_INTERVAL_MS;
  while (!tm_ctl_call_done(run)) {
    int64_t until = ctx->live ? next_poll : deadline + POLL_TIMEOUT_MS;
    if (poll) until = deadline + POLL_TIMEOUT_MS;
    tm_ctl_call *done = tm_ctl_conn_next(ctx->conn, until);
    int64_t now = tm_ctl_now_ms();
    if (done && done == poll) {
      if (tm_ctl_call_status(poll) == GRPC_STATUS_OK)
        tm_ctl_live_update(ctx->live, (const void *)tm_ctl_call_response(poll), now);
      tm_ctl_call_free(poll);
      poll = NULL;
      next_poll = now + POLL_INTERVAL_MS;
    } else if (!done && ctx->live && !poll && now >= next_poll) {
      tm_ctl_live_tick(ctx->live, now);
      if (ctx->poll) {
        int64_t poll_deadline = now + POLL_TIMEOUT_MS < deadline ? now + POLL_TIMEOUT_MS : deadline;
        poll =
            tm_ctl_call_start(ctx->conn, "Status", &all_statuses.base,
                              &twigz__migrations__v1__status_response__descriptor, poll_deadline);
      } else {
        next_poll = now + POLL_INTERVAL_MS;
      }
    }
  }
  tm_ctl_call_free(poll); /* cancels it if still in flight */
  return run;
}

/* Unexpected for a finished, synchronous, real run: a migration neither settled nor failed. */
static int check_settled(const tm_ctl_pb_run_response *resp) {
  for (size_t i = 0; i < resp->n_migrations; i++) {
    int state = resp->migrations[i]->state;
    if (state != TM_CTL_SUCCEEDED) {
      fprintf(stderr, "migratectl: Run answered %s in state %s once the run ended\n",
              resp->migrations[i]->name, tm_ctl_state_name(state));
      return TM_CTL_EXIT_SOFTWARE;
    }
  }
  return TM_CTL_EXIT_OK;
}

int tm_ctl_cmd_run(tm_ctl_conn *conn, const tm_ctl_options *opts) {
  Twigz__Migrations__V1__RunRequest req = TWIGZ__MIGRATIONS__V1__RUN_REQUEST__INIT;
  req.names = (char **)opts->names;
  req.n_names = opts->n_names;
  req.dry_run = opts->dry_run;
  req.batch_size = opts->controls.has_batch_size ? opts->controls.batch_size : 0;
  req.rerun = opts->rerun;
  req.async = opts->async;
  tm_ctl_pacing pacing;
  tm_ctl_pacing_set(&pacing, &opts->controls, NULL, &req.max_documents_per_second,
                    &req.max_replication_lag_ms, &req.max_write_latency_ms,
                    &req.max_failed_documents);

  run_ctx ctx = {.conn = conn, .opts = opts};
  tm_ctl_retry_init(&ctx.retry, opts->timeout_s, opts->verbose);
  int64_t started = tm_ctl_now_ms();
  if (!opts->json && !opts->async) {
    bool tty = tm_ctl_live_stdout_is_terminal();
    ctx.live = tm_ctl_live_new(stdout, tty ? TM_CTL_LIVE_TTY : TM_CTL_LIVE_PLAIN);
    tm_ctl_live_set_progress(ctx.live, (int64_t)opts->progress_s * 1000);
    tm_ctl_live_follow(ctx.live, opts->names, opts->n_names);
    ctx.poll = !opts->dry_run;
    if (tty)
      tm_ctl_live_set_idle(ctx.live, opts->dry_run ? "dry run: planning..." : "waiting...",
                           started);
  }
  int code = TM_CTL_EXIT_OK;
  if (ctx.poll) code = take_baseline(&ctx);
  if (code != TM_CTL_EXIT_OK) {
    tm_ctl_live_free(ctx.live);
    return code;
  }

  tm_ctl_call *run;
  for (;;) {
    run = attempt(&ctx, &req);
    if (tm_ctl_call_status(run) == GRPC_STATUS_OK || !tm_ctl_retry_again(&ctx.retry, run)) break;
    tm_ctl_call_free(run);
    tm_ctl_conn_refresh(conn);
  }

  if (tm_ctl_call_status(run) != GRPC_STATUS_OK) {
    if (ctx.live) tm_ctl_live_finish(ctx.live, NULL, 0);
    code = tm_ctl_report_failure(run, &ctx.retry);
  } else {
    const tm_ctl_pb_run_response *resp = (const void *)tm_ctl_call_response(run);
    if (opts->json) {
      tm_ctl_json_print(stdout, &resp->base, 2);
      fputc('\n', stdout);
    } else {
      tm_ctl_live *out =
          ctx.live ? ctx.live
                   : tm_ctl_live_new(stdout, tm_ctl_live_stdout_is_terminal() ? TM_CTL_LIVE_TTY
                                                                              : TM_CTL_LIVE_PLAIN);
      tm_ctl_live_finish(out, resp->migrations, resp->n_migrations);
      if (out != ctx.live) tm_ctl_live_free(out);
      tm_ctl_print_run_summary(stdout, resp, opts->dry_run ? "dry run" : "run", opts->dry_run,
                               tm_ctl_now_ms() - started);
    }
    code = tm_ctl_outcome_exit(resp->migrations, resp->n_migrations);
    if (code == TM_CTL_EXIT_OK && !opts->async && !opts->dry_run) code = check_settled(resp);
  }
  tm_ctl_call_free(run);
  tm_ctl_live_free(ctx.live);
  return code;
}
