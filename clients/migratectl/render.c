/* Text output of list, status, run, cancel, pause, resume and tune. */
#include "render.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#define STATE_PREFIX "MIGRATION_STATE_"

const char *tm_ctl_state_name(int state) {
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
      &twigz__migrations__v1__migration_state__descriptor, state);
  if (v && strncmp(v->name, STATE_PREFIX, strlen(STATE_PREFIX)) == 0)
    return v->name + strlen(STATE_PREFIX);
  return v ? v->name : "UNKNOWN_STATE";
}

void tm_ctl_format_seconds(char *buf, size_t size, double s) {
  if (s < 0) s = 0;
  if (s < 10)
    snprintf(buf, size, "%.1fs", s);
  else if (s < 60)
    snprintf(buf, size, "%.0fs", s);
  else if (s < 3600)
    snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)s % 60);
  else
    snprintf(buf, size, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}

bool tm_ctl_status_started(const tm_ctl_pb_status *m) {
  return m->total > 0 || m->processed > 0 || (m->cursor && m->cursor[0]);
}

static double ts_seconds(const Google__Protobuf__Timestamp *t) {
  return (double)t->seconds + (double)t->nanos / 1e9;
}

void tm_ctl_format_time(char *buf, size_t size, const Google__Protobuf__Timestamp *t) {
  struct tm tm;
  time_t secs = t ? (time_t)t->seconds : 0;
  if (!t || !gmtime_r(&secs, &tm)) {
    snprintf(buf, size, "-");
    return;
  }
  strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* " in 3.2s" when both ends are known. */
static void format_took(char *buf, size_t size, const tm_ctl_pb_status *m) {
  buf[0] = '\0';
  if (!m->started_at || !m->finished_at) return;
  char d[32];
  tm_ctl_format_seconds(d, sizeof d, ts_seconds(m->finished_at) - ts_seconds(m->started_at));
  snprintf(buf, size, " in %s", d);
}

/* "processed 120/900, updated 118", and ", refused 2" once the database refused some. */
static void format_counts(char *buf, size_t size, const tm_ctl_pb_status *m) {
  int n = snprintf(buf, size, "processed %" PRId64 "/%" PRId64 ", updated %" PRId64, m->processed,
                   m->total, m->updated);
  if (m->failed_documents > 0 && n >= 0 && (size_t)n < size)
    snprintf(buf + n, size - (size_t)n, ", refused %" PRId64, m->failed_documents);
}

/* Adds ", <text>" (just "<text>" first) to buf, which holds *used characters; cut at size. */
static void append(char *buf, size_t size, size_t *used, const char *fmt, ...) {
  if (*used + 1 >= size) return;
  if (*used) {
    int n = snprintf(buf + *used, size - *used, ", ");
    *used = n > 0 && *used + (size_t)n < size ? *used + (size_t)n : size - 1;
  }
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *used, size - *used, fmt, ap);
  va_end(ap);
  *used = n > 0 && *used + (size_t)n < size ? *used + (size_t)n : size - 1;
}

/* The batch and the rate: what sets the pace of every batch, unlike the throttles, which only
 * bite under strain. */
static void append_pace(char *buf, size_t size, size_t *used, const tm_ctl_pb_controls *c) {
  if (c->batch_size > 0 && c->current_batch_size > 0 && c->current_batch_size < c->batch_size)
    append(buf, size, used, "batch %" PRId32 " of %" PRId32, c->current_batch_size, c->batch_size);
  else if (c->batch_size > 0)
    append(buf, size, used, "batch %" PRId32, c->batch_size);
  if (c->max_documents_per_second > 0)
    append(buf, size, used, "at most %g docs/s", c->max_documents_per_second);
}

size_t tm_ctl_describe_controls(char *buf, size_t size, const tm_ctl_pb_controls *c) {
  size_t used = 0;
  buf[0] = '\0';
  append_pace(buf, size, &used, c);
  if (c->max_replication_lag_ms > 0)
    append(buf, size, &used, "lag <= %" PRId64 " ms", c->max_replication_lag_ms);
  if (c->max_write_latency_ms > 0)
    append(buf, size, &used, "write latency <= %" PRId64 " ms", c->max_write_latency_ms);
  if (c->max_failed_documents > 0)
    append(buf, size, &used, "up to %" PRId64 " refused documents", c->max_failed_documents);
  return used;
}

/* " (batch 500, at most 50 docs/s)" while a run holds it or it is paused: the pace of its next
 * batch, which Tune may have changed since the run started. The status table has the rest. */
static void format_pacing(char *buf, size_t size, const tm_ctl_pb_status *m) {
  char pace[160];
  size_t used = 0;
  buf[0] = pace[0] = '\0';
  if (!m->controls || !(tm_ctl_state_held(m->state) || m->state == TM_CTL_PAUSED)) return;
  append_pace(pace, sizeof pace, &used, m->controls);
  if (used > 0) snprintf(buf, size, " (%s)", pace);
}

