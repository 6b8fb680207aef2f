/* grpc.health.v1.Health: Check and Watch for "" and twigz.migrations.v1.MigrationService.
 *
 * SERVING while MongoDB answers a ping (a thread re-checks every interval), NOT_SERVING while it
 * does not and from the start of shutdown for good. Watchers get the current status at once and
 * every change after. */
#ifndef TM_RPC_HEALTH_H
#define TM_RPC_HEALTH_H

#include <stdbool.h>

#include "../store/store.h"
#include "call.h"

typedef struct tm_health tm_health;

/* store is borrowed and must outlive the health service. */
tm_health *tm_health_new(tm_store *store, int interval_ms, int ping_timeout_ms);
/* Starts the checker thread; the first check runs at once. */
void tm_health_start(tm_health *h);
bool tm_health_serving(tm_health *h);
/* Turns NOT_SERVING for good (watchers are told), stops the checker and ends every Watch. */
void tm_health_shutdown(tm_health *h);
void tm_health_destroy(tm_health *h);

/* The two methods to serve, filled in with h as their context. */
void tm_health_methods(tm_health *h, tm_method *check, tm_method *watch);

#endif
