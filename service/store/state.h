/* The state documents: one per migration in the state collection (default "_migrations"),
 * _id = the migration's name.
 *
 *   {_id, state: "PENDING"|"QUEUED"|"RUNNING"|"SUCCEEDED"|"FAILED"|"CANCELED"|"INTERRUPTED",
 *    runId, owner, leaseGen, leaseExpiresAt (date), cursor (the last _id done, any BSON type),
 *    processed, updated, total, startedAt, finishedAt (dates), error, cancelRequested, prev}
 *
 * Only the holder of a migration's lease (lease.h) writes its document, always filtered on its
 * lease generation (leaseGen), so a holder that lost the lease matches nothing. Two exceptions,
 * both harmless when they race: Cancel sets cancelRequested on a QUEUED or RUNNING document, and
 * Status only reads.
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

typedef enum {
  TM_STATE_PENDING = 1, /* values equal the proto's MigrationState */
  TM_STATE_RUNNING = 2,
  TM_STATE_SUCCEEDED = 3,
  TM_STATE_FAILED = 4,
  TM_STATE_CANCELED = 5,
  TM_STATE_QUEUED = 6,
  TM_STATE_CANCELING = 7, /* reported only: a QUEUED or RUNNING document with cancelRequested */
  TM_STATE_INTERRUPTED = 8,
} tm_state;

/* A run holds it: QUEUED, RUNNING or CANCELING. */
bool tm_state_is_held(tm_state state);
/* It ended, for good or until a Run asks again: SUCCEEDED, FAILED or CANCELED (INTERRUPTED is
 * taken over by any waiting Run). */
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
  bool cancel_requested;
  bson_t *prev; /* the document before a claim; NULL when not a claim waiting to start */
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
} tm_state_claim;

/* Marks name QUEUED for claim->run_id under lease claim->lease_gen (upsert), keeping base (the
 * document the claim replaces, exists or not) in prev. Counters restart at 0. */
tm_code tm_state_claim_write(mongoc_collection_t *states, const char *name,
                             const tm_state_claim *claim, const tm_state_doc *base, tm_error *err);

/* The claimed migration starts now: RUNNING, total set, prev dropped. TM_ERR_CONFLICT when the
 * lease generation no longer matches (another holder took over). */
tm_code tm_state_start(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                       int64_t total, int64_t now_ms, tm_error *err);

/* Saves progress after a batch and reports whether a cancel was asked for. TM_ERR_CONFLICT when
 * the lease generation no longer matches. */
tm_code tm_state_checkpoint(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                            const bson_value_t *cursor, int64_t processed, int64_t updated,
                            int64_t lease_expires_at_ms, bool *cancel_requested, tm_error *err);

/* Ends the run: SUCCEEDED, FAILED or INTERRUPTED (error set) or CANCELED. */
tm_code tm_state_finish(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                        tm_state state, const char *error, int64_t processed, int64_t updated,
                        int64_t now_ms, tm_error *err);

/* Puts back the document a claim replaced (base), for a claim that never started. */
tm_code tm_state_restore(mongoc_collection_t *states, const char *name, int64_t lease_gen,
                         const tm_state_doc *base, tm_error *err);

/* Sets cancelRequested on name's document if it is QUEUED or RUNNING; *recorded says whether it
 * was. */
tm_code tm_state_request_cancel(mongoc_collection_t *states, const char *name, bool *recorded,
                                tm_error *err);

#endif