void tm_ctl_describe_throttle(char *buf, size_t size, const tm_ctl_pb_status *m) {
  char since[40], age[32] = "";
  tm_ctl_format_time(since, sizeof since, m->throttled_since);
  if (m->throttled_since) {
    char d[24];
    tm_ctl_format_seconds(d, sizeof d, difftime(time(NULL), (time_t)m->throttled_since->seconds));
    snprintf(age, sizeof age, " (%s)", d);
  }
  snprintf(buf, size, "since %s%s: %s", since, age,
           m->throttle_reason && m->throttle_reason[0] ? m->throttle_reason : "no reason given");
}

void tm_ctl_describe_status(char *buf, size_t size, const tm_ctl_pb_status *m) {
  char took[48], counts[128], pacing[280], throttle[512];
  format_took(took, sizeof took, m);
  format_counts(counts, sizeof counts, m);
  format_pacing(pacing, sizeof pacing, m);
  const char *error = m->error && m->error[0] ? m->error : "no error message";
  const char *on = m->owner && m->owner[0] ? " on " : "", *owner = m->owner ? m->owner : "";
  switch ((int)m->state) {
  case TM_CTL_PENDING: snprintf(buf, size, "PENDING  not run yet"); break;
  case TM_CTL_QUEUED:
    snprintf(buf, size, "QUEUED  waiting for its turn in run %s%s%s%s", m->run_id, on, owner,
             pacing);
    break;
  case TM_CTL_CANCELING:
  case TM_CTL_PAUSING:
    snprintf(buf, size, "%s  %s; the batch in flight finishes first%s%s%s",
             tm_ctl_state_name(m->state), counts, on, owner, pacing);
    break;
  case TM_CTL_PAUSED:
    snprintf(buf, size, "PAUSED  %s; migratectl resume %s goes on from there%s", counts, m->name,
             pacing);
    break;
  case TM_CTL_THROTTLED:
    tm_ctl_describe_throttle(throttle, sizeof throttle, m);
    snprintf(buf, size, "THROTTLED  %s; waiting %s%s%s%s", counts, throttle, on, owner, pacing);
    break;
  case TM_CTL_INTERRUPTED:
    snprintf(buf, size, "INTERRUPTED  %s%s: %s; the next run resumes from there", counts, took,
             error);
    break;
  case TM_CTL_RUNNING:
    if (!tm_ctl_status_started(m)) {
      snprintf(buf, size, "RUNNING  starting%s%s%s", on, owner, pacing);
      break;
    }
    snprintf(buf, size, "RUNNING  %s%s%s%s", counts, on, owner, pacing);
    break;
  case TM_CTL_SUCCEEDED:
    if (m->skipped)
      snprintf(buf, size, "skipped  already SUCCEEDED (run again with --rerun)");
    else if (m->dry_run)
      snprintf(buf, size,
               "dry run  would update %" PRId64 " of %" PRId64 " documents (examined %" PRId64
               ")%s; nothing was written",
               m->updated, m->total, m->processed, took);
    else
      snprintf(buf, size, "SUCCEEDED  %s%s%s", counts, took,
               m->swept_drift ? " (swept drift: documents had appeared since it last succeeded)"
               : m->drifted   ? "; DRIFTED: documents match its filter again, the next run "
                                "sweeps them"
                              : "");
    break;
  case TM_CTL_FAILED:
    snprintf(buf, size, "FAILED  %s%s%s: %s", m->dry_run ? "dry run, " : "", counts, took, error);
    break;
  case TM_CTL_CANCELED:
    snprintf(buf, size, "CANCELED  %s; the next run resumes from there", counts);
    break;
  default: snprintf(buf, size, "%s  %s", tm_ctl_state_name(m->state), counts);
  }
}

void tm_ctl_print_outcome(FILE *out, const tm_ctl_pb_status *m, int name_width) {
  char text[1024];
  tm_ctl_describe_status(text, sizeof text, m);
  fprintf(out, "%-*s  %s\n", name_width, m->name ? m->name : "", text);
  for (size_t i = 0; i < m->n_samples; i++) fprintf(out, "    would set: %s\n", m->samples[i]);
  tm_ctl_print_refused(out, "    ", m->failed, m->n_failed, m->failed_documents);
}

void tm_ctl_print_refused(FILE *out, const char *indent,
                          Twigz__Migrations__V1__FailedDocument *const *failed, size_t n,
                          int64_t total) {
  for (size_t i = 0; i < n; i++)
    fprintf(out, "%srefused %s: %s\n", indent, failed[i]->id, failed[i]->error);
  if (n > 0 && total > (int64_t)n)
    fprintf(out, "%s... and %" PRId64 " more\n", indent, total - (int64_t)n);
}

