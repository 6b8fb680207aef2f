/* Unique usernames for addUsernamesToCustomers. Work in progress: the interface links, the work
 * follows. */
#include "usernames.h"

#include <stdlib.h>

struct tm_usernames {
  mongoc_collection_t *customers; /* borrowed */
  bool dry_run;
};

tm_code tm_usernames_begin(mongoc_collection_t *customers, const tm_migration *m,
                           const tm_filter_caps *caps, bool dry_run, tm_usernames **out,
                           tm_error *err) {
  (void)customers;
  (void)m;
  (void)caps;
  (void)dry_run;
  *out = NULL;
  return tm_error_set(err, TM_ERR_INTERNAL, "usernames: not implemented yet");
}

tm_code tm_usernames_apply(tm_usernames *u, const bson_t *const *docs, size_t n,
                           char (*assigned)[TM_USERNAME_MAX + 1], int64_t *updated, tm_error *err) {
  (void)u;
  (void)docs;
  (void)n;
  (void)assigned;
  *updated = 0;
  return tm_error_set(err, TM_ERR_INTERNAL, "usernames: not implemented yet");
}

tm_code tm_usernames_end(tm_usernames *u, tm_error *err) {
  (void)u;
  return tm_error_set(err, TM_ERR_INTERNAL, "usernames: not implemented yet");
}

void tm_usernames_destroy(tm_usernames *u) { free(u); }
