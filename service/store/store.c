/* The MongoDB client pool and the errors it reports. */
#include "store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../log.h"
#include "../util/ratelimit.h"

/* The control pool's size: the state-reads thread, the control and reads lanes' threads
 * (rpc/server.c), with room to spare, so popping from it never waits. */
#define CONTROL_POOL_MAX 8
/* Its socket timeout unless the URI sets one: a pending count on a large collection takes tens of
 * seconds on FerretDB, and a frozen server must not hold a Cancel for an hour. */
#define CONTROL_SOCKET_TIMEOUT_MS 120000

struct tm_store {
  mongoc_client_pool_t *pool;
  mongoc_client_pool_t *control; /* Status, Cancel and pending counts: never behind runs */
  char *database;
  mongoc_uri_t *uri;      /* the pool's, for the probe client */
  mongoc_client_t *probe; /* tm_store_ping's own client; only the health checker uses it */
};

/* Routes the driver's own log lines into our JSON log. */
static void forward_driver_log(mongoc_log_level_t level, const char *domain, const char *message,
                               void *ud) {
  (void)ud;
  tm_log_level ours = level <= MONGOC_LOG_LEVEL_CRITICAL  ? TM_LOG_ERROR
                      : level == MONGOC_LOG_LEVEL_WARNING ? TM_LOG_WARN
                      : level == MONGOC_LOG_LEVEL_MESSAGE || level == MONGOC_LOG_LEVEL_INFO
                          ? TM_LOG_INFO
                          : TM_LOG_DEBUG;
  /* FerretDB lacks endSessions; the driver's warning about it at every shutdown is noise. */
  if (strstr(message, "endSessions")) ours = TM_LOG_DEBUG;
  if (level == MONGOC_LOG_LEVEL_TRACE || !tm_log_enabled(ours)) return;
  /* A flapping server makes the driver warn per connection attempt and per pooled client. */
  static tm_ratelimit loud = TM_RATELIMIT_INIT(20, 10000);
  uint64_t held = 0;
  if (ours <= TM_LOG_INFO) {
    tm_log(ours, message, "component", TM_LOG_STR("mongoc"), "domain", TM_LOG_STR(domain), NULL);
  } else if (tm_ratelimit_allow(&loud, &held)) {
    tm_log(ours, message, "component", TM_LOG_STR("mongoc"), "domain", TM_LOG_STR(domain),
           held ? "suppressed" : NULL, TM_LOG_INT(held), NULL);
  }
}

void tm_store_init_logging(void) { mongoc_log_set_handler(forward_driver_log, NULL); }

static mongoc_client_pool_t *new_pool(const mongoc_uri_t *uri, bson_error_t *berr) {
  mongoc_client_pool_t *pool = mongoc_client_pool_new_with_error(uri, berr);
  if (pool) mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
  return pool;
}

tm_code tm_store_new(const char *uri_text, const char *database, tm_store **out, tm_error *err) {
  bson_error_t berr;
  mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_text, &berr);
  if (!uri) {
    /* The driver's message may quote the URI; say only that it is malformed. */
    return tm_error_set(err, TM_ERR_INVALID, "invalid MongoDB URI (%s)",
                        strstr(berr.message, "://") ? "malformed" : berr.message);
  }
  /* Fail fast while the server is away, so health and RPCs answer instead of hanging. */
  if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS)) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
  }
  if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS)) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 3000);
  }
  /* libmongoc gives up on a reply after 5 minutes, and a migration's count, duplicate check or
   * index build on a large collection runs longer than that (a $group over 1,000,000 customers on
   * FerretDB did, twice, and failed the migration). Dead peers are still found by TCP keepalive,
   * which libmongoc turns on, in a few minutes. */
  bool own_socket_timeout = mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS);
  if (!own_socket_timeout) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, TM_STORE_SOCKET_TIMEOUT_MS);
  }
  if (!mongoc_uri_has_option(uri, MONGOC_URI_APPNAME)) {
    mongoc_uri_set_appname(uri, "twigz-migrations");
  }
  mongoc_uri_t *control_uri = mongoc_uri_copy(uri);
  if (!own_socket_timeout) {
    mongoc_uri_set_option_as_int32(control_uri, MONGOC_URI_SOCKETTIMEOUTMS,
                                   CONTROL_SOCKET_TIMEOUT_MS);
  }
  mongoc_client_pool_t *pool = new_pool(uri, &berr);
  mongoc_client_pool_t *control = pool ? new_pool(control_uri, &berr) : NULL;
  mongoc_uri_destroy(control_uri);
  if (!control) {
    if (pool) mongoc_client_pool_destroy(pool);
    mongoc_uri_destroy(uri);
    return tm_error_set(err, TM_ERR_INVALID, "cannot create MongoDB client pool: %s", berr.message);
  }
  mongoc_client_pool_max_size(control, CONTROL_POOL_MAX);
  const char *mechanism = mongoc_uri_get_auth_mechanism(uri);
  bool aws = mechanism && strcasecmp(mechanism, "MONGODB-AWS") == 0;
  /* An AWS access key id is half of a credential: errors name it only as what it is. */
  tm_profile_set_user(aws ? "an AWS access key" : mongoc_uri_get_username(uri));

  tm_store *s = calloc(1, sizeof *s);
  s->pool = pool;
  s->control = control;
  s->uri = uri;
  s->database = strdup(database);
  *out = s;
  return TM_OK;
}

