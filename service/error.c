/* The service's error type: formatting helpers and code names. */
#include "error.h"

#include <stdio.h>
#include <string.h>

tm_code tm_error_vset(tm_error *err, tm_code code, const char *fmt, va_list ap) {
  if (err) {
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  }
  return code;
}

tm_code tm_error_set(tm_error *err, tm_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tm_error_vset(err, code, fmt, ap);
  va_end(ap);
  return code;
}

tm_code tm_error_wrap(tm_error *err, const char *fmt, ...) {
  if (!err) return TM_ERR_INTERNAL;
  char prefix[TM_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  /* Shift the old message right to make room for "prefix: "; whatever no longer fits is cut. */
  size_t plen = strlen(prefix) + 2;
  if (plen >= sizeof err->msg) plen = sizeof err->msg - 1;
  size_t olen = strnlen(err->msg, sizeof err->msg - 1);
  if (olen > sizeof err->msg - 1 - plen) olen = sizeof err->msg - 1 - plen;
  memmove(err->msg + plen, err->msg, olen);
  memcpy(err->msg, prefix, plen - 2);
  memcpy(err->msg + plen - 2, ": ", 2);
  err->msg[plen + olen] = '\0';
  return err->code;
}

const char *tm_code_name(tm_code code) {
  switch (code) {
  case TM_OK: return "ok";
  case TM_ERR_INVALID: return "invalid";
  case TM_ERR_NOT_FOUND: return "not_found";
  case TM_ERR_PRECONDITION: return "precondition";
  case TM_ERR_UNAVAILABLE: return "unavailable";
  case TM_ERR_CONFLICT: return "conflict";
  case TM_ERR_DATA: return "data";
  case TM_ERR_CANCELED: return "canceled";
  case TM_ERR_UNAUTHENTICATED: return "unauthenticated";
  case TM_ERR_RESOURCE: return "resource";
  case TM_ERR_DEADLINE: return "deadline";
  case TM_ERR_INTERNAL: return "internal";
  }
  return "unknown";
}
