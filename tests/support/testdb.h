/* Test support for integration tests: the shared FerretDB fixture and a fresh database per test. */
#ifndef TM_TESTDB_H
#define TM_TESTDB_H

#include <mongoc/mongoc.h>

#include "store/store.h"

/* The fixture's URI (read from $TM_TEST_MONGODB_URI_FILE); aborts the test when there is none.
 * Returns a static string. */
const char *tm_test_mongodb_uri(void);

/* A database name unique to this test process, e.g. "t_engine_12345_3"; each call gives a new one.
 * Returns a static buffer overwritten by the next call. */
const char *tm_test_database_name(const char *prefix);

/* A store on a fresh database of the fixture; destroy with tm_store_destroy. */
tm_store *tm_test_store(const char *prefix);

#endif
