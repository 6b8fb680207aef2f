/* Lease renewal on a thread of its own, apart from batch work. */
#include "heartbeat.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../log.h"
#include "../metrics/metrics.h"
#include "../store/clock.h"

typedef struct {
  bool used;
  tm_heartbeat_view view;
} slot;

struct tm_heartbeat {
  tm_store *store;
  char *lease_collection;
  int lease_ms;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool stopping;
  bool urgent;  /* a chain waits for a renewal: renew now */
  int renewing; /* the slot whose renewal is in flight, or -1 */
  slot slots[TM_HEARTBEAT_SLOTS];
};

/* Renews every lease in use once; the database calls run without the lock. */
static void renew_all(tm_heartbeat *hb, mongoc_collection_t *leases) {
  for (int i = 0; i < TM_HEARTBEAT_SLOTS; i++) {
    pthread_mutex_lock(&hb->mu);
    bool used = hb->slots[i].used && !hb->slots[i].view.lost;
    tm_lease lease = hb->slots[i].view.lease;
    if (used) hb->renewing = i;
    pthread_mutex_unlock(&hb->mu);
    if (!used) continue;

    tm_lease_signals sig;
    tm_error err = {0};
    tm_code code = tm_lease_renew(leases, &lease, hb->lease_ms, &sig, &err);
    tm_metrics_lease_renewal(code == TM_OK             ? TM_METRICS_LEASE_RENEWED
                             : code == TM_ERR_CONFLICT ? TM_METRICS_LEASE_LOST
                                                       : TM_METRICS_LEASE_FAILED);
    if (code != TM_OK && code != TM_ERR_CONFLICT) {
      tm_log(TM_LOG_WARN, "lease renewal failed; retrying", "migration", TM_LOG_STR(lease.name),
             "error", TM_LOG_STR(err.msg), NULL);
    }
    pthread_mutex_lock(&hb->mu);
    hb->renewing = -1;
    pthread_cond_broadcast(&hb->cond);
    slot *s = &hb->slots[i];
    if (code != TM_OK && code != TM_ERR_CONFLICT) {
      /* keep the old view; the fence decides */
    } else if (s->used && s->view.lease.gen == lease.gen &&
               strcmp(s->view.lease.name, lease.name) == 0) {
      if (code == TM_ERR_CONFLICT) {
        s->view.lost = true;
        tm_log(TM_LOG_WARN, "lease lost", "migration", TM_LOG_STR(lease.name), "error",
               TM_LOG_STR(err.msg), NULL);
      } else {
        s->view.lease = lease;
        s->view.cancel = s->view.cancel || sig.cancel;
        s->view.pause = sig.pause;
        if (sig.tune_seq > s->view.tune_seq) {
          s->view.tune_seq = sig.tune_seq;
          s->view.tune = sig.tune;
        }
      }
    }
    pthread_mutex_unlock(&hb->mu);
  }
}

static void *run(void *arg) {
  tm_heartbeat *hb = arg;
  mongoc_client_t *client = tm_store_pop(hb->store);
  mongoc_collection_t *leases =
      mongoc_client_get_collection(client, tm_store_database(hb->store), hb->lease_collection);
  mongoc_write_concern_t *wc = mongoc_write_concern_new();
  mongoc_write_concern_set_wmajority(wc, 10000);
  mongoc_collection_set_write_concern(leases, wc);
  mongoc_write_concern_destroy(wc);

  int interval = hb->lease_ms / 3 > 50 ? hb->lease_ms / 3 : 50;
  pthread_mutex_lock(&hb->mu);
  while (!hb->stopping) {
    struct timespec ts;
    tm_clock_deadline(&ts, interval);
    while (!hb->stopping && !hb->urgent) {
      if (pthread_cond_timedwait(&hb->cond, &hb->mu, &ts) != 0) break; /* timed out */
    }
    if (hb->stopping) break;
    hb->urgent = false;
    pthread_mutex_unlock(&hb->mu);
    renew_all(hb, leases);
    pthread_mutex_lock(&hb->mu);
  }
  pthread_mutex_unlock(&hb->mu);
  mongoc_collection_destroy(leases);
  tm_store_push(hb->store, client);
  return NULL;
}

