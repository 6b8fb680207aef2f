/* The process_* facts the Prometheus client libraries export, read from /proc (Linux). */
#ifndef TM_PROCESS_H
#define TM_PROCESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  double cpu_seconds;        /* user + system */
  double start_time_seconds; /* unix time */
  int64_t resident_bytes, virtual_bytes;
  int64_t open_fds, max_fds;
} tm_process_stats;

/* Fills what it can read; a field it cannot is -1. False when /proc gave nothing at all. */
bool tm_process_sample(tm_process_stats *out);

#endif
