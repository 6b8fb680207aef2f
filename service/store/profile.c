/* The server profile: probes that try a construct on real documents once per process, and the
 * classification of server errors. The evidence for each answer is in profile.h. */
#include "profile.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../log.h"

/* FerretDB keeps every statement of an update command open until the command ends, with 100
 * SQLite connections per database (profile.h). */
#define FERRETDB_MAX_WRITE_STATEMENTS 16

void tm_profile_init(tm_profile *p) {
  atomic_store(&p->type_undefined, 0);
  atomic_store(&p->filters_scan, 0);
  atomic_store(&p->partial, TM_PARTIAL_UNKNOWN);
  atomic_store(&p->plain_indexes_missing, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Classification */

/* Errors the server sent, as opposed to the driver's own (which reuse small numbers). */
static bool from_server(const bson_error_t *e) {
  return e->domain == MONGOC_ERROR_SERVER || e->domain == MONGOC_ERROR_QUERY ||
         e->domain == MONGOC_ERROR_WRITE_CONCERN;
}

static bool has_label(const bson_t *reply, const char *label) {
  bson_iter_t it, labels;
  if (!reply || !bson_iter_init_find(&it, reply, "errorLabels") || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &labels)) {
    return false;
  }
  while (bson_iter_next(&labels)) {
    if (BSON_ITER_HOLDS_UTF8(&labels) && strcmp(bson_iter_utf8(&labels, NULL), label) == 0) {
      return true;
    }
  }
  return false;
}

static bool transient_code(uint32_t code) {
  switch (code) {
  case 6:     /* HostUnreachable */
  case 7:     /* HostNotFound */
  case 43:    /* CursorNotFound: the scan reopens after its last _id */
  case 89:    /* NetworkTimeout */
  case 91:    /* ShutdownInProgress */
  case 112:   /* WriteConflict */
  case 189:   /* PrimarySteppedDown */
  case 262:   /* ExceededTimeLimit */
  case 9001:  /* SocketException */
  case 10107: /* NotWritablePrimary */
  case 11600: /* InterruptedAtShutdown */
  case 11602: /* InterruptedDueToReplStateChange */
  case 13435: /* NotPrimaryNoSecondaryOk */
  case 13436: /* NotPrimaryOrSecondary */ return true;
  default: return false;
  }
}

tm_server_error tm_profile_classify_code(int64_t code, const char *message) {
  if (code == 11000 || code == 11001) return TM_SERVER_ERR_DUPLICATE;
  if (transient_code((uint32_t)code)) return TM_SERVER_ERR_TRANSIENT;
  /* mongo-java-server answers a drop of a missing collection with MongoDB's old text and no code
   * ({ok: 0, errmsg: "ns not found"}); MongoDB before 7.0 sends the same text with code 26. */
  if (message && strcmp(message, "ns not found") == 0) return TM_SERVER_ERR_NAMESPACE_MISSING;
  /* mongo-java-server's answer to a command that walked a collection's indexes while a drop
   * removed them (profile.h). 17 is libmongoc's code for a reply without one: it turns a server's
   * own 17 into 59. Only a message-less exception: any other stays a failure. */
  if (code == MONGOC_ERROR_QUERY_FAILURE && message &&
      strcmp(message, "Unknown error: null") == 0) {
    return TM_SERVER_ERR_RACED_DROP;
  }
  switch (code) {
  case 1: /* InternalError: FerretDB's SQLite errors */
    if (!message) return TM_SERVER_ERR_OTHER;
    if (strstr(message, "database is locked") || strstr(message, "SQLITE_BUSY")) {
      return TM_SERVER_ERR_TRANSIENT;
    }
    if (strstr(message, "UNIQUE constraint failed")) return TM_SERVER_ERR_DUPLICATE;
    return TM_SERVER_ERR_OTHER;
  case 18: return TM_SERVER_ERR_CREDENTIALS; /* AuthenticationFailed */
  case 121:                                  /* DocumentValidationFailure */
  case 10334:                                /* BSONObjectTooLarge */
  case 17419:                                /* the update would grow the document past the limit */
  case 17420: return TM_SERVER_ERR_DOCUMENT_REFUSED;
  case 26: return TM_SERVER_ERR_NAMESPACE_MISSING;
  case 67:  /* CannotCreateIndex */
  case 197: /* InvalidIndexSpecificationOption */
  case 238: /* NotImplemented */ return TM_SERVER_ERR_OPTION_REFUSED;
  case 85: /* IndexOptionsConflict */
  case 86: /* IndexKeySpecsConflict */ return TM_SERVER_ERR_INDEX_CONFLICT;
  default: return TM_SERVER_ERR_OTHER;
  }
}

tm_server_error tm_profile_classify(const bson_error_t *berr, const bson_t *reply) {
  if (berr->domain == MONGOC_ERROR_STREAM || berr->domain == MONGOC_ERROR_SERVER_SELECTION) {
    return TM_SERVER_ERR_TRANSIENT;
  }
  if ((berr->domain == MONGOC_ERROR_CLIENT && berr->code == MONGOC_ERROR_CLIENT_AUTHENTICATE) ||
      berr->domain == MONGOC_ERROR_SCRAM) {
    return TM_SERVER_ERR_CREDENTIALS;
  }
  if (berr->code == 11000 || berr->code == 11001) return TM_SERVER_ERR_DUPLICATE;
  if (!from_server(berr)) return TM_SERVER_ERR_OTHER;
  if (has_label(reply, "RetryableWriteError") || has_label(reply, "TransientTransactionError")) {
    return TM_SERVER_ERR_TRANSIENT;
  }
  return tm_profile_classify_code(berr->code, berr->message);
}

const char *tm_server_error_name(tm_server_error kind) {
  switch (kind) {
  case TM_SERVER_ERR_OTHER: return "other";
  case TM_SERVER_ERR_TRANSIENT: return "transient";
  case TM_SERVER_ERR_DUPLICATE: return "duplicate";
  case TM_SERVER_ERR_NAMESPACE_MISSING: return "namespace_missing";
  case TM_SERVER_ERR_OPTION_REFUSED: return "option_refused";
  case TM_SERVER_ERR_INDEX_CONFLICT: return "index_conflict";
  case TM_SERVER_ERR_CREDENTIALS: return "credentials";
  case TM_SERVER_ERR_DOCUMENT_REFUSED: return "document_refused";
  case TM_SERVER_ERR_RACED_DROP: return "raced_drop";
  }
  return "other";
}

bool tm_profile_refuses_document(int64_t code, const char *message) {
  tm_server_error kind = tm_profile_classify_code(code, message);
  return kind == TM_SERVER_ERR_DOCUMENT_REFUSED || kind == TM_SERVER_ERR_DUPLICATE;
}

static const char *message_text(const char *message) {
  const char *s = message;
  while (*s == '[') {
    const char *close = strchr(s, ']');
    if (!close || !memchr(s, ':', (size_t)(close - s))) break; /* not a "[file.go:N fn]" frame */
    s = close + 1;
    while (*s == ' ') s++;
  }
  return *s ? s : message;
}

void tm_profile_describe_error(char *out, size_t size, int64_t code, const char *message) {
  const char *msg = message_text(message ? message : "");
  char prefix[24];
  snprintf(prefix, sizeof prefix, "E%lld ", (long long)code);
  bool has_code = strncmp(msg, prefix, strlen(prefix)) == 0;
  snprintf(out, size, "%s%.180s", has_code ? "" : prefix, msg);
}

bool tm_profile_no_replication(const bson_error_t *berr) {
  if (!from_server(berr)) return false;
  switch (berr->code) {
  case 13: /* Unauthorized */
  case 59: /* CommandNotFound */
  case 76: /* NoReplicationEnabled */
  case 94: /* NotYetInitialized */
  case 115: /* CommandNotSupported */ return true;
  default: return false;
  }
}

/* Set once before any thread starts (tm_profile_set_user), read afterwards. */
static char credentials_user[128];

void tm_profile_set_user(const char *user) {
  snprintf(credentials_user, sizeof credentials_user, "%s", user ? user : "");
}

tm_code tm_store_error_reply(const bson_error_t *berr, const bson_t *reply, tm_error *err,
                             const char *what) {
  switch (tm_profile_classify(berr, reply)) {
  case TM_SERVER_ERR_TRANSIENT:
    return tm_error_set(err, TM_ERR_UNAVAILABLE, "%s: %s", what, berr->message);
  case TM_SERVER_ERR_DUPLICATE:
    return tm_error_set(err, TM_ERR_CONFLICT, "%s: %s", what, berr->message);
  case TM_SERVER_ERR_CREDENTIALS:
    /* The driver's message never holds the password; the user name helps find the secret. */
    return tm_error_set(err, TM_ERR_PRECONDITION,
                        "%s: MongoDB rejected the credentials for %s%s%s (%s); fix the URI's "
                        "user or password",
                        what, credentials_user[0] ? "user \"" : "the configured user",
                        credentials_user, credentials_user[0] ? "\"" : "", berr->message);
  default: return tm_error_set(err, TM_ERR_INTERNAL, "%s: %s", what, berr->message);
  }
}

tm_code tm_store_error(const bson_error_t *berr, tm_error *err, const char *what) {
  return tm_store_error_reply(berr, NULL, err, what);
}

/* ---------------------------------------------------------------------------------------------
 * Probes */

static void remember(_Atomic int *slot, int answer, const char *capability, const char *path) {
  int unknown = 0;
  if (atomic_compare_exchange_strong(slot, &unknown, answer)) {
    tm_log(TM_LOG_INFO, "server capability learnt", "capability", TM_LOG_STR(capability), "answer",
           TM_LOG_INT(answer), "path", TM_LOG_STR(path), NULL);
  }
}

/* FerretDB 1.24: {code: 2, errmsg: "Unknown type name alias: undefined"}. */
static bool is_undefined_refusal(const bson_error_t *berr) {
  return berr->code == 2 && strstr(berr->message, "undefined") != NULL;
}

static tm_code probe_undefined(tm_profile *p, mongoc_collection_t *coll, tm_error *err) {
  if (atomic_load(&p->type_undefined) != 0) return TM_OK;
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
    remember(&p->type_undefined, -1, "$type undefined",
             "absent only (undefined and NaN are refused)");
  } else if (found) {
    remember(&p->type_undefined, 1, "$type undefined", "absent or undefined (and NaN for falsy)");
  }
  return TM_OK;
}

