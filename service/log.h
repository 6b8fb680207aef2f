/* Structured logging: one JSON object per line on stderr.
 *
 *   tm_log(TM_LOG_INFO, "call done", "method", TM_LOG_STR(m), "code", TM_LOG_STR("OK"),
 *          "duration_ms", TM_LOG_DBL(1.5), NULL);
 *
 * Fields come in (key, value) pairs ended by NULL; values are made with the TM_LOG_* macros. Thread
 * safe: each line is written with one write(2). Callers never pass secrets (see store/uri
 * redaction). */
#ifndef TM_LOG_H
#define TM_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { TM_LOG_DEBUG, TM_LOG_INFO, TM_LOG_WARN, TM_LOG_ERROR } tm_log_level;

typedef struct {
  enum { TM_LOG_V_STR, TM_LOG_V_INT, TM_LOG_V_DBL, TM_LOG_V_BOOL } type;
  union {
    const char *s;
    int64_t i;
    double d;
    bool b;
  } u;
} tm_log_value;

#define TM_LOG_STR(x) ((tm_log_value){.type = TM_LOG_V_STR, .u.s = (x)})
#define TM_LOG_INT(x) ((tm_log_value){.type = TM_LOG_V_INT, .u.i = (int64_t)(x)})
#define TM_LOG_DBL(x) ((tm_log_value){.type = TM_LOG_V_DBL, .u.d = (double)(x)})
#define TM_LOG_BOOL(x) ((tm_log_value){.type = TM_LOG_V_BOOL, .u.b = (x)})

void tm_log_set_level(tm_log_level level);
/* Parses "debug", "info", "warn" or "error"; false when the name is none of them. */
bool tm_log_parse_level(const char *name, tm_log_level *out);
bool tm_log_enabled(tm_log_level level);

/* Fields: const char *key, tm_log_value value, ..., NULL. */
void tm_log(tm_log_level level, const char *msg, ...);

#endif
