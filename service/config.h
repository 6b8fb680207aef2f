/* The service's configuration: command-line flags, each with an environment variable; the flag
 * wins. Parsing never exits: it reports the problem and main decides (exit 64 for usage errors). */
#ifndef TM_CONFIG_H
#define TM_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "error.h"

/* Defaults and bounds the engine shares with the command line: said once, here. */
#define TM_DEFAULT_BATCH_SIZE 500
#define TM_MAX_BATCH_SIZE 10000
#define TM_DEFAULT_LEASE_SECONDS 30
#define TM_DEFAULT_OUTAGE_WAIT_SECONDS 300
#define TM_DEFAULT_MAX_RUNS 32
#define TM_DEFAULT_PROGRESS_SECONDS 30
#define TM_DEFAULT_METRICS_REFRESH_SECONDS 10
#define TM_DEFAULT_HISTORY_KEEP 100
#define TM_DEFAULT_MAX_REPLICATION_LAG_MS 10000
#define TM_DEFAULT_MAX_WRITE_LATENCY_MS 5000

typedef struct {
  const char *listen;
  const char *mongodb_uri;
  const char *database;
  int threads;
  const char *auth_token_file;
  const char *auth_token; /* from TWIGZ_AUTH_TOKEN */
  const char *auth_token_name;
  int history_keep;
  const char *tls_cert, *tls_key, *tls_client_ca;
  const char *log_level;
  const char *state_collection;
  const char *write_filter; /* auto, migration or id */
  int lease_seconds;
  int batch_size;
  int shutdown_grace_seconds;
  int outage_wait_seconds;
  int health_interval_ms;
  int ping_timeout_ms;
  int max_runs;
  int progress_seconds;
  int max_documents_per_second, max_replication_lag_ms, max_write_latency_ms;
  int max_failed_documents;
  int metrics_refresh_seconds;
  int handshake_timeout_ms;
  int max_streams;
  const char *metrics_listen; /* "" turns the endpoint off */
  bool help, version;
  /* One-shot mode: `twigz-migrations run [NAME...] [--dry-run] [--rerun] [--batch-size N]` runs the
   * migrations in-process and exits instead of serving. */
  bool oneshot;
  bool dry_run, rerun;
  const char *const *names; /* points into argv */
  size_t n_names;
} tm_config;

/* Fills cfg from the environment, then from argv (flags win). Strings point into argv or the
 * environment. TM_ERR_INVALID names the flag or variable at fault. */
tm_code tm_config_parse(tm_config *cfg, int argc, char **argv, tm_error *err);
void tm_config_usage(FILE *out);

#endif
