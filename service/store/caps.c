/* Capability probes: try the construct on real documents, remember the answer. */
#include "caps.h"

#include <stdatomic.h>
#include <string.h>

#include "../log.h"
#include "store.h"

void tm_caps_init(tm_caps *caps) {
  atomic_store(&caps->type_undefined, 0);
  atomic_store(&caps->ferretdb, 0);
}

/* FerretDB 1.24: {code: 2, errmsg: "Unknown type name alias: undefined"}. */
static bool is_undefined_refusal(const bson_error_t *berr) {
  return berr->code == 2 && strstr(berr->message, "undefined") != NULL;
}

static void remember(_Atomic int *slot, int answer, const char *capability, const char *path) {
  int unknown = 0;
  if (atomic_compare_exchange_strong(slot, &unknown, answer)) {
    tm_log(TM_LOG_INFO, "server capability learnt", "capability", TM_LOG_STR(capability), "holds",
           TM_LOG_BOOL(answer > 0), "path", TM_LOG_STR(path), NULL);
  }
}

static tm_code probe_undefined(tm_caps *caps, mongoc_collection_t *coll, tm_error *err) {
  if (atomic_load(&caps->type_undefined) != 0) return TM_OK;
  bson_t filter = BSON_INITIALIZER, nor, clause, id;
  bson_append_array_begin(&filter, "$nor", -1, &nor);
  bson_append_document_begin(&nor, "0", -1, &clause);
  bson_append_document_begin(&clause, "_id", -1, &id);
  BSON_APPEND_UTF8(&id, "$type", "undefined");
  bson_append_document_end(&clause, &id);
  bson_append_document_end(&nor, &clause);
  bson_append_array_end(&filter, &nor);
  bson_t opts = BSON_INITIALIZER, projection;
  BSON_APPEND_INT64(&opts, "limit", 1);
  BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &projection);
  BSON_APPEND_INT32(&projection, "_id", 1);
  bson_append_document_end(&opts, &projection);

  mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
  const bson_t *doc;
  bool found = mongoc_cursor_next(cursor, &doc);
  bson_error_t berr;
  bool failed = mongoc_cursor_error(cursor, &berr);
  mongoc_cursor_destroy(cursor);
  bson_destroy(&filter);
  bson_destroy(&opts);

  if (failed) {
    if (!is_undefined_refusal(&berr)) return tm_store_error(&berr, err, "probing the server");
    remember(&caps->type_undefined, -1, "$type undefined",
             "absent only (undefined and NaN are refused)");
  } else if (found) {
    remember(&caps->type_undefined, 1, "$type undefined",
             "absent or undefined (and NaN for falsy)");
  }
  return TM_OK;
}

static tm_code probe_ferretdb(tm_caps *caps, mongoc_collection_t *coll, tm_error *err) {
  if (atomic_load(&caps->ferretdb) != 0) return TM_OK;
  bson_t cmd = BSON_INITIALIZER, reply;
  bson_error_t berr;
  BSON_APPEND_INT32(&cmd, "buildInfo", 1);
  bool ok = mongoc_collection_command_simple(coll, &cmd, NULL, &reply, &berr);
  bson_destroy(&cmd);
  bson_iter_t it;
  bool ferret = ok && bson_iter_init_find(&it, &reply, "ferretdbVersion");
  bson_destroy(&reply);
  if (!ok) return tm_store_error(&berr, err, "probing the server");
  remember(&caps->ferretdb, ferret ? 1 : -1,
           "FerretDB: only a lone _id filter is indexed, small write commands, no NaN",
           ferret ? "writes select by _id alone" : "writes carry the migration's filter");
  return TM_OK;
}

tm_code tm_caps_probe(tm_caps *caps, mongoc_collection_t *coll, tm_caps_view *out, tm_error *err) {
  tm_code code = probe_ferretdb(caps, coll, err);
  if (code == TM_OK) code = probe_undefined(caps, coll, err);
  out->type_undefined = atomic_load(&caps->type_undefined) > 0;
  out->ferretdb = atomic_load(&caps->ferretdb) > 0;
  out->lone_id_writes = out->ferretdb;
  return code;
}
