/* Command-line parsing, help texts and the files options name. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exit_codes.h"

#define DEFAULT_ADDR "127.0.0.1:50051"
#define LONG_TIMEOUT_S 3600.0 /* run and status --watch: the whole migration */
#define SHORT_TIMEOUT_S 30.0  /* one query */
#define MAX_FILE_BYTES (1 << 20)

/* run and tune share these options and their meaning. */
#define PACING_HELP                                                                           \
  "  --rate R         documents written per second at most, across batches; 0: no limit\n"    \
  "  --max-lag-ms N   wait while the secondaries lag more than N ms (replica sets); 0: off\n" \
  "  --max-write-latency-ms N\n"                                                              \
  "                   wait, and shrink the batch, while batch writes take longer; 0: off\n"   \
  "  --max-failed-documents N\n"                                                              \
  "                   documents the database may refuse one by one (a validator, a unique\n"  \
  "                   index) that are recorded and skipped before the migration fails,\n"     \
  "                   0..10000; 0: the first refusal fails it\n"

static const char exit_codes_help[] =
    "Exit codes:\n"
    "  0   every asked migration SUCCEEDED or was skipped (a dry run: planned, none would\n"
    "      fail), even with documents refused within --max-failed-documents; list, status,\n"
    "      cancel, pause, resume or tune answered (status --watch and run --async: none\n"
    "      FAILED, CANCELED, INTERRUPTED or PAUSED)\n"
    "  64  usage error; the server said INVALID_ARGUMENT (e.g. an unknown migration, a batch\n"
    "      size out of range) or NOT_FOUND\n"
    "  65  a migration ended FAILED or CANCELED (a dry run: one would fail); the server said\n"
    "      FAILED_PRECONDITION (e.g. cancel or pause of a migration that is not running)\n"
    "  70  any other gRPC status (a bug or an unexpected answer)\n"
    "  75  a migration was INTERRUPTED (its replica shut down or lost its lease) or PAUSED,\n"
    "      still unreachable, UNAVAILABLE or ABORTED when --timeout ran out, or\n"
    "      DEADLINE_EXCEEDED: temporary, run again or resume (progress is kept; the work may\n"
    "      go on on the server)\n"
    "  77  UNAUTHENTICATED or PERMISSION_DENIED\n";

static const char global_help[] =
    "Usage: migratectl [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Runs, watches, pauses, tunes and cancels the TWIGZ data migrations of a twigz-migrations\n"
    "service.\n"
    "\n"
    "Commands:\n"
    "  list                       describe every registered migration\n"
    "  status [NAME...]           where migrations stand [--pending] [--watch]\n"
    "  run [NAME...]              run migrations (all when none is named) and wait for them\n"
    "                             [--dry-run] [--batch-size N] [--rerun] [--async]\n"
    "                             [--rate R] [--max-lag-ms N] [--max-write-latency-ms N]\n"
    "                             [--max-failed-documents N]\n"
    "  cancel NAME                stop a running migration after its current batch\n"
    "  pause NAME                 stop a running migration after its current batch, resumably\n"
    "  resume NAME                go on with a paused migration and the ones behind it\n"
    "  tune NAME                  change a migration's pace while it runs [--batch-size N]\n"
    "                             [--rate R] [--max-lag-ms N] [--max-write-latency-ms N]\n"
    "                             [--max-failed-documents N]\n"
    "  history [NAME]             past and running runs, newest first: who, what, outcome\n"
    "                             [--limit N]\n"
    "  migratectl COMMAND --help describes a command.\n"
    "\n"
    "Options (before or after the command):\n"
    "  --addr HOST:PORT        the service (env TWIGZ_ADDR; default " DEFAULT_ADDR
    ")\n"
    "  --token-file FILE       file holding the bearer token (default: env TWIGZ_AUTH_TOKEN)\n"
    "  --tls                   use TLS, trusting the system's certificate authorities\n"
    "  --tls-ca FILE           use TLS, trusting this CA certificate (PEM)\n"
    "  --tls-cert FILE         client certificate for mutual TLS (PEM; needs --tls-key)\n"
    "  --tls-key FILE          the client certificate's private key (PEM)\n"
    "  --tls-server-name NAME  the name the server's certificate must hold, when it is not\n"
    "                          the host of --addr\n"
    "  --timeout SECONDS       budget of the whole command, retries included (default 3600\n"
    "                          for run and status --watch, 30 otherwise)\n"
    "  --json                  print responses as proto3 JSON (as grpcurl does)\n"
    "  --progress-seconds N    run and status --watch off a terminal: a progress line per\n"
    "                          running migration every N seconds (default 30)\n"
    "  -v, --verbose           say on stderr when a call is retried\n"
    "  -h, --help              this help\n"
    "  --version               print the version\n"
    "\n"
    "UNAVAILABLE (including failing to connect) and ABORTED are retried with exponential\n"
    "backoff and full jitter until --timeout runs out. Errors are one line on stderr naming\n"
    "the gRPC status and the server's message.\n"
    "\n";

