/* The by_username index of a username run: inspecting an existing one, creating it partial or
 * plain, deferring it behind reservations while stored falsy usernames block it, and the
 * duplicate check that names what blocks a build. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../log.h"
#include "../../store/store.h"
#include "usernames_impl.h"

const char *const tm_un_index_path_names[] = {
    [INDEX_NONE] = "none",   [INDEX_EXISTING] = "existing", [INDEX_PARTIAL] = "partial",
    [INDEX_PLAIN] = "plain", [INDEX_DEFERRED] = "deferred",
};

/* ---------------------------------------------------------------------------------------------
 * begin: duplicates, the index */

/* Finds one value held by more than one customer among those `match` selects; *found says
 * whether there is one: then *dup (owned by the caller) is the value and *holders how many hold it.
 */
static tm_code find_duplicate(tm_usernames *u, const bson_t *match, bool *found, bson_value_t *dup,
                              int64_t *holders, tm_error *err) {
  bson_t pipeline = BSON_INITIALIZER, stage, inner, arr;
  char field_ref[80];
  snprintf(field_ref, sizeof field_ref, "$%s", u->field->field);
  bson_append_array_begin(&pipeline, "pipeline", -1, &arr);
  bson_append_document_begin(&arr, "0", 1, &stage);
  bson_append_document(&stage, "$match", -1, match);
  bson_append_document_end(&arr, &stage);
  bson_append_document_begin(&arr, "1", 1, &stage);
  bson_append_document_begin(&stage, "$group", -1, &inner);
  BSON_APPEND_UTF8(&inner, "_id", field_ref);
  bson_t sum;
  bson_append_document_begin(&inner, "n", 1, &sum);
  BSON_APPEND_INT32(&sum, "$sum", 1);
  bson_append_document_end(&inner, &sum);
  bson_append_document_end(&stage, &inner);
  bson_append_document_end(&arr, &stage);
  bson_append_document_begin(&arr, "2", 1, &stage);
  bson_append_document_begin(&stage, "$match", -1, &inner);
  bson_t gt;
  bson_append_document_begin(&inner, "n", 1, &gt);
  BSON_APPEND_INT32(&gt, "$gt", 1);
  bson_append_document_end(&inner, &gt);
  bson_append_document_end(&stage, &inner);
  bson_append_document_end(&arr, &stage);
  bson_append_document_begin(&arr, "3", 1, &stage);
  BSON_APPEND_INT32(&stage, "$limit", 1);
  bson_append_document_end(&arr, &stage);
  bson_append_array_end(&pipeline, &arr);

  /* Grouping every username can outgrow the server's in-memory limit on large collections. */
  bson_t opts = BSON_INITIALIZER;
  BSON_APPEND_BOOL(&opts, "allowDiskUse", true);
  mongoc_cursor_t *cursor =
      mongoc_collection_aggregate(u->customers, MONGOC_QUERY_NONE, &pipeline, &opts, NULL);
  bson_destroy(&opts);
  const bson_t *doc;
  *found = false;
  while (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    if (!*found && bson_iter_init_find(&it, doc, "_id")) {
      bson_value_copy(bson_iter_value(&it), dup);
      *found = true;
      *holders = bson_iter_init_find(&it, doc, "n") ? bson_iter_as_int64(&it) : 2;
    }
  }
  bson_error_t berr;
  tm_code code = TM_OK;
  if (mongoc_cursor_error(cursor, &berr)) {
    code = tm_store_error(&berr, err, "checking customers for duplicate usernames");
    if (*found) bson_value_destroy(dup);
    *found = false;
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(&pipeline);
  return code;
}

#define DUPLICATE_IDS 10

/* ", "-separated _ids (the first DUPLICATE_IDS in _id order) of the customers among match that
 * hold value, for an operator to find them. */
static tm_code holders_of(tm_usernames *u, const bson_t *match, const bson_value_t *value,
                          char *out, size_t size, tm_error *err) {
  bson_t filter = BSON_INITIALIZER, and, eq, opts = BSON_INITIALIZER, sort, projection;
  bson_append_array_begin(&filter, "$and", -1, &and);
  bson_append_document(&and, "0", 1, match);
  bson_append_document_begin(&and, "1", 1, &eq);
  bson_append_value(&eq, u->field->field, -1, value);
  bson_append_document_end(&and, &eq);
  bson_append_array_end(&filter, &and);
  BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
  BSON_APPEND_INT32(&sort, "_id", 1);
  bson_append_document_end(&opts, &sort);
  BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &projection);
  BSON_APPEND_INT32(&projection, "_id", 1);
  bson_append_document_end(&opts, &projection);
  BSON_APPEND_INT64(&opts, "limit", DUPLICATE_IDS);
  mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(u->customers, &filter, &opts, NULL);
  size_t used = 0;
  out[0] = '\0';
  const bson_t *doc;
  while (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id")) continue;
    char id[64];
    tm_un_value_json(bson_iter_value(&it), id, sizeof id);
    int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", id);
    if (n < 0 || (size_t)n >= size - used) break;
    used += (size_t)n;
  }
  bson_error_t berr;
  tm_code code = TM_OK;
  if (mongoc_cursor_error(cursor, &berr)) {
    code = tm_store_error(&berr, err, "finding the customers holding a duplicate username");
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(&opts);
  bson_destroy(&filter);
  return code;
}

/* The field's "still missing" filter under key (filter.h). */
void tm_un_append_missing(const tm_usernames *u, bson_t *out, const char *key) {
  tm_filter_append_field(out, key, u->field, &u->caps);
}

/* {username: {$gt: ""}}: the non-empty strings (a comparison matches only its own type). */
static void append_nonempty_strings(const tm_usernames *u, bson_t *out) {
  bson_t cond;
  bson_append_document_begin(out, u->field->field, -1, &cond);
  BSON_APPEND_UTF8(&cond, "$gt", "");
  bson_append_document_end(out, &cond);
}

/* The customers a plain unique index on the username would hold twice as "no name": the falsy
 * values actually stored ({username: {$exists: true}, $and: [<still missing>]}), and where the
 * server indexes a missing field as null, every customer still missing one. */
static void build_blockers(const tm_usernames *u, bson_t *out) {
  if (!u->caps.plain_indexes_missing) {
    bson_t cond;
    bson_append_document_begin(out, u->field->field, -1, &cond);
    BSON_APPEND_BOOL(&cond, "$exists", true);
    bson_append_document_end(out, &cond);
  }
  bson_t and_arr;
  bson_append_array_begin(out, "$and", -1, &and_arr);
  tm_un_append_missing(u, &and_arr, "0");
  bson_append_array_end(out, &and_arr);
}

/* TM_ERR_DATA naming a value held by more than one of the customers match selects, how many
 * hold it and the first DUPLICATE_IDS of their _ids. */
tm_code tm_un_report_duplicate(tm_usernames *u, const bson_t *match, tm_error *err) {
  bool found;
  bson_value_t dup;
  int64_t holders = 0;
  tm_code code = find_duplicate(u, match, &found, &dup, &holders, err);
  if (code != TM_OK || !found) return code;
  char value[96], ids[300];
  tm_un_value_json(&dup, value, sizeof value);
  code = holders_of(u, match, &dup, ids, sizeof ids, err);
  bson_value_destroy(&dup);
  if (code != TM_OK) return code;
  char more[48] = "";
  if (holders > DUPLICATE_IDS) {
    snprintf(more, sizeof more, " and %" PRId64 " more", holders - DUPLICATE_IDS);
  }
  return tm_error_set(err, TM_ERR_DATA,
                      "customers already hold duplicate usernames: %s is held by %" PRId64
                      " customers (_id %s%s); make them unique, then run %s again",
                      value, holders, ids, more, u->m->name);
}

static tm_code check_duplicates(tm_usernames *u, bool any_type, tm_error *err) {
  bson_t match = BSON_INITIALIZER;
  if (any_type) {
    /* A plain unique index also refuses duplicated non-strings (two `true`). */
    bson_t cond, nin;
    bson_append_document_begin(&match, u->field->field, -1, &cond);
    BSON_APPEND_BOOL(&cond, "$exists", true);
    bson_append_array_begin(&cond, "$nin", -1, &nin);
    BSON_APPEND_NULL(&nin, "0");
    BSON_APPEND_UTF8(&nin, "1", "");
    BSON_APPEND_BOOL(&nin, "2", false);
    BSON_APPEND_INT32(&nin, "3", 0);
    bson_append_array_end(&cond, &nin);
    bson_append_document_end(&match, &cond);
  } else {
    append_nonempty_strings(u, &match);
  }
  tm_code code = tm_un_report_duplicate(u, &match, err);
  bson_destroy(&match);
  return code;
}

static tm_code count_blockers(tm_usernames *u, int64_t *out, tm_error *err) {
  bson_t filter = BSON_INITIALIZER;
  build_blockers(u, &filter);
  bson_error_t berr;
  *out = mongoc_collection_count_documents(u->customers, &filter, NULL, NULL, NULL, &berr);
  bson_destroy(&filter);
  if (*out < 0)
    return tm_store_error(&berr, err, "counting the customers that block a plain unique index");
  return TM_OK;
}

/* Whether an existing by_username index arbitrates our names: unique on the field alone, without
 * a collation, over everything or over the non-empty strings. */
static bool index_acceptable(const tm_usernames *u, const bson_t *spec) {
  bson_iter_t it, key;
  if (!bson_iter_init_find(&it, spec, "unique") || !bson_iter_as_bool(&it)) return false;
  if (bson_iter_init_find(&it, spec, "collation")) {
    bson_iter_t loc;
    if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &loc) ||
        !bson_iter_find(&loc, "locale") || !BSON_ITER_HOLDS_UTF8(&loc) ||
        strcmp(bson_iter_utf8(&loc, NULL), "simple") != 0) {
      return false;
    }
  }
  if (!bson_iter_init_find(&it, spec, "key") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
      !bson_iter_recurse(&it, &key) || !bson_iter_next(&key) ||
      strcmp(bson_iter_key(&key), u->field->field) != 0 || !BSON_ITER_HOLDS_NUMBER(&key)) {
    return false;
  }
  int64_t dir = bson_iter_as_int64(&key);
  if ((dir != 1 && dir != -1) || bson_iter_next(&key)) return false;
  if (bson_iter_init_find(&it, spec, "partialFilterExpression")) {
    uint32_t len;
    const uint8_t *data;
    if (!BSON_ITER_HOLDS_DOCUMENT(&it)) return false;
    bson_iter_document(&it, &len, &data);
    bson_t found, ours = BSON_INITIALIZER;
    bson_init_static(&found, data, len);
    append_nonempty_strings(u, &ours);
    bool same = bson_equal(&found, &ours);
    bson_destroy(&ours);
    if (!same) return false;
  }
  return true;
}

