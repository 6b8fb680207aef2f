/* Lease generations in the lease collection: take (insert g+1), renew, release, cancel markers. */
#include "lease.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../log.h"
#include "clock.h"
#include "store.h"

static int64_t fence_after(int64_t mono_start, int lease_ms) {
  return mono_start + (int64_t)lease_ms * 4 / 5;
}

static void lease_id(char *out, size_t size, const char *name, int64_t gen, const char *suffix) {
  snprintf(out, size, "%s#%" PRId64 "%s", name, gen, suffix);
}

bool tm_lease_fresh(const tm_lease *lease) { return tm_clock_mono_ms() < lease->fence_mono_ms; }

bool tm_lease_live(const tm_lease_info *info, int64_t now_ms) {
  return info->exists && info->expires_at_ms > now_ms;
}

tm_code tm_lease_latest(mongoc_collection_t *leases, const char *name, tm_lease_info *out,
                        tm_error *err) {
  memset(out, 0, sizeof *out);
  bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
  BSON_APPEND_UTF8(&filter, "name", name);
  BSON_APPEND_UTF8(&filter, "kind", "lease");
  BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
  BSON_APPEND_INT32(&sort, "gen", -1);
  bson_append_document_end(&opts, &sort);
  BSON_APPEND_INT64(&opts, "limit", 1);
  mongoc_read_prefs_t *primary = mongoc_read_prefs_new(MONGOC_READ_PRIMARY);
  mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(leases, &filter, &opts, primary);
  const bson_t *doc;
  if (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    out->exists = true;
    if (bson_iter_init_find(&it, doc, "gen") && BSON_ITER_HOLDS_NUMBER(&it)) {
      out->gen = bson_iter_as_int64(&it);
    }
    if (bson_iter_init_find(&it, doc, "expiresAt") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
      out->expires_at_ms = bson_iter_date_time(&it);
    }
    if (bson_iter_init_find(&it, doc, "owner") && BSON_ITER_HOLDS_UTF8(&it)) {
      snprintf(out->owner, sizeof out->owner, "%s", bson_iter_utf8(&it, NULL));
    }
  }
  bson_error_t berr;
  tm_code code = TM_OK;
  if (mongoc_cursor_error(cursor, &berr)) code = tm_store_error(&berr, err, "reading a lease");
  mongoc_cursor_destroy(cursor);
  mongoc_read_prefs_destroy(primary);
  bson_destroy(&filter);
  bson_destroy(&opts);
  return code;
}

/* Deletes the generations before gen, cancel markers included; failures only cost space. */
static void delete_older(mongoc_collection_t *leases, const char *name, int64_t gen) {
  bson_t filter = BSON_INITIALIZER, lt;
  BSON_APPEND_UTF8(&filter, "name", name);
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "gen", &lt);
  BSON_APPEND_INT64(&lt, "$lt", gen);
  bson_append_document_end(&filter, &lt);
  bson_error_t berr;
  if (!mongoc_collection_delete_many(leases, &filter, NULL, NULL, &berr)) {
    tm_log(TM_LOG_WARN, "could not delete old lease generations", "migration", TM_LOG_STR(name),
           "error", TM_LOG_STR(berr.message), NULL);
  }
  bson_destroy(&filter);
}

/* The common fields of a generation's documents: the lease itself ("<name>#<gen>") and its
 * markers ("<name>#<gen>#cancel", "#pause", "#tune#<seq>"). */
static void marker_doc(bson_t *doc, const char *name, int64_t gen, const char *kind, int64_t seq) {
  char id[TM_LEASE_NAME_MAX + 64], suffix[48] = "";
  if (strcmp(kind, "lease") != 0) snprintf(suffix, sizeof suffix, "#%s", kind);
  if (seq) snprintf(suffix + strlen(suffix), sizeof suffix - strlen(suffix), "#%" PRId64, seq);
  lease_id(id, sizeof id, name, gen, suffix);
  bson_init(doc);
  BSON_APPEND_UTF8(doc, "_id", id);
  BSON_APPEND_UTF8(doc, "name", name);
  BSON_APPEND_INT64(doc, "gen", gen);
  BSON_APPEND_UTF8(doc, "kind", kind);
}

