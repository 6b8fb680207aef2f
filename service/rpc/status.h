/* The one place where the service's error codes become gRPC status codes. */
#ifndef TM_RPC_STATUS_H
#define TM_RPC_STATUS_H

#include <grpc/status.h>

#include "../error.h"

grpc_status_code tm_status_from_code(tm_code code);
/* "OK", "InvalidArgument", ... as go-grpc-prometheus spells codes (for logs and metrics). */
const char *tm_status_name(grpc_status_code code);

#endif
