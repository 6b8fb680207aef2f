/* Well-formedness as RFC 3629 defines it (table 3-7 of the Unicode standard). */
#include "utf8.h"

#include <stdio.h>
#include <string.h>

static int continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

size_t tm_utf8_char_len(const char *p, size_t avail) {
  const unsigned char *s = (const unsigned char *)p;
  if (avail == 0) return 0;
  unsigned char b = s[0];
  if (b < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF; /* the range the second byte may take */
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    if (b == 0xE0) lo = 0xA0; /* overlong */
    if (b == 0xED) hi = 0x9F; /* surrogates */
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    if (b == 0xF0) lo = 0x90; /* overlong */
    if (b == 0xF4) hi = 0x8F; /* past U+10FFFF */
  } else {
    return 0;
  }
  if (avail < n || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < n; i++) {
    if (!continuation(s[i])) return 0;
  }
  return n;
}

size_t tm_utf8_cut(const char *s, size_t max) {
  size_t len = strlen(s), at = 0;
  while (at < len) {
    size_t n = tm_utf8_char_len(s + at, len - at);
    if (n == 0) n = 1; /* an invalid byte is cut like a character of its own */
    if (at + n > max) break;
    at += n;
  }
  return at;
}

void tm_utf8_sanitize(const char *s, char *out, size_t size) {
  if (size == 0) return;
  size_t len = strlen(s), o = 0;
  for (size_t i = 0; i < len;) {
    size_t n = tm_utf8_char_len(s + i, len - i);
    if (n > 0) {
      if (o + n >= size) break;
      memcpy(out + o, s + i, n);
      o += n;
      i += n;
    } else {
      if (o + 4 >= size) break;
      snprintf(out + o, 5, "\\x%02x", (unsigned char)s[i]);
      o += 4;
      i++;
    }
  }
  out[o] = '\0';
}