static int max_int(int a, int b) { return a > b ? a : b; }

/* `status="pending", phoneNumberVerified=false` or `username from name`. */
static void describe_fields(char *buf, size_t size, const Twigz__Migrations__V1__Migration *m) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < m->n_fields && used < size; i++) {
    const Twigz__Migrations__V1__FieldBackfill *f = m->fields[i];
    int n;
    if (f->derived_from && f->derived_from[0])
      n = snprintf(buf + used, size - used, "%s%s from %s", i ? ", " : "", f->field,
                   f->derived_from);
    else
      n = snprintf(buf + used, size - used, "%s%s=%s", i ? ", " : "", f->field,
                   f->default_value && f->default_value[0] ? f->default_value : "?");
    if (n < 0) break;
    used += (size_t)n;
  }
}

void tm_ctl_print_list(FILE *out, const tm_ctl_pb_list_response *resp) {
  int wn = 4, wt = 5, wf = 6;
  char fields[512];
  for (size_t i = 0; i < resp->n_migrations; i++) {
    const Twigz__Migrations__V1__Migration *m = resp->migrations[i];
    describe_fields(fields, sizeof fields, m);
    wn = max_int(wn, (int)strlen(m->name));
    wt = max_int(wt, (int)strlen(m->table));
    wf = max_int(wf, (int)strlen(fields));
  }
  fprintf(out, "%-*s  %-*s  %-*s  %s\n", wn, "NAME", wt, "TABLE", wf, "FIELDS", "DESCRIPTION");
  for (size_t i = 0; i < resp->n_migrations; i++) {
    const Twigz__Migrations__V1__Migration *m = resp->migrations[i];
    describe_fields(fields, sizeof fields, m);
    fprintf(out, "%-*s  %-*s  %-*s  %s\n", wn, m->name, wt, m->table, wf, fields, m->description);
  }
}

void tm_ctl_print_status_table(FILE *out, const tm_ctl_pb_status_response *resp, bool pending) {
  int wn = 4;
  for (size_t i = 0; i < resp->n_migrations; i++)
    wn = max_int(wn, (int)strlen(resp->migrations[i]->name));
  fprintf(out, "%-*s  %-11s  %9s  %9s  %9s", wn, "NAME", "STATE", "PROCESSED", "TOTAL", "UPDATED");
  if (pending) fprintf(out, "  %9s", "PENDING");
  fprintf(out, "  %-20s  %s\n", "STARTED", "FINISHED");
  for (size_t i = 0; i < resp->n_migrations; i++) {
    const tm_ctl_pb_status *m = resp->migrations[i];
    char started[40], finished[40];
    tm_ctl_format_time(started, sizeof started, m->started_at);
    tm_ctl_format_time(finished, sizeof finished, m->finished_at);
    fprintf(out, "%-*s  %-11s  %9" PRId64 "  %9" PRId64 "  %9" PRId64, wn, m->name,
            tm_ctl_state_name(m->state), m->processed, m->total, m->updated);
    if (pending) fprintf(out, "  %9" PRId64, m->pending);
    fprintf(out, "  %-20s  %s\n", started, finished);
  }
  /* Details that do not fit a column, under the table. */
  for (size_t i = 0; i < resp->n_migrations; i++) {
    const tm_ctl_pb_status *m = resp->migrations[i];
    if (m->error && m->error[0]) fprintf(out, "%s: error: %s\n", m->name, m->error);
    if (tm_ctl_state_held(m->state) && m->owner && m->owner[0])
      fprintf(out, "%s: held by %s (run %s)\n", m->name, m->owner, m->run_id);
    char detail[512];
    if (m->controls && (tm_ctl_state_held(m->state) || m->state == TM_CTL_PAUSED) &&
        tm_ctl_describe_controls(detail, sizeof detail, m->controls) > 0)
      fprintf(out, "%s: controls: %s\n", m->name, detail);
    if (m->state == TM_CTL_THROTTLED) {
      tm_ctl_describe_throttle(detail, sizeof detail, m);
      fprintf(out, "%s: throttled %s\n", m->name, detail);
    }
    if (m->failed_documents > 0) {
      fprintf(out,
              "%s: %" PRId64 " documents refused and skipped; the next run retries them first\n",
              m->name, m->failed_documents);
      tm_ctl_print_refused(out, "  ", m->failed, m->n_failed, m->failed_documents);
    }
    if (m->drifted)
      fprintf(out,
              "%s: drifted: %" PRId64
              " documents match its filter again; the next run sweeps them\n",
              m->name, m->pending);
  }
}
