/* tm_username_base against JavaScript: tests/fixtures/usernames/expected.tsv holds what Node.js
 * computes for each name (see generate.js there); the named cases below pin the behaviours the
 * migration's spec spells out. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrations/usernames/derive.h"

#define FIXTURE TM_SOURCE_DIR "/tests/fixtures/usernames/expected.tsv"

typedef struct {
  int line;
  char *hex; /* points into fixture.text */
  size_t hex_len;
  char *expected; /* NUL-terminated, points into fixture.text */
} row;

typedef struct {
  char *text; /* the whole file, owned */
  row *rows;  /* owned */
  size_t n;
} fixture;

static void fixture_load(fixture *f) {
  FILE *fp = fopen(FIXTURE, "rb");
  cr_assert_not_null(fp, "cannot open %s", FIXTURE);
  cr_assert_eq(fseek(fp, 0, SEEK_END), 0);
  long size = ftell(fp);
  cr_assert_gt(size, 0);
  rewind(fp);
  f->text = malloc((size_t)size + 1);
  cr_assert_not_null(f->text);
  cr_assert_eq(fread(f->text, 1, (size_t)size, fp), (size_t)size);
  f->text[size] = '\0';
  fclose(fp);

  size_t cap = 0;
  f->rows = NULL;
  f->n = 0;
  int line = 0;
  for (char *p = f->text; *p;) {
    char *end = strchr(p, '\n');
    cr_assert_not_null(end, "%s: line %d has no newline", FIXTURE, line + 1);
    *end = '\0';
    line++;
    if (*p != '#') {
      char *tab = strchr(p, '\t');
      cr_assert_not_null(tab, "%s:%d: no tab", FIXTURE, line);
      *tab = '\0';
      if (f->n == cap) {
        cap = cap ? cap * 2 : 1024;
        f->rows = realloc(f->rows, cap * sizeof *f->rows);
        cr_assert_not_null(f->rows);
      }
      f->rows[f->n++] = (row){line, p, (size_t)(tab - p), tab + 1};
    }
    p = end + 1;
  }
}

static void fixture_free(fixture *f) {
  free(f->rows);
  free(f->text);
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Decodes a row's name into a malloc'ed buffer (the caller frees it). */
static char *row_name(const row *r, size_t *len) {
  cr_assert_eq(r->hex_len % 2, 0, "%s:%d: odd hex length", FIXTURE, r->line);
  *len = r->hex_len / 2;
  char *out = malloc(*len + 1);
  cr_assert_not_null(out);
  for (size_t i = 0; i < *len; i++) {
    int hi = hex_digit(r->hex[2 * i]), lo = hex_digit(r->hex[2 * i + 1]);
    cr_assert(hi >= 0 && lo >= 0, "%s:%d: bad hex", FIXTURE, r->line);
    out[i] = (char)(hi << 4 | lo);
  }
  return out;
}

static size_t base_of(const char *s, char out[TM_USERNAME_BASE_MAX + 1]) {
  return tm_username_base_of_text(s, strlen(s), out);
}

static void base_of_value(const bson_value_t *v, char out[TM_USERNAME_BASE_MAX + 1]) {
  memset(out, 'X', TM_USERNAME_BASE_MAX + 1); /* a missing terminator must show */
  tm_username_base(v, out);
}

/* The base tm_username_base gives for the value of "name" in doc (absent: NULL value). */
static void base_of_doc_name(const bson_t *doc, char out[TM_USERNAME_BASE_MAX + 1]) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, "name"))
    base_of_value(bson_iter_value(&it), out);
  else
    base_of_value(NULL, out);
}

/* ---------------------------------------------------------------------------------------------- */

Test(username, every_fixture_row_matches_javascript) {
  fixture f;
  fixture_load(&f);
  cr_assert_gt(f.n, 1000, "fixture has only %zu rows", f.n);
  size_t failures = 0;
  for (size_t i = 0; i < f.n; i++) {
    const row *r = &f.rows[i];
    size_t len;
    char *name = row_name(r, &len);
    char out[TM_USERNAME_BASE_MAX + 1];
    size_t n = tm_username_base_of_text(name, len, out);
    if (strcmp(out, r->expected) != 0 || n != strlen(r->expected)) {
      if (++failures <= 20)
        cr_log_error("%s:%d: name %.*s%s gave \"%s\" (%zu), JavaScript gives \"%s\"", FIXTURE,
                     r->line, r->hex_len > 80 ? 80 : (int)r->hex_len, r->hex,
                     r->hex_len > 80 ? "..." : "", out, n, r->expected);
    }
    free(name);
  }
  cr_expect_eq(failures, 0, "%zu of %zu fixture rows differ from JavaScript", failures, f.n);
  fixture_free(&f);
}

