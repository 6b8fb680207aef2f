/* UTF-8 that stays valid: cuts on character boundaries, invalid bytes escaped. */
#include <criterion/criterion.h>
#include <string.h>

#include "util/utf8.h"

Test(utf8, ascii_and_each_width_are_one_character) {
  cr_assert_eq(tm_utf8_char_len("a", 1), 1);
  cr_assert_eq(tm_utf8_char_len("\xc3\xa9", 2), 2);         /* é */
  cr_assert_eq(tm_utf8_char_len("\xe2\x82\xac", 3), 3);     /* € */
  cr_assert_eq(tm_utf8_char_len("\xf0\x9f\x98\x80", 4), 4); /* 😀 */
}
Test(utf8, malformed_sequences_are_no_character) {
  cr_assert_eq(tm_utf8_char_len("\x80", 1), 0);             /* stray continuation */
  cr_assert_eq(tm_utf8_char_len("\xc0\xaf", 2), 0);         /* overlong '/' */
  cr_assert_eq(tm_utf8_char_len("\xe0\x80\xaf", 3), 0);     /* overlong */
  cr_assert_eq(tm_utf8_char_len("\xed\xa0\x80", 3), 0);     /* surrogate */
  cr_assert_eq(tm_utf8_char_len("\xf4\x90\x80\x80", 4), 0); /* past U+10FFFF */
  cr_assert_eq(tm_utf8_char_len("\xff", 1), 0);
  cr_assert_eq(tm_utf8_char_len("\xe2\x82", 2), 0); /* cut short */
}
Test(utf8, a_cut_never_splits_a_character) {
  const char *s =
      "ab\xe2\x82\xac"
      "cd";
  cr_assert_eq(tm_utf8_cut(s, 2), 2);
  cr_assert_eq(tm_utf8_cut(s, 3), 2);
  cr_assert_eq(tm_utf8_cut(s, 4), 2);
  cr_assert_eq(tm_utf8_cut(s, 5), 5);
  cr_assert_eq(tm_utf8_cut(s, 100), strlen(s));
}
Test(utf8, sanitize_escapes_invalid_bytes_and_keeps_the_rest) {
  char out[64];
  tm_utf8_sanitize("ok \xff\xc3\xa9 \xe2\x82", out, sizeof out);
  cr_assert_str_eq(out, "ok \\xff\xc3\xa9 \\xe2\\x82");
}
Test(utf8, sanitize_cuts_on_a_character_boundary) {
  char out[5];
  tm_utf8_sanitize("abc\xe2\x82\xac", out, sizeof out);
  cr_assert_str_eq(out, "abc");
  tm_utf8_sanitize("a\xff", out, sizeof out);
  cr_assert_str_eq(out, "a");
}
