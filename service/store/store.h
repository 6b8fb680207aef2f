/* MongoDB access: the client pool, the database handle and server capabilities.
 *
 * Nothing here knows about gRPC. A tm_store is created once at start-up and shared by every thread;
 * callers borrow a client with tm_store_pop and give it back with tm_store_push (mongoc clients are
 * not thread safe, the pool is). */
#ifndef TM_STORE_H
#define TM_STORE_H

#include <mongoc/mongoc.h>
#include <stdbool.h>

#include "../error.h"
#include "profile.h" /* tm_store_error */

typedef struct tm_store tm_store;

/* Sends libmongoc's log lines to tm_log; call once after mongoc_init. */
void tm_store_init_logging(void);

/* socketTimeoutMS unless the URI sets it: an hour. */
#define TM_STORE_SOCKET_TIMEOUT_MS 3600000

/* Parses uri and creates the pool; does not connect yet. The URI's password never reaches err.
 * Timeouts the URI leaves out get the service's defaults: server selection 5 s, connect 3 s,
 * socket TM_STORE_SOCKET_TIMEOUT_MS. */
tm_code tm_store_new(const char *uri, const char *database, tm_store **out, tm_error *err);
void tm_store_destroy(tm_store *store);

mongoc_client_t *tm_store_pop(tm_store *store);
void tm_store_push(tm_store *store, mongoc_client_t *client);
/* The control pool's clients, for Status, Cancel and pending counts: a pool of its own, so they
 * never wait behind runs holding every client of the other (its size covers every thread that
 * uses it); a socket timeout of 2 minutes unless the URI sets one. */
mongoc_client_t *tm_store_pop_control(tm_store *store);
void tm_store_push_control(tm_store *store, mongoc_client_t *client);
const char *tm_store_database(const tm_store *store);

/* Runs {ping: 1} on the database through a client of its own whose connect, server-selection and
 * socket timeouts are timeout_ms (the first call's: the client is made once), so it answers within
 * about that time whatever the server and the pool do; TM_ERR_UNAVAILABLE when the server does not
 * answer in time. One thread at a time (the health checker). */
tm_code tm_store_ping(tm_store *store, int timeout_ms, tm_error *err);

/* Copies uri into out with any password replaced by "***"; for logs and errors. */
void tm_store_redact_uri(const char *uri, char *out, size_t size);

/* A handle on name in the store's database for client, with majority writes and primary reads;
 * destroy it with mongoc_collection_destroy before the client goes back to its pool. */
mongoc_collection_t *tm_store_collection(tm_store *store, mongoc_client_t *client,
                                         const char *name);

#endif
