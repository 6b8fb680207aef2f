/* Pacing options to request wrappers. */
#include "pacing.h"

#include <stddef.h>

void tm_ctl_pacing_set(tm_ctl_pacing *p, const tm_ctl_controls_opt *c,
                       Google__Protobuf__Int32Value **batch_size,
                       Google__Protobuf__DoubleValue **rate,
                       Google__Protobuf__Int64Value **max_lag_ms,
                       Google__Protobuf__Int64Value **max_write_latency_ms,
                       Google__Protobuf__Int64Value **max_failed) {
  *p = (tm_ctl_pacing){
      .batch_size = GOOGLE__PROTOBUF__INT32_VALUE__INIT,
      .rate = GOOGLE__PROTOBUF__DOUBLE_VALUE__INIT,
      .max_lag_ms = GOOGLE__PROTOBUF__INT64_VALUE__INIT,
      .max_write_latency_ms = GOOGLE__PROTOBUF__INT64_VALUE__INIT,
      .max_failed = GOOGLE__PROTOBUF__INT64_VALUE__INIT,
  };
  p->batch_size.value = c->batch_size;
  p->rate.value = c->rate;
  p->max_lag_ms.value = c->max_lag_ms;
  p->max_write_latency_ms.value = c->max_write_latency_ms;
  p->max_failed.value = c->max_failed;
  if (batch_size) *batch_size = c->has_batch_size ? &p->batch_size : NULL;
  *rate = c->has_rate ? &p->rate : NULL;
  *max_lag_ms = c->has_max_lag_ms ? &p->max_lag_ms : NULL;
  *max_write_latency_ms = c->has_max_write_latency_ms ? &p->max_write_latency_ms : NULL;
  *max_failed = c->has_max_failed ? &p->max_failed : NULL;
}
