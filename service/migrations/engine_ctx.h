/* The engine's context: the engine object and the helpers its parts share (engine.c, chain.c,
 * runner.c), defined in engine_ctx.c so that those parts depend on it and not on each other. The
 * rpc layer sees only engine.h. */
#ifndef TM_ENGINE_CTX_H
#define TM_ENGINE_CTX_H

#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdbool.h>

#include "../store/history.h"
#include "../store/profile.h"
#include "../store/store.h"
#include "registry.h"
#include "run_model.h"
#include "state_reads.h"

typedef struct tm_engine tm_engine;
typedef struct tm_chain_rec tm_chain_rec;

struct tm_engine {
  tm_store *store;          /* borrowed */
  char *state_collection;   /* "_migrations" */
  char *lease_collection;   /* "_migrations_leases" */
  char *history_collection; /* "_migrations_history" */
  int history_keep;
  char *instance_id;
  int lease_ms;
  int outage_wait_ms; /* how long a run waits for the database before it stops resumable */
  int default_batch_size;
  int max_runs;
  int progress_ms;
  tm_write_filter write_filter;
  tm_controls default_controls; /* a Run's controls where it sets none (batch_size included) */
  tm_profile profile;
  tm_state_reads state_reads; /* Status */
  pthread_mutex_t mu;         /* guards what follows */
  pthread_cond_t cond;        /* CLOCK_MONOTONIC; broadcast on stop and when a chain ends */
  bool stopping;
  tm_chain_rec *chains; /* every chain thread not yet joined */
};

/* TM_ERR_INVALID: "<problem> migration \"<name, quoted and cut>\"; valid names: ...". */
tm_code tm_engine_invalid_name(tm_error *err, const char *name, const char *problem);

/* Whether tm_engine_stop was called. */
bool tm_engine_stopping(tm_engine *e);

/* Sleeps ms unless the engine stops first; returns false when it is stopping. */
bool tm_engine_nap(tm_engine *e, int ms);

/* A handle on collection name with majority writes and primary reads; destroy with
 * mongoc_collection_destroy before the client goes back to the pool. */
mongoc_collection_t *tm_engine_collection(tm_engine *e, mongoc_client_t *client, const char *name);

/* m's collection (for client; destroy it) and its whole filter (init'ed; destroy it): what the
 * migration still has to change, from the start. */
tm_code tm_engine_whole_filter(tm_engine *e, mongoc_client_t *client, const tm_migration *m,
                               mongoc_collection_t **coll, bson_t *filter, tm_error *err);

/* Whether any document of m's collection still matches its whole filter (one query that stops at
 * the first match, not a count): a SUCCEEDED migration with one left has drifted. except (an array
 * of _ids, may be NULL): documents not to count (refused ones the run skipped). */
tm_code tm_engine_any_left(tm_engine *e, mongoc_client_t *client, const tm_migration *m,
                           const bson_t *except, bool *found, tm_error *err);

/* The run history (history.h), written best-effort: a failure is logged, never the run's. */
void tm_engine_history_begin(tm_engine *e, mongoc_client_t *client, const tm_history_entry *entry);
void tm_engine_history_end(tm_engine *e, mongoc_client_t *client, const char *run_id,
                           const char *name, const tm_history_outcome *end);
void tm_engine_history_resume(tm_engine *e, mongoc_client_t *client, const char *run_id,
                              const char *name);
/* A control call ("pause", "resume", "tune", "cancel") by `by` (NULL: unknown); detail may be
 * NULL. */
void tm_engine_history_event(tm_engine *e, mongoc_client_t *client, const char *run_id,
                             const char *name, const char *action, const tm_caller *by,
                             const char *detail);

#endif
