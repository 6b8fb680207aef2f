/* gRPC status -> exit code. */
#include "exit_codes.h"

#include <stddef.h>

int tm_ctl_exit_for_status(grpc_status_code code) {
  switch (code) {
  case GRPC_STATUS_OK: return TM_CTL_EXIT_OK;
  case GRPC_STATUS_INVALID_ARGUMENT:
  case GRPC_STATUS_NOT_FOUND: return TM_CTL_EXIT_USAGE;
  /* The server refuses because of what the database holds (e.g. Cancel of a migration that is not
   * running): asking again will not help, as with a FAILED migration. */
  case GRPC_STATUS_FAILED_PRECONDITION: return TM_CTL_EXIT_DATA;
  case GRPC_STATUS_UNAUTHENTICATED:
  case GRPC_STATUS_PERMISSION_DENIED: return TM_CTL_EXIT_NOPERM;
  /* Only reached once the retries ran out of --timeout: worth retrying later. */
  case GRPC_STATUS_UNAVAILABLE:
  case GRPC_STATUS_ABORTED:
  case GRPC_STATUS_DEADLINE_EXCEEDED: return TM_CTL_EXIT_TEMPFAIL;
  default: return TM_CTL_EXIT_SOFTWARE;
  }
}

const char *tm_ctl_status_name(grpc_status_code code) {
  static const char *const names[] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  if ((int)code >= 0 && (size_t)code < sizeof names / sizeof names[0]) return names[code];
  return "UNKNOWN";
}