/* Looks for by_username; *exists says whether it is there, and when it is, it is acceptable (or
 * TM_ERR_DATA says why not). */
static tm_code inspect_index(tm_usernames *u, bool *exists, tm_error *err) {
  *exists = false;
  mongoc_cursor_t *cursor = mongoc_collection_find_indexes_with_opts(u->customers, NULL);
  const bson_t *spec;
  tm_code code = TM_OK;
  while (mongoc_cursor_next(cursor, &spec)) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, spec, "name") || !BSON_ITER_HOLDS_UTF8(&it) ||
        strcmp(bson_iter_utf8(&it, NULL), INDEX_NAME) != 0) {
      continue;
    }
    *exists = true;
    if (!index_acceptable(u, spec)) {
      char *json = bson_as_relaxed_extended_json(spec, NULL);
      code = tm_error_set(err, TM_ERR_DATA,
                          "index %s on %s exists with a different definition (%s); it must be "
                          "unique on {%s: 1} without a collation: drop it and run %s again",
                          INDEX_NAME, u->m->collection, json ? json : "?", u->field->field,
                          u->m->name);
      bson_free(json);
    }
  }
  bson_error_t berr;
  /* A collection that does not exist yet has no indexes (NamespaceNotFound). */
  if (mongoc_cursor_error(cursor, &berr) &&
      tm_profile_classify(&berr, NULL) != TM_SERVER_ERR_NAMESPACE_MISSING) {
    code = tm_store_error(&berr, err, "listing the indexes of customers");
  }
  mongoc_cursor_destroy(cursor);
  return code;
}