static const char list_help[] =
    "Usage: migratectl list\n"
    "\n"
    "Describes every registered migration in registry order: its name, the collection it\n"
    "backfills, the fields it sets and what it does. --json prints the ListResponse.\n"
    "\n";

static const char status_help[] =
    "Usage: migratectl status [NAME...] [--pending] [--watch]\n"
    "\n"
    "Shows the saved state of the named migrations (all of them when none is named).\n"
    "\n"
    "  --pending   also count, live, the documents each migration still has to change\n"
    "  --watch     follow them until none is QUEUED, RUNNING, THROTTLED, CANCELING or PAUSING\n"
    "              (one QUEUED behind a PAUSED migration of its run waits for a resume, so it\n"
    "              does not count): a live progress line per migration on a terminal, otherwise\n"
    "              one line per change of state and a progress line every --progress-seconds\n"
    "              (--json: one StatusResponse per line on each change of state and at that\n"
    "              cadence); exits as run does (65 when one ended FAILED or CANCELED, 75 when\n"
    "              one was INTERRUPTED or PAUSED)\n"
    "\n"
    "--json prints the StatusResponse.\n"
    "\n";

static const char run_help[] =
    "Usage: migratectl run [NAME...] [--dry-run] [--batch-size N] [--rerun] [--async]\n"
    "                      [--rate R] [--max-lag-ms N] [--max-write-latency-ms N]\n"
    "                      [--max-failed-documents N]\n"
    "\n"
    "Runs the named migrations (all of them when none is named) one after another in\n"
    "registry order and waits until the chain ends. A migration that SUCCEEDED before is\n"
    "skipped unless --rerun, or unless documents match its filter again (drift): those are\n"
    "swept as a new run. A FAILED, CANCELED or INTERRUPTED one resumes where it stopped;\n"
    "the first that does not succeed stops the chain, and so does a PAUSED one (exit 75:\n"
    "migratectl resume NAME goes on). One already running elsewhere is waited for. A dry run\n"
    "plans every named migration, past a failing one.\n"
    "\n"
    "  --dry-run        read and plan only, write nothing; shows up to 10 planned changes\n"
    "  --batch-size N   documents per batch, 1..10000 (default: the server's)\n"
    "  --rerun          run SUCCEEDED migrations again (a sweep for documents written since)\n"
    "  --async          return once they are started (then: migratectl status "
    "--watch)\n" PACING_HELP
    "\n"
    "Unset pacing options take the service's defaults; migratectl tune changes them while\n"
    "the run goes on.\n"
    "\n"
    "On a terminal a live line per migration shows processed/total, documents per second\n"
    "and the time left, from Status polled every 0.5 s; otherwise one line per change of\n"
    "state and a progress line every --progress-seconds. --json prints only the RunResponse. If "
    "the call fails with UNAVAILABLE or\n"
    "ABORTED (e.g. the service restarted), the run is asked again: migrations are\n"
    "idempotent and resume from their saved cursor.\n"
    "\n";

static const char pause_help[] =
    "Usage: migratectl pause NAME\n"
    "\n"
    "Asks the replica running NAME to stop after its current batch, resumably: it ends\n"
    "PAUSED (PAUSING until the batch in flight is written), the migrations after it in its\n"
    "run wait QUEUED, and nothing counts as failed. A run waiting for it exits 75.\n"
    "migratectl resume NAME goes on from its cursor. --json prints the PauseResponse.\n"
    "\n";

