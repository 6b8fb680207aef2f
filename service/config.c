/* Flags and environment variables, described once in a table that also produces --help. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { OPT_STRING, OPT_INT, OPT_BOOL } opt_type;

/* Where a flag is accepted. */
enum { SERVE = 1, ONESHOT = 2, BOTH = 3 };

typedef struct {
  const char *flag; /* without the leading "--" */
  const char *env;  /* NULL: no variable */
  opt_type type;
  size_t offset; /* into tm_config */
  int min, max;  /* OPT_INT bounds */
  const char *help;
  int modes;
} option;

#define OFF(f) offsetof(tm_config, f)

static const option options[] = {
    {"listen", "TWIGZ_LISTEN", OPT_STRING, OFF(listen), 0, 0,
     "gRPC address host:port (port 0 picks a free port) [0.0.0.0:50051]", BOTH},
    {"mongodb-uri", "MONGODB_URI", OPT_STRING, OFF(mongodb_uri), 0, 0,
     "MongoDB connection string [mongodb://127.0.0.1:27017]", BOTH},
    {"database", "MONGODB_DATABASE", OPT_STRING, OFF(database), 0, 0, "database name [twigz]",
     BOTH},
    {"threads", "TWIGZ_THREADS", OPT_INT, OFF(threads), 1, 256,
     "completion-queue threads [number of cores]", BOTH},
    {"auth-token-file", "TWIGZ_AUTH_TOKEN_FILE", OPT_STRING, OFF(auth_token_file), 0, 0,
     "file holding the bearer token MigrationService calls must send (TWIGZ_AUTH_TOKEN: the token "
     "itself)",
     BOTH},
    {"auth-token-name", "TWIGZ_AUTH_TOKEN_NAME", OPT_STRING, OFF(auth_token_name), 0, 0,
     "who the token stands for, recorded in the run history as token:NAME [default]", BOTH},
    {"history-keep", "TWIGZ_HISTORY_KEEP", OPT_INT, OFF(history_keep), 1, 100000,
     "run history entries kept per migration [100]", BOTH},
    {"tls-cert", "TWIGZ_TLS_CERT", OPT_STRING, OFF(tls_cert), 0, 0, "server certificate (PEM file)",
     BOTH},
    {"tls-key", "TWIGZ_TLS_KEY", OPT_STRING, OFF(tls_key), 0, 0, "server private key (PEM file)",
     BOTH},
    {"tls-client-ca", "TWIGZ_TLS_CLIENT_CA", OPT_STRING, OFF(tls_client_ca), 0, 0,
     "CA (PEM file) that must sign client certificates: mutual TLS", BOTH},
    {"log-level", "TWIGZ_LOG_LEVEL", OPT_STRING, OFF(log_level), 0, 0,
     "debug, info, warn or error [info]", BOTH},
    {"state-collection", "TWIGZ_STATE_COLLECTION", OPT_STRING, OFF(state_collection), 0, 0,
     "collection holding migration state [_migrations]", BOTH},
    {"write-filter", "TWIGZ_WRITE_FILTER", OPT_STRING, OFF(write_filter), 0, 0,
     "what selects a write: migration (_id and the migration's filter, so a document a concurrent "
     "writer completed is left alone), id (_id alone), or auto: migration, except where the "
     "server's explain says a filter beyond _id reads the whole collection (FerretDB) [auto]",
     BOTH},
    {"lease-seconds", "TWIGZ_LEASE_SECONDS", OPT_INT, OFF(lease_seconds), 2, 3600,
     "how long a migration's lease lasts without renewal [30]", BOTH},
    {"batch-size", "TWIGZ_BATCH_SIZE", OPT_INT, OFF(batch_size), 1, TM_MAX_BATCH_SIZE,
     "default documents per batch [500]", BOTH},
    {"outage-wait-seconds", "TWIGZ_OUTAGE_WAIT_SECONDS", OPT_INT, OFF(outage_wait_seconds), 0,
     86400,
     "how long a running migration waits for a database that went away (retrying with backoff) "
     "before it stops, resumable [300]",
     BOTH},
    {"shutdown-grace", "TWIGZ_SHUTDOWN_GRACE", OPT_INT, OFF(shutdown_grace_seconds), 0, 3600,
     "seconds calls in flight may take to finish after SIGTERM [20]", BOTH},
    {"health-interval-ms", "TWIGZ_HEALTH_INTERVAL_MS", OPT_INT, OFF(health_interval_ms), 100, 60000,
     "how often the health checker pings MongoDB [2000]", BOTH},
    {"ping-timeout-ms", "TWIGZ_PING_TIMEOUT_MS", OPT_INT, OFF(ping_timeout_ms), 100, 60000,
     "a readiness ping MongoDB does not answer within this is NOT_SERVING [2000]", BOTH},
    {"max-runs", "TWIGZ_MAX_RUNS", OPT_INT, OFF(max_runs), 1, 1024,
     "Runs in flight on this replica; past it a Run is RESOURCE_EXHAUSTED (identical Runs share "
     "one) [32]",
     BOTH},
    {"metrics-refresh-seconds", "TWIGZ_METRICS_REFRESH_SECONDS", OPT_INT,
     OFF(metrics_refresh_seconds), 1, 3600,
     "how often migration_state and the run gauges are read from the state collection [10]", BOTH},
    {"progress-seconds", "TWIGZ_PROGRESS_SECONDS", OPT_INT, OFF(progress_seconds), 1, 86400,
     "how often a running migration logs its progress (processed/total, docs/s, ETA) [30]", BOTH},
    {"max-documents-per-second", "TWIGZ_MAX_DOCUMENTS_PER_SECOND", OPT_INT,
     OFF(max_documents_per_second), 0, 1000000,
     "a Run's rate limit, documents written per second, where it sets none; 0: no limit [0]", BOTH},
    {"max-replication-lag-ms", "TWIGZ_MAX_REPLICATION_LAG_MS", OPT_INT, OFF(max_replication_lag_ms),
     0, 86400000,
     "throttle while the secondaries a majority write waits for lag more than this (replica "
     "sets); 0: off [10000]",
     BOTH},
    {"max-write-latency-ms", "TWIGZ_MAX_WRITE_LATENCY_MS", OPT_INT, OFF(max_write_latency_ms), 0,
     86400000,
     "throttle, and shrink batches, while a batch write takes longer than this; 0: off [5000]",
     BOTH},
    {"max-failed-documents", "TWIGZ_MAX_FAILED_DOCUMENTS", OPT_INT, OFF(max_failed_documents), 0,
     10000,
     "documents the server may refuse one by one (validator, unique index, size) that a run "
     "records and skips before it fails; 0: the first fails it [0]",
     BOTH},
    {"handshake-timeout-ms", "TWIGZ_HANDSHAKE_TIMEOUT_MS", OPT_INT, OFF(handshake_timeout_ms), 100,
     600000,
     "a connection that has not completed its TLS and HTTP/2 handshake by then is closed [5000]",
     SERVE},
    {"max-streams-per-connection", "TWIGZ_MAX_STREAMS_PER_CONNECTION", OPT_INT, OFF(max_streams), 1,
     100000, "concurrent calls one client connection may hold [100]", SERVE},
    {"metrics-listen", "TWIGZ_METRICS_LISTEN", OPT_STRING, OFF(metrics_listen), 0, 0,
     "Prometheus /metrics address host:port; empty turns it off [0.0.0.0:9090]", BOTH},
    {"dry-run", NULL, OPT_BOOL, OFF(dry_run), 0, 0, "run: plan only, write nothing", ONESHOT},
    {"rerun", NULL, OPT_BOOL, OFF(rerun), 0, 0, "run: start completed migrations over", ONESHOT},
    {"help", NULL, OPT_BOOL, OFF(help), 0, 0, "print this help and exit", BOTH},
    {"version", NULL, OPT_BOOL, OFF(version), 0, 0, "print the version and exit", BOTH},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

static tm_code set(tm_config *cfg, const option *o, const char *value, const char *source,
                   tm_error *err) {
  void *field = (char *)cfg + o->offset;
  switch (o->type) {
  case OPT_STRING: *(const char **)field = value; return TM_OK;
  case OPT_BOOL: *(bool *)field = true; return TM_OK;
  case OPT_INT: {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < o->min || v > o->max) {
      return tm_error_set(err, TM_ERR_INVALID,
                          "%s: expected an integer from %d to %d, got \"%.64s\"", source, o->min,
                          o->max, value);
    }
    *(int *)field = (int)v;
    return TM_OK;
  }
  }
  return TM_ERR_INTERNAL;
}

