/* A chain: the thread that carries out one Run (claims, waits, runs, reports). */
#ifndef TM_CHAIN_H
#define TM_CHAIN_H

#include "engine_ctx.h"
#include "registry.h"

/* Starts a thread for the migrations ms[0..n) (registry order, validated), or adds the caller to
 * an identical chain that has not answered yet; TM_ERR_RESOURCE past e->max_runs. Takes nothing
 * from req but its flags and controls (resume: NULL for a Run); done is called exactly once when
 * TM_OK is returned: on the chain's thread, or by tm_chain_leave. The thread is recorded in
 * e->chains for tm_engine_destroy. */
/* A Resume: the paused run's id and controls. */
typedef struct {
  const char *run_id;
  tm_controls controls;
} tm_chain_resume;

/* req->controls over e->default_controls, with batch_size: a Run's controls. */
void tm_chain_controls(const tm_engine *e, const tm_run_request *req, int batch_size,
                       tm_controls *out);

tm_code tm_chain_start(tm_engine *e, const tm_migration *const *ms, size_t n,
                       const tm_run_request *req, int batch_size, const tm_chain_resume *resume,
                       tm_run_done_fn done, void *arg, tm_error *err);

/* The caller that passed arg has gone: see tm_engine_run_leave. */
void tm_chain_leave(tm_engine *e, void *arg);

/* Joins chain threads that have ended; with all set, waits for every one. Call with e->mu
 * unlocked. */
void tm_chain_reap(tm_engine *e, bool all);

#endif
