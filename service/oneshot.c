/* One-shot runs: the engine's asynchronous Run made synchronous, with signals able to stop it. */
#include "oneshot.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store/state.h"

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
  int exit_code;
} waiter;

static void on_done(void *arg, tm_code code, const tm_error *err, const tm_run_result *result) {
  waiter *w = arg;
  int exit_code = TM_EXIT_OK;
  if (code != TM_OK) {
    fprintf(stderr, "twigz-migrations run: %s\n", err->msg);
    exit_code = code == TM_ERR_UNAVAILABLE    ? TM_EXIT_TEMPFAIL
                : code == TM_ERR_INVALID      ? TM_EXIT_USAGE
                : code == TM_ERR_PRECONDITION ? TM_EXIT_FAILED
                                              : TM_EXIT_SOFTWARE;
  } else {
    for (size_t i = 0; i < result->migrations.n; i++) {
      const tm_status *st = &result->migrations.items[i];
      printf("%s: %s%s%s%s processed=%lld updated=%lld total=%lld%s%s\n", st->name,
             tm_state_name(st->state), st->skipped ? " (skipped)" : "",
             st->swept_drift ? " (swept drift)" : "", st->dry_run ? " (dry run)" : "",
             (long long)st->processed, (long long)st->updated, (long long)st->total,
             st->error && *st->error ? " error=" : "", st->error ? st->error : "");
      if (st->failed_count > 0) {
        printf("  %lld documents refused by the server and skipped (max_failed_documents)\n",
               (long long)st->failed_count);
      }
      for (size_t s = 0; s < st->n_samples; s++) printf("  would set %s\n", st->samples[s]);
      if (st->state == TM_STATE_FAILED || st->state == TM_STATE_CANCELED) {
        exit_code = TM_EXIT_FAILED;
      } else if ((st->state == TM_STATE_INTERRUPTED || st->state == TM_STATE_PAUSED) &&
                 exit_code == TM_EXIT_OK) {
        exit_code = TM_EXIT_TEMPFAIL;
      }
    }
    fflush(stdout);
  }
  pthread_mutex_lock(&w->mu);
  w->done = true;
  w->exit_code = exit_code;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

typedef struct {
  tm_engine *engine;
  const sigset_t *signals;
} stopper;

static void *stop_on_signal(void *arg) {
  stopper *s = arg;
  int sig;
  if (sigwait(s->signals, &sig) == 0) {
    tm_log(TM_LOG_WARN, "signal: stopping after the current batch", "signal",
           TM_LOG_STR(sig == SIGTERM ? "SIGTERM" : "SIGINT"), NULL);
    tm_engine_stop(s->engine);
  }
  return NULL;
}

int tm_oneshot_run(tm_engine *engine, const tm_config *cfg, const sigset_t *signals) {
  waiter w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
  /* No peer: the history says it was this mode, on this host. */
  tm_caller caller = {.identity = "one-shot"};
  gethostname(caller.peer, sizeof caller.peer - 1);
  snprintf(caller.user_agent, sizeof caller.user_agent, "twigz-migrations/%s run", TM_VERSION);
  tm_run_request req = {
      .caller = &caller,
      .names = cfg->names,
      .n_names = cfg->n_names,
      .dry_run = cfg->dry_run,
      .rerun = cfg->rerun,
      .batch_size = 0, /* --batch-size already set the engine's default */
  };
  tm_error err;
  tm_code code = tm_engine_run(engine, &req, on_done, &w, &err);
  if (code != TM_OK) {
    fprintf(stderr, "twigz-migrations run: %s\n", err.msg);
    return code == TM_ERR_INVALID       ? TM_EXIT_USAGE
           : code == TM_ERR_UNAVAILABLE ? TM_EXIT_TEMPFAIL
                                        : TM_EXIT_SOFTWARE;
  }
  stopper s = {engine, signals};
  pthread_t thread;
  bool watching = pthread_create(&thread, NULL, stop_on_signal, &s) == 0;
  pthread_mutex_lock(&w.mu);
  while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
  pthread_mutex_unlock(&w.mu);
  if (watching) {
    /* The chain is over; sigwait is a cancellation point. */
    pthread_cancel(thread);
    pthread_join(thread, NULL);
  }
  return w.exit_code;
}
