/* The state documents: one per migration in the state collection (default "_migrations"),
 * _id = the migration's name.
 *
 *   {_id, state: "PENDING"|"QUEUED"|"RUNNING"|"SUCCEEDED"|"FAILED"|"CANCELED"|"INTERRUPTED"|
 *                "PAUSED",
 *    runId, owner, leaseGen, leaseExpiresAt (date), cursor (the last _id done, any BSON type),
 *    processed, updated, total, startedAt, finishedAt (dates), error, cancelRequested,
 *    pauseRequested, controls (controls.h), throttle: {reason, since}, failed: {count, first},
 *    waitingFor (a QUEUED claim left behind a PAUSED migration of its run), prev}
 *
 * Only the holder of a migration's lease (lease.h) writes its document, always filtered on its
 * lease generation (leaseGen), so a holder that lost the lease matches nothing. The exceptions are
 * harmless when they race: Cancel and Pause set their flag on a QUEUED or RUNNING document, Tune
 * sets controls (a holder's next checkpoint writes the controls it applies), and Status only
 * reads.
 *
 * A chain claims every migration it was asked for before running the first: a claimed migration is
 * QUEUED at once, and `prev` keeps the document as it was, so one the chain never reaches (an
 * earlier migration failed, or the service stopped) is put back exactly; it turns RUNNING and
 * `prev` disappears when the migration really starts. INTERRUPTED is written at shutdown (and
 * reported for a holder whose lease expired): not a failure, so a waiting Run on another replica
 * takes such a migration over instead of reporting it. Documents of earlier versions held that as
 * FAILED with `interrupted: true`; they read as INTERRUPTED.
 *
 * Reads go to the primary; writes use the collection's write concern (majority, set by the caller).
 * Not thread safe per collection handle (mongoc collections never are). */
#ifndef TM_STATE_H
#define TM_STATE_H

#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stdint.h>

#include "../error.h"
#include "controls.h"

typedef enum {
  TM_STATE_PENDING = 1, /* values equal the proto's MigrationState */
  TM_STATE_RUNNING = 2,
  TM_STATE_SUCCEEDED = 3,
  TM_STATE_FAILED = 4,
  TM_STATE_CANCELED = 5,
  TM_STATE_QUEUED = 6,
  TM_STATE_CANCELING = 7, /* reported only: a QUEUED or RUNNING document with cancelRequested */
  TM_STATE_INTERRUPTED = 8,
  TM_STATE_PAUSED = 9,
  TM_STATE_PAUSING = 10,   /* reported only: a QUEUED or RUNNING document with pauseRequested */
  TM_STATE_THROTTLED = 11, /* reported only: a RUNNING document with throttle set */
} tm_state;

/* A run holds it: QUEUED, RUNNING, or one of the states reported for those. */
bool tm_state_is_held(tm_state state);
/* It ended, for good or until a Run (or Resume) asks again: SUCCEEDED, FAILED, CANCELED or PAUSED
 * (INTERRUPTED is taken over by any waiting Run). */
bool tm_state_is_final(tm_state state);

const char *tm_state_name(tm_state state);
/* The state a stored name means; PENDING for any other (CANCELING is never stored: it is
 * reported from cancelRequested). */
tm_state tm_state_from_name(const char *name);

/* A state document in memory. Owns its strings, cursor and prev: release with tm_state_doc_clear.
 */
typedef struct {
  bool exists;
  tm_state state;
  char *run_id, *owner, *error; /* NULL when unset */
  int64_t lease_gen, lease_expires_at_ms;
  bool has_cursor;
  bson_value_t cursor;
  int64_t processed, updated, total, started_at_ms, finished_at_ms;
  bool cancel_requested, pause_requested;
  bool has_controls;
  tm_controls controls;
  char *throttle_reason; /* NULL: not throttled */
  int64_t throttled_since_ms;
  int64_t failed_count;
  bson_t *failed;    /* the "first" array of refused documents ({_id, error}), or NULL */
  char *waiting_for; /* a claim left QUEUED behind this PAUSED migration, or NULL */
  bson_t *prev;      /* the document before a claim; NULL when not a claim waiting to start */
} tm_state_doc;

