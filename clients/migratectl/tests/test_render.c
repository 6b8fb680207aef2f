/* Text output and exit codes for the controls: the new states, pacing, throttling, refused
 * documents, control events in the history, and the run summary. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "exit_codes.h"
#include "render.h"
#include "summary.h"

/* Captures what print writes; the caller frees. */
#define CAPTURE(text, call)                     \
  do {                                          \
    size_t len_;                                \
    FILE *out = open_memstream(&(text), &len_); \
    cr_assert_not_null(out);                    \
    call;                                       \
    fclose(out);                                \
  } while (0)

static tm_ctl_pb_status status_in(int state) {
  tm_ctl_pb_status m = TWIGZ__MIGRATIONS__V1__MIGRATION_STATUS__INIT;
  m.name = "addUsernamesToCustomers";
  m.state = state;
  m.run_id = "6b1216b6e465a7a1e9069633";
  m.total = 900;
  m.processed = 120;
  m.updated = 118;
  m.owner = "vm:1:abc";
  return m;
}

static void expect_description(const tm_ctl_pb_status *m, const char *expected) {
  char text[1024];
  tm_ctl_describe_status(text, sizeof text, m);
  cr_expect_str_eq(text, expected);
}

static void expect_contains(const char *text, const char *part) {
  cr_expect(strstr(text, part) != NULL, "expected \"%s\" in:\n%s", part, text);
}

Test(render, new_states_print_by_name) {
  cr_expect_str_eq(tm_ctl_state_name(TM_CTL_PAUSED), "PAUSED");
  cr_expect_str_eq(tm_ctl_state_name(TM_CTL_PAUSING), "PAUSING");
  cr_expect_str_eq(tm_ctl_state_name(TM_CTL_THROTTLED), "THROTTLED");
}

Test(render, a_paused_migration_says_how_to_go_on) {
  tm_ctl_pb_status m = status_in(TM_CTL_PAUSED);
  expect_description(&m,
                     "PAUSED  processed 120/900, updated 118; migratectl resume "
                     "addUsernamesToCustomers goes on from there");
  m.state = TM_CTL_PAUSING;
  expect_description(&m,
                     "PAUSING  processed 120/900, updated 118; the batch in flight finishes "
                     "first on vm:1:abc");
}

Test(render, controls_show_the_batch_its_current_size_when_smaller_and_the_limits_set) {
  tm_ctl_pb_controls c = TWIGZ__MIGRATIONS__V1__CONTROLS__INIT;
  char text[256];
  cr_expect_eq(tm_ctl_describe_controls(text, sizeof text, &c), 0);
  c.batch_size = 500;
  c.current_batch_size = 500;
  tm_ctl_describe_controls(text, sizeof text, &c);
  cr_expect_str_eq(text, "batch 500");
  c.current_batch_size = 120;
  c.max_documents_per_second = 50;
  c.max_replication_lag_ms = 1000;
  c.max_write_latency_ms = 200;
  c.max_failed_documents = 10;
  size_t n = tm_ctl_describe_controls(text, sizeof text, &c);
  cr_expect_str_eq(text,
                   "batch 120 of 500, at most 50 docs/s, lag <= 1000 ms, write latency "
                   "<= 200 ms, up to 10 refused documents");
  cr_expect_eq(n, strlen(text));
  char small[12];
  tm_ctl_describe_controls(small, sizeof small, &c);
  cr_expect_str_eq(small, "batch 120 o", "cut at the buffer, still a string");
}

Test(render, a_running_migration_shows_its_pacing_and_a_finished_one_does_not) {
  tm_ctl_pb_controls c = TWIGZ__MIGRATIONS__V1__CONTROLS__INIT;
  c.batch_size = 500;
  c.current_batch_size = 100;
  c.max_documents_per_second = 2.5;
  tm_ctl_pb_status m = status_in(TM_CTL_RUNNING);
  m.controls = &c;
  expect_description(&m,
                     "RUNNING  processed 120/900, updated 118 on vm:1:abc (batch 100 of 500, "
                     "at most 2.5 docs/s)");
  m.state = TM_CTL_SUCCEEDED;
  m.owner = "";
  expect_description(&m, "SUCCEEDED  processed 120/900, updated 118");
}

Test(render, throttled_says_why_and_since_when) {
  Google__Protobuf__Timestamp since = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  since.seconds = 1796001609; /* 2026-11-30T01:20:09Z */
  tm_ctl_pb_status m = status_in(TM_CTL_THROTTLED);
  m.throttle_reason = "batch writes took 812 ms, over max_write_latency_ms 200";
  m.throttled_since = &since;
  tm_ctl_pb_controls c = TWIGZ__MIGRATIONS__V1__CONTROLS__INIT;
  c.batch_size = 500;
  c.max_write_latency_ms = 200;
  m.controls = &c;
  char text[1024];
  tm_ctl_describe_status(text, sizeof text, &m);
  cr_expect(strstr(text, " (batch 500)") != NULL, "%s", text);
  cr_expect_null(strstr(text, "write latency <="), "the throttles are the status table's to say");
  expect_contains(text,
                  "THROTTLED  processed 120/900, updated 118; waiting since 2026-11-30T"
                  "01:20:09Z (");
  expect_contains(text, "): batch writes took 812 ms, over max_write_latency_ms 200 on vm:1:abc");
  cr_expect(tm_ctl_state_held(TM_CTL_THROTTLED), "a throttled migration still runs");
}