static const char resume_help[] =
    "Usage: migratectl resume NAME\n"
    "\n"
    "Goes on with a PAUSED migration from its cursor, then with the migrations that waited\n"
    "behind it, under the paused run's id and controls (resuming a PAUSING one withdraws the\n"
    "pause). Answers once they are claimed, as run --async does: follow them with\n"
    "migratectl status --watch. --json prints the RunResponse.\n"
    "\n";

static const char tune_help[] =
    "Usage: migratectl tune NAME [--batch-size N] [--rate R] [--max-lag-ms N]\n"
    "                       [--max-write-latency-ms N] [--max-failed-documents N]\n"
    "\n"
    "Changes the controls of a QUEUED, RUNNING or PAUSED migration; a running one applies\n"
    "them from its next batch. Options left out keep their value; at least one is needed.\n"
    "Prints what changed; each change is recorded in the run's history.\n"
    "\n"
    "  --batch-size N   documents per batch, 1..10000\n" PACING_HELP
    "\n"
    "--json prints the TuneResponse.\n"
    "\n";

static const char cancel_help[] =
    "Usage: migratectl cancel NAME\n"
    "\n"
    "Asks the replica running NAME to stop after its current batch; the migration ends\n"
    "CANCELED and the next run resumes where it stopped. --json prints the CancelResponse.\n"
    "\n";

static const char history_help[] =
    "Usage: migratectl history [NAME] [--limit N]\n"
    "\n"
    "The run history of NAME (of every migration when none is named), newest first: when each\n"
    "run started, its state, its counts, who asked (mTLS subject or token name, else the peer)\n"
    "and who canceled it. --limit N prints up to N entries (1..100000, default 20), paging\n"
    "through History as needed. --json prints one HistoryResponse per page fetched.\n"
    "\n";

static const struct {
  const char *name;
  tm_ctl_command command;
  const char *help;
} commands[] = {
    {"list", TM_CTL_CMD_LIST, list_help},
    {"status", TM_CTL_CMD_STATUS, status_help},
    {"run", TM_CTL_CMD_RUN, run_help},
    {"cancel", TM_CTL_CMD_CANCEL, cancel_help},
    {"history", TM_CTL_CMD_HISTORY, history_help},
    {"pause", TM_CTL_CMD_PAUSE, pause_help},
    {"resume", TM_CTL_CMD_RESUME, resume_help},
    {"tune", TM_CTL_CMD_TUNE, tune_help},
};

typedef enum {
  OPT_ADDR,
  OPT_TOKEN_FILE,
  OPT_TLS,
  OPT_TLS_CA,
  OPT_TLS_CERT,
  OPT_TLS_KEY,
  OPT_TLS_SERVER_NAME,
  OPT_TIMEOUT,
  OPT_JSON,
  OPT_VERBOSE,
  OPT_HELP,
  OPT_VERSION,
  OPT_PENDING,
  OPT_WATCH,
  OPT_DRY_RUN,
  OPT_BATCH_SIZE,
  OPT_RERUN,
  OPT_ASYNC,
  OPT_PROGRESS,
  OPT_LIMIT,
  OPT_RATE,
  OPT_MAX_LAG_MS,
  OPT_MAX_WRITE_LATENCY_MS,
  OPT_MAX_FAILED,
} option_id;

/* The commands an option belongs to; 0: a global option. */
#define FOR(c) (1u << (c))
#define PACING (FOR(TM_CTL_CMD_RUN) | FOR(TM_CTL_CMD_TUNE))