static void defaults(tm_config *cfg) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  *cfg = (tm_config){
      .listen = "0.0.0.0:50051",
      .mongodb_uri = "mongodb://127.0.0.1:27017",
      .database = "twigz",
      .threads = cores > 0 ? (int)cores : 2,
      .log_level = "info",
      .state_collection = "_migrations",
      .write_filter = "auto",
      .lease_seconds = TM_DEFAULT_LEASE_SECONDS,
      .batch_size = TM_DEFAULT_BATCH_SIZE,
      .shutdown_grace_seconds = 20,
      .outage_wait_seconds = TM_DEFAULT_OUTAGE_WAIT_SECONDS,
      .health_interval_ms = 2000,
      .ping_timeout_ms = 2000,
      .max_runs = TM_DEFAULT_MAX_RUNS,
      .progress_seconds = TM_DEFAULT_PROGRESS_SECONDS,
      .max_replication_lag_ms = TM_DEFAULT_MAX_REPLICATION_LAG_MS,
      .max_write_latency_ms = TM_DEFAULT_MAX_WRITE_LATENCY_MS,
      .metrics_refresh_seconds = TM_DEFAULT_METRICS_REFRESH_SECONDS,
      .auth_token_name = "default",
      .history_keep = TM_DEFAULT_HISTORY_KEEP,
      .handshake_timeout_ms = 5000,
      .max_streams = 100,
      .metrics_listen = "0.0.0.0:9090",
  };
}