/* Whether a plan (explain's winningPlan, any depth) has a stage named stage. */
static bool plan_has_stage(const bson_iter_t *plan, const char *stage) {
  bson_iter_t it;
  if (!(BSON_ITER_HOLDS_DOCUMENT(plan) || BSON_ITER_HOLDS_ARRAY(plan)) ||
      !bson_iter_recurse(plan, &it)) {
    return false;
  }
  while (bson_iter_next(&it)) {
    if (strcmp(bson_iter_key(&it), "stage") == 0 && BSON_ITER_HOLDS_UTF8(&it) &&
        strcmp(bson_iter_utf8(&it, NULL), stage) == 0) {
      return true;
    }
    if (plan_has_stage(&it, stage)) return true;
  }
  return false;
}

/* explain of {_id: X, <absent field>: {$exists: false}}: does the server read the whole collection
 * for a filter beyond _id? *answer 1 yes, -1 no, 0 it cannot say (it refused explain). A failure
 * to reach it is an error, not an answer. */
static tm_code explain_scans(mongoc_collection_t *coll, int *answer, tm_error *err) {
  bson_t cmd = BSON_INITIALIZER, find, filter, exists, reply;
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, "000000000000000000000000");
  BSON_APPEND_DOCUMENT_BEGIN(&cmd, "explain", &find);
  BSON_APPEND_UTF8(&find, "find", mongoc_collection_get_name(coll));
  BSON_APPEND_DOCUMENT_BEGIN(&find, "filter", &filter);
  BSON_APPEND_OID(&filter, "_id", &oid);
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "_tm_probe", &exists);
  BSON_APPEND_BOOL(&exists, "$exists", false);
  bson_append_document_end(&filter, &exists);
  bson_append_document_end(&find, &filter);
  bson_append_document_end(&cmd, &find);
  BSON_APPEND_UTF8(&cmd, "verbosity", "queryPlanner");
  bson_error_t berr;
  bool ok = mongoc_collection_command_simple(coll, &cmd, NULL, &reply, &berr);
  bson_destroy(&cmd);
  *answer = 0;
  bson_iter_t it;
  if (ok && bson_iter_init_find(&it, &reply, "filterPushdown") && BSON_ITER_HOLDS_BOOL(&it)) {
    *answer = bson_iter_bool(&it) ? -1 : 1;
  } else if (ok && bson_iter_init_find(&it, &reply, "queryPlanner") &&
             bson_iter_recurse(&it, &it) && bson_iter_find(&it, "winningPlan")) {
    *answer = plan_has_stage(&it, "COLLSCAN") ? 1 : -1;
  }
  bson_destroy(&reply);
  if (!ok && (!from_server(&berr) || tm_profile_classify(&berr, NULL) == TM_SERVER_ERR_TRANSIENT)) {
    return tm_store_error(&berr, err, "probing the server");
  }
  return TM_OK;
}

