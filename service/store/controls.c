/* Controls: their stored form, range checks and changes (see controls.h). */
#include "controls.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void tm_controls_append(bson_t *doc, const char *key, const tm_controls *c) {
  bson_t sub;
  BSON_APPEND_DOCUMENT_BEGIN(doc, key, &sub);
  BSON_APPEND_INT32(&sub, "batchSize", c->batch_size);
  BSON_APPEND_INT32(&sub, "currentBatchSize",
                    c->current_batch_size ? c->current_batch_size : c->batch_size);
  BSON_APPEND_DOUBLE(&sub, "maxDocumentsPerSecond", c->max_docs_per_s);
  BSON_APPEND_INT64(&sub, "maxReplicationLagMs", c->max_lag_ms);
  BSON_APPEND_INT64(&sub, "maxWriteLatencyMs", c->max_write_ms);
  BSON_APPEND_INT64(&sub, "maxFailedDocuments", c->max_failed);
  bson_append_document_end(doc, &sub);
}

void tm_controls_parse(const bson_iter_t *it, tm_controls *out) {
  bson_iter_t f;
  if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &f)) return;
  while (bson_iter_next(&f)) {
    if (!BSON_ITER_HOLDS_NUMBER(&f)) continue;
    const char *k = bson_iter_key(&f);
    if (strcmp(k, "batchSize") == 0) out->batch_size = (int32_t)bson_iter_as_int64(&f);
    if (strcmp(k, "currentBatchSize") == 0) {
      out->current_batch_size = (int32_t)bson_iter_as_int64(&f);
    }
    if (strcmp(k, "maxDocumentsPerSecond") == 0) out->max_docs_per_s = bson_iter_as_double(&f);
    if (strcmp(k, "maxReplicationLagMs") == 0) out->max_lag_ms = bson_iter_as_int64(&f);
    if (strcmp(k, "maxWriteLatencyMs") == 0) out->max_write_ms = bson_iter_as_int64(&f);
    if (strcmp(k, "maxFailedDocuments") == 0) out->max_failed = bson_iter_as_int64(&f);
  }
}

tm_code tm_controls_check(const tm_controls_change *ch, tm_error *err) {
  const tm_controls *v = &ch->v;
  if (ch->batch_size && (v->batch_size < 1 || v->batch_size > 10000)) {
    return tm_error_set(err, TM_ERR_INVALID, "batch_size must be 1..10000, got %d", v->batch_size);
  }
  if (ch->rate && !(v->max_docs_per_s >= 0 && v->max_docs_per_s <= TM_CONTROLS_MAX_RATE)) {
    return tm_error_set(err, TM_ERR_INVALID,
                        "max_documents_per_second must be 0 (no limit) to %.0f, got %g",
                        TM_CONTROLS_MAX_RATE, v->max_docs_per_s);
  }
  if (ch->lag && (v->max_lag_ms < 0 || v->max_lag_ms > TM_CONTROLS_MAX_MS)) {
    return tm_error_set(err, TM_ERR_INVALID,
                        "max_replication_lag_ms must be 0 (off) to %lld, got %lld",
                        (long long)TM_CONTROLS_MAX_MS, (long long)v->max_lag_ms);
  }
  if (ch->write && (v->max_write_ms < 0 || v->max_write_ms > TM_CONTROLS_MAX_MS)) {
    return tm_error_set(err, TM_ERR_INVALID,
                        "max_write_latency_ms must be 0 (off) to %lld, got %lld",
                        (long long)TM_CONTROLS_MAX_MS, (long long)v->max_write_ms);
  }
  if (ch->failed && (v->max_failed < 0 || v->max_failed > TM_CONTROLS_MAX_FAILED)) {
    return tm_error_set(err, TM_ERR_INVALID, "max_failed_documents must be 0..%d, got %lld",
                        TM_CONTROLS_MAX_FAILED, (long long)v->max_failed);
  }
  return TM_OK;
}

/* Appends "name old -> new" to changes. */
static void describe(char *changes, size_t cap, const char *name, const char *was,
                     const char *now) {
  if (!changes) return;
  size_t len = strlen(changes);
  snprintf(changes + len, cap > len ? cap - len : 0, "%s%s %s -> %s", len ? "; " : "", name, was,
           now);
}

static int change_int(int64_t *field, int64_t to, const char *name, char *changes, size_t cap) {
  if (*field == to) return 0;
  char was[32], now[32];
  snprintf(was, sizeof was, "%lld", (long long)*field);
  snprintf(now, sizeof now, "%lld", (long long)to);
  describe(changes, cap, name, was, now);
  *field = to;
  return 1;
}

int tm_controls_apply(tm_controls *c, const tm_controls_change *ch, char *changes, size_t cap) {
  if (changes && cap) changes[0] = '\0';
  int n = 0;
  if (ch->batch_size) {
    int64_t b = c->batch_size;
    if (change_int(&b, ch->v.batch_size, "batch_size", changes, cap)) {
      c->batch_size = (int32_t)b;
      c->current_batch_size = (int32_t)b;
      n++;
    }
  }
  if (ch->rate && c->max_docs_per_s != ch->v.max_docs_per_s) {
    char was[32], now[32];
    snprintf(was, sizeof was, "%g", c->max_docs_per_s);
    snprintf(now, sizeof now, "%g", ch->v.max_docs_per_s);
    describe(changes, cap, "max_documents_per_second", was, now);
    c->max_docs_per_s = ch->v.max_docs_per_s;
    n++;
  }
  if (ch->lag)
    n += change_int(&c->max_lag_ms, ch->v.max_lag_ms, "max_replication_lag_ms", changes, cap);
  if (ch->write) {
    n += change_int(&c->max_write_ms, ch->v.max_write_ms, "max_write_latency_ms", changes, cap);
  }
  if (ch->failed) {
    n += change_int(&c->max_failed, ch->v.max_failed, "max_failed_documents", changes, cap);
  }
  return n;
}

void tm_refused_init(tm_refused *r) {
  bson_init(&r->list);
  r->n = 0;
}

void tm_refused_add(tm_refused *r, const bson_value_t *id, const char *error) {
  char key[16];
  const char *k;
  bson_uint32_to_string(r->n++, &k, key, sizeof key);
  bson_t entry;
  BSON_APPEND_DOCUMENT_BEGIN(&r->list, k, &entry);
  BSON_APPEND_VALUE(&entry, "_id", id);
  BSON_APPEND_UTF8(&entry, "error", error);
  bson_append_document_end(&r->list, &entry);
}

void tm_refused_clear(tm_refused *r) {
  bson_destroy(&r->list);
  tm_refused_init(r);
}