Test(render, refused_documents_are_counted_and_the_first_listed) {
  Twigz__Migrations__V1__FailedDocument d1 = TWIGZ__MIGRATIONS__V1__FAILED_DOCUMENT__INIT;
  Twigz__Migrations__V1__FailedDocument d2 = TWIGZ__MIGRATIONS__V1__FAILED_DOCUMENT__INIT;
  d1.id = "{\"$oid\":\"6b1216b6e465a7a1e9069600\"}";
  d1.error = "E121 Document failed validation";
  d2.id = "17";
  d2.error = "E11000 duplicate key";
  Twigz__Migrations__V1__FailedDocument *failed[] = {&d1, &d2};
  tm_ctl_pb_status m = status_in(TM_CTL_SUCCEEDED);
  m.processed = m.total;
  m.failed_documents = 5;
  m.failed = failed;
  m.n_failed = 2;
  char *text;
  CAPTURE(text, tm_ctl_print_outcome(out, &m, 0));
  cr_expect_str_eq(text,
                   "addUsernamesToCustomers  SUCCEEDED  processed 900/900, updated 118, "
                   "refused 5\n"
                   "    refused {\"$oid\":\"6b1216b6e465a7a1e9069600\"}: E121 Document "
                   "failed validation\n"
                   "    refused 17: E11000 duplicate key\n"
                   "    ... and 3 more\n");
  free(text);
}

Test(render, the_status_table_details_controls_throttling_and_refusals) {
  tm_ctl_pb_controls c = TWIGZ__MIGRATIONS__V1__CONTROLS__INIT;
  c.batch_size = 200;
  c.max_documents_per_second = 50;
  Twigz__Migrations__V1__FailedDocument d = TWIGZ__MIGRATIONS__V1__FAILED_DOCUMENT__INIT;
  d.id = "3";
  d.error = "E121 Document failed validation";
  Twigz__Migrations__V1__FailedDocument *failed[] = {&d};
  tm_ctl_pb_status throttled = status_in(TM_CTL_THROTTLED);
  throttled.controls = &c;
  throttled.throttle_reason = "replication lag 2400 ms";
  throttled.failed_documents = 1;
  throttled.failed = failed;
  throttled.n_failed = 1;
  tm_ctl_pb_status done = status_in(TM_CTL_SUCCEEDED);
  done.name = "addStatusToStores";
  done.controls = &c;
  tm_ctl_pb_status *ms[] = {&throttled, &done};
  tm_ctl_pb_status_response resp = TWIGZ__MIGRATIONS__V1__STATUS_RESPONSE__INIT;
  resp.migrations = ms;
  resp.n_migrations = 2;
  char *text;
  CAPTURE(text, tm_ctl_print_status_table(out, &resp, false));
  expect_contains(text, "addUsernamesToCustomers  THROTTLED");
  expect_contains(text, "addUsernamesToCustomers: controls: batch 200, at most 50 docs/s\n");
  expect_contains(text, "addUsernamesToCustomers: throttled since -: replication lag 2400 ms\n");
  expect_contains(text,
                  "addUsernamesToCustomers: 1 documents refused and skipped; the next run "
                  "retries them first\n  refused 3: E121 Document failed validation\n");
  cr_expect_null(strstr(text, "addStatusToStores: controls"), "settled: no pacing to show");
  free(text);
}