static tm_code probe_filters(tm_profile *p, mongoc_collection_t *coll, tm_error *err) {
  if (atomic_load(&p->filters_scan) != 0) return TM_OK;
  int answer;
  tm_code code = explain_scans(coll, &answer, err);
  if (code != TM_OK) return code;
  /* A refused explain is an answer too (taken as MongoDB's): the probe is not repeated. */
  remember(
      &p->filters_scan, answer > 0 ? 1 : -1, "filters other than a lone _id read the collection",
      answer > 0   ? "writes select by _id alone, at most 16 statements per update"
      : answer < 0 ? "writes carry the migration's filter"
                   : "writes carry the migration's filter (explain refused: taken as MongoDB)");
  return TM_OK;
}

static void fill_view(tm_profile *p, tm_profile_view *out) {
  out->type_undefined = atomic_load(&p->type_undefined) > 0;
  out->filters_scan = atomic_load(&p->filters_scan) > 0;
  out->lone_id_writes = out->filters_scan;
  out->max_write_statements = out->filters_scan ? FERRETDB_MAX_WRITE_STATEMENTS : 0;
  out->partial = (tm_partial_indexes)atomic_load(&p->partial);
  out->plain_indexes_missing = atomic_load(&p->plain_indexes_missing) > 0;
}

