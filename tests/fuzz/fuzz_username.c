/* libFuzzer harness: username derivation on arbitrary bytes.
 *
 * Every input is used twice: as the UTF-8 text of a name (tm_username_base_of_text), and as a BSON
 * document whose every value is offered as a name (tm_username_base), since the migration reads
 * names out of BSON it did not write.
 *
 * Beyond the invariants username.h promises (at most 12 characters of [a-z0-9], "user" when empty
 * or not a string), the text result is compared with an oracle built a different way: a full
 * WHATWG UTF-8 decoder (what Node.js, and so the JavaScript expression, uses) followed by the
 * lowercase-and-strip step on whole code points. username.c instead skips non-ASCII bytes without
 * decoding them, so a disagreement points at a decoding case its reasoning missed. */
#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrations/usernames/derive.h"

#define CHECK(cond, ...)                                    \
  do {                                                      \
    if (!(cond)) {                                          \
      fprintf(stderr, "fuzz_username: invariant broken: "); \
      fprintf(stderr, __VA_ARGS__);                         \
      fprintf(stderr, " (%s, line %d)\n", #cond, __LINE__); \
      abort();                                              \
    }                                                       \
  } while (0)

#define REPLACEMENT 0xFFFDu

/* The character the JavaScript expression keeps for one code point, or 0. Only ASCII letters and
 * digits survive the replace; toLowerCase maps exactly two non-ASCII code points to something
 * holding ASCII (the Node enumeration recorded in tests/fixtures/usernames/expected.tsv). */
static char kept(uint32_t cp) {
  if (cp >= 'a' && cp <= 'z') return (char)cp;
  if (cp >= 'A' && cp <= 'Z') return (char)(cp - 'A' + 'a');
  if (cp >= '0' && cp <= '9') return (char)cp;
  if (cp == 0x130) return 'i'; /* lowercases to "i" U+0307; the combining dot is stripped */
  if (cp == 0x212A) return 'k';
  return 0;
}

typedef struct {
  char out[TM_USERNAME_BASE_MAX + 1];
  size_t n;
} oracle;

static void emit(oracle *o, uint32_t cp) {
  char k = kept(cp);
  if (k && o->n < TM_USERNAME_BASE_MAX) o->out[o->n++] = k;
}

/* The WHATWG Encoding Standard's UTF-8 decoder, step by step: an invalid byte ends the sequence
 * in progress with one U+FFFD and is then read again as the start of a new one. */
static void oracle_base(const uint8_t *s, size_t len, oracle *o) {
  o->n = 0;
  uint32_t cp = 0;
  unsigned needed = 0, seen = 0;
  uint8_t lower = 0x80, upper = 0xBF;
  size_t i = 0;
  while (i < len) {
    uint8_t b = s[i];
    if (needed == 0) {
      i++;
      if (b <= 0x7F) {
        emit(o, b);
      } else if (b >= 0xC2 && b <= 0xDF) {
        needed = 1;
        cp = b & 0x1Fu;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        needed = 2;
        cp = b & 0xFu;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        needed = 3;
        cp = b & 0x7u;
      } else {
        emit(o, REPLACEMENT);
      }
      continue;
    }
    if (b < lower || b > upper) {
      /* Not consumed: the byte starts over. */
      needed = seen = 0;
      cp = 0;
      lower = 0x80;
      upper = 0xBF;
      emit(o, REPLACEMENT);
      continue;
    }
    i++;
    lower = 0x80;
    upper = 0xBF;
    cp = (cp << 6) | (b & 0x3Fu);
    if (++seen == needed) {
      emit(o, cp);
      needed = seen = 0;
      cp = 0;
    }
  }
  if (needed) emit(o, REPLACEMENT);
  o->out[o->n] = '\0';
}

static void check_shape(const char *out, size_t n, const char *what) {
  CHECK(n <= TM_USERNAME_BASE_MAX, "%s: %zu characters", what, n);
  CHECK(out[n] == '\0', "%s: not NUL-terminated at %zu", what, n);
  for (size_t i = 0; i < n; i++)
    CHECK((out[i] >= 'a' && out[i] <= 'z') || (out[i] >= '0' && out[i] <= '9'),
          "%s: byte 0x%02x at %zu", what, (unsigned char)out[i], i);
}

/* What tm_username_base must give for a value: the text's base when it is a non-empty string's. */
static void check_value(const bson_value_t *v) {
  char got[TM_USERNAME_BASE_MAX + 1];
  memset(got, 'X', sizeof got);
  tm_username_base(v, got);
  size_t n = strnlen(got, sizeof got);
  CHECK(n < sizeof got, "tm_username_base: no NUL within %zu bytes", sizeof got);
  check_shape(got, n, "tm_username_base");

  char want[TM_USERNAME_BASE_MAX + 1] = "user";
  if (v && v->value_type == BSON_TYPE_UTF8) {
    char text[TM_USERNAME_BASE_MAX + 1];
    if (tm_username_base_of_text(v->value.v_utf8.str, v->value.v_utf8.len, text) > 0)
      memcpy(want, text, sizeof text);
  }
  CHECK(strcmp(got, want) == 0, "tm_username_base gave \"%s\", expected \"%s\" (type 0x%02x)", got,
        want, v ? (unsigned)v->value_type : 0u);
}

/* The input as a BSON document: each value (nested ones included) is a name candidate. */
static void check_document(const uint8_t *data, size_t size, int depth) {
  bson_t doc;
  bson_iter_t it;
  if (depth > 8 || !bson_init_static(&doc, data, size) || !bson_iter_init(&it, &doc)) return;
  while (bson_iter_next(&it)) {
    check_value(bson_iter_value(&it));
    if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
      uint32_t len;
      const uint8_t *inner;
      if (BSON_ITER_HOLDS_DOCUMENT(&it))
        bson_iter_document(&it, &len, &inner);
      else
        bson_iter_array(&it, &len, &inner);
      check_document(inner, len, depth + 1);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy, so reading past the text is an ASan report, not a silent read. */
  char *text = malloc(size ? size : 1);
  if (!text) return 0;
  if (size) memcpy(text, data, size);

  char got[TM_USERNAME_BASE_MAX + 1];
  memset(got, 'X', sizeof got);
  size_t n = tm_username_base_of_text(size ? text : NULL, size, got);
  check_shape(got, n, "tm_username_base_of_text");

  oracle o;
  oracle_base(data, size, &o);
  CHECK(n == o.n && memcmp(got, o.out, n) == 0,
        "tm_username_base_of_text gave \"%s\", the WHATWG decoder \"%s\"", got, o.out);

  bson_value_t v = {.value_type = BSON_TYPE_UTF8};
  v.value.v_utf8.str = text;
  v.value.v_utf8.len = (uint32_t)size;
  check_value(&v);
  v.value_type = BSON_TYPE_SYMBOL; /* the deprecated symbol type is not a string */
  v.value.v_symbol.symbol = text;
  v.value.v_symbol.len = (uint32_t)size;
  check_value(&v);
  check_value(NULL);

  check_document(data, size, 0);
  free(text);
  return 0;
}
