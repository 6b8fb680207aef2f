/* The heartbeat: a thread per chain that keeps the chain's leases alive while it works.
 *
 * A batch can take longer than a lease on a slow server (FerretDB updates each document with a
 * statement that scans the whole table), so renewing only between batches could let a lease
 * expire under a live holder. The heartbeat renews every held lease every lease_ms/3, apart from
 * the batch work, and records what renewals learn: the lease was lost (a newer generation exists)
 * or a Cancel, a Pause or a Tune was asked for. The chain consults it before each write and at each
 * batch boundary; the monotonic fence in each lease stops the chain should renewals fail for too
 * long. */
#ifndef TM_HEARTBEAT_H
#define TM_HEARTBEAT_H

#include <stdbool.h>
#include <stddef.h>

#include "../error.h"
#include "../store/lease.h"
#include "../store/store.h"

#define TM_HEARTBEAT_SLOTS 32

typedef struct tm_heartbeat tm_heartbeat;

/* Starts the thread; it pops its own client from store's pool. */
tm_code tm_heartbeat_start(tm_store *store, const char *lease_collection, int lease_ms,
                           tm_heartbeat **out, tm_error *err);
/* Stops and joins the thread, frees hb. Leases still in it are neither renewed nor released. */
void tm_heartbeat_stop(tm_heartbeat *hb);

/* Starts renewing lease; returns its slot, or -1 when all TM_HEARTBEAT_SLOTS are in use. */
int tm_heartbeat_add(tm_heartbeat *hb, const tm_lease *lease);
/* Stops renewing slot's lease and copies it, as last renewed, into out (may be NULL). Call before
 * releasing the lease, so no renewal races the release. */
void tm_heartbeat_remove(tm_heartbeat *hb, int slot, tm_lease *out);

typedef struct {
  tm_lease lease;   /* as last renewed */
  bool lost;        /* a newer generation took over, or ours is gone */
  bool cancel;      /* a Cancel marker exists for this generation */
  bool pause;       /* a Pause marker exists for it (withdrawn by a Resume) */
  int64_t tune_seq; /* the newest Tune marker's sequence; 0: none */
  tm_controls tune;
} tm_heartbeat_view;

void tm_heartbeat_view_of(tm_heartbeat *hb, int slot, tm_heartbeat_view *out);

/* Whether the chain may write under slot's lease now: not lost, and fresh by the monotonic fence.
 */
bool tm_heartbeat_may_write(tm_heartbeat *hb, int slot);

/* Asks for a renewal of every lease now rather than at the next interval, without waiting for it.
 * A renewal also reads the Cancel markers (store/lease.h): a chain pokes about once a second so
 * that a Cancel reaches it within a second or so, from any replica, even where the server could
 * lose the state document's cancelRequested to a concurrent checkpoint (FerretDB). */
void tm_heartbeat_poke(tm_heartbeat *hb);

/* For a lease gone stale by the fence (renewals slower than the lease, as on a loaded machine) but
 * not known lost: renews it now and waits up to timeout_ms. A renewal succeeds only while no newer
 * generation exists, that is while nobody took the lease over. Returns tm_heartbeat_may_write. */
bool tm_heartbeat_refresh(tm_heartbeat *hb, int slot, int timeout_ms);

#endif
