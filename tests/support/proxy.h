/* A loopback TCP proxy to the fixture's database server, for integration tests that need a fault
 * or a slow server they control: every connection cut at once, or every reply held back. */
#ifndef TM_TEST_PROXY_H
#define TM_TEST_PROXY_H

#include "store/store.h"

typedef struct tm_test_proxy tm_test_proxy;

/* Listens on a free loopback port and relays to the fixture's host:port. */
tm_test_proxy *tm_test_proxy_start(void);

/* A store on `database` through the proxy; destroy it before the proxy. */
tm_store *tm_test_proxy_store(tm_test_proxy *px, const char *database);

/* Closes every open connection; new ones are relayed as before. */
void tm_test_proxy_cut(tm_test_proxy *px);

/* Holds every chunk the server sends for at least ms before relaying it (0: none). A run through
 * it takes at least ms per round trip, whatever the machine's speed. */
void tm_test_proxy_delay(tm_test_proxy *px, int ms);

/* Stops accepting, closes every connection and frees the proxy. */
void tm_test_proxy_stop(tm_test_proxy *px);

#endif