Test(username, every_fixture_row_as_a_bson_string_gives_its_base_or_user) {
  fixture f;
  fixture_load(&f);
  size_t failures = 0;
  for (size_t i = 0; i < f.n; i++) {
    const row *r = &f.rows[i];
    size_t len;
    char *name = row_name(r, &len);
    bson_value_t v = {.value_type = BSON_TYPE_UTF8};
    v.value.v_utf8.str = name;
    v.value.v_utf8.len = (uint32_t)len;
    char out[TM_USERNAME_BASE_MAX + 1];
    base_of_value(&v, out);
    const char *want = r->expected[0] ? r->expected : "user";
    if (strcmp(out, want) != 0 && ++failures <= 20)
      cr_log_error("%s:%d: gave \"%s\", want \"%s\"", FIXTURE, r->line, out, want);
    free(name);
  }
  cr_expect_eq(failures, 0, "%zu of %zu fixture rows differ", failures, f.n);
  fixture_free(&f);
}

static size_t utf8_encode(uint32_t cp, char out[4]) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | cp >> 18);
  out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* The fixture holds a row for each code point alone that Node's enumeration found to lowercase into
 * ASCII, and the test above checks those; this closes the other direction, so that the set of
 * non-ASCII code points with a non-empty base is exactly Node's. */
Test(username, no_other_code_point_than_nodes_enumeration_yields_ascii) {
  fixture f;
  fixture_load(&f);
  size_t producing = 0;
  for (uint32_t cp = 0x80; cp <= 0x10FFFF; cp++) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    char enc[4], out[TM_USERNAME_BASE_MAX + 1];
    size_t len = utf8_encode(cp, enc);
    if (tm_username_base_of_text(enc, len, out) == 0) continue;
    producing++;
    char hex[9];
    for (size_t i = 0; i < len; i++) snprintf(hex + 2 * i, 3, "%02x", (unsigned char)enc[i]);
    const row *found = NULL;
    for (size_t i = 0; i < f.n && !found; i++)
      if (f.rows[i].hex_len == 2 * len && memcmp(f.rows[i].hex, hex, 2 * len) == 0)
        found = &f.rows[i];
    cr_expect(found && strcmp(found->expected, out) == 0,
              "U+%04X gives \"%s\" but Node's enumeration has no such row", (unsigned)cp, out);
  }
  cr_expect_eq(producing, 2, "%zu code points yield ASCII (Node 20: U+0130, U+212A)", producing);
  fixture_free(&f);
}

/* ---------------------------------------------------------------------------------------------- */

Test(username, john_doe_becomes_johndoe) {
  char out[TM_USERNAME_BASE_MAX + 1];
  cr_expect_eq(base_of("John Doe", out), 7);
  cr_expect_str_eq(out, "johndoe");
}

Test(username, base_is_cut_to_twelve_characters) {
  char out[TM_USERNAME_BASE_MAX + 1];
  cr_expect_eq(base_of("Christopher Robin", out), 12);
  cr_expect_str_eq(out, "christopherr");
}

Test(username, digits_are_kept) {
  char out[TM_USERNAME_BASE_MAX + 1];
  base_of("R2-D2 & C-3PO", out);
  cr_expect_str_eq(out, "r2d2c3po");
}

Test(username, empty_string_gives_user) {
  char out[TM_USERNAME_BASE_MAX + 1];
  cr_expect_eq(base_of("", out), 0);
  cr_expect_str_eq(out, "");
  bson_t *doc = BCON_NEW("name", BCON_UTF8(""));
  base_of_doc_name(doc, out);
  cr_expect_str_eq(out, "user");
  bson_destroy(doc);
}