tm_code tm_profile_probe(tm_profile *p, mongoc_collection_t *coll, tm_profile_view *out,
                         tm_error *err) {
  tm_code code = probe_filters(p, coll, err);
  if (code == TM_OK) code = probe_undefined(p, coll, err);
  fill_view(p, out);
  return code;
}

/* createIndexes {u or m: 1, unique} on the scratch collection, partial over strings or not. */
static bool scratch_index(mongoc_collection_t *coll, const char *field, bool partial,
                          bson_error_t *berr) {
  bson_t cmd = BSON_INITIALIZER, indexes, spec, key, reply;
  BSON_APPEND_UTF8(&cmd, "createIndexes", mongoc_collection_get_name(coll));
  bson_append_array_begin(&cmd, "indexes", -1, &indexes);
  bson_append_document_begin(&indexes, "0", 1, &spec);
  bson_append_document_begin(&spec, "key", 3, &key);
  BSON_APPEND_INT32(&key, field, 1);
  bson_append_document_end(&spec, &key);
  BSON_APPEND_UTF8(&spec, "name", field);
  BSON_APPEND_BOOL(&spec, "unique", true);
  if (partial) {
    bson_t pfe, cond;
    bson_append_document_begin(&spec, "partialFilterExpression", -1, &pfe);
    bson_append_document_begin(&pfe, field, -1, &cond);
    BSON_APPEND_UTF8(&cond, "$type", "string");
    bson_append_document_end(&pfe, &cond);
    bson_append_document_end(&spec, &pfe);
  }
  bson_append_document_end(&indexes, &spec);
  bson_append_array_end(&cmd, &indexes);
  bool ok = mongoc_collection_write_command_with_opts(coll, &cmd, NULL, &reply, berr);
  bson_destroy(&reply);
  bson_destroy(&cmd);
  return ok;
}