static const struct {
  const char *name;
  char short_name;
  option_id id;
  bool has_value;
  unsigned commands; /* FOR() bits */
} options[] = {
    {"addr", 0, OPT_ADDR, true, 0},
    {"token-file", 0, OPT_TOKEN_FILE, true, 0},
    {"tls", 0, OPT_TLS, false, 0},
    {"tls-ca", 0, OPT_TLS_CA, true, 0},
    {"tls-cert", 0, OPT_TLS_CERT, true, 0},
    {"tls-key", 0, OPT_TLS_KEY, true, 0},
    {"tls-server-name", 0, OPT_TLS_SERVER_NAME, true, 0},
    {"timeout", 0, OPT_TIMEOUT, true, 0},
    {"json", 0, OPT_JSON, false, 0},
    {"verbose", 'v', OPT_VERBOSE, false, 0},
    {"help", 'h', OPT_HELP, false, 0},
    {"version", 0, OPT_VERSION, false, 0},
    {"pending", 0, OPT_PENDING, false, FOR(TM_CTL_CMD_STATUS)},
    {"watch", 0, OPT_WATCH, false, FOR(TM_CTL_CMD_STATUS)},
    {"dry-run", 0, OPT_DRY_RUN, false, FOR(TM_CTL_CMD_RUN)},
    {"batch-size", 0, OPT_BATCH_SIZE, true, PACING},
    {"rerun", 0, OPT_RERUN, false, FOR(TM_CTL_CMD_RUN)},
    {"async", 0, OPT_ASYNC, false, FOR(TM_CTL_CMD_RUN)},
    {"progress-seconds", 0, OPT_PROGRESS, true, 0},
    {"limit", 0, OPT_LIMIT, true, FOR(TM_CTL_CMD_HISTORY)},
    {"rate", 0, OPT_RATE, true, PACING},
    {"max-lag-ms", 0, OPT_MAX_LAG_MS, true, PACING},
    {"max-write-latency-ms", 0, OPT_MAX_WRITE_LATENCY_MS, true, PACING},
    {"max-failed-documents", 0, OPT_MAX_FAILED, true, PACING},
};

static int usage(const char *fmt, const char *arg) {
  fputs("migratectl: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs(" (see migratectl --help)\n", stderr);
  return TM_CTL_EXIT_USAGE;
}

/* "--flag: <what>, got "<value>"": the value cut short, in case it is a whole file. */
static int usage_for(const char *flag, const char *what, const char *value) {
  fprintf(stderr, "migratectl: --%s: %s, got \"%.80s\" (see migratectl --help)\n", flag, what,
          value);
  return TM_CTL_EXIT_USAGE;
}

static const char *command_name(tm_ctl_command c) {
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (commands[i].command == c) return commands[i].name;
  return "";
}

/* Reads a whole small file; NULL (and a usage line on stderr) when it cannot. Caller frees. */
static char *read_file(const char *flag, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "migratectl: --%s: cannot read %s: %s\n", flag, path, strerror(errno));
    return NULL;
  }
  char *buf = malloc(MAX_FILE_BYTES + 1);
  if (!buf) abort();
  size_t n = fread(buf, 1, MAX_FILE_BYTES + 1, f);
  bool failed = ferror(f);
  fclose(f);
  if (failed || n > MAX_FILE_BYTES) {
    fprintf(stderr, "migratectl: --%s: cannot read %s: %s\n", flag, path,
            failed ? "read error" : "larger than 1 MiB");
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

/* A wrong file (a key for a certificate, a token file for a CA) would otherwise only show as a
 * failed handshake, retried until --timeout: say it at once. */
static bool looks_like_pem(const char *flag, const char *path, const char *text, const char *what) {
  if (strstr(text, "-----BEGIN ") && strstr(text, what)) return true;
  fprintf(stderr, "migratectl: --%s: %s holds no PEM %s (see migratectl --help)\n", flag, path,
          what);
  return false;
}

/* The token without surrounding whitespace; it must be a legal header value (printable ASCII). */
static char *clean_token(const char *source, char *raw) {
  char *start = raw;
  while (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r') start++;
  size_t n = strlen(start);
  while (n && (start[n - 1] == ' ' || start[n - 1] == '\t' || start[n - 1] == '\n' ||
               start[n - 1] == '\r'))
    n--;
  if (n == 0) {
    fprintf(stderr, "migratectl: %s: the token is empty (see migratectl --help)\n", source);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)start[i] < 0x20 || (unsigned char)start[i] > 0x7e) {
      fprintf(stderr,
              "migratectl: %s: the token holds a character a gRPC header cannot carry "
              "(see migratectl --help)\n",
              source);
      return NULL;
    }
  }
  char *token = malloc(n + 1);
  if (!token) abort();
  memcpy(token, start, n);
  token[n] = '\0';
  return token;
}

static bool parse_timeout(const char *v, double *out) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || end == v || *end || !isfinite(d) || d <= 0 || d > 1e7) return false;
  *out = d;
  return true;
}

