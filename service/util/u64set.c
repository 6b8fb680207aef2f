/* The u64 set (see u64set.h). */
#include "u64set.h"

#include <stdlib.h>

uint64_t tm_hash_bytes(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

uint64_t tm_hash_mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

bool tm_u64set_has(const tm_u64set *s, uint64_t k) {
  if (!s->n) return false;
  size_t mask = s->cap - 1;
  for (size_t i = (size_t)tm_hash_mix64(k) & mask;; i = (i + 1) & mask) {
    if (s->slots[i] == k) return true;
    if (s->slots[i] == TM_U64SET_EMPTY) return false;
  }
}

static void insert_slot(uint64_t *slots, size_t cap, uint64_t k) {
  size_t mask = cap - 1;
  size_t i = (size_t)tm_hash_mix64(k) & mask;
  while (slots[i] != TM_U64SET_EMPTY) i = (i + 1) & mask;
  slots[i] = k;
}

bool tm_u64set_add(tm_u64set *s, uint64_t k) {
  if (tm_u64set_has(s, k)) return false;
  /* Kept under 70% full, so probe runs stay short. */
  if ((s->n + 1) * 10 > s->cap * 7) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    uint64_t *slots = malloc(cap * sizeof *slots);
    if (!slots) abort();
    for (size_t i = 0; i < cap; i++) slots[i] = TM_U64SET_EMPTY;
    for (size_t i = 0; i < s->cap; i++) {
      if (s->slots[i] != TM_U64SET_EMPTY) insert_slot(slots, cap, s->slots[i]);
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
  }
  insert_slot(s->slots, s->cap, k);
  s->n++;
  return true;
}

bool tm_u64set_remove(tm_u64set *s, uint64_t k) {
  if (!s->n) return false;
  size_t mask = s->cap - 1;
  size_t i = (size_t)tm_hash_mix64(k) & mask;
  while (s->slots[i] != k) {
    if (s->slots[i] == TM_U64SET_EMPTY) return false;
    i = (i + 1) & mask;
  }
  /* Backward shift: each later key of the run moves into the gap unless its home slot lies
   * between the gap and where it sits (then it is reachable as it is). */
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (s->slots[j] == TM_U64SET_EMPTY) break;
    size_t home = (size_t)tm_hash_mix64(s->slots[j]) & mask;
    bool between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (between) continue;
    s->slots[i] = s->slots[j];
    i = j;
  }
  s->slots[i] = TM_U64SET_EMPTY;
  s->n--;
  return true;
}

void tm_u64set_clear(tm_u64set *s) {
  free(s->slots);
  *s = (tm_u64set){0};
}
