/* Structured JSON-lines logging on stderr. */
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/utf8.h"

static _Atomic int min_level = TM_LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void tm_log_set_level(tm_log_level level) { atomic_store(&min_level, (int)level); }

bool tm_log_enabled(tm_log_level level) { return (int)level >= atomic_load(&min_level); }

bool tm_log_parse_level(const char *name, tm_log_level *out) {
  for (int i = 0; i < 4; i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *out = (tm_log_level)i;
      return true;
    }
  }
  return false;
}

/* A line buffer that truncates instead of overflowing; one log line is one write(2). */
typedef struct {
  char buf[8192];
  size_t len;
} line;

static void put(line *l, const char *s, size_t n) {
  size_t room = sizeof l->buf - 2 - l->len; /* keep space for "}\n" */
  if (n > room) n = room;
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

static void putf(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(line *l, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) put(l, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Writes s as a JSON string: control characters escaped, bytes that are not well-formed UTF-8
 * written as the text \xHH (a JSON-lines reader refuses invalid UTF-8), and a character that does
 * not fit left out whole rather than cut. */
static void put_json_string(line *l, const char *s) {
  put(l, "\"", 1);
  s = s ? s : "";
  for (size_t len = strlen(s), i = 0; i < len;) {
    unsigned char b = (unsigned char)s[i];
    size_t n = tm_utf8_char_len(s + i, len - i);
    if (b == '"' || b == '\\') {
      char esc[2] = {'\\', (char)b};
      put(l, esc, 2);
    } else if (b < 0x20) {
      putf(l, "\\u%04x", b);
    } else if (n == 0) {
      putf(l, "\\\\x%02x", b);
    } else if (l->len + n <= sizeof l->buf - 2) {
      put(l, s + i, n);
    }
    i += n ? n : 1;
  }
  put(l, "\"", 1);
}

void tm_log(tm_log_level level, const char *msg, ...) {
  if (!tm_log_enabled(level)) return;
  line l = {.len = 0};
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[40];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  putf(&l, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":", when, ts.tv_nsec / 1000000,
       level_names[level]);
  put_json_string(&l, msg);

  va_list ap;
  va_start(ap, msg);
  const char *key;
  while ((key = va_arg(ap, const char *)) != NULL) {
    tm_log_value v = va_arg(ap, tm_log_value);
    put(&l, ",", 1);
    put_json_string(&l, key);
    put(&l, ":", 1);
    switch (v.type) {
    case TM_LOG_V_STR: put_json_string(&l, v.u.s); break;
    case TM_LOG_V_INT: putf(&l, "%" PRId64, v.u.i); break;
    case TM_LOG_V_DBL: putf(&l, "%.3f", v.u.d); break;
    case TM_LOG_V_BOOL: put(&l, v.u.b ? "true" : "false", v.u.b ? 4 : 5); break;
    }
  }
  va_end(ap);
  memcpy(l.buf + l.len, "}\n", 2);
  l.len += 2;
  ssize_t ignored = write(STDERR_FILENO, l.buf, l.len);
  (void)ignored;
}
