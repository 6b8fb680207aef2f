/* twigz.migrations.v1.MigrationService: the handlers that translate between the proto contract and
 * the engine. Methods are generated from protobuf-c's service descriptor; adding an RPC is one
 * handler and one row in the table in migration_service.c. */
#ifndef TM_RPC_MIGRATION_SERVICE_H
#define TM_RPC_MIGRATION_SERVICE_H

#include <stddef.h>

#include "../migrations/engine.h"
#include "call.h"

#define TM_MIGRATION_SERVICE_MAX_METHODS 8

/* Fills out[] with the service's methods, every one needing auth, with engine (borrowed) as
 * context. Returns how many. */
size_t tm_migration_service_methods(tm_engine *engine, tm_method *out, size_t max);

#endif
