/* Bearer tokens: exact scheme, exact token, nothing else. */
#include <criterion/criterion.h>
#include <grpc/grpc.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/auth.h"

static bool check(const char *value, const char *token) {
  grpc_metadata m = {.key = grpc_slice_from_static_string("authorization"),
                     .value = grpc_slice_from_copied_string(value)};
  grpc_metadata_array md = {.count = 1, .capacity = 1, .metadata = &m};
  bool ok = tm_auth_check(&md, token);
  grpc_slice_unref(m.value);
  return ok;
}

Test(auth, the_right_token_passes) { cr_assert(check("Bearer abc", "abc")); }
Test(auth, a_wrong_token_fails) { cr_assert_not(check("Bearer abd", "abc")); }
Test(auth, a_prefix_of_the_token_fails) { cr_assert_not(check("Bearer ab", "abc")); }
Test(auth, a_longer_token_fails) { cr_assert_not(check("Bearer abcd", "abc")); }
Test(auth, an_empty_token_fails) { cr_assert_not(check("Bearer ", "abc")); }
Test(auth, another_scheme_casing_fails) { cr_assert_not(check("bearer abc", "abc")); }
Test(auth, a_bare_token_fails) { cr_assert_not(check("abc", "abc")); }

Test(auth, no_metadata_fails) {
  grpc_metadata_array md = {0};
  cr_assert_not(tm_auth_check(&md, "abc"));
}

static void expect_token(const char *text, const char *want) {
  char *got = tm_auth_token_from_text(text);
  if (want) {
    cr_assert_not_null(got, "no token from \"%s\"", text);
    cr_assert_str_eq(got, want);
  } else {
    cr_assert_null(got, "\"%s\" gave a token", text);
  }
  free(got);
}
Test(token, surrounding_whitespace_is_trimmed) { expect_token("  abc \t\n", "abc"); }
Test(token, only_the_first_line_counts) { expect_token("abc\nsecond\n", "abc"); }
Test(token, an_empty_text_holds_no_token) { expect_token("", NULL); }
Test(token, a_blank_text_holds_no_token) { expect_token(" \t \r\n", NULL); }
Test(token, a_blank_first_line_holds_no_token) { expect_token("\nabc", NULL); }