tm_code tm_config_parse(tm_config *cfg, int argc, char **argv, tm_error *err) {
  defaults(cfg);
  for (size_t i = 0; i < N_OPTIONS; i++) {
    const char *v = options[i].env ? getenv(options[i].env) : NULL;
    /* An empty string variable counts (TWIGZ_METRICS_LISTEN= turns metrics off). */
    if (v && (*v || options[i].type == OPT_STRING)) {
      tm_code code = set(cfg, &options[i], v, options[i].env, err);
      if (code) return code;
    }
  }
  cfg->auth_token = getenv("TWIGZ_AUTH_TOKEN"); /* set but blank is refused at start-up */

  int first = 1;
  if (argc > 1 && strcmp(argv[1], "run") == 0) {
    cfg->oneshot = true;
    first = 2;
  }
  /* Names are collected in place: argv is reordered so they sit together (the strings stay). */
  char **names = argv + first;
  for (int a = first; a < argc; a++) {
    const char *arg = argv[a];
    if (strncmp(arg, "--", 2) != 0) {
      if (!cfg->oneshot) {
        return tm_error_set(err, TM_ERR_INVALID, "unexpected argument \"%.64s\" (see --help)", arg);
      }
      names[cfg->n_names++] = argv[a];
      continue;
    }
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const option *o = NULL;
    for (size_t i = 0; i < N_OPTIONS; i++) {
      if (strlen(options[i].flag) == len && strncmp(options[i].flag, name, len) == 0)
        o = &options[i];
    }
    if (!o)
      return tm_error_set(err, TM_ERR_INVALID, "unknown flag --%.*s (see --help)", (int)len, name);
    if (!(o->modes & (cfg->oneshot ? ONESHOT : SERVE))) {
      return tm_error_set(err, TM_ERR_INVALID, "--%s is only valid after \"run\" (see --help)",
                          o->flag);
    }
    const char *value = NULL;
    if (o->type != OPT_BOOL) {
      if (eq)
        value = eq + 1;
      else if (a + 1 < argc)
        value = argv[++a];
      else
        return tm_error_set(err, TM_ERR_INVALID, "--%s needs a value", o->flag);
    } else if (eq) {
      return tm_error_set(err, TM_ERR_INVALID, "--%s takes no value", o->flag);
    }
    char source[64];
    snprintf(source, sizeof source, "--%s", o->flag);
    tm_code code = set(cfg, o, value, source, err);
    if (code) return code;
  }
  cfg->names = (const char *const *)names;
  return TM_OK;
}

void tm_config_usage(FILE *out) {
  fprintf(
      out,
      "usage: twigz-migrations [FLAGS]\n"
      "       twigz-migrations run [NAME...] [--dry-run] [--rerun] [--batch-size N] [FLAGS]\n\n"
      "Serves twigz.migrations.v1.MigrationService (plus gRPC health and reflection), or, with\n"
      "\"run\", runs the named migrations (all when none are named) in-process with the same\n"
      "lease and state, then exits (for a Helm pre-install hook, where nothing serves yet).\n"
      "Every flag also reads the environment variable shown; the flag wins.\n\n");
  for (size_t i = 0; i < N_OPTIONS; i++) {
    const option *o = &options[i];
    char left[64];
    snprintf(left, sizeof left, "--%s%s", o->flag, o->type == OPT_BOOL ? "" : " VALUE");
    fprintf(out, "  %-26s %s%s%s%s\n", left, o->help, o->env ? " (" : "", o->env ? o->env : "",
            o->env ? ")" : "");
  }
  fprintf(
      out,
      "\nExit codes (serving): 0 stopped cleanly, 64 usage or configuration error, 70 internal.\n"
      "Exit codes (run): 0 every migration SUCCEEDED or was skipped (or the dry run answered),\n"
      "  65 a migration ended FAILED or CANCELED, 64 usage error or invalid request,\n"
      "  75 MongoDB unavailable or interrupted (retry; progress is kept), 70 internal error.\n");
}
