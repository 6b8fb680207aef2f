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
} tm_ctl_command;

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
  bool pending, watch;        /* status */
  bool dry_run, rerun, async; /* run */
  int32_t batch_size;         /* run; 0: the server's default */
  int32_t limit;              /* history: entries to print; default 20 */
} tm_ctl_options;

/* The status of parsing: TM_CTL_PARSE_OK to go on; otherwise the process should exit with
 * *exit_code (0 after --help or --version, 64 after a usage error, whose one line is already on
 * stderr). */
typedef enum { TM_CTL_PARSE_OK, TM_CTL_PARSE_EXIT } tm_ctl_parse_result;

tm_ctl_parse_result tm_ctl_parse(int argc, char **argv, tm_ctl_options *opts, int *exit_code);
void tm_ctl_options_clear(tm_ctl_options *opts);

#endif
