/* run's and tune's pacing options as the wrapper-typed fields of RunRequest and TuneRequest: a
 * wrapper present carries the value asked, one absent leaves the control to the service (run: its
 * default; tune: as it is). */
#ifndef TM_CTL_PACING_H
#define TM_CTL_PACING_H

#include "cli.h"
#include "pb.h"

/* What the request's wrappers point at: it must outlive the request. */
typedef struct {
  Google__Protobuf__Int32Value batch_size;
  Google__Protobuf__DoubleValue rate;
  Google__Protobuf__Int64Value max_lag_ms, max_write_latency_ms, max_failed;
} tm_ctl_pacing;

/* Points each request field at its value in p when c gives the option, else sets it NULL.
 * batch_size may be NULL: RunRequest's is a plain int32 (0: the service's default). */
void tm_ctl_pacing_set(tm_ctl_pacing *p, const tm_ctl_controls_opt *c,
                       Google__Protobuf__Int32Value **batch_size,
                       Google__Protobuf__DoubleValue **rate,
                       Google__Protobuf__Int64Value **max_lag_ms,
                       Google__Protobuf__Int64Value **max_write_latency_ms,
                       Google__Protobuf__Int64Value **max_failed);

#endif