Test(username, punctuation_only_gives_user) {
  char out[TM_USERNAME_BASE_MAX + 1];
  bson_t *doc = BCON_NEW("name", BCON_UTF8("!!!"));
  base_of_doc_name(doc, out);
  cr_expect_str_eq(out, "user");
  bson_destroy(doc);
}

Test(username, non_ascii_only_gives_user) {
  char out[TM_USERNAME_BASE_MAX + 1];
  bson_t *doc = BCON_NEW("name", BCON_UTF8("山田 Иван Σωκράτης 😀"));
  base_of_doc_name(doc, out);
  cr_expect_str_eq(out, "user");
  bson_destroy(doc);
}

Test(username, missing_name_gives_user) {
  char out[TM_USERNAME_BASE_MAX + 1];
  bson_t *doc = BCON_NEW("other", BCON_UTF8("John"));
  base_of_doc_name(doc, out);
  cr_expect_str_eq(out, "user");
  bson_destroy(doc);
}

Test(username, null_name_gives_user) {
  char out[TM_USERNAME_BASE_MAX + 1];
  bson_t *doc = BCON_NEW("name", BCON_NULL);
  base_of_doc_name(doc, out);
  cr_expect_str_eq(out, "user");
  bson_destroy(doc);
}

Test(username, numbers_give_user) {
  char out[TM_USERNAME_BASE_MAX + 1];
  bson_t *docs[] = {BCON_NEW("name", BCON_INT32(42)), BCON_NEW("name", BCON_INT64(1234567890123)),
                    BCON_NEW("name", BCON_DOUBLE(3.5)), BCON_NEW("name", BCON_BOOL(true))};
  for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
    base_of_doc_name(docs[i], out);
    cr_expect_str_eq(out, "user", "doc %zu", i);
    bson_destroy(docs[i]);
  }
}

Test(username, arrays_and_documents_give_user) {
  char out[TM_USERNAME_BASE_MAX + 1];
  bson_t *docs[] = {BCON_NEW("name", "[", BCON_UTF8("John"), BCON_UTF8("Doe"), "]"),
                    BCON_NEW("name", "[", "]"),
                    BCON_NEW("name", "{", "first", BCON_UTF8("John"), "}")};
  for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
    base_of_doc_name(docs[i], out);
    cr_expect_str_eq(out, "user", "doc %zu", i);
    bson_destroy(docs[i]);
  }
}

Test(username, symbol_counts_as_not_a_string) {
  char out[TM_USERNAME_BASE_MAX + 1];
  bson_t *doc = BCON_NEW("name", BCON_SYMBOL("John"));
  base_of_doc_name(doc, out);
  cr_expect_str_eq(out, "user");
  bson_destroy(doc);
}

Test(username, string_name_in_a_document_gives_its_base) {
  char out[TM_USERNAME_BASE_MAX + 1];
  bson_t *doc = BCON_NEW("name", BCON_UTF8("Jane O'Connor"));
  base_of_doc_name(doc, out);
  cr_expect_str_eq(out, "janeoconnor");
  bson_destroy(doc);
}

Test(username, dotted_capital_i_becomes_i) {
  char out[TM_USERNAME_BASE_MAX + 1];
  base_of("\xC4\xB0stanbul", out); /* İstanbul: "i̇stanbul" in JavaScript */
  cr_expect_str_eq(out, "istanbul");
}

Test(username, dotless_small_i_is_stripped) {
  char out[TM_USERNAME_BASE_MAX + 1];
  base_of(
      "I\xC4\x9F"
      "d\xC4\xB1r",
      out); /* Iğdır */
  cr_expect_str_eq(out, "idr");
}

Test(username, kelvin_sign_becomes_k) {
  char out[TM_USERNAME_BASE_MAX + 1];
  base_of("273\xE2\x84\xAA", out);
  cr_expect_str_eq(out, "273k");
}

Test(username, angstrom_sign_is_stripped) {
  char out[TM_USERNAME_BASE_MAX + 1];
  base_of(
      "\xE2\x84\xAB"
      "ngstrom",
      out); /* U+212B lowercases to U+00E5, not ASCII */
  cr_expect_str_eq(out, "ngstrom");
}

