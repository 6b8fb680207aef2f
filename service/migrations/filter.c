/* Filters for "documents still missing a field", in MongoDB query language and in memory. */
#include "filter.h"

#include <math.h>
#include <string.h>

/* One alternative of an $or: {field: {op: value}} or {field: value}. */
static void append_or_clause(bson_t *or_array, uint32_t *index, const char *field, const char *op,
                             const bson_value_t *value) {
  char key[16];
  const char *k;
  bson_uint32_to_string((*index)++, &k, key, sizeof key);
  bson_t clause, inner;
  bson_append_document_begin(or_array, k, -1, &clause);
  if (op) {
    bson_append_document_begin(&clause, field, -1, &inner);
    bson_append_value(&inner, op, -1, value);
    bson_append_document_end(&clause, &inner);
  } else {
    bson_append_value(&clause, field, -1, value);
  }
  bson_append_document_end(or_array, &clause);
}

void tm_filter_append_field(bson_t *out, const char *key, const tm_field *field,
                            const tm_profile_view *caps) {
  bson_t doc, or_array;
  uint32_t i = 0;
  bson_append_document_begin(out, key, -1, &doc);
  bson_append_array_begin(&doc, "$or", -1, &or_array);

  bson_value_t v = {.value_type = BSON_TYPE_BOOL, .value.v_bool = false};
  append_or_clause(&or_array, &i, field->field, "$exists", &v);
  if (caps->type_undefined) {
    v = (bson_value_t){.value_type = BSON_TYPE_UTF8,
                       .value.v_utf8 = {.str = "undefined", .len = 9}};
    append_or_clause(&or_array, &i, field->field, "$type", &v);
  }
  if (field->missing == TM_MISSING_FALSY) {
    /* JavaScript's falsy values that BSON can hold: null, "", false, 0 (any numeric type; -0 equals
     * 0) and NaN. */
    v = (bson_value_t){.value_type = BSON_TYPE_NULL};
    append_or_clause(&or_array, &i, field->field, NULL, &v);
    v = (bson_value_t){.value_type = BSON_TYPE_UTF8, .value.v_utf8 = {.str = "", .len = 0}};
    append_or_clause(&or_array, &i, field->field, NULL, &v);
    v = (bson_value_t){.value_type = BSON_TYPE_BOOL, .value.v_bool = false};
    append_or_clause(&or_array, &i, field->field, NULL, &v);
    v = (bson_value_t){.value_type = BSON_TYPE_INT32, .value.v_int32 = 0};
    append_or_clause(&or_array, &i, field->field, NULL, &v);
    if (caps->type_undefined) {
      v = (bson_value_t){.value_type = BSON_TYPE_DOUBLE, .value.v_double = NAN};
      append_or_clause(&or_array, &i, field->field, NULL, &v);
    }
  }
  bson_append_array_end(&doc, &or_array);
  bson_append_document_end(out, &doc);
}

void tm_filter_build(const tm_migration *m, const tm_profile_view *caps, bson_t *out) {
  if (m->n_fields == 1) {
    /* {$or: [...]} directly: the common case stays a plain, index-friendly filter. */
    bson_t tmp = BSON_INITIALIZER;
    tm_filter_append_field(&tmp, "f", &m->fields[0], caps);
    bson_iter_t it;
    bson_iter_init_find(&it, &tmp, "f");
    uint32_t len;
    const uint8_t *data;
    bson_iter_document(&it, &len, &data);
    bson_t inner;
    bson_init_static(&inner, data, len);
    bson_concat(out, &inner);
    bson_destroy(&tmp);
    return;
  }
  bson_t or_array;
  bson_append_array_begin(out, "$or", -1, &or_array);
  for (size_t i = 0; i < m->n_fields; i++) {
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    tm_filter_append_field(&or_array, k, &m->fields[i], caps);
  }
  bson_append_array_end(out, &or_array);
}

bool tm_filter_value_falsy(const bson_iter_t *it) {
  switch (bson_iter_type(it)) {
  case BSON_TYPE_NULL:
  case BSON_TYPE_UNDEFINED: return true;
  case BSON_TYPE_BOOL: return !bson_iter_bool(it);
  case BSON_TYPE_UTF8: {
    uint32_t len;
    bson_iter_utf8(it, &len);
    return len == 0;
  }
  case BSON_TYPE_INT32: return bson_iter_int32(it) == 0;
  case BSON_TYPE_INT64: return bson_iter_int64(it) == 0;
  case BSON_TYPE_DOUBLE: {
    double d = bson_iter_double(it);
    return d == 0 || isnan(d);
  }
  case BSON_TYPE_DECIMAL128: {
    bson_decimal128_t dec;
    char text[BSON_DECIMAL128_STRING];
    bson_iter_decimal128(it, &dec);
    bson_decimal128_to_string(&dec, text);
    /* Zeros print as "0", "-0", "0E+3", "0.000", ...; NaN as "NaN". */
    const char *p = text + (text[0] == '-' || text[0] == '+');
    if (strcmp(p, "NaN") == 0) return true;
    for (; *p && *p != 'E'; p++) {
      if (*p != '0' && *p != '.') return false;
    }
    return true;
  }
  default: return false;
  }
}

bool tm_filter_doc_misses(const bson_t *doc, const tm_field *field) {
  bson_iter_t it;
  /* Only top-level fields are backfilled, so no dotted-path lookup. */
  if (!bson_iter_init_find(&it, doc, field->field)) return true;
  if (bson_iter_type(&it) == BSON_TYPE_UNDEFINED) return true;
  return field->missing == TM_MISSING_FALSY && tm_filter_value_falsy(&it);
}
