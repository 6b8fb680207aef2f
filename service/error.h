/* The one error type of the service.
 *
 * Every fallible function returns tm_code (TM_OK on success) and, on failure, fills a caller-owned
 * tm_error with a message naming the problem. Codes are the service's own; rpc/status.c is the only
 * place that maps them onto gRPC status codes. Messages never carry secrets: store code redacts
 * URIs before formatting them. */
#ifndef TM_ERROR_H
#define TM_ERROR_H

#include <stdarg.h>

typedef enum {
  TM_OK = 0,
  TM_ERR_INVALID,      /* the caller's input is wrong */
  TM_ERR_NOT_FOUND,    /* the named thing does not exist */
  TM_ERR_PRECONDITION, /* the request is valid but not in the current state */
  TM_ERR_UNAVAILABLE,  /* the database cannot be reached; retrying may help */
  TM_ERR_CONFLICT,     /* lost a race (lease taken, duplicate key); retrying may help */
  TM_ERR_DATA,         /* the stored data break an invariant (e.g. duplicate usernames) */
  TM_ERR_CANCELED,     /* stopped on request */
  TM_ERR_UNAUTHENTICATED,
  TM_ERR_RESOURCE, /* a limit was exceeded */
  TM_ERR_DEADLINE, /* the caller's deadline passed first */
  TM_ERR_INTERNAL, /* a bug or an unexpected server answer */
} tm_code;

#define TM_ERROR_MSG_MAX 512

typedef struct {
  tm_code code;
  char msg[TM_ERROR_MSG_MAX];
} tm_error;

/* Sets err (when not NULL) and returns code, so callers can write `return tm_error_set(err, ...)`.
 */
tm_code tm_error_set(tm_error *err, tm_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
tm_code tm_error_vset(tm_error *err, tm_code code, const char *fmt, va_list ap);

/* Prepends "what: " to err's message, keeping its code; returns the code. */
tm_code tm_error_wrap(tm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

const char *tm_code_name(tm_code code);

#endif