tm_code tm_lease_take(mongoc_collection_t *leases, const char *name, const char *owner,
                      const char *run_id, int lease_ms, tm_lease *out, tm_lease_info *holder,
                      tm_error *err) {
  if (strlen(name) >= sizeof out->name) {
    return tm_error_set(err, TM_ERR_INTERNAL, "migration name too long for a lease");
  }
  tm_code code = tm_lease_latest(leases, name, holder, err);
  if (code != TM_OK) return code;
  int64_t now = tm_clock_wall_ms();
  if (tm_lease_live(holder, now)) {
    return tm_error_set(err, TM_ERR_CONFLICT, "%s is held by %s", name, holder->owner);
  }
  int64_t gen = holder->exists ? holder->gen + 1 : 1;
  bson_t doc;
  marker_doc(&doc, name, gen, "lease", 0);
  BSON_APPEND_UTF8(&doc, "owner", owner);
  BSON_APPEND_UTF8(&doc, "runId", run_id);
  BSON_APPEND_DATE_TIME(&doc, "expiresAt", now + lease_ms);
  BSON_APPEND_DATE_TIME(&doc, "takenAt", now);
  int64_t mono = tm_clock_mono_ms();
  bson_error_t berr;
  bool ok = mongoc_collection_insert_one(leases, &doc, NULL, NULL, &berr);
  bson_destroy(&doc);
  if (!ok) {
    code = tm_store_error(&berr, err, "taking a lease");
    if (code != TM_ERR_CONFLICT) return code;
    /* Lost the race for this generation: report the winner. */
    code = tm_lease_latest(leases, name, holder, err);
    if (code != TM_OK) return code;
    return tm_error_set(err, TM_ERR_CONFLICT, "%s was just taken by %s", name, holder->owner);
  }
  snprintf(out->name, sizeof out->name, "%s", name);
  out->gen = gen;
  out->expires_at_ms = now + lease_ms;
  out->fence_mono_ms = fence_after(mono, lease_ms);
  delete_older(leases, name, gen);
  return TM_OK;
}

tm_code tm_lease_renew(mongoc_collection_t *leases, tm_lease *lease, int lease_ms,
                       tm_lease_signals *sig, tm_error *err) {
  memset(sig, 0, sizeof *sig);
  char id[TM_LEASE_NAME_MAX + 32];
  lease_id(id, sizeof id, lease->name, lease->gen, "");
  int64_t mono = tm_clock_mono_ms();
  int64_t expires = tm_clock_wall_ms() + lease_ms;
  /* Filtering on _id alone lets FerretDB look the document up by key; only its holder writes it. */
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, reply;
  BSON_APPEND_UTF8(&filter, "_id", id);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  BSON_APPEND_DATE_TIME(&set, "expiresAt", expires);
  bson_append_document_end(&update, &set);
  bson_error_t berr;
  bool ok = mongoc_collection_update_one(leases, &filter, &update, NULL, &reply, &berr);
  bson_iter_t it;
  bool matched =
      ok && bson_iter_init_find(&it, &reply, "matchedCount") && bson_iter_as_int64(&it) > 0;
  bson_destroy(&reply);
  bson_destroy(&filter);
  bson_destroy(&update);
  if (!ok) return tm_store_error(&berr, err, "renewing a lease");
  if (!matched) {
    return tm_error_set(err, TM_ERR_CONFLICT, "%s: lease generation %" PRId64 " is gone",
                        lease->name, lease->gen);
  }

  /* A newer generation or a cancel marker for ours. */
  bson_t query = BSON_INITIALIZER, gte;
  BSON_APPEND_UTF8(&query, "name", lease->name);
  BSON_APPEND_DOCUMENT_BEGIN(&query, "gen", &gte);
  BSON_APPEND_INT64(&gte, "$gte", lease->gen);
  bson_append_document_end(&query, &gte);
  mongoc_read_prefs_t *primary = mongoc_read_prefs_new(MONGOC_READ_PRIMARY);
  mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(leases, &query, NULL, primary);
  const bson_t *doc;
  bool newer = false;
  while (mongoc_cursor_next(cursor, &doc)) {
    int64_t gen = 0;
    const char *kind = "";
    if (bson_iter_init_find(&it, doc, "gen") && BSON_ITER_HOLDS_NUMBER(&it)) {
      gen = bson_iter_as_int64(&it);
    }
    if (bson_iter_init_find(&it, doc, "kind") && BSON_ITER_HOLDS_UTF8(&it)) {
      kind = bson_iter_utf8(&it, NULL);
    }
    if (strcmp(kind, "lease") == 0 && gen > lease->gen) newer = true;
    if (gen != lease->gen) continue;
    if (strcmp(kind, "cancel") == 0) sig->cancel = true;
    if (strcmp(kind, "pause") == 0) sig->pause = true;
    int64_t seq = bson_iter_init_find(&it, doc, "seq") ? bson_iter_as_int64(&it) : 0;
    if (strcmp(kind, "tune") == 0 && seq > sig->tune_seq &&
        bson_iter_init_find(&it, doc, "controls")) {
      sig->tune_seq = seq;
      tm_controls_parse(&it, &sig->tune);
    }
  }
  tm_code code = TM_OK;
  if (mongoc_cursor_error(cursor, &berr)) code = tm_store_error(&berr, err, "renewing a lease");
  mongoc_cursor_destroy(cursor);
  mongoc_read_prefs_destroy(primary);
  bson_destroy(&query);
  if (code != TM_OK) return code;
  if (newer) {
    return tm_error_set(err, TM_ERR_CONFLICT, "%s: a newer lease generation took over",
                        lease->name);
  }
  lease->expires_at_ms = expires;
  lease->fence_mono_ms = fence_after(mono, lease_ms);
  return TM_OK;
}