void tm_state_doc_clear(tm_state_doc *doc);
/* Deep copy; dst is overwritten (not cleared first). */
void tm_state_doc_copy(const tm_state_doc *src, tm_state_doc *dst);
/* Parses a stored document (or prev); unknown or mistyped fields are ignored, never fatal. */
void tm_state_doc_parse(const bson_t *bson, tm_state_doc *out);

/* Reads name's document from the primary; out->exists is false when there is none (PENDING). */
tm_code tm_state_read(mongoc_collection_t *states, const char *name, tm_state_doc *out,
                      tm_error *err);

/* Reads the documents of names[0..n) with one query from the primary into out[0..n) (exists false
 * for those without one). */
tm_code tm_state_read_many(mongoc_collection_t *states, const char *const *names, size_t n,
                           tm_state_doc *out, tm_error *err);

typedef struct {
  const char *run_id, *owner;
  int64_t lease_gen, lease_expires_at_ms, now_ms;
  bool reset_cursor; /* a rerun of a SUCCEEDED migration starts over from the beginning */
  const tm_controls *controls;
  bool keep_failed; /* a Resume: the refused documents so far still count */
} tm_state_claim;

/* Marks name QUEUED for claim->run_id under lease claim->lease_gen (upsert), keeping base (the
 * document the claim replaces, exists or not) in prev. Counters restart at 0. */
tm_code tm_state_claim_write(mongoc_collection_t *states, const char *name,
                             const tm_state_claim *claim, const tm_state_doc *base, tm_error *err);

/* The claimed migration starts now: RUNNING, total set, prev dropped. TM_ERR_CONFLICT when the
 * lease generation no longer matches (another holder took over). */
tm_code tm_state_start(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                       int64_t total, int64_t now_ms, tm_error *err);

/* What a holder saves after a batch. */
typedef struct {
  const bson_value_t *cursor; /* NULL: none yet */
  int64_t processed, updated, lease_expires_at_ms;
  const tm_controls *controls; /* as applied now */
  int64_t failed_count;
  const bson_t *failed; /* the first refused documents (an array), or NULL when none */
} tm_state_progress;

/* Saves progress after a batch and reports whether a Cancel or a Pause was asked for.
 * TM_ERR_CONFLICT when the lease generation no longer matches. */
tm_code tm_state_checkpoint(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                            const tm_state_progress *pr, bool *cancel_requested,
                            bool *pause_requested, tm_error *err);

/* The holder starts (reason set) or stops (NULL) waiting for the database; fenced. */
tm_code tm_state_set_throttle(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                              const char *reason, int64_t since_ms, tm_error *err);

/* A claim the chain leaves QUEUED behind paused (its lease released): Resume of paused takes it
 * up again, and any Run may claim it. */
tm_code tm_state_wait_behind(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                             const char *paused, tm_error *err);

/* The names of the claims waiting behind paused (malloc'd array of malloc'd strings). */
tm_code tm_state_waiting_behind(mongoc_collection_t *states, const char *paused, char ***names,
                                size_t *n, tm_error *err);

/* Sets controls on name's document while it is in state `in` (Tune of a migration that no holder
 * runs now); *matched says whether it still was. */
tm_code tm_state_set_controls(mongoc_collection_t *states, const char *name, tm_state in,
                              const tm_controls *controls, bool *matched, tm_error *err);

/* Ends the run: SUCCEEDED, FAILED or INTERRUPTED (error set), CANCELED or PAUSED. */
tm_code tm_state_finish(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                        tm_state state, const char *error, int64_t processed, int64_t updated,
                        int64_t now_ms, tm_error *err);

/* Puts back the document a claim replaced (base), for a claim that never started. */
tm_code tm_state_restore(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                         const tm_state_doc *base, tm_error *err);

typedef enum { TM_STOP_CANCEL, TM_STOP_PAUSE } tm_stop_kind;

/* Sets cancelRequested (or pauseRequested) on name's document if it is QUEUED or RUNNING;
 * *recorded says whether it was. */
tm_code tm_state_request_stop(mongoc_collection_t *states, const char *name, tm_stop_kind kind,
                              bool *recorded, tm_error *err);

/* Withdraws a Pause not yet acted on; *withdrawn says whether one was. */
tm_code tm_state_withdraw_pause(mongoc_collection_t *states, const char *name, bool *withdrawn,
                                tm_error *err);

#endif
