/* Leases: a migration runs in one place at a time, across every replica and every chain.
 *
 * On real MongoDB a conditional update of one document is atomic, but FerretDB runs updates and
 * findAndModify as read-then-write without a lock, so two takers could both "win" a conditional
 * update there. What both servers make exclusive is inserting a fixed _id (the loser gets 11000).
 * So a lease is a generation counter kept in its own collection (the state collection's name +
 * "_leases"): generation g of migration m is the document {_id: "m#g", name, gen, kind: "lease",
 * owner, runId, expiresAt}. Taking the lease means reading the newest generation, finding it
 * expired (or released), and inserting g+1: only one racer can. The holder renews by pushing its
 * own document's expiresAt forward, and on each renewal looks for a newer generation: if there is
 * one, someone took over after the lease expired, and the holder must stop writing at once. Older
 * generations are deleted by whoever takes a newer one.
 *
 * A holder also fences itself with the monotonic clock: it writes only while less than 4/5 of the
 * lease time has passed since its last successful renewal began, so a holder stalled past expiry
 * (while another takes over) stops before it learns of the takeover. Wall clocks of replicas must
 * agree to within a fifth of the lease time (6 s by default).
 *
 * A Cancel adds {_id: "m#g#cancel", kind: "cancel"}, a Pause "m#g#pause", a Tune
 * "m#g#tune#<seq>" with the new controls (inserts, so that none can be lost to a concurrent
 * read-then-write of the state document on FerretDB); renewals report them. */
#ifndef TM_LEASE_H
#define TM_LEASE_H

#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stdint.h>

#include "../error.h"
#include "controls.h"

#define TM_LEASE_NAME_MAX 128
#define TM_LEASE_OWNER_MAX 192

/* The newest generation of a migration's lease, as stored. */
typedef struct {
  bool exists;
  int64_t gen;
  int64_t expires_at_ms;
  char owner[TM_LEASE_OWNER_MAX];
} tm_lease_info;

/* A lease this process holds. */
typedef struct {
  char name[TM_LEASE_NAME_MAX];
  int64_t gen;
  int64_t expires_at_ms; /* wall clock, as stored */
  int64_t fence_mono_ms; /* write nothing after this instant (tm_clock_mono_ms) */
} tm_lease;

tm_code tm_lease_latest(mongoc_collection_t *leases, const char *name, tm_lease_info *out,
                        tm_error *err);

/* Takes name's lease for lease_ms. TM_OK: *out holds it. TM_ERR_CONFLICT: someone else holds a live
 * generation (or won the race for the next one); *holder says who. Other codes: database errors. */
tm_code tm_lease_take(mongoc_collection_t *leases, const char *name, const char *owner,
                      const char *run_id, int lease_ms, tm_lease *out, tm_lease_info *holder,
                      tm_error *err);

/* The markers of a generation, as a renewal finds them. */
typedef struct {
  bool cancel, pause;
  int64_t tune_seq; /* the newest Tune marker's, 0: none */
  tm_controls tune; /* its controls */
} tm_lease_signals;

/* Extends the lease by lease_ms. TM_ERR_CONFLICT: it was lost (a newer generation exists, or ours
 * was cleaned up); stop writing. *sig reports the markers of this generation. */
tm_code tm_lease_renew(mongoc_collection_t *leases, tm_lease *lease, int lease_ms,
                       tm_lease_signals *sig, tm_error *err);

/* Ends the lease now (expiresAt in the past), so a waiter need not wait for the expiry. */
tm_code tm_lease_release(mongoc_collection_t *leases, tm_lease *lease, tm_error *err);

/* Records a "cancel" or "pause" request for generation gen of name's lease (idempotent). */
tm_code tm_lease_request_stop(mongoc_collection_t *leases, const char *name, int64_t gen,
                              const char *kind, tm_error *err);
/* Removes generation gen's pause marker (a Resume before the holder acted on it). */
tm_code tm_lease_withdraw_pause(mongoc_collection_t *leases, const char *name, int64_t gen,
                                tm_error *err);
/* Hands generation gen's holder new controls; seq orders Tunes (the newest wins). */
tm_code tm_lease_tune(mongoc_collection_t *leases, const char *name, int64_t gen, int64_t seq,
                      const tm_controls *controls, tm_error *err);

/* Whether the holder may still write, by its own monotonic clock. */
bool tm_lease_fresh(const tm_lease *lease);

/* Whether a stored generation is live at wall time now_ms. */
bool tm_lease_live(const tm_lease_info *info, int64_t now_ms);

#endif