static bool parse_int64(const char *v, int64_t *out) {
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno || end == v || *end) return false;
  *out = (int64_t)n;
  return true;
}

static bool parse_int32(const char *v, int32_t *out) {
  int64_t n;
  if (!parse_int64(v, &n) || n < INT32_MIN || n > INT32_MAX) return false;
  *out = (int32_t)n;
  return true;
}

/* strtod also takes "inf" and "nan", which no limit means. */
static bool parse_rate(const char *v, double *out) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || end == v || *end || !isfinite(d)) return false;
  *out = d;
  return true;
}

static void print_help(tm_ctl_command c) {
  const char *text = global_help;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (commands[i].command == c) text = commands[i].help;
  fputs(text, stdout);
  if (text != global_help)
    fputs(
        "Global options (--addr, --token-file, --tls*, --timeout, --json, -v): see "
        "migratectl --help.\n\n",
        stdout);
  fputs(exit_codes_help, stdout);
}

typedef struct {
  const char *token_file, *tls_ca, *tls_cert, *tls_key;
  const char *timeout;
  bool help, version;
} raw_options;

/* A control given as a whole number; returns 0 or a usage exit code. */
static int set_int64(const char *flag, const char *value, int64_t *out, bool *given) {
  if (!parse_int64(value, out)) return usage_for(flag, "expected a whole number", value);
  *given = true;
  return 0;
}

/* Applies one option; returns 0 or a usage exit code. */
static int apply(tm_ctl_options *o, raw_options *raw, option_id id, const char *value) {
  switch (id) {
  case OPT_ADDR: o->addr = value; break;
  case OPT_TOKEN_FILE: raw->token_file = value; break;
  case OPT_TLS: o->tls = true; break;
  case OPT_TLS_CA: raw->tls_ca = value; break;
  case OPT_TLS_CERT: raw->tls_cert = value; break;
  case OPT_TLS_KEY: raw->tls_key = value; break;
  case OPT_TLS_SERVER_NAME: o->tls_server_name = value; break;
  case OPT_TIMEOUT: raw->timeout = value; break;
  case OPT_JSON: o->json = true; break;
  case OPT_VERBOSE: o->verbose = true; break;
  case OPT_HELP: raw->help = true; break;
  case OPT_VERSION: raw->version = true; break;
  case OPT_PENDING: o->pending = true; break;
  case OPT_WATCH: o->watch = true; break;
  case OPT_DRY_RUN: o->dry_run = true; break;
  case OPT_RERUN: o->rerun = true; break;
  case OPT_ASYNC: o->async = true; break;
  case OPT_PROGRESS: {
    int32_t n;
    if (!parse_int32(value, &n) || n < 1 || n > 86400)
      return usage("--progress-seconds: expected 1..86400, got \"%.80s\"", value);
    o->progress_s = n;
    break;
  }
  case OPT_LIMIT:
    if (!parse_int32(value, &o->limit) || o->limit < 1 || o->limit > 100000)
      return usage("--limit: expected 1..100000, got \"%.80s\"", value);
    break;
  case OPT_BATCH_SIZE:
    if (!parse_int32(value, &o->controls.batch_size))
      return usage_for("batch-size", "expected a whole number", value);
    o->controls.has_batch_size = true;
    break;
  case OPT_RATE:
    if (!parse_rate(value, &o->controls.rate))
      return usage_for("rate", "expected documents per second (a number)", value);
    o->controls.has_rate = true;
    break;
  case OPT_MAX_LAG_MS:
    return set_int64("max-lag-ms", value, &o->controls.max_lag_ms, &o->controls.has_max_lag_ms);
  case OPT_MAX_WRITE_LATENCY_MS:
    return set_int64("max-write-latency-ms", value, &o->controls.max_write_latency_ms,
                     &o->controls.has_max_write_latency_ms);
  case OPT_MAX_FAILED:
    return set_int64("max-failed-documents", value, &o->controls.max_failed,
                     &o->controls.has_max_failed);
  }
  return 0;
}

