/* The cache of bases: what it says is taken, where a base's next moves, how a forgotten base comes
 * back through its hint, and the journal that takes a tentative plan back. */
#include <criterion/criterion.h>
#include <string.h>

#include "migrations/usernames/bases.h"

static tm_base *add(tm_bases *c, const char *base) { return tm_bases_add(c, base, strlen(base)); }

static bool taken(const tm_bases *c, const char *name) {
  return tm_bases_is_taken(c, name, strlen(name));
}

static void mark(tm_bases *c, const char *name) { tm_bases_mark_name(c, name, strlen(name)); }

Test(bases, next_moves_past_a_run_of_taken_suffixes_and_holes_fill_in) {
  tm_bases c = {0};
  tm_base *john = add(&c, "john");
  cr_assert_eq(john->next, 0);
  mark(&c, "john2"); /* above next: a hole */
  cr_assert_eq(john->next, 0);
  cr_assert(tm_base_has_hole(john, 2));
  mark(&c, "john");
  mark(&c, "john1"); /* 0 and 1 taken: next passes the hole at 2 too */
  cr_assert_eq(john->next, 3);
  cr_assert_not(tm_base_has_hole(john, 2));
  cr_assert(taken(&c, "john2"));
  cr_assert_not(taken(&c, "john3"));
  tm_bases_clear(&c);
}

Test(bases, a_name_counts_for_every_base_whose_candidates_hold_it) {
  tm_bases c = {0};
  tm_base *abc = add(&c, "abc"), *abc1 = add(&c, "abc1");
  mark(&c, "abc11"); /* abc + 11 and abc1 + 1 */
  cr_assert(tm_base_has_hole(abc, 11));
  cr_assert(tm_base_has_hole(abc1, 1));
  cr_assert(taken(&c, "abc11"));
  cr_assert_not(taken(&c, "abc12"));
  tm_bases_clear(&c);
}

Test(bases, suffixes_are_decimals_without_leading_zeros) {
  uint64_t k;
  cr_assert(tm_bases_parse_suffix("", 0, &k) && k == 0);
  cr_assert(tm_bases_parse_suffix("17", 2, &k) && k == 17);
  cr_assert_not(tm_bases_parse_suffix("07", 2, &k));
  cr_assert_not(tm_bases_parse_suffix("1a", 2, &k));
  cr_assert_not(tm_bases_parse_suffix("18446744073709551615", 20, &k), "the empty marker");
  char out[TM_USERNAME_MAX + 1];
  tm_bases c = {0};
  tm_base *e = add(&c, "mary");
  cr_assert_eq(tm_bases_candidate(e, 0, out), 4);
  cr_assert_str_eq(out, "mary");
  cr_assert_eq(tm_bases_candidate(e, 12, out), 6);
  cr_assert_str_eq(out, "mary12");
  tm_bases_clear(&c);
}

Test(bases, a_forgotten_base_comes_back_at_its_hint) {
  tm_bases c = {0};
  tm_base *e = add(&c, "ann");
  for (int i = 0; i < 10; i++) tm_bases_mark_suffix(&c, e, (uint64_t)i);
  cr_assert_eq(e->next, 10);
  tm_bases_trim(&c, 0, 1000);
  cr_assert_eq(c.n, 0);
  cr_assert_null(tm_bases_find(&c, "ann", 3));
  tm_base *back = add(&c, "ann");
  cr_assert_eq(back->next, 10, "it skips what it had passed");
  tm_bases_clear(&c);
}

Test(bases, cheap_bases_are_forgotten_before_costly_ones) {
  tm_bases c = {0};
  tm_base *busy = add(&c, "busy");
  for (int i = 0; i < 50; i++) tm_bases_mark_suffix(&c, busy, (uint64_t)i);
  add(&c, "quiet");
  add(&c, "newest");
  tm_bases_touch(&c, tm_bases_find(&c, "quiet", 5));
  tm_bases_trim(&c, 2, 1000);
  cr_assert_not_null(tm_bases_find(&c, "busy", 4), "the long run of taken suffixes stays");
  cr_assert_null(tm_bases_find(&c, "newest", 6), "the least recently used cheap one goes");
  tm_bases_clear(&c);
}

Test(bases, the_journal_takes_a_tentative_plan_back_or_keeps_it) {
  tm_bases c = {0};
  tm_base *e = add(&c, "sam");
  tm_bases_journal_on(&c, true);
  mark(&c, "sam");
  mark(&c, "sam5");
  tm_bases_journal_on(&c, false);
  cr_assert_eq(e->next, 1);
  tm_bases_journal_undo(&c);
  cr_assert_eq(e->next, 0);
  cr_assert_not(tm_base_has_hole(e, 5));
  cr_assert_not(taken(&c, "sam"));

  tm_bases_journal_on(&c, true);
  mark(&c, "sam");
  tm_bases_journal_on(&c, false);
  tm_bases_journal_keep(&c);
  tm_bases_journal_undo(&c); /* nothing left to undo */
  cr_assert_eq(e->next, 1);
  tm_bases_clear(&c);
}
