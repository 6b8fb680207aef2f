/* migratectl's exit codes (sysexits.h values, so Jobs and scripts can tell permanent failures from
 * ones worth retrying) and the mapping from gRPC status codes onto them. */
#ifndef TM_CTL_EXIT_CODES_H
#define TM_CTL_EXIT_CODES_H

#include <grpc/status.h>

enum {
  TM_CTL_EXIT_OK = 0,        /* every asked migration SUCCEEDED or was skipped; a query answered */
  TM_CTL_EXIT_USAGE = 64,    /* bad command line, INVALID_ARGUMENT, NOT_FOUND (unknown name) */
  TM_CTL_EXIT_DATA = 65,     /* a migration ended FAILED or CANCELED; FAILED_PRECONDITION */
  TM_CTL_EXIT_SOFTWARE = 70, /* any other status: a bug or an unexpected answer */
  /* unreachable, UNAVAILABLE, ABORTED or DEADLINE_EXCEEDED at --timeout; a migration INTERRUPTED */
  TM_CTL_EXIT_TEMPFAIL = 75,
  TM_CTL_EXIT_NOPERM = 77, /* UNAUTHENTICATED or PERMISSION_DENIED */
};

/* The exit code for a call that ended with code (not OK). */
int tm_ctl_exit_for_status(grpc_status_code code);

/* "UNAVAILABLE", "INVALID_ARGUMENT", ...: the canonical names operators search for. */
const char *tm_ctl_status_name(grpc_status_code code);

#endif
