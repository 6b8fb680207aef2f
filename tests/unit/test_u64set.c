/* tm_u64set against a plain model: random adds and removes, then every key looked up. Removal by
 * backward shift must leave every other key reachable, through wrap-around and growth alike. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "util/u64set.h"

Test(u64set, an_empty_set_has_nothing_and_removes_nothing) {
  tm_u64set s = {0};
  cr_assert_not(tm_u64set_has(&s, 1));
  cr_assert_not(tm_u64set_remove(&s, 1));
  tm_u64set_clear(&s);
}

Test(u64set, add_says_whether_the_key_was_new) {
  tm_u64set s = {0};
  cr_assert(tm_u64set_add(&s, 42));
  cr_assert_not(tm_u64set_add(&s, 42));
  cr_assert(tm_u64set_has(&s, 42));
  cr_assert_eq(s.n, 1);
  cr_assert(tm_u64set_remove(&s, 42));
  cr_assert_not(tm_u64set_has(&s, 42));
  cr_assert_eq(s.n, 0);
  tm_u64set_clear(&s);
}

Test(u64set, random_adds_and_removes_match_a_model) {
  enum { RANGE = 4096, STEPS = 200000 };
  bool *model = calloc(RANGE, sizeof *model);
  tm_u64set s = {0};
  size_t n = 0;
  srand(7);
  for (int step = 0; step < STEPS; step++) {
    /* Keys far apart and close together: both probe runs and wrap-around get exercised. */
    uint64_t k = (uint64_t)(rand() % RANGE);
    uint64_t key = k % 2 ? k * 0x9e3779b97f4a7c15ULL : k;
    if (rand() % 3) {
      cr_assert_eq(tm_u64set_add(&s, key), !model[k], "step %d", step);
      if (!model[k]) n++;
      model[k] = true;
    } else {
      cr_assert_eq(tm_u64set_remove(&s, key), model[k], "step %d", step);
      if (model[k]) n--;
      model[k] = false;
    }
    if (step % 10000 == 0) {
      for (uint64_t j = 0; j < RANGE; j++) {
        uint64_t kj = j % 2 ? j * 0x9e3779b97f4a7c15ULL : j;
        cr_assert_eq(tm_u64set_has(&s, kj), model[j], "step %d key %llu", step,
                     (unsigned long long)j);
      }
    }
  }
  cr_assert_eq(s.n, n);
  cr_assert_leq(s.n * 10, s.cap * 7, "kept under 70%% full");
  tm_u64set_clear(&s);
  free(model);
}

Test(u64set, byte_hashes_tell_close_inputs_apart) {
  cr_assert_eq(tm_hash_bytes("john", 4), tm_hash_bytes("john", 4));
  cr_assert_neq(tm_hash_bytes("john", 4), tm_hash_bytes("john1", 5));
  cr_assert_neq(tm_hash_bytes("ab", 2), tm_hash_bytes("ba", 2));
  cr_assert_neq(tm_hash_mix64(1), tm_hash_mix64(2));
}