Test(render, history_shows_control_events_and_refusals) {
  Twigz__Migrations__V1__Caller oncall = TWIGZ__MIGRATIONS__V1__CALLER__INIT;
  oncall.identity = "x509:CN=oncall";
  oncall.peer = "ipv4:10.0.0.7:5000";
  Twigz__Migrations__V1__Caller ci = TWIGZ__MIGRATIONS__V1__CALLER__INIT;
  ci.peer = "ipv4:10.0.0.8:6000";
  Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  at.seconds = 1796001609;
  Twigz__Migrations__V1__ControlEvent pause = TWIGZ__MIGRATIONS__V1__CONTROL_EVENT__INIT;
  pause.action = "pause";
  pause.by = &oncall;
  pause.at = &at;
  Twigz__Migrations__V1__ControlEvent tune = TWIGZ__MIGRATIONS__V1__CONTROL_EVENT__INIT;
  tune.action = "tune";
  tune.by = &ci;
  tune.at = &at;
  tune.detail = "batch_size 500 -> 100";
  Twigz__Migrations__V1__ControlEvent cancel = TWIGZ__MIGRATIONS__V1__CONTROL_EVENT__INIT;
  cancel.action = "cancel";
  cancel.by = &oncall;
  Twigz__Migrations__V1__ControlEvent *events[] = {&pause, &tune, &cancel};
  tm_ctl_pb_controls c = TWIGZ__MIGRATIONS__V1__CONTROLS__INIT;
  c.batch_size = 500;
  c.max_failed_documents = 10;
  tm_ctl_pb_run_record r = TWIGZ__MIGRATIONS__V1__RUN_RECORD__INIT;
  r.run_id = "6b1216b6e465a7a1e9069633";
  r.migration = "addStatusToStores";
  r.state = TM_CTL_CANCELED;
  r.events = events;
  r.n_events = 3;
  r.canceled_by = &oncall;
  r.controls = &c;
  r.failed_documents = 2;
  char *text;
  CAPTURE(text, tm_ctl_print_history_record(out, &r));
  cr_expect_null(strstr(text, "batch 500"), "every run has controls: not worth a line each");
  expect_contains(text, "  paused by x509:CN=oncall at 2026-11-30T01:20:09Z\n");
  expect_contains(text,
                  "  tuned by ipv4:10.0.0.8:6000 at 2026-11-30T01:20:09Z: batch_size 500 "
                  "-> 100\n");
  expect_contains(text, "  canceled by x509:CN=oncall at -\n");
  cr_expect_null(strstr(strstr(text, "canceled by") + 1, "canceled by"),
                 "the cancel is said once, from its event");
  expect_contains(text, "  2 documents refused and skipped\n");
  free(text);
}

static tm_ctl_pb_run_response run_of(tm_ctl_pb_status **ms, size_t n) {
  tm_ctl_pb_run_response resp = TWIGZ__MIGRATIONS__V1__RUN_RESPONSE__INIT;
  resp.run_id = "6b1216b6e465a7a1e9069633";
  resp.migrations = ms;
  resp.n_migrations = n;
  return resp;
}

Test(render, the_summary_counts_paused_ones_and_the_documents_refused) {
  tm_ctl_pb_status a = status_in(TM_CTL_SUCCEEDED), b = status_in(TM_CTL_PAUSED),
                   q = status_in(TM_CTL_QUEUED);
  a.failed_documents = 3;
  tm_ctl_pb_status *ms[] = {&a, &b, &q};
  tm_ctl_pb_run_response resp = run_of(ms, 3);
  char *text;
  CAPTURE(text, tm_ctl_print_run_summary(out, &resp, "run", false, 4200));
  cr_expect_str_eq(text,
                   "run 6b1216b6e465a7a1e9069633: 1 succeeded, 1 paused, 1 queued (4.2s); "
                   "3 documents refused and skipped\n");
  free(text);
  CAPTURE(text, tm_ctl_print_run_summary(out, &resp, "resumed run", false, -1));
  cr_expect_str_eq(text,
                   "resumed run 6b1216b6e465a7a1e9069633: 1 succeeded, 1 paused, 1 queued; "
                   "3 documents refused and skipped\n");
  free(text);
}

Test(outcome, paused_is_not_a_failure_but_not_done_either) {
  tm_ctl_pb_status ok = status_in(TM_CTL_SUCCEEDED), paused = status_in(TM_CTL_PAUSED),
                   pausing = status_in(TM_CTL_PAUSING), failed = status_in(TM_CTL_FAILED);
  ok.failed_documents = 7;
  tm_ctl_pb_status *only_ok[] = {&ok};
  cr_expect_eq(tm_ctl_outcome_exit(only_ok, 1), TM_CTL_EXIT_OK, "refusals within the budget");
  tm_ctl_pb_status *with_paused[] = {&ok, &paused};
  cr_expect_eq(tm_ctl_outcome_exit(with_paused, 2), TM_CTL_EXIT_TEMPFAIL);
  tm_ctl_pb_status *with_pausing[] = {&pausing};
  cr_expect_eq(tm_ctl_outcome_exit(with_pausing, 1), TM_CTL_EXIT_TEMPFAIL);
  tm_ctl_pb_status *with_failed[] = {&paused, &failed};
  cr_expect_eq(tm_ctl_outcome_exit(with_failed, 2), TM_CTL_EXIT_DATA);
}

Test(outcome, queued_ones_behind_a_paused_migration_of_their_run_are_settled) {
  tm_ctl_pb_status paused = status_in(TM_CTL_PAUSED), behind = status_in(TM_CTL_QUEUED),
                   other = status_in(TM_CTL_QUEUED);
  other.run_id = "another-run";
  tm_ctl_pb_status *waiting[] = {&paused, &behind};
  cr_expect(tm_ctl_statuses_settled(waiting, 2));
  tm_ctl_pb_status *moving[] = {&paused, &behind, &other};
  cr_expect_not(tm_ctl_statuses_settled(moving, 3), "another run's queue still moves");
  tm_ctl_pb_status throttled = status_in(TM_CTL_THROTTLED);
  tm_ctl_pb_status *running[] = {&throttled};
  cr_expect_not(tm_ctl_statuses_settled(running, 1));
  tm_ctl_pb_status *alone[] = {&behind};
  cr_expect_not(tm_ctl_statuses_settled(alone, 1), "nothing says what it waits for");
}