void tm_store_destroy(tm_store *store) {
  if (!store) return;
  if (store->probe) mongoc_client_destroy(store->probe);
  mongoc_client_pool_destroy(store->control);
  mongoc_client_pool_destroy(store->pool);
  mongoc_uri_destroy(store->uri);
  free(store->database);
  free(store);
}

mongoc_client_t *tm_store_pop(tm_store *store) { return mongoc_client_pool_pop(store->pool); }

void tm_store_push(tm_store *store, mongoc_client_t *client) {
  mongoc_client_pool_push(store->pool, client);
}

mongoc_client_t *tm_store_pop_control(tm_store *store) {
  return mongoc_client_pool_pop(store->control);
}

void tm_store_push_control(tm_store *store, mongoc_client_t *client) {
  mongoc_client_pool_push(store->control, client);
}

const char *tm_store_database(const tm_store *store) { return store->database; }

/* The probe has timeouts of its own: a pooled client waits up to socketTimeoutMS (an hour) for a
 * server that accepts connections but never answers (frozen, SIGSTOP), and waits in the pool
 * behind migrations when they hold every client. */
static mongoc_client_t *probe_client(tm_store *store, int32_t timeout_ms, tm_error *err) {
  if (store->probe) return store->probe;
  mongoc_uri_t *uri = mongoc_uri_copy(store->uri);
  mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, timeout_ms);
  mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, timeout_ms);
  mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout_ms);
  bson_error_t berr;
  store->probe = mongoc_client_new_from_uri_with_error(uri, &berr);
  mongoc_uri_destroy(uri);
  if (!store->probe) {
    tm_error_set(err, TM_ERR_INTERNAL, "cannot create the health probe's client: %s", berr.message);
    return NULL;
  }
  mongoc_client_set_error_api(store->probe, MONGOC_ERROR_API_VERSION_2);
  return store->probe;
}

tm_code tm_store_ping(tm_store *store, int timeout_ms, tm_error *err) {
  mongoc_client_t *client = probe_client(store, timeout_ms, err);
  if (!client) return TM_ERR_INTERNAL;
  bson_t cmd = BSON_INITIALIZER;
  BSON_APPEND_INT32(&cmd, "ping", 1);
  bson_error_t berr;
  bool ok = mongoc_client_command_simple(client, store->database, &cmd, NULL, NULL, &berr);
  bson_destroy(&cmd);
  if (!ok) return tm_store_error(&berr, err, "ping");
  return TM_OK;
}

mongoc_collection_t *tm_store_collection(tm_store *store, mongoc_client_t *client,
                                         const char *name) {
  mongoc_collection_t *coll = mongoc_client_get_collection(client, store->database, name);
  /* Majority writes survive a failover; primary reads see them. Retryable writes are the driver's
   * default (retryWrites=true) wherever the server offers them. */
  mongoc_write_concern_t *wc = mongoc_write_concern_new();
  mongoc_write_concern_set_wmajority(wc, 20000);
  mongoc_collection_set_write_concern(coll, wc);
  mongoc_write_concern_destroy(wc);
  mongoc_read_prefs_t *primary = mongoc_read_prefs_new(MONGOC_READ_PRIMARY);
  mongoc_collection_set_read_prefs(coll, primary);
  mongoc_read_prefs_destroy(primary);
  return coll;
}
