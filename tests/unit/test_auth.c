/* Bearer tokens: exact scheme, exact token, nothing else. */
#include <criterion/criterion.h>
#include <grpc/grpc.h>
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
