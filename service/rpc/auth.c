/* Constant-time bearer-token checks. */
#include "auth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compares without an early exit so the time taken does not reveal how much of a guess was right.
 */
static bool equal_constant_time(const char *a, size_t alen, const char *b, size_t blen) {
  unsigned char diff = (unsigned char)(alen != blen);
  size_t n = alen > blen ? alen : blen;
  for (size_t i = 0; i < n; i++) {
    unsigned char x = i < alen ? (unsigned char)a[i] : 0;
    unsigned char y = i < blen ? (unsigned char)b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

bool tm_auth_check(const grpc_metadata_array *md, const char *token) {
  static const char scheme[] = "Bearer ";
  const size_t slen = sizeof scheme - 1;
  size_t tlen = strlen(token);
  bool ok = false;
  for (size_t i = 0; i < md->count; i++) {
    const grpc_metadata *m = &md->metadata[i];
    if (grpc_slice_str_cmp(m->key, "authorization") != 0) continue;
    const char *v = (const char *)GRPC_SLICE_START_PTR(m->value);
    size_t vlen = GRPC_SLICE_LENGTH(m->value);
    if (vlen <= slen || memcmp(v, scheme, slen) != 0) continue;
    ok |= tlen > 0 && equal_constant_time(v + slen, vlen - slen, token, tlen);
  }
  return ok;
}

char *tm_auth_token_from_text(const char *text) {
  const char *start = text;
  while (*start == ' ' || *start == '\t') start++;
  size_t len = strcspn(start, "\r\n");
  while (len > 0 && isspace((unsigned char)start[len - 1])) len--;
  return len ? strndup(start, len) : NULL;
}

char *tm_auth_read_token_file(const char *path, bool *unreadable) {
  FILE *f = fopen(path, "r");
  *unreadable = f == NULL;
  if (!f) return NULL;
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  *unreadable = ferror(f) != 0;
  fclose(f);
  buf[n] = '\0';
  return tm_auth_token_from_text(buf);
}