static const char *partial_path(tm_partial_indexes v) {
  switch (v) {
  case TM_PARTIAL_APPLIED: return "applied: by_username is unique over non-empty strings";
  case TM_PARTIAL_REFUSED: return "refused: by_username is a plain unique index";
  case TM_PARTIAL_IGNORED: return "accepted but not applied: by_username is a plain unique index";
  default: return "unknown";
  }
}

/* Two documents whose u is null and which lack m: a partial index over strings on u holds
 * neither; a plain unique index on m refuses them where a missing field is indexed as null. */
static tm_code probe_scratch(tm_profile *p, mongoc_collection_t *coll, tm_error *err) {
  bson_error_t berr;
  bson_t *docs[2];
  for (int i = 0; i < 2; i++) {
    docs[i] = bson_new();
    BSON_APPEND_INT32(docs[i], "_id", i);
    BSON_APPEND_NULL(docs[i], "u");
  }
  bool ok = mongoc_collection_insert_many(coll, (const bson_t **)docs, 2, NULL, NULL, &berr);
  bson_destroy(docs[0]);
  bson_destroy(docs[1]);
  if (!ok) return tm_store_error(&berr, err, "probing indexes: inserting scratch documents");

  tm_partial_indexes partial;
  if (scratch_index(coll, "u", true, &berr)) {
    partial = TM_PARTIAL_APPLIED;
  } else {
    switch (tm_profile_classify(&berr, NULL)) {
    case TM_SERVER_ERR_OPTION_REFUSED: partial = TM_PARTIAL_REFUSED; break;
    case TM_SERVER_ERR_DUPLICATE: partial = TM_PARTIAL_IGNORED; break;
    default: return tm_store_error(&berr, err, "probing indexes: a partial unique index");
    }
  }
  int missing;
  if (scratch_index(coll, "m", false, &berr)) {
    missing = -1;
  } else if (tm_profile_classify(&berr, NULL) == TM_SERVER_ERR_DUPLICATE) {
    missing = 1;
  } else {
    return tm_store_error(&berr, err, "probing indexes: a plain unique index");
  }
  remember(&p->partial, (int)partial, "partial unique indexes", partial_path(partial));
  remember(&p->plain_indexes_missing, missing, "a plain unique index counts a missing field",
           missing > 0 ? "as null: documents missing the username block it"
                       : "not at all: only stored falsy usernames block it");
  return TM_OK;
}

tm_code tm_profile_probe_indexes(tm_profile *p, mongoc_client_t *client, const char *database,
                                 const char *scratch, tm_profile_view *out, tm_error *err) {
  if (atomic_load(&p->partial) == TM_PARTIAL_UNKNOWN) {
    /* A name of this process's own: replicas probing at once must not drop each other's
     * documents. */
    char name[256];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(name, sizeof name, "%s_probe_%" PRIx64, scratch,
             (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)p);
    mongoc_collection_t *coll = mongoc_client_get_collection(client, database, name);
    tm_code code = probe_scratch(p, coll, err);
    bson_error_t berr;
    if (!mongoc_collection_drop(coll, &berr) &&
        tm_profile_classify(&berr, NULL) != TM_SERVER_ERR_NAMESPACE_MISSING) {
      tm_log(TM_LOG_WARN, "probing indexes: cannot drop the scratch collection", "collection",
             TM_LOG_STR(name), "error", TM_LOG_STR(berr.message), NULL);
    }
    mongoc_collection_destroy(coll);
    if (code != TM_OK) return code;
  }
  out->partial = (tm_partial_indexes)atomic_load(&p->partial);
  out->plain_indexes_missing = atomic_load(&p->plain_indexes_missing) > 0;
  return TM_OK;
}
