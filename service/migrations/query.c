/* Migration filters as sent: the registry filter, past the resume point when resuming. */
#include "query.h"

#include <string.h>

#include "../log.h"

/* MongoDB orders values of different types by type bracket, and {$gt: v} only matches v's own
 * bracket, so resuming after v must also take every later bracket (a collection may mix _id types).
 * Aliases FerretDB 1.24 accepts; MinKey and MaxKey have none there and are no sensible _id. */
static const char *const later_aliases[] = {
    "null",     "number", "string", "object",    "array", "binData",
    "objectId", "bool",   "date",   "timestamp", "regex",
};
#define N_ALIASES ((int)(sizeof later_aliases / sizeof later_aliases[0]))
#define UNORDERABLE (-2)

/* The position of t's bracket in later_aliases (MinKey: -1, before all). */
static int bracket_of(bson_type_t t) {
  switch (t) {
  case BSON_TYPE_MINKEY: return -1;
  case BSON_TYPE_NULL:
  case BSON_TYPE_UNDEFINED: return 0;
  case BSON_TYPE_DOUBLE:
  case BSON_TYPE_INT32:
  case BSON_TYPE_INT64:
  case BSON_TYPE_DECIMAL128: return 1;
  case BSON_TYPE_UTF8:
  case BSON_TYPE_SYMBOL: return 2;
  case BSON_TYPE_DOCUMENT: return 3;
  case BSON_TYPE_ARRAY: return 4;
  case BSON_TYPE_BINARY: return 5;
  case BSON_TYPE_OID: return 6;
  case BSON_TYPE_BOOL: return 7;
  case BSON_TYPE_DATE_TIME: return 8;
  case BSON_TYPE_TIMESTAMP: return 9;
  case BSON_TYPE_REGEX: return 10;
  case BSON_TYPE_MAXKEY: return 11;
  default: return UNORDERABLE;
  }
}

bool tm_query_same_bracket(const bson_value_t *a, const bson_value_t *b) {
  int ba = bracket_of(a->value_type);
  return ba != UNORDERABLE && ba == bracket_of(b->value_type);
}

static void append_index_key(bson_t *array, uint32_t i, const bson_value_t *v) {
  char key[16];
  const char *kp;
  bson_uint32_to_string(i, &kp, key, sizeof key);
  bson_append_value(array, kp, -1, v);
}

/* {$or: [{_id: {$gt: after}}, {_id: {$type: [later brackets]}}]} into out. */
static void append_resume(bson_t *out, const bson_value_t *after, int bracket) {
  bson_t or_array, branch, cond, types;
  BSON_APPEND_ARRAY_BEGIN(out, "$or", &or_array);
  BSON_APPEND_DOCUMENT_BEGIN(&or_array, "0", &branch);
  BSON_APPEND_DOCUMENT_BEGIN(&branch, "_id", &cond);
  BSON_APPEND_VALUE(&cond, "$gt", after);
  bson_append_document_end(&branch, &cond);
  bson_append_document_end(&or_array, &branch);
  if (bracket + 1 < N_ALIASES) {
    BSON_APPEND_DOCUMENT_BEGIN(&or_array, "1", &branch);
    BSON_APPEND_DOCUMENT_BEGIN(&branch, "_id", &cond);
    BSON_APPEND_ARRAY_BEGIN(&cond, "$type", &types);
    uint32_t k = 0;
    for (int b = bracket + 1; b < N_ALIASES; b++) {
      bson_value_t alias = {.value_type = BSON_TYPE_UTF8};
      alias.value.v_utf8.str = (char *)later_aliases[b];
      alias.value.v_utf8.len = (uint32_t)strlen(later_aliases[b]);
      append_index_key(&types, k++, &alias);
    }
    bson_append_array_end(&cond, &types);
    bson_append_document_end(&branch, &cond);
    bson_append_document_end(&or_array, &branch);
  }
  bson_append_array_end(out, &or_array);
}

void tm_query_build(const tm_migration *m, const tm_profile_view *caps, const bson_value_t *after,
                    bson_t *out) {
  int bracket = after ? bracket_of(after->value_type) : UNORDERABLE;
  if (after && bracket == UNORDERABLE) {
    tm_log(TM_LOG_WARN,
           "saved cursor of an unorderable type; starting over (the filter skips what is done)",
           "migration", TM_LOG_STR(m->name), NULL);
  }
  if (!after || bracket == UNORDERABLE) {
    tm_filter_build(m, caps, out);
    return;
  }
  bson_t filter = BSON_INITIALIZER, and_array, resume;
  tm_filter_build(m, caps, &filter);
  BSON_APPEND_ARRAY_BEGIN(out, "$and", &and_array);
  BSON_APPEND_DOCUMENT(&and_array, "0", &filter);
  BSON_APPEND_DOCUMENT_BEGIN(&and_array, "1", &resume);
  append_resume(&resume, after, bracket);
  bson_append_document_end(&and_array, &resume);
  bson_append_array_end(out, &and_array);
  bson_destroy(&filter);
}

void tm_query_restrict_ids(bson_t *query, const char *op, const bson_t *ids) {
  bson_t base, and_array, clause, cond;
  bson_copy_to(query, &base);
  bson_reinit(query);
  BSON_APPEND_ARRAY_BEGIN(query, "$and", &and_array);
  BSON_APPEND_DOCUMENT(&and_array, "0", &base);
  BSON_APPEND_DOCUMENT_BEGIN(&and_array, "1", &clause);
  BSON_APPEND_DOCUMENT_BEGIN(&clause, "_id", &cond);
  BSON_APPEND_ARRAY(&cond, op, ids);
  bson_append_document_end(&clause, &cond);
  bson_append_document_end(&and_array, &clause);
  bson_append_array_end(query, &and_array);
  bson_destroy(&base);
}