/* "--rate is an option of "migratectl run" and "migratectl tune" (see migratectl run --help)". */
static int not_an_option_of(tm_ctl_command given, const char *option, unsigned owners) {
  fprintf(stderr, "migratectl: --%s is an option of", option);
  const char *first = NULL;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (!(owners & FOR(commands[i].command))) continue;
    fprintf(stderr, "%s\"migratectl %s\"", first ? " and " : " ", commands[i].name);
    if (!first) first = commands[i].name;
  }
  if (given != TM_CTL_CMD_NONE) fprintf(stderr, ", not of %s", command_name(given));
  fprintf(stderr, " (see migratectl %s --help)\n", first ? first : "");
  return TM_CTL_EXIT_USAGE;
}

/* Parses argv[*i], an option; may consume the next argument as its value. */
static int parse_option(int argc, char **argv, int *i, tm_ctl_options *o, raw_options *raw) {
  const char *arg = argv[*i];
  char name[64];
  const char *value = NULL;
  size_t k;
  if (arg[1] == '-') {
    const char *eq = strchr(arg + 2, '=');
    size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (len >= sizeof name) return usage("unknown option %.80s", arg);
    memcpy(name, arg + 2, len);
    name[len] = '\0';
    if (eq) value = eq + 1;
    for (k = 0; k < sizeof options / sizeof options[0]; k++)
      if (strcmp(options[k].name, name) == 0) break;
  } else {
    if (arg[2] != '\0') return usage("unknown option %.80s", arg);
    for (k = 0; k < sizeof options / sizeof options[0]; k++)
      if (options[k].short_name && options[k].short_name == arg[1]) break;
  }
  if (k == sizeof options / sizeof options[0]) return usage("unknown option %.80s", arg);
  if (options[k].commands && !(options[k].commands & FOR(o->command)))
    return not_an_option_of(o->command, options[k].name, options[k].commands);
  if (!options[k].has_value && value) return usage("%.80s takes no value", arg);
  if (options[k].has_value && !value) {
    if (*i + 1 >= argc) return usage("%.80s needs a value", arg);
    value = argv[++*i];
  }
  return apply(o, raw, options[k].id, value);
}

/* Reads the files the options name and settles defaults. */
static int finish(tm_ctl_options *o, const raw_options *raw) {
  if (!o->progress_s) o->progress_s = 30;
  if (!o->addr) o->addr = getenv("TWIGZ_ADDR");
  if (!o->addr || !*o->addr) o->addr = DEFAULT_ADDR;

  if (raw->timeout) {
    if (!parse_timeout(raw->timeout, &o->timeout_s))
      return usage("--timeout: expected a positive number of seconds, got \"%.80s\"", raw->timeout);
  } else {
    bool long_running =
        o->command == TM_CTL_CMD_RUN || (o->command == TM_CTL_CMD_STATUS && o->watch);
    o->timeout_s = long_running ? LONG_TIMEOUT_S : SHORT_TIMEOUT_S;
  }

  if (raw->token_file) {
    char *text = read_file("token-file", raw->token_file);
    if (!text) return TM_CTL_EXIT_USAGE;
    o->token = clean_token("--token-file", text);
    memset(text, 0, strlen(text));
    free(text);
    if (!o->token) return TM_CTL_EXIT_USAGE;
  } else if (getenv("TWIGZ_AUTH_TOKEN") && *getenv("TWIGZ_AUTH_TOKEN")) {
    char *copy = strdup(getenv("TWIGZ_AUTH_TOKEN"));
    if (!copy) abort();
    o->token = clean_token("TWIGZ_AUTH_TOKEN", copy);
    free(copy);
    if (!o->token) return TM_CTL_EXIT_USAGE;
  }

  if (!raw->tls_cert != !raw->tls_key) return usage("%s", "--tls-cert and --tls-key go together");
  if (raw->tls_ca) {
    if (!(o->tls_ca = read_file("tls-ca", raw->tls_ca))) return TM_CTL_EXIT_USAGE;
    if (!looks_like_pem("tls-ca", raw->tls_ca, o->tls_ca, "CERTIFICATE")) return TM_CTL_EXIT_USAGE;
  }
  if (raw->tls_cert) {
    if (!(o->tls_cert = read_file("tls-cert", raw->tls_cert))) return TM_CTL_EXIT_USAGE;
    if (!looks_like_pem("tls-cert", raw->tls_cert, o->tls_cert, "CERTIFICATE"))
      return TM_CTL_EXIT_USAGE;
    if (!(o->tls_key = read_file("tls-key", raw->tls_key))) return TM_CTL_EXIT_USAGE;
    if (!looks_like_pem("tls-key", raw->tls_key, o->tls_key, "PRIVATE KEY"))
      return TM_CTL_EXIT_USAGE;
  }
  if (o->tls_ca || o->tls_cert) o->tls = true;
  if (o->tls_server_name && !o->tls)
    return usage("%s", "--tls-server-name needs TLS (--tls or --tls-ca)");
  return 0;
}

