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

static const char exit_codes_help[] =
    "Exit codes:\n"
    "  0   every asked migration SUCCEEDED or was skipped (a dry run: planned, none would\n"
    "      fail); list, status or cancel answered (status --watch and run --async: none\n"
    "      FAILED, CANCELED or INTERRUPTED)\n"
    "  64  usage error; the server said INVALID_ARGUMENT (e.g. an unknown migration, a batch\n"
    "      size out of range) or NOT_FOUND\n"
    "  65  a migration ended FAILED or CANCELED (a dry run: one would fail); the server said\n"
    "      FAILED_PRECONDITION (e.g. cancel of a migration that is not running)\n"
    "  70  any other gRPC status (a bug or an unexpected answer)\n"
    "  75  a migration was INTERRUPTED (its replica shut down or lost its lease), still\n"
    "      unreachable, UNAVAILABLE or ABORTED when --timeout ran out, or DEADLINE_EXCEEDED:\n"
    "      temporary, run again (progress is kept; the work may go on on the server)\n"
    "  77  UNAUTHENTICATED or PERMISSION_DENIED\n";

static const char global_help[] =
    "Usage: migratectl [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Runs, watches and cancels the TWIGZ data migrations of a twigz-migrations service.\n"
    "\n"
    "Commands:\n"
    "  list                       describe every registered migration\n"
    "  status [NAME...]           where migrations stand [--pending] [--watch]\n"
    "  run [NAME...]              run migrations (all when none is named) and wait for them\n"
    "                             [--dry-run] [--batch-size N] [--rerun] [--async]\n"
    "  cancel NAME                stop a running migration after its current batch\n"
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
    "  --watch     follow them until none is QUEUED, RUNNING or CANCELING: a live progress line\n"
    "              per migration on a terminal, otherwise one line per change of state and a\n"
    "              progress line every --progress-seconds (--json: one StatusResponse per line\n"
    "              on each change of state and at that cadence); exits as run does (65 when one\n"
    "              ended FAILED or CANCELED, 75 when one was INTERRUPTED)\n"
    "\n"
    "--json prints the StatusResponse.\n"
    "\n";

static const char run_help[] =
    "Usage: migratectl run [NAME...] [--dry-run] [--batch-size N] [--rerun] [--async]\n"
    "\n"
    "Runs the named migrations (all of them when none is named) one after another in\n"
    "registry order and waits until the chain ends. A migration that SUCCEEDED before is\n"
    "skipped unless --rerun, or unless documents match its filter again (drift): those are\n"
    "swept as a new run. A FAILED, CANCELED or INTERRUPTED one resumes where it stopped;\n"
    "the first that does not succeed stops the chain. One already running elsewhere is\n"
    "waited for. A dry run plans every named migration, past a failing one.\n"
    "\n"
    "  --dry-run        read and plan only, write nothing; shows up to 10 planned changes\n"
    "  --batch-size N   documents per batch, 1..10000 (default: the server's)\n"
    "  --rerun          run SUCCEEDED migrations again (a sweep for documents written since)\n"
    "  --async          return once they are started (then: migratectl status --watch)\n"
    "\n"
    "On a terminal a live line per migration shows processed/total, documents per second\n"
    "and the time left, from Status polled every 0.5 s; otherwise one line per change of\n"
    "state and a progress line every --progress-seconds. --json prints only the RunResponse. If "
    "the call fails with UNAVAILABLE or\n"
    "ABORTED (e.g. the service restarted), the run is asked again: migrations are\n"
    "idempotent and resume from their saved cursor.\n"
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
} option_id;

static const struct {
  const char *name;
  char short_name;
  option_id id;
  bool has_value;
  tm_ctl_command command; /* NONE: global */
} options[] = {
    {"addr", 0, OPT_ADDR, true, TM_CTL_CMD_NONE},
    {"token-file", 0, OPT_TOKEN_FILE, true, TM_CTL_CMD_NONE},
    {"tls", 0, OPT_TLS, false, TM_CTL_CMD_NONE},
    {"tls-ca", 0, OPT_TLS_CA, true, TM_CTL_CMD_NONE},
    {"tls-cert", 0, OPT_TLS_CERT, true, TM_CTL_CMD_NONE},
    {"tls-key", 0, OPT_TLS_KEY, true, TM_CTL_CMD_NONE},
    {"tls-server-name", 0, OPT_TLS_SERVER_NAME, true, TM_CTL_CMD_NONE},
    {"timeout", 0, OPT_TIMEOUT, true, TM_CTL_CMD_NONE},
    {"json", 0, OPT_JSON, false, TM_CTL_CMD_NONE},
    {"verbose", 'v', OPT_VERBOSE, false, TM_CTL_CMD_NONE},
    {"help", 'h', OPT_HELP, false, TM_CTL_CMD_NONE},
    {"version", 0, OPT_VERSION, false, TM_CTL_CMD_NONE},
    {"pending", 0, OPT_PENDING, false, TM_CTL_CMD_STATUS},
    {"watch", 0, OPT_WATCH, false, TM_CTL_CMD_STATUS},
    {"dry-run", 0, OPT_DRY_RUN, false, TM_CTL_CMD_RUN},
    {"batch-size", 0, OPT_BATCH_SIZE, true, TM_CTL_CMD_RUN},
    {"rerun", 0, OPT_RERUN, false, TM_CTL_CMD_RUN},
    {"async", 0, OPT_ASYNC, false, TM_CTL_CMD_RUN},
    {"progress-seconds", 0, OPT_PROGRESS, true, TM_CTL_CMD_NONE},
    {"limit", 0, OPT_LIMIT, true, TM_CTL_CMD_HISTORY},
};

static int usage(const char *fmt, const char *arg) {
  fputs("migratectl: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs(" (see migratectl --help)\n", stderr);
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

static bool parse_int32(const char *v, int32_t *out) {
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno || end == v || *end || n < INT32_MIN || n > INT32_MAX) return false;
  *out = (int32_t)n;
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
    if (!parse_int32(value, &o->batch_size))
      return usage("--batch-size: expected a whole number, got \"%s\"", value);
    break;
  }
  return 0;
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
  if (options[k].command != TM_CTL_CMD_NONE && options[k].command != o->command) {
    fprintf(stderr,
            "migratectl: --%s is an option of \"migratectl %s\" (see migratectl %s --help)\n",
            options[k].name, command_name(options[k].command), command_name(options[k].command));
    return TM_CTL_EXIT_USAGE;
  }
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
  if (rc == 0 && o->command == TM_CTL_CMD_CANCEL && o->n_names != 1)
    rc = usage("%s", o->n_names ? "cancel takes one name" : "cancel needs the name of a migration");
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
