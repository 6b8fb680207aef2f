/* What the parts of a chain share (chain.c: claims, runs, waits; chain_dry.c: dry runs;
 * chain_start.c: starting, joining and reaping chains). Private to them; see chain.h. */
#ifndef TM_CHAIN_IMPL_H
#define TM_CHAIN_IMPL_H

#include <stdatomic.h>

#include "../store/lease.h"
#include "engine_ctx.h"
#include "heartbeat.h"
#include "registry.h"

typedef struct chain chain;

struct tm_chain_rec {
  pthread_t thread;
  bool finished;   /* under e->mu */
  chain *joinable; /* under e->mu: set until the chain answers its callers */
  tm_chain_rec *next;
};

/* One caller of a chain. */
typedef struct waiter {
  tm_run_done_fn done;
  void *arg;
  bool joined; /* came to a chain already started */
  struct waiter *next;
} waiter;

/* PAUSED: a Run (not a Resume) found it paused and stops before it. */
typedef enum { ITEM_SKIPPED, ITEM_CLAIMED, ITEM_BUSY, ITEM_SETTLED, ITEM_PAUSED } item_kind;

typedef struct {
  const tm_migration *m;
  item_kind kind;
  tm_lease lease;     /* ITEM_CLAIMED */
  int hb_slot;        /* ITEM_CLAIMED */
  tm_state_doc base;  /* ITEM_CLAIMED: the state the claim replaces */
  bool drift;         /* it had SUCCEEDED, but documents match its filter again */
  int64_t waited_gen; /* ITEM_BUSY: the holder's lease generation */
  /* ITEM_BUSY: finishedAt of the state seen when the wait began, if it had ended already (the
   * holder was only releasing its lease): that outcome predates this Run and is not reported. */
  int64_t seen_finished_ms;
  tm_status st; /* what this Run reports for it */
} item;

struct chain {
  tm_engine *e;
  tm_chain_rec *rec;
  char run_id[40];
  bool dry_run, rerun, async;
  bool resume; /* a Resume: PAUSED migrations are claimed, under run_id and their own controls */
  int batch_size;
  tm_controls controls;  /* the run's (controls.batch_size is batch_size) */
  waiter *waiters;       /* under e->mu; taken when the chain answers */
  atomic_bool abandoned; /* every caller left before the answer */
  bool reported;
  item *items;
  size_t n;
  mongoc_client_t *client;
  mongoc_collection_t *states, *leases;
  tm_heartbeat *hb;
  tm_error interrupt; /* why a run stopped resumable, when it did not for shutdown */
  tm_caller caller;   /* who asked first, for the history */
};

/* Answers every caller still waiting; later joiners start a chain of their own. */
void tm_chain_report(chain *c, tm_code code, const tm_error *err);
/* Every caller left before the answer. */
bool tm_chain_abandoned(chain *c);
/* it->st from a state document (skipped: it was already SUCCEEDED) or as never run. */
void tm_chain_set_status(item *it, const tm_state_doc *doc, bool skipped);
void tm_chain_set_pending(item *it);
/* The state a claim replaces (chain.c). */
void tm_chain_effective_base(const tm_state_doc *s, tm_state_doc *base);
/* Whether a SUCCEEDED migration is to be skipped: when no document matches its filter. */
tm_code tm_chain_skip_succeeded(chain *c, item *it, bool *skip, tm_error *err);

/* The thread of a chain (arg: the chain, which it frees). */
void *tm_chain_main(void *arg);
/* A dry run's body (chain_dry.c). */
void tm_chain_run_dry(chain *c);

#endif
