/* Test support: the shared FerretDB fixture and fresh databases. */
#include "testdb.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *tm_test_mongodb_uri(void) {
  static char uri[512];
  if (uri[0]) return uri;
  const char *file = getenv("TM_TEST_MONGODB_URI_FILE");
  FILE *f = file ? fopen(file, "r") : NULL;
  if (!f || !fgets(uri, sizeof uri, f)) cr_assert_fail("no FerretDB fixture: run through ctest");
  fclose(f);
  uri[strcspn(uri, "\r\n")] = '\0';
  return uri;
}

const char *tm_test_database_name(const char *prefix) {
  static char name[64];
  static int counter;
  snprintf(name, sizeof name, "t_%s_%d_%d", prefix, (int)getpid(), ++counter);
  return name;
}

tm_store *tm_test_store(const char *prefix) {
  tm_store *store = NULL;
  tm_error err;
  if (tm_store_new(tm_test_mongodb_uri(), tm_test_database_name(prefix), &store, &err) != TM_OK) {
    cr_assert_fail("tm_store_new: %s", err.msg);
  }
  return store;
}