/* createIndexes for by_username, partial or plain; *berr holds the server's refusal. */
static bool create_index(tm_usernames *u, bool partial, bson_error_t *berr) {
  bson_t cmd = BSON_INITIALIZER, indexes, spec, key, reply;
  BSON_APPEND_UTF8(&cmd, "createIndexes", mongoc_collection_get_name(u->customers));
  bson_append_array_begin(&cmd, "indexes", -1, &indexes);
  bson_append_document_begin(&indexes, "0", 1, &spec);
  bson_append_document_begin(&spec, "key", 3, &key);
  BSON_APPEND_INT32(&key, u->field->field, 1);
  bson_append_document_end(&spec, &key);
  BSON_APPEND_UTF8(&spec, "name", INDEX_NAME);
  BSON_APPEND_BOOL(&spec, "unique", true);
  if (partial) {
    bson_t pfe;
    bson_append_document_begin(&spec, "partialFilterExpression", -1, &pfe);
    append_nonempty_strings(u, &pfe);
    bson_append_document_end(&spec, &pfe);
  }
  bson_append_document_end(&indexes, &spec);
  bson_append_array_end(&cmd, &indexes);
  bool ok = tm_un_write_command(u, &cmd, &reply, berr);
  bson_destroy(&reply);
  bson_destroy(&cmd);
  return ok;
}

