/* A set of 64-bit keys, and the two hashes the username planner builds on.
 *
 * Open addressing with linear probing; removal shifts the following keys back instead of leaving
 * tombstones, so lookups stay short however many keys come and go. One value, TM_U64SET_EMPTY,
 * marks free slots and cannot be stored. A zero-initialised set is empty. Not thread safe. */
#ifndef TM_UTIL_U64SET_H
#define TM_UTIL_U64SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TM_U64SET_EMPTY UINT64_MAX

typedef struct {
  uint64_t *slots; /* TM_U64SET_EMPTY marks a free slot */
  size_t n, cap;   /* cap: 0 or a power of two */
} tm_u64set;

bool tm_u64set_has(const tm_u64set *s, uint64_t key);
/* Adds key; false when it was there already. */
bool tm_u64set_add(tm_u64set *s, uint64_t key);
/* Removes key; false when it was not there. */
bool tm_u64set_remove(tm_u64set *s, uint64_t key);
/* Frees the slots; the set is empty again. */
void tm_u64set_clear(tm_u64set *s);

/* FNV-1a of len bytes, with an offset basis a digit short of the published one (the first
 * sessions' typo, kept: any basis spreads keys alike, and these hashes never leave the process). */
uint64_t tm_hash_bytes(const void *data, size_t len);
/* A finaliser spreading a key's bits over the slot index (MurmurHash3's fmix64 first half). */
uint64_t tm_hash_mix64(uint64_t x);

#endif
