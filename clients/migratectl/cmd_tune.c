/* migratectl tune NAME [--batch-size N] [--rate R] [--max-lag-ms N] [--max-write-latency-ms N]
 *   [--max-failed-documents N] */
#include <stdio.h>

#include "commands.h"
#include "pacing.h"
#include "render.h"

static void print_tune(const ProtobufCMessage *msg, const tm_ctl_options *opts) {
  const tm_ctl_pb_tune_response *resp = (const void *)msg;
  const char *name = opts->names[0];
  if (resp->n_changes == 0)
    printf("%s: nothing changed: its controls already hold these values\n", name);
  else
    printf("%s: tuned; a running migration applies it from its next batch\n", name);
  for (size_t i = 0; i < resp->n_changes; i++) printf("  %s\n", resp->changes[i]);
  if (resp->migration) tm_ctl_print_outcome(stdout, resp->migration, 0);
}

int tm_ctl_cmd_tune(tm_ctl_conn *conn, const tm_ctl_options *opts) {
  Twigz__Migrations__V1__TuneRequest req = TWIGZ__MIGRATIONS__V1__TUNE_REQUEST__INIT;
  req.name = (char *)opts->names[0];
  tm_ctl_pacing pacing;
  tm_ctl_pacing_set(&pacing, &opts->controls, &req.batch_size, &req.max_documents_per_second,
                    &req.max_replication_lag_ms, &req.max_write_latency_ms,
                    &req.max_failed_documents);
  return tm_ctl_unary_command(conn, opts, "Tune", &req.base,
                              &twigz__migrations__v1__tune_response__descriptor, print_tune);
}