static tm_code index_error(tm_usernames *u, const bson_error_t *berr, tm_error *err) {
  if (tm_profile_classify(berr, NULL) == TM_SERVER_ERR_INDEX_CONFLICT) {
    return tm_error_set(err, TM_ERR_DATA,
                        "cannot create index %s on %s: %s; drop the conflicting index and run %s "
                        "again",
                        INDEX_NAME, u->m->collection, berr->message, u->m->name);
  }
  return tm_store_error(berr, err, "creating index " INDEX_NAME);
}

static void log_index(const tm_usernames *u, const char *why) {
  tm_log(TM_LOG_INFO, "usernames: by_username index", "migration", TM_LOG_STR(u->m->name), "path",
         TM_LOG_STR(tm_un_index_path_names[u->index]), "why", TM_LOG_STR(why), NULL);
}

/* A failed index build: name the duplicate the data holds when that was the cause. */
static tm_code build_failed(tm_usernames *u, bool any_type, const bson_error_t *berr,
                            tm_error *err) {
  if (tm_profile_classify(berr, NULL) == TM_SERVER_ERR_DUPLICATE) {
    tm_code code = check_duplicates(u, any_type, err);
    if (code != TM_OK) return code;
  }
  return index_error(u, berr, err);
}

/* Where the server has no partial indexes: a plain unique index also indexes stored falsy
 * usernames ("" and null twice are duplicates), and on some servers missing ones, which this run
 * replaces; while two or more are left, it cannot be built, so it is deferred to the end of the run
 * (building it only to see it fail would cost a pass over the collection). Duplicates among the
 * other values can never be indexed: they fail the migration before anything is written, found by
 * the build itself when it is not deferred, else by the run's first pass over every username
 * (FerretDB, where a $group over a million customers outlasted libmongoc's default 5-minute socket
 * timeout) or a $group. */
static tm_code ensure_plain_index(tm_usernames *u, tm_error *err) {
  tm_code code = count_blockers(u, &u->blockers, err);
  if (code != TM_OK) return code;
  if (u->blockers >= 2) {
    if (u->caps.filters_scan) {
      u->watch.active = true;
    } else {
      code = check_duplicates(u, true, err);
      if (code != TM_OK) return code;
    }
    u->index = INDEX_DEFERRED;
    u->used_reservations = true;
    tm_log(TM_LOG_INFO, "usernames: by_username index", "migration", TM_LOG_STR(u->m->name), "path",
           TM_LOG_STR("deferred"), "why",
           TM_LOG_STR("customers without a username block a plain unique index until they are "
                      "named; names are reserved in " TM_USERNAMES_RESERVATIONS " meanwhile"),
           "blockers", TM_LOG_INT(u->blockers), "missing_counts_as_null",
           TM_LOG_BOOL(u->caps.plain_indexes_missing), NULL);
    return TM_OK;
  }
  bson_error_t berr;
  if (!create_index(u, false, &berr)) return build_failed(u, true, &berr, err);
  u->index = INDEX_PLAIN;
  log_index(u, u->caps.partial == TM_PARTIAL_IGNORED
                   ? "created unique, not partial (the server accepts partialFilterExpression "
                     "but does not apply it)"
                   : "created unique, not partial (the server refuses partialFilterExpression)");
  return TM_OK;
}

/* The server profile says whether partial indexes work (a server may accept the option and not
 * apply it); where they do, the build checks for duplicates in the same pass (they are looked for
 * only to name one). */
static tm_code ensure_index(tm_usernames *u, tm_error *err) {
  bool exists;
  tm_code code = inspect_index(u, &exists, err);
  if (code != TM_OK) return code;
  if (exists) {
    u->index = INDEX_EXISTING;
    log_index(u, "an acceptable by_username index already exists");
    return TM_OK;
  }
  if (u->caps.partial != TM_PARTIAL_APPLIED) return ensure_plain_index(u, err);
  bson_error_t berr;
  if (!create_index(u, true, &berr)) return build_failed(u, false, &berr, err);
  u->index = INDEX_PARTIAL;
  log_index(u, "created unique over non-empty strings");
  return TM_OK;
}

/* Statements per update command and whether writes carry the migration's filter come from the
 * server profile (and --write-filter). */
static void choose_write_path(tm_usernames *u) {
  u->max_statements = u->caps.max_write_statements;
  tm_log(TM_LOG_INFO, "usernames: write path", "migration", TM_LOG_STR(u->m->name), "filters_scan",
         TM_LOG_BOOL(u->caps.filters_scan), "statements_per_update", TM_LOG_INT(u->max_statements),
         "write_filter",
         TM_LOG_STR(u->caps.lone_id_writes ? "_id alone" : "_id and username still missing"), NULL);
}

