/* Prometheus metrics: gRPC server metrics named as go-grpc-prometheus names them, migration
 * progress and state, and the process_* series of the Prometheus client libraries. Counters are
 * atomics, so recording is lock-free and safe from any thread; rendering takes a consistent-enough
 * snapshot (each value is read atomically). */
#ifndef TM_METRICS_H
#define TM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Registers one gRPC method before the server starts; returns its id for the calls below.
 * type: "unary", "server_stream", "client_stream" or "bidi_stream". At most TM_METRICS_MAX_METHODS.
 */
#define TM_METRICS_MAX_METHODS 32
int tm_metrics_register_method(const char *service, const char *method, const char *type);

void tm_metrics_rpc_started(int method_id);
/* code: a grpc_status_code value. */
void tm_metrics_rpc_handled(int method_id, int code, double seconds);
void tm_metrics_msg_received(int method_id);
void tm_metrics_msg_sent(int method_id);

/* Migration series, keyed by the migration's registry index. */
/* Work this instance did: counters. */
void tm_metrics_migration_progress(size_t index, int64_t processed, int64_t updated);
/* One batch written and checkpointed, in seconds. */
void tm_metrics_migration_batch(size_t index, double seconds);

/* What the shared state collection holds for a migration, as every replica reads it: state is a
 * tm_state value (as Status reports it); has_run: the counts are those of its last run (total:
 * documents its run had to examine; pending: what is left of them). last_success: unix seconds of
 * the stored SUCCEEDED end, or 0 to keep the last one seen. */
typedef struct {
  int state;
  bool has_run;
  int64_t total, processed, pending;
  double last_success;
} tm_metrics_stored;
void tm_metrics_migration_stored(size_t index, const tm_metrics_stored *stored);

/* Lease renewals by the heartbeat: ok, failed (retried), or lost to another holder. */
typedef enum {
  TM_METRICS_LEASE_RENEWED,
  TM_METRICS_LEASE_FAILED,
  TM_METRICS_LEASE_LOST
} tm_metrics_lease;
void tm_metrics_lease_renewal(tm_metrics_lease outcome);

/* The health checker's last ping: 1 answered, 0 not. Not exported before the first ping. */
void tm_metrics_mongodb_up(bool up);

/* Label values, owned by the layers that define them and set once before serving (strings must
 * outlive the process's metrics): the registered migrations in registry order; the migration
 * states' names, [s - 1] for state s (1..8); the gRPC status codes' names, [code]. Metrics reads
 * no other layer. */
void tm_metrics_label_migrations(const char *const *names, size_t n);
void tm_metrics_label_states(const char *const *names, int n);
void tm_metrics_label_codes(const char *const *names, int n);

/* build_info's labels; set once before serving. */
void tm_metrics_build_info(const char *version, const char *grpc_version,
                           const char *mongoc_version);

/* The whole exposition in Prometheus text format 0.0.4; the caller frees it. */
char *tm_metrics_render(size_t *len);

#endif