tm_code tm_heartbeat_start(tm_store *store, const char *lease_collection, int lease_ms,
                           tm_heartbeat **out, tm_error *err) {
  tm_heartbeat *hb = calloc(1, sizeof *hb);
  hb->store = store;
  hb->lease_collection = strdup(lease_collection);
  hb->lease_ms = lease_ms;
  hb->renewing = -1;
  pthread_mutex_init(&hb->mu, NULL);
  tm_clock_cond_init(&hb->cond);
  if (pthread_create(&hb->thread, NULL, run, hb) != 0) {
    pthread_cond_destroy(&hb->cond);
    pthread_mutex_destroy(&hb->mu);
    free(hb->lease_collection);
    free(hb);
    return tm_error_set(err, TM_ERR_RESOURCE, "cannot start a lease heartbeat thread");
  }
  *out = hb;
  return TM_OK;
}

void tm_heartbeat_stop(tm_heartbeat *hb) {
  if (!hb) return;
  pthread_mutex_lock(&hb->mu);
  hb->stopping = true;
  pthread_cond_broadcast(&hb->cond);
  pthread_mutex_unlock(&hb->mu);
  pthread_join(hb->thread, NULL);
  pthread_cond_destroy(&hb->cond);
  pthread_mutex_destroy(&hb->mu);
  free(hb->lease_collection);
  free(hb);
}

int tm_heartbeat_add(tm_heartbeat *hb, const tm_lease *lease) {
  pthread_mutex_lock(&hb->mu);
  int found = -1;
  for (int i = 0; i < TM_HEARTBEAT_SLOTS && found < 0; i++) {
    if (!hb->slots[i].used) found = i;
  }
  if (found >= 0) {
    hb->slots[found] = (slot){.used = true, .view = {.lease = *lease}};
  }
  pthread_mutex_unlock(&hb->mu);
  return found;
}

void tm_heartbeat_remove(tm_heartbeat *hb, int slot_index, tm_lease *out) {
  if (slot_index < 0 || slot_index >= TM_HEARTBEAT_SLOTS) return;
  /* Wait out a renewal of this slot in flight: landing after the release, it would push the
   * released lease's expiry forward and make waiters wait for nothing. */
  pthread_mutex_lock(&hb->mu);
  while (hb->renewing == slot_index) pthread_cond_wait(&hb->cond, &hb->mu);
  if (out) *out = hb->slots[slot_index].view.lease;
  hb->slots[slot_index].used = false;
  pthread_mutex_unlock(&hb->mu);
}

void tm_heartbeat_view_of(tm_heartbeat *hb, int slot_index, tm_heartbeat_view *out) {
  memset(out, 0, sizeof *out);
  if (slot_index < 0 || slot_index >= TM_HEARTBEAT_SLOTS) {
    out->lost = true;
    return;
  }
  pthread_mutex_lock(&hb->mu);
  *out = hb->slots[slot_index].view;
  if (!hb->slots[slot_index].used) out->lost = true;
  pthread_mutex_unlock(&hb->mu);
}

bool tm_heartbeat_may_write(tm_heartbeat *hb, int slot_index) {
  tm_heartbeat_view view;
  tm_heartbeat_view_of(hb, slot_index, &view);
  return !view.lost && tm_lease_fresh(&view.lease);
}

/* Wakes the heartbeat thread for a renewal now; hb->mu held. */
static void ask_renewal_locked(tm_heartbeat *hb) {
  hb->urgent = true;
  pthread_cond_broadcast(&hb->cond);
}

void tm_heartbeat_poke(tm_heartbeat *hb) {
  pthread_mutex_lock(&hb->mu);
  ask_renewal_locked(hb);
  pthread_mutex_unlock(&hb->mu);
}

bool tm_heartbeat_refresh(tm_heartbeat *hb, int slot_index, int timeout_ms) {
  if (slot_index < 0 || slot_index >= TM_HEARTBEAT_SLOTS) return false;
  struct timespec deadline;
  tm_clock_deadline(&deadline, timeout_ms);
  pthread_mutex_lock(&hb->mu);
  const slot *s = &hb->slots[slot_index];
  int64_t fence = s->view.lease.fence_mono_ms;
  ask_renewal_locked(hb);
  /* Until a renewal lands (the fence moves), the lease is known lost, or time is up. */
  while (s->used && !s->view.lost && s->view.lease.fence_mono_ms == fence && !hb->stopping) {
    if (pthread_cond_timedwait(&hb->cond, &hb->mu, &deadline) != 0) break;
  }
  pthread_mutex_unlock(&hb->mu);
  return tm_heartbeat_may_write(hb, slot_index);
}
