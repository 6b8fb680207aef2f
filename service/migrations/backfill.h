/* Constant backfills (derive == TM_DERIVE_NONE): which of a migration's fields each document still
 * misses, and one bulk write per batch that sets exactly those.
 *
 * Documents are grouped by the set of fields they miss: one updateMany statement per distinct set,
 * {_id: <the batch's _id range>, $and: [<each field of the set missing>, <each other field
 * present>]} -> {$set: those fields}, all in one update command. Each statement re-checks at write
 * time what is missing: a document a concurrent writer completed in between no longer matches and
 * is left alone, and nothing but missing fields is ever written. A document written into the range
 * since the batch was read, missing exactly a set the batch writes, is set too: it needs it as
 * much.
 *
 * Why grouped: FerretDB runs every statement as its own full scan (and hangs on commands of 100 or
 * more statements), so one statement per document would cost a scan per document; grouping costs
 * at most 2^fields - 1 statements per batch (3 for ensureStoreFields), and MongoDB serves the range
 * from the _id index either way. */
#ifndef TM_BACKFILL_H
#define TM_BACKFILL_H

#include <mongoc/mongoc.h>
#include <stdint.h>

#include "../error.h"
#include "../store/controls.h"
#include "filter.h"
#include "registry.h"

#define TM_BACKFILL_MAX_FIELDS 16

typedef struct tm_backfill tm_backfill;

/* Parses m's defaults. caps is copied. TM_ERR_INTERNAL when a default is not valid JSON or m has
 * more than TM_BACKFILL_MAX_FIELDS fields (a registry bug). */
tm_code tm_backfill_new(const tm_migration *m, const tm_profile_view *caps, tm_backfill **out,
                        tm_error *err);
void tm_backfill_destroy(tm_backfill *b);

/* The fields doc misses, as a mask over m->fields (bit i: fields[i]). Bits in covered count as
 * present: a dry run uses them for fields an earlier migration of the same run would have set. */
uint32_t tm_backfill_plan(const tm_backfill *b, const bson_t *doc, uint32_t covered);

/* Sets masks[i]'s fields on docs[i] (mask 0: nothing) in bulk; *updated receives nModified. With
 * refused (may be NULL: any refusal fails the batch), a document the server refuses alone (a
 * validator, a unique index, the size limit) is added there and the others are written. */
tm_code tm_backfill_write(const tm_backfill *b, mongoc_collection_t *coll,
                          const bson_t *const *docs, const uint32_t *masks, size_t n,
                          int64_t *updated, tm_refused *refused, tm_error *err);

/* Relaxed extended JSON of {_id, <field>: <default>, ...} for doc and mask; malloc'd. */
char *tm_backfill_sample(const tm_backfill *b, const bson_t *doc, uint32_t mask);

#endif
