#include "derive.h"

#include <string.h>

/* JavaScript's toLowerCase, then the strip to [a-z0-9], seen one input byte at a time.
 *
 * Only two non-ASCII code points lowercase to anything holding an ASCII letter or digit: U+0130
 * (-> "i" U+0307) and U+212A KELVIN SIGN (-> "k"). That list comes from enumerating every code
 * point in Node.js (tests/fixtures/usernames/generate.js records it in the fixture header and the
 * unit test re-checks every code point against the fixture). Everything else non-ASCII, including
 * each invalid sequence decoded as U+FFFD, is removed by the replace, so no general decoder is
 * needed: a byte >= 0xC0 always begins a fresh decode (a sequence cut short before it ends as
 * U+FFFD without consuming it), hence the exact bytes C4 B0 or E2 84 AA, wherever they occur, are
 * decoded as those two code points, and overlong or truncated forms of them never match.
 *
 * toLowerCase's only context-dependent rule for the root locale (final sigma) produces Greek, so
 * lowercasing code point by code point equals lowercasing the whole string for our purpose. */

typedef struct {
  unsigned char utf8[3];
  unsigned char len;
  char ascii;
} special;

static const special specials[] = {
    {{0xC4, 0xB0, 0x00}, 2, 'i'}, /* U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE */
    {{0xE2, 0x84, 0xAA}, 3, 'k'}, /* U+212A KELVIN SIGN */
};

/* The output character for an ASCII byte, 0 when the replace removes it. */
static char ascii_kept(unsigned char c) {
  if (c >= 'a' && c <= 'z') return (char)c;
  if (c >= 'A' && c <= 'Z') return (char)(c - 'A' + 'a');
  if (c >= '0' && c <= '9') return (char)c;
  return 0;
}

size_t tm_username_base_of_text(const char *utf8, size_t len, char out[TM_USERNAME_BASE_MAX + 1]) {
  const unsigned char *s = (const unsigned char *)utf8;
  size_t n = 0;
  size_t i = 0;
  if (!s) len = 0;
  /* Stops at 12 output characters: slice(0, 12) counts UTF-16 units, but only ASCII survives. */
  while (i < len && n < TM_USERNAME_BASE_MAX) {
    unsigned char c = s[i];
    if (c < 0x80) {
      char k = ascii_kept(c);
      if (k) out[n++] = k;
      i++;
      continue;
    }
    size_t step = 1;
    for (size_t j = 0; j < sizeof specials / sizeof specials[0]; j++) {
      const special *sp = &specials[j];
      if (c == sp->utf8[0] && len - i >= sp->len && memcmp(s + i, sp->utf8, sp->len) == 0) {
        out[n++] = sp->ascii;
        step = sp->len;
        break;
      }
    }
    i += step;
  }
  out[n] = '\0';
  return n;
}

void tm_username_base(const bson_value_t *name, char out[TM_USERNAME_BASE_MAX + 1]) {
  if (name && name->value_type == BSON_TYPE_UTF8 &&
      tm_username_base_of_text(name->value.v_utf8.str, name->value.v_utf8.len, out) > 0)
    return;
  memcpy(out, "user", sizeof "user");
}
