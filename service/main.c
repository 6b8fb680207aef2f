/* twigz-migrations: wires configuration, the MongoDB store, the engine and the gRPC server, then
 * waits for SIGTERM or SIGINT and shuts down gracefully. */
#include <grpc/grpc.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "metrics/http.h"
#include "metrics/metrics.h"
#include "migrations/engine.h"
#include "oneshot.h"
#include "rpc/auth.h"
#include "rpc/health.h"
#include "rpc/migration_service.h"
#include "rpc/reflection.h"
#include "rpc/reflection_stream.h"
#include "rpc/server.h"
#include "store/store.h"

extern const unsigned char tm_descriptor_set[];
extern const size_t tm_descriptor_set_len;

static const char *const exposed_services[] = {
    "twigz.migrations.v1.MigrationService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
};

static int usage_error(const char *msg) {
  fprintf(stderr, "twigz-migrations: %s\n", msg);
  return TM_EXIT_USAGE;
}

/* Reads a whole PEM or token file; NULL (and msg) when it cannot. The caller frees the result. */
static char *read_file(const char *flag, const char *path, char *msg, size_t size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(msg, size, "%s: cannot read %s", flag, path);
    return NULL;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (cap - len - 1 == 0) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  buf[len] = '\0';
  return buf;
}

/* "host:port" with the port the server really bound (it differs when port 0 was asked). */
static void bound_address(const char *listen, int port, char *out, size_t size) {
  const char *colon = strrchr(listen, ':');
  int host_len = colon ? (int)(colon - listen) : (int)strlen(listen);
  snprintf(out, size, "%.*s:%d", host_len, listen, port);
}

static void make_instance_id(char *out, size_t size) {
  char host[64] = "unknown";
  gethostname(host, sizeof host - 1);
  unsigned int r = 0;
  if (getrandom(&r, sizeof r, 0) != sizeof r) r = (unsigned int)getpid();
  snprintf(out, size, "%s:%d:%08x", host, (int)getpid(), r);
}

/* What main reads from files named by flags; all heap strings, NULL when not configured. */
typedef struct {
  char *token, *cert, *key, *client_ca;
} secrets;

static void secrets_free(secrets *s) {
  free(s->token);
  free(s->cert);
  free(s->key);
  free(s->client_ca);
}

/* Reads the token and TLS files; false (msg filled) when one cannot be used. */
static bool load_secrets(const tm_config *cfg, secrets *s, char *msg, size_t size) {
  *s = (secrets){0};
  /* A blank token would turn auth off or match no client: either way not what was asked. */
  if (cfg->auth_token_file) {
    bool unreadable;
    s->token = tm_auth_read_token_file(cfg->auth_token_file, &unreadable);
    if (!s->token) {
      snprintf(msg, size, "--auth-token-file: %s %s", cfg->auth_token_file,
               unreadable ? "cannot be read" : "holds no token (empty or blank)");
      return false;
    }
  } else if (cfg->auth_token) {
    s->token = tm_auth_token_from_text(cfg->auth_token);
    if (!s->token) {
      snprintf(msg, size,
               "TWIGZ_AUTH_TOKEN is set but empty or blank: set a token or unset the variable");
      return false;
    }
  }
  if ((cfg->tls_cert && !(s->cert = read_file("--tls-cert", cfg->tls_cert, msg, size))) ||
      (cfg->tls_key && !(s->key = read_file("--tls-key", cfg->tls_key, msg, size))) ||
      (cfg->tls_client_ca &&
       !(s->client_ca = read_file("--tls-client-ca", cfg->tls_client_ca, msg, size)))) {
    return false;
  }
  if (!!s->cert != !!s->key) {
    snprintf(msg, size, "--tls-cert and --tls-key must be given together");
    return false;
  }
  if (s->client_ca && !s->cert) {
    snprintf(msg, size, "--tls-client-ca needs --tls-cert and --tls-key");
    return false;
  }
  return true;
}

/* Past the grace, the drain has this long to finish before the process leaves regardless. */
#define WATCHDOG_SLACK_S 5

static void *watchdog(void *arg) {
  int seconds = *(int *)arg;
  sleep((unsigned)seconds);
  /* Something is stuck (a frozen database holds a read for up to socketTimeoutMS). Nothing is
   * lost by leaving now: every write is fenced by its lease generation, and a migration still held
   * here is taken over from its saved cursor once its lease expires. */
  tm_log(TM_LOG_ERROR,
         "shutdown overran its grace; exiting now, running migrations resume "
         "elsewhere once their leases expire",
         "waited_s", TM_LOG_INT(seconds), NULL);
  _exit(0);
  return NULL;
}

/* Bounds the whole shutdown: SIGTERM is answered within the grace plus a few seconds whatever the
 * load and the database do. */