tm_code tm_lease_release(mongoc_collection_t *leases, tm_lease *lease, tm_error *err) {
  char id[TM_LEASE_NAME_MAX + 32];
  lease_id(id, sizeof id, lease->name, lease->gen, "");
  bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
  BSON_APPEND_UTF8(&filter, "_id", id);
  BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
  BSON_APPEND_DATE_TIME(&set, "expiresAt", 0);
  BSON_APPEND_DATE_TIME(&set, "releasedAt", tm_clock_wall_ms());
  bson_append_document_end(&update, &set);
  lease->fence_mono_ms = 0;
  bson_error_t berr;
  bool ok = mongoc_collection_update_one(leases, &filter, &update, NULL, NULL, &berr);
  bson_destroy(&filter);
  bson_destroy(&update);
  return ok ? TM_OK : tm_store_error(&berr, err, "releasing a lease");
}

/* Inserts a marker; a duplicate means it is already there. */
static tm_code insert_marker(mongoc_collection_t *leases, bson_t *doc, const char *what,
                             tm_error *err) {
  BSON_APPEND_DATE_TIME(doc, "at", tm_clock_wall_ms());
  bson_error_t berr;
  bool ok = mongoc_collection_insert_one(leases, doc, NULL, NULL, &berr);
  bson_destroy(doc);
  if (ok) return TM_OK;
  tm_code code = tm_store_error(&berr, err, what);
  return code == TM_ERR_CONFLICT ? TM_OK : code;
}

tm_code tm_lease_request_stop(mongoc_collection_t *leases, const char *name, int64_t gen,
                              const char *kind, tm_error *err) {
  bson_t doc;
  marker_doc(&doc, name, gen, kind, 0);
  return insert_marker(
      leases, &doc, strcmp(kind, "cancel") == 0 ? "recording a cancel" : "recording a pause", err);
}

tm_code tm_lease_withdraw_pause(mongoc_collection_t *leases, const char *name, int64_t gen,
                                tm_error *err) {
  char id[TM_LEASE_NAME_MAX + 64];
  lease_id(id, sizeof id, name, gen, "#pause");
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&filter, "_id", id);
  bson_error_t berr;
  bool ok = mongoc_collection_delete_one(leases, &filter, NULL, NULL, &berr);
  bson_destroy(&filter);
  return ok ? TM_OK : tm_store_error(&berr, err, "withdrawing a pause");
}

tm_code tm_lease_tune(mongoc_collection_t *leases, const char *name, int64_t gen, int64_t seq,
                      const tm_controls *controls, tm_error *err) {
  bson_t doc;
  marker_doc(&doc, name, gen, "tune", seq);
  BSON_APPEND_INT64(&doc, "seq", seq);
  tm_controls_append(&doc, "controls", controls);
  return insert_marker(leases, &doc, "recording new controls", err);
}
