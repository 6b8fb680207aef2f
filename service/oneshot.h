/* One-shot mode: run migrations in-process, print their outcome, and return the exit code (the same
 * codes migratectl uses), for a Kubernetes Job that runs before any replica serves. */
#ifndef TM_ONESHOT_H
#define TM_ONESHOT_H

#include <signal.h>

#include "config.h"
#include "migrations/engine.h"

#define TM_EXIT_OK 0
#define TM_EXIT_USAGE 64
/* A migration ended FAILED or CANCELED, or a permanent precondition (rejected credentials). */
#define TM_EXIT_FAILED 65
#define TM_EXIT_SOFTWARE 70
#define TM_EXIT_TEMPFAIL 75 /* unavailable or interrupted: retry */

/* Runs cfg's names (all when none) and waits for the chain. SIGTERM/SIGINT (blocked in signals,
 * taken here with sigwait) stop it after the current batch: exit 75, progress kept. */
int tm_oneshot_run(tm_engine *engine, const tm_config *cfg, const sigset_t *signals);

#endif