Test(username, special_code_points_count_toward_twelve) {
  char out[TM_USERNAME_BASE_MAX + 1];
  base_of("xxxxxxxxxx\xC4\xB0\xE2\x84\xAAyz", out);
  cr_expect_str_eq(out, "xxxxxxxxxxik");
}

Test(username, overlong_encodings_are_not_letters) {
  char out[TM_USERNAME_BASE_MAX + 1];
  /* C1 81 would be "A", E0 84 B0 U+0130 and F0 82 84 AA U+212A if overlongs were accepted. */
  static const char s[] = "\xC1\x81\xE0\x84\xB0\xF0\x82\x84\xAA";
  cr_expect_eq(tm_username_base_of_text(s, sizeof s - 1, out), 0);
  cr_expect_str_eq(out, "");
}

Test(username, invalid_bytes_do_not_swallow_following_letters) {
  char out[TM_USERNAME_BASE_MAX + 1];
  /* a truncated 3-byte sequence, a stray continuation, an encoded surrogate, a byte never valid */
  static const char s[] =
      "a\xE2\x84"
      "b\x80"
      "c\xED\xA0\x80"
      "d\xFF"
      "e\xC4";
  tm_username_base_of_text(s, sizeof s - 1, out);
  cr_expect_str_eq(out, "abcde");
}

Test(username, special_code_point_after_a_truncated_sequence_still_counts) {
  char out[TM_USERNAME_BASE_MAX + 1];
  static const char s[] = "\xE0\xA0\xC4\xB0\xF0\xE2\x84\xAA"; /* U+FFFD İ U+FFFD K */
  tm_username_base_of_text(s, sizeof s - 1, out);
  cr_expect_str_eq(out, "ik");
}

Test(username, truncated_special_at_the_end_is_stripped) {
  char out[TM_USERNAME_BASE_MAX + 1];
  static const char s[] = "ok\xE2\x84";
  cr_expect_eq(tm_username_base_of_text(s, sizeof s - 1, out), 2);
  cr_expect_str_eq(out, "ok");
}

Test(username, embedded_nul_does_not_end_the_name) {
  char out[TM_USERNAME_BASE_MAX + 1];
  static const char s[] = "ab\0cd";
  tm_username_base_of_text(s, sizeof s - 1, out);
  cr_expect_str_eq(out, "abcd");
}

Test(username, only_len_bytes_are_read) {
  char out[TM_USERNAME_BASE_MAX + 1];
  /* The special sequence is cut by len: it must neither match nor be read past. */
  static const char s[] = "abc\xE2\x84\xAA";
  tm_username_base_of_text(s, 5, out);
  cr_expect_str_eq(out, "abc");
}

Test(username, null_pointer_with_zero_length_is_empty) {
  char out[TM_USERNAME_BASE_MAX + 1];
  cr_expect_eq(tm_username_base_of_text(NULL, 0, out), 0);
  cr_expect_str_eq(out, "");
}

Test(username, one_megabyte_name_is_cut_to_twelve) {
  size_t len = 1 << 20;
  char *s = malloc(len);
  cr_assert_not_null(s);
  for (size_t i = 0; i < len; i++) s[i] = (char)('A' + i % 26);
  char out[TM_USERNAME_BASE_MAX + 1];
  cr_expect_eq(tm_username_base_of_text(s, len, out), 12);
  cr_expect_str_eq(out, "abcdefghijkl");
  free(s);
}

Test(username, one_megabyte_name_with_letters_only_at_the_end) {
  size_t len = 1 << 20;
  char *s = malloc(len);
  cr_assert_not_null(s);
  /* Non-ASCII filler of every kind the scan must step over: 2-, 3-, 4-byte and invalid bytes. */
  static const char filler[] = "\xC3\xA9\xE5\xB1\xB1\xF0\x9F\x98\x80\xFF\x80-";
  size_t fl = sizeof filler - 1;
  for (size_t i = 0; i + fl <= len; i += fl) memcpy(s + i, filler, fl);
  memset(s + len - (len % fl), ' ', len % fl);
  memcpy(s + len - 3, "XyZ", 3);
  char out[TM_USERNAME_BASE_MAX + 1];
  cr_expect_eq(tm_username_base_of_text(s, len, out), 3);
  cr_expect_str_eq(out, "xyz");
  free(s);
}
