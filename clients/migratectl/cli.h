/* migratectl's command line: global options, one command, the command's options and names.
 * Global options may appear before or after the command. */
#ifndef TM_CTL_CLI_H
#define TM_CTL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  TM_CTL_CMD_NONE,
  TM_CTL_CMD_LIST,
  TM_CTL_CMD_STATUS,
  TM_CTL_CMD_RUN,
  TM_CTL_CMD_CANCEL,
  TM_CTL_CMD_HISTORY,
  TM_CTL_CMD_PAUSE,
  TM_CTL_CMD_RESUME,
  TM_CTL_CMD_TUNE,
} tm_ctl_command;

/* The pacing controls run and tune take. A has_ flag says the option was given: run leaves the rest
 * to the service's defaults, tune leaves them as they are. Ranges are the service's to check, so
 * that its one message says what they are. */
typedef struct {
  bool has_batch_size, has_rate, has_max_lag_ms, has_max_write_latency_ms, has_max_failed;
  int32_t batch_size;
  double rate; /* documents per second; 0: no limit */
  int64_t max_lag_ms, max_write_latency_ms, max_failed;
} tm_ctl_controls_opt;

typedef struct {
  /* global */
  const char *addr; /* from argv, TWIGZ_ADDR or the default */
  char *token;      /* owned, trimmed; NULL: none. Never printed. */
  bool tls;
  char *tls_ca, *tls_cert, *tls_key; /* owned PEM text read from the files */
  const char *tls_server_name;
  double timeout_s; /* the command's default when not given */
  bool json, verbose;
  int progress_s; /* run and status --watch off a terminal: seconds between progress lines */
  /* the command */
  tm_ctl_command command;
  const char **names; /* owned array of pointers into argv */
  size_t n_names;
  bool pending, watch;          /* status */
  bool dry_run, rerun, async;   /* run */
  tm_ctl_controls_opt controls; /* run and tune */
  int32_t limit;                /* history: entries to print; default 20 */
} tm_ctl_options;

/* The status of parsing: TM_CTL_PARSE_OK to go on; otherwise the process should exit with
 * *exit_code (0 after --help or --version, 64 after a usage error, whose one line is already on
 * stderr). */
typedef enum { TM_CTL_PARSE_OK, TM_CTL_PARSE_EXIT } tm_ctl_parse_result;

tm_ctl_parse_result tm_ctl_parse(int argc, char **argv, tm_ctl_options *opts, int *exit_code);
void tm_ctl_options_clear(tm_ctl_options *opts);

#endif
