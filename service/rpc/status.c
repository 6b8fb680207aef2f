/* tm_code -> gRPC status code, and status code names. */
#include "status.h"

#include <stddef.h>

grpc_status_code tm_status_from_code(tm_code code) {
  switch (code) {
  case TM_OK: return GRPC_STATUS_OK;
  case TM_ERR_INVALID: return GRPC_STATUS_INVALID_ARGUMENT;
  case TM_ERR_NOT_FOUND: return GRPC_STATUS_NOT_FOUND;
  case TM_ERR_PRECONDITION: return GRPC_STATUS_FAILED_PRECONDITION;
  case TM_ERR_UNAVAILABLE: return GRPC_STATUS_UNAVAILABLE;
  case TM_ERR_CONFLICT: return GRPC_STATUS_ABORTED;
  case TM_ERR_DATA: return GRPC_STATUS_FAILED_PRECONDITION;
  case TM_ERR_CANCELED: return GRPC_STATUS_CANCELLED;
  case TM_ERR_UNAUTHENTICATED: return GRPC_STATUS_UNAUTHENTICATED;
  case TM_ERR_RESOURCE: return GRPC_STATUS_RESOURCE_EXHAUSTED;
  case TM_ERR_DEADLINE: return GRPC_STATUS_DEADLINE_EXCEEDED;
  case TM_ERR_INTERNAL: return GRPC_STATUS_INTERNAL;
  }
  return GRPC_STATUS_UNKNOWN;
}

const char *tm_status_name(grpc_status_code code) {
  static const char *names[] = {
      "OK",       "Canceled",        "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",      "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated",
  };
  if ((int)code >= 0 && (size_t)code < sizeof names / sizeof names[0]) return names[code];
  return "Unknown";
}