static void start_watchdog(int grace_seconds) {
  static int seconds;
  seconds = grace_seconds + WATCHDOG_SLACK_S;
  pthread_t t;
  if (pthread_create(&t, NULL, watchdog, &seconds) == 0) pthread_detach(t);
}

/* Serves until SIGTERM or SIGINT, then shuts down in order; returns the exit code. Takes the
 * engine: it is destroyed here, between the server's drain and its destruction. */
static int serve(const tm_config *cfg, tm_store *store, tm_engine *engine, const secrets *sec,
                 const char *instance, const sigset_t *signals) {
  tm_error err;
  char msg[1024];
  tm_reflection *reflection = NULL;
  if (tm_reflection_new(tm_descriptor_set, tm_descriptor_set_len, exposed_services,
                        sizeof exposed_services / sizeof exposed_services[0], &reflection,
                        &err) != TM_OK) {
    tm_log(TM_LOG_ERROR, "cannot index the descriptor set", "error", TM_LOG_STR(err.msg), NULL);
    tm_engine_destroy(engine);
    return TM_EXIT_SOFTWARE;
  }
  tm_health *health = tm_health_new(store, cfg->health_interval_ms, cfg->ping_timeout_ms);

  tm_method methods[TM_MIGRATION_SERVICE_MAX_METHODS + 4];
  size_t n = tm_migration_service_methods(engine, methods, TM_MIGRATION_SERVICE_MAX_METHODS);
  tm_health_methods(health, &methods[n], &methods[n + 1]);
  tm_reflection_methods(reflection, &methods[n + 2], &methods[n + 3]);
  n += 4;

  tm_server_options sopts = {
      .listen = cfg->listen,
      .threads = cfg->threads,
      .handler_threads = cfg->threads * 2 > 4 ? cfg->threads * 2 : 4,
      .auth_token = sec->token,
      .auth_token_name = cfg->auth_token_name,
      .tls_cert = sec->cert,
      .tls_key = sec->key,
      .tls_client_ca = sec->client_ca,
      .handshake_timeout_ms = cfg->handshake_timeout_ms,
      .max_streams = cfg->max_streams,
  };
  tm_server *server = NULL;
  tm_metrics_http *metrics = NULL;
  int metrics_port = 0;
  if (tm_server_start(&sopts, methods, n, &server, &err) != TM_OK) {
    snprintf(msg, sizeof msg, "--listen: %s", err.msg);
    tm_engine_destroy(engine);
    tm_reflection_destroy(reflection);
    tm_health_destroy(health);
    return usage_error(msg);
  }
  tm_metrics_build_info(TM_VERSION, grpc_version_string(), mongoc_get_version());
  if (cfg->metrics_listen[0] &&
      tm_metrics_http_start(cfg->metrics_listen, &metrics, &metrics_port, &err) != TM_OK) {
    snprintf(msg, sizeof msg, "--metrics-listen: %s", err.msg);
    tm_server_shutdown(server, 0);
    tm_engine_destroy(engine);
    tm_server_destroy(server);
    tm_reflection_destroy(reflection);
    tm_health_destroy(health);
    return usage_error(msg);
  }
  char address[300], metrics_address[300] = "", redacted[512];
  bound_address(cfg->listen, tm_server_port(server), address, sizeof address);
  if (metrics) {
    bound_address(cfg->metrics_listen, metrics_port, metrics_address, sizeof metrics_address);
  }
  tm_store_redact_uri(cfg->mongodb_uri, redacted, sizeof redacted);
  tm_log(TM_LOG_INFO, "twigz-migrations listening", "address", TM_LOG_STR(address), "metrics",
         TM_LOG_STR(metrics_address), "version", TM_LOG_STR(TM_VERSION), "tls",
         TM_LOG_BOOL(sec->cert != NULL), "mtls", TM_LOG_BOOL(sec->client_ca != NULL), "auth",
         TM_LOG_BOOL(sec->token != NULL), "mongodb", TM_LOG_STR(redacted), "database",
         TM_LOG_STR(cfg->database), "instance", TM_LOG_STR(instance), "threads",
         TM_LOG_INT(cfg->threads), NULL);
  tm_health_start(health);
  tm_engine_refresh_metrics(engine);

  int sig = 0;
  sigwait(signals, &sig);
  tm_log(TM_LOG_INFO, "shutting down", "signal", TM_LOG_STR(sig == SIGTERM ? "SIGTERM" : "SIGINT"),
         "grace_s", TM_LOG_INT(cfg->shutdown_grace_seconds), NULL);

  /* Order matters: probes see NOT_SERVING first; running chains stop after their batch (their
   * Runs answer UNAVAILABLE, resumable elsewhere) while the server drains; the engine's callbacks
   * must all have run before the server's completion queue goes away (tm_engine_destroy in main).
   */
  start_watchdog(cfg->shutdown_grace_seconds);
  tm_health_shutdown(health);
  tm_engine_stop(engine);
  tm_server_shutdown(server, cfg->shutdown_grace_seconds * 1000);
  tm_engine_destroy(engine);
  tm_server_destroy(server);
  tm_metrics_http_stop(metrics);
  tm_reflection_destroy(reflection);
  tm_health_destroy(health);
  return 0;
}