tm_code tm_usernames_begin(mongoc_collection_t *customers, const tm_migration *m,
                           const tm_profile_view *caps, bool dry_run, tm_usernames **out,
                           tm_error *err) {
  *out = NULL;
  if (!customers || !m || !caps || m->derive != TM_DERIVE_USERNAME || m->n_fields != 1 ||
      !m->fields[0].derived_from) {
    return tm_error_set(err, TM_ERR_INTERNAL, "usernames: %s is not a username migration",
                        m ? m->name : "(null)");
  }
  tm_usernames *u = bson_malloc0(sizeof *u);
  u->customers = customers;
  u->m = m;
  u->field = &m->fields[0];
  u->caps = *caps;
  u->dry_run = dry_run;
  u->index = INDEX_NONE;
  u->max_bases = MAX_BASES;
  u->max_holes = MAX_HOLES;
  u->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)u ^ 0x9e3779b97f4a7c15ULL;
  u->directory = caps->filters_scan && !dry_run;
  choose_write_path(u);
  /* A dry run only reads: a real run would fail on these duplicates, so the dry run says so too. */
  tm_code code = dry_run ? check_duplicates(u, false, err) : ensure_index(u, err);
  if (code != TM_OK) {
    tm_usernames_destroy(u);
    return code;
  }
  /* Learning a base by query needs an index on username; while the index is deferred there is
   * none on any server, and each query would read every customer (mongo-java-server: 134
   * documents/s at 10,000 customers, quadratic). Reservations are kept then anyway, so a real run
   * learns through them. */
  if (u->index == INDEX_DEFERRED && !dry_run) u->directory = true;
  if (u->directory) u->max_bases = DIRECTORY_MAX_BASES;
  *out = u;
  return TM_OK;
}

const char *tm_usernames_index_path(const tm_usernames *u) {
  return tm_un_index_path_names[u->index];
}

void tm_usernames_hold_lease(tm_usernames *u) { u->exclusive = true; }

void tm_usernames_limit_cache(tm_usernames *u, size_t max_bases, size_t max_holes) {
  u->max_bases = max_bases;
  u->max_holes = max_holes;
}

/* ---------------------------------------------------------------------------------------------
 * The deferred index */

void tm_un_try_deferred_index(tm_usernames *u, bool at_end, tm_error *err, tm_code *code) {
  u->build_tried = true;
  /* At the end, blockers written meanwhile fail the build; another writer may also name them
   * between a failed build and the count, so a count that finds fewer than two left is worth
   * another build. */
  for (int attempt = 0;; attempt++) {
    bson_error_t berr;
    if (create_index(u, false, &berr)) {
      u->index = INDEX_PLAIN;
      log_index(u, at_end ? "built at the end of the run, the falsy usernames replaced"
                          : "built during the run, as soon as the falsy usernames were replaced");
      return;
    }
    if (!at_end) {
      tm_log(TM_LOG_INFO, "usernames: by_username still blocked; reservations go on", "migration",
             TM_LOG_STR(u->m->name), "error", TM_LOG_STR(berr.message), NULL);
      return;
    }
    int64_t left = 0;
    tm_code c = count_blockers(u, &left, err);
    if (c != TM_OK) {
      *code = c;
      return;
    }
    if (left >= 2) {
      *code = tm_error_set(err, TM_ERR_CONFLICT,
                           "cannot build index %s: %" PRId64
                           " customers written after this run passed them still have no "
                           "username; run %s again",
                           INDEX_NAME, left, u->m->name);
      return;
    }
    if (attempt == 2) {
      *code = index_error(u, &berr, err);
      return;
    }
  }
}

/* Reserving failed. Another run that built by_username drops the reservations (FerretDB and
 * mongo-java-server then fail inserts racing the drop): where the index now exists, it arbitrates
 * and reservations are no longer needed. Otherwise the failure stands. */
tm_code tm_un_index_took_over(tm_usernames *u, tm_code failure, tm_error *err) {
  bool exists;
  tm_error probe;
  tm_code code = inspect_index(u, &exists, &probe);
  if (code != TM_OK && code != TM_ERR_DATA) return failure;
  if (code == TM_ERR_DATA) {
    *err = probe;
    return code;
  }
  if (!exists) return failure;
  u->index = INDEX_EXISTING;
  log_index(u, "built by another run meanwhile; reservations are no longer needed");
  return TM_OK;
}
