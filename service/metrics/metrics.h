/* Prometheus metrics: gRPC server metrics named as go-grpc-prometheus names them, and migration
 * progress. Counters are atomics, so recording is lock-free and safe from any thread; rendering
 * takes a consistent-enough snapshot (each value is read atomically). */
#ifndef TM_METRICS_H
#define TM_METRICS_H

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
void tm_metrics_migration_progress(size_t index, int64_t processed, int64_t updated);
/* state: a tm_state value (1 PENDING .. 5 CANCELED). */
void tm_metrics_migration_state(size_t index, int state);
void tm_metrics_migration_succeeded(size_t index, double unix_seconds);

/* The whole exposition in Prometheus text format 0.0.4; the caller frees it. */
char *tm_metrics_render(size_t *len);

#endif