/* libmongoc initializes itself in a library constructor, before main, and creates a shared-memory
 * counters file, /dev/shm/mongoc-PID, which a killed process leaves behind. A later process with
 * the same PID (PID 1 in every container restarted in its pod) then finds it and prints a
 * plain-text warning on stderr, outside our JSON log. A file named with our PID belongs to a dead
 * process (or one in another PID namespace, which keeps its mapping), so it is removed first. Only
 * an executable's preinit array runs before its libraries' constructors; libc is not set up yet, so
 * this uses system calls only. */
static void remove_stale_driver_counters(int argc, char **argv, char **envp) {
  (void)argc, (void)argv, (void)envp;
  char path[32] = "/dev/shm/mongoc-", digits[16];
  size_t n = 0, len = strlen(path);
  for (unsigned long pid = (unsigned long)getpid(); n == 0 || pid; pid /= 10) {
    digits[n++] = (char)('0' + pid % 10);
  }
  while (n) path[len++] = digits[--n];
  path[len] = '\0';
  unlink(path);
}
__attribute__((section(".preinit_array"),
               used)) static void (*const preinit)(int, char **,
                                                   char **) = remove_stale_driver_counters;

int main(int argc, char **argv) {
  tm_config cfg;
  tm_error err;
  char msg[1024];
  if (tm_config_parse(&cfg, argc, argv, &err) != TM_OK) return usage_error(err.msg);
  if (cfg.help) {
    tm_config_usage(stdout);
    return 0;
  }
  if (cfg.version) {
    printf("twigz-migrations %s (gRPC core %s, libmongoc %s)\n", TM_VERSION, grpc_version_string(),
           mongoc_get_version());
    return 0;
  }
  tm_log_level level;
  if (!tm_log_parse_level(cfg.log_level, &level)) {
    return usage_error("--log-level: expected debug, info, warn or error");
  }
  tm_log_set_level(level);
  tm_write_filter write_filter;
  if (!tm_write_filter_parse(cfg.write_filter, &write_filter)) {
    return usage_error("--write-filter: expected auto, migration or id");
  }
  secrets sec;
  if (!load_secrets(&cfg, &sec, msg, sizeof msg)) {
    secrets_free(&sec);
    return usage_error(msg);
  }

  /* Signals are taken by sigwait; every thread created from here on inherits the mask. */
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, NULL);
  signal(SIGPIPE, SIG_IGN);

  mongoc_init();
  tm_store_init_logging();
  tm_server_init_logging();
  grpc_init();

  int code = TM_EXIT_SOFTWARE;
  tm_store *store = NULL;
  tm_engine *engine = NULL;
  char instance[128];
  make_instance_id(instance, sizeof instance);
  tm_engine_options eopts = {
      .state_collection = cfg.state_collection,
      .lease_ms = cfg.lease_seconds * 1000,
      .default_batch_size = cfg.batch_size,
      .instance_id = instance,
      .write_filter = write_filter,
      .outage_wait_ms = cfg.outage_wait_seconds ? cfg.outage_wait_seconds * 1000 : -1,
      .max_runs = cfg.max_runs,
      .progress_ms = cfg.progress_seconds * 1000,
      .metrics_refresh_ms = cfg.metrics_refresh_seconds * 1000,
      .history_keep = cfg.history_keep,
      .max_documents_per_second = cfg.max_documents_per_second,
      .max_replication_lag_ms = cfg.max_replication_lag_ms,
      .max_write_latency_ms = cfg.max_write_latency_ms,
      .max_failed_documents = cfg.max_failed_documents,
  };
  if (tm_store_new(cfg.mongodb_uri, cfg.database, &store, &err) != TM_OK) {
    snprintf(msg, sizeof msg, "--mongodb-uri: %s", err.msg);
    code = usage_error(msg);
  } else if (tm_engine_new(store, &eopts, &engine, &err) != TM_OK) {
    tm_log(TM_LOG_ERROR, "cannot start the engine", "error", TM_LOG_STR(err.msg), NULL);
  } else if (cfg.oneshot) {
    code = tm_oneshot_run(engine, &cfg, &signals);
    tm_engine_destroy(engine);
  } else {
    code = serve(&cfg, store, engine, &sec, instance, &signals); /* destroys the engine */
  }
  tm_store_destroy(store);
  grpc_shutdown();
  mongoc_cleanup();
  secrets_free(&sec);
  if (code == 0 && !cfg.oneshot) tm_log(TM_LOG_INFO, "stopped", NULL);
  return code;
}