static bool takes_one_name(tm_ctl_command c) {
  return c == TM_CTL_CMD_CANCEL || c == TM_CTL_CMD_PAUSE || c == TM_CTL_CMD_RESUME ||
         c == TM_CTL_CMD_TUNE;
}

static bool any_control(const tm_ctl_controls_opt *c) {
  return c->has_batch_size || c->has_rate || c->has_max_lag_ms || c->has_max_write_latency_ms ||
         c->has_max_failed;
}

tm_ctl_parse_result tm_ctl_parse(int argc, char **argv, tm_ctl_options *o, int *exit_code) {
  memset(o, 0, sizeof *o);
  raw_options raw = {0};
  o->names = calloc((size_t)(argc > 0 ? argc : 1), sizeof *o->names);
  if (!o->names) abort();
  bool only_names = false;
  int rc = 0;
  for (int i = 1; i < argc && rc == 0; i++) {
    const char *arg = argv[i];
    if (!only_names && strcmp(arg, "--") == 0) {
      only_names = true;
    } else if (!only_names && arg[0] == '-' && arg[1] != '\0') {
      rc = parse_option(argc, argv, &i, o, &raw);
    } else if (o->command == TM_CTL_CMD_NONE) {
      if (strcmp(arg, "help") == 0) {
        raw.help = true;
        continue;
      }
      for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
        if (strcmp(commands[c].name, arg) == 0) o->command = commands[c].command;
      if (o->command == TM_CTL_CMD_NONE && !raw.help) rc = usage("unknown command \"%.80s\"", arg);
    } else {
      o->names[o->n_names++] = arg;
    }
  }
  if (rc == 0 && raw.help) {
    print_help(o->command);
    *exit_code = TM_CTL_EXIT_OK;
    return TM_CTL_PARSE_EXIT;
  }
  if (rc == 0 && raw.version) {
    printf("migratectl %s\n", TM_VERSION);
    *exit_code = TM_CTL_EXIT_OK;
    return TM_CTL_PARSE_EXIT;
  }
  if (rc == 0 && o->command == TM_CTL_CMD_NONE) rc = usage("%s", "no command given");
  if (rc == 0 && o->command == TM_CTL_CMD_LIST && o->n_names)
    rc = usage("list takes no names, got \"%.80s\"", o->names[0]);
  if (rc == 0 && o->command == TM_CTL_CMD_HISTORY && o->n_names > 1)
    rc = usage("%s", "history takes at most one name");
  if (rc == 0 && takes_one_name(o->command) && o->n_names != 1)
    rc = usage(o->n_names ? "%s takes one name" : "%s needs the name of a migration",
               command_name(o->command));
  if (rc == 0 && o->command == TM_CTL_CMD_TUNE && !any_control(&o->controls))
    rc = usage("%s",
               "tune needs at least one of --batch-size, --rate, --max-lag-ms, "
               "--max-write-latency-ms, --max-failed-documents");
  for (size_t i = 0; rc == 0 && i < o->n_names; i++)
    if (o->names[i][0] == '\0') rc = usage("%s", "a migration name cannot be empty");
  if (rc == 0) rc = finish(o, &raw);
  if (rc != 0) {
    *exit_code = rc;
    return TM_CTL_PARSE_EXIT;
  }
  return TM_CTL_PARSE_OK;
}

void tm_ctl_options_clear(tm_ctl_options *o) {
  if (o->token) {
    memset(o->token, 0, strlen(o->token));
    free(o->token);
  }
  if (o->tls_key) {
    memset(o->tls_key, 0, strlen(o->tls_key));
    free(o->tls_key);
  }
  free(o->tls_ca);
  free(o->tls_cert);
  free(o->names);
  memset(o, 0, sizeof *o);
}
