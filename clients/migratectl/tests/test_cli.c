/* Parsing of the control commands and of run's pacing options: what reaches the request, and
 * which command lines are usage errors (exit 64) before any call is made. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>

#include "cli.h"
#include "exit_codes.h"
#include "pacing.h"

#define MAX_ARGS 16

/* Parses "migratectl <args...>" (NULL-terminated); *code is set when parsing says to exit. */
static tm_ctl_parse_result parse(tm_ctl_options *o, int *code, ...) {
  static char *argv[MAX_ARGS + 1];
  int argc = 0;
  argv[argc++] = "migratectl";
  va_list ap;
  va_start(ap, code);
  for (char *a; (a = va_arg(ap, char *)) && argc < MAX_ARGS;) argv[argc++] = a;
  va_end(ap);
  argv[argc] = NULL;
  *code = -1;
  return tm_ctl_parse(argc, argv, o, code);
}

/* code is read after r was computed: a pointer, since argument order is unspecified. */
static void expect_usage_error(tm_ctl_parse_result r, const int *code) {
  cr_expect_eq(r, TM_CTL_PARSE_EXIT);
  cr_expect_eq(*code, TM_CTL_EXIT_USAGE);
}

Test(cli, pause_and_resume_take_exactly_one_name) {
  tm_ctl_options o;
  int code;
  cr_expect_eq(parse(&o, &code, "pause", "addStatusToStores", NULL), TM_CTL_PARSE_OK);
  cr_expect_eq(o.command, TM_CTL_CMD_PAUSE);
  cr_expect_eq(o.n_names, 1);
  cr_expect_str_eq(o.names[0], "addStatusToStores");
  cr_expect_eq(o.timeout_s, 30.0, "pause answers at once: the short timeout");
  tm_ctl_options_clear(&o);

  cr_expect_eq(parse(&o, &code, "resume", "addStatusToStores", NULL), TM_CTL_PARSE_OK);
  cr_expect_eq(o.command, TM_CTL_CMD_RESUME);
  tm_ctl_options_clear(&o);

  expect_usage_error(parse(&o, &code, "pause", NULL), &code);
  tm_ctl_options_clear(&o);
  expect_usage_error(parse(&o, &code, "resume", "a", "b", NULL), &code);
  tm_ctl_options_clear(&o);
}

Test(cli, tune_needs_a_name_and_at_least_one_control) {
  tm_ctl_options o;
  int code;
  expect_usage_error(parse(&o, &code, "tune", "addStatusToStores", NULL), &code);
  tm_ctl_options_clear(&o);
  expect_usage_error(parse(&o, &code, "tune", "--rate", "5", NULL), &code);
  tm_ctl_options_clear(&o);
  cr_expect_eq(parse(&o, &code, "tune", "addStatusToStores", "--rate=12.5", NULL), TM_CTL_PARSE_OK);
  cr_expect(o.controls.has_rate);
  cr_expect_eq(o.controls.rate, 12.5);
  cr_expect_not(o.controls.has_batch_size);
  tm_ctl_options_clear(&o);
}

Test(cli, tune_takes_every_control_and_run_takes_them_too) {
  static const char *const commands[] = {"tune", "run"};
  for (size_t i = 0; i < 2; i++) {
    tm_ctl_options o;
    int code;
    cr_assert_eq(
        parse(&o, &code, commands[i], "m", "--batch-size", "100", "--rate", "0", "--max-lag-ms",
              "1500", "--max-write-latency-ms=200", "--max-failed-documents", "10", NULL),
        TM_CTL_PARSE_OK, "%s", commands[i]);
    const tm_ctl_controls_opt *c = &o.controls;
    cr_expect(c->has_batch_size && c->has_rate && c->has_max_lag_ms &&
              c->has_max_write_latency_ms && c->has_max_failed);
    cr_expect_eq(c->batch_size, 100);
    cr_expect_eq(c->rate, 0.0, "0 is a value (no limit), not the absence of one");
    cr_expect_eq(c->max_lag_ms, 1500);
    cr_expect_eq(c->max_write_latency_ms, 200);
    cr_expect_eq(c->max_failed, 10);
    tm_ctl_options_clear(&o);
  }
}

Test(cli, malformed_control_values_are_usage_errors) {
  static const char *const bad[][2] = {
      {"--rate", "fast"},
      {"--rate", "inf"},
      {"--rate", "nan"},
      {"--rate", "1e999"},
      {"--max-lag-ms", "1.5"},
      {"--max-write-latency-ms", ""},
      {"--batch-size", "1e3"},
      {"--batch-size", "99999999999"},
      {"--max-failed-documents", "99999999999999999999"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tm_ctl_options o;
    int code;
    tm_ctl_parse_result r =
        parse(&o, &code, "tune", "m", (char *)bad[i][0], (char *)bad[i][1], NULL);
    cr_expect_eq(r, TM_CTL_PARSE_EXIT, "%s %s", bad[i][0], bad[i][1]);
    cr_expect_eq(code, TM_CTL_EXIT_USAGE, "%s %s", bad[i][0], bad[i][1]);
    tm_ctl_options_clear(&o);
  }
}

Test(cli, ranges_are_left_to_the_service) {
  /* Its INVALID_ARGUMENT names the range; exit 64 either way. */
  tm_ctl_options o;
  int code;
  cr_expect_eq(parse(&o, &code, "tune", "m", "--batch-size", "0", "--rate", "-1", NULL),
               TM_CTL_PARSE_OK);
  tm_ctl_options_clear(&o);
}

Test(cli, pacing_options_belong_to_run_and_tune_only) {
  static const char *const others[] = {"status", "cancel", "pause", "resume", "history", "list"};
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    tm_ctl_options o;
    int code;
    expect_usage_error(parse(&o, &code, others[i], "m", "--rate", "5", NULL), &code);
    tm_ctl_options_clear(&o);
  }
}

Test(cli, options_given_become_wrappers_and_the_rest_stay_unset) {
  tm_ctl_options o;
  int code;
  cr_assert_eq(parse(&o, &code, "run", "--rate", "50", "--max-failed-documents", "0", NULL),
               TM_CTL_PARSE_OK);
  tm_ctl_pacing p;
  Twigz__Migrations__V1__TuneRequest req = TWIGZ__MIGRATIONS__V1__TUNE_REQUEST__INIT;
  tm_ctl_pacing_set(&p, &o.controls, &req.batch_size, &req.max_documents_per_second,
                    &req.max_replication_lag_ms, &req.max_write_latency_ms,
                    &req.max_failed_documents);
  cr_assert_not_null(req.max_documents_per_second);
  cr_expect_eq(req.max_documents_per_second->value, 50.0);
  cr_assert_not_null(req.max_failed_documents);
  cr_expect_eq(req.max_failed_documents->value, 0);
  cr_expect_null(req.batch_size);
  cr_expect_null(req.max_replication_lag_ms);
  cr_expect_null(req.max_write_latency_ms);
  cr_expect_eq(o.timeout_s, 3600.0);
  tm_ctl_options_clear(&o);
}
