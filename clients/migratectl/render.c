/* Text output of list, status, run and cancel. */
#include "render.h"

#include <inttypes.h>
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

/* "2026-11-25 19:40:33Z", or "-" when unset. */
static void format_time(char *buf, size_t size, const Google__Protobuf__Timestamp *t) {
  struct tm tm;
  time_t secs = t ? (time_t)t->seconds : 0;
  if (!t || !gmtime_r(&secs, &tm)) {
    snprintf(buf, size, "-");
    return;
  }
  strftime(buf, size, "%Y-%m-%d %H:%M:%SZ", &tm);
}

/* " in 3.2s" when both ends are known. */
static void format_took(char *buf, size_t size, const tm_ctl_pb_status *m) {
  buf[0] = '\0';
  if (!m->started_at || !m->finished_at) return;
  char d[32];
  tm_ctl_format_seconds(d, sizeof d, ts_seconds(m->finished_at) - ts_seconds(m->started_at));
  snprintf(buf, size, " in %s", d);
}

void tm_ctl_describe_status(char *buf, size_t size, const tm_ctl_pb_status *m) {
  char took[48];
  format_took(took, sizeof took, m);
  const char *error = m->error && m->error[0] ? m->error : "no error message";
  const char *on = m->owner && m->owner[0] ? " on " : "", *owner = m->owner ? m->owner : "";
  switch ((int)m->state) {
  case TM_CTL_PENDING: snprintf(buf, size, "PENDING  not run yet"); break;
  case TM_CTL_QUEUED:
    snprintf(buf, size, "QUEUED  waiting for its turn in run %s%s%s", m->run_id, on, owner);
    break;
  case TM_CTL_CANCELING:
    snprintf(buf, size,
             "CANCELING  processed %" PRId64 "/%" PRId64 ", updated %" PRId64
             "; the batch in flight finishes first%s%s",
             m->processed, m->total, m->updated, on, owner);
    break;
  case TM_CTL_INTERRUPTED:
    snprintf(buf, size,
             "INTERRUPTED  processed %" PRId64 "/%" PRId64 ", updated %" PRId64
             "%s: %s; the next run resumes from there",
             m->processed, m->total, m->updated, took, error);
    break;
  case TM_CTL_RUNNING:
    if (!tm_ctl_status_started(m)) {
      snprintf(buf, size, "RUNNING  starting%s%s", on, owner);
      break;
    }
    snprintf(buf, size, "RUNNING  processed %" PRId64 "/%" PRId64 ", updated %" PRId64 "%s%s",
             m->processed, m->total, m->updated, on, owner);
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
      snprintf(buf, size, "SUCCEEDED  processed %" PRId64 "/%" PRId64 ", updated %" PRId64 "%s%s",
               m->processed, m->total, m->updated, took,
               m->swept_drift ? " (swept drift: documents had appeared since it last succeeded)"
               : m->drifted   ? "; DRIFTED: documents match its filter again, the next run "
                                "sweeps them"
                              : "");
    break;
  case TM_CTL_FAILED:
    snprintf(buf, size, "FAILED  %sprocessed %" PRId64 "/%" PRId64 ", updated %" PRId64 "%s: %s",
             m->dry_run ? "dry run, " : "", m->processed, m->total, m->updated, took, error);
    break;
  case TM_CTL_CANCELED:
    snprintf(buf, size,
             "CANCELED  processed %" PRId64 "/%" PRId64 ", updated %" PRId64
             "; the next run resumes from there",
             m->processed, m->total, m->updated);
    break;
  default:
    snprintf(buf, size, "%s  processed %" PRId64 "/%" PRId64 ", updated %" PRId64,
             tm_ctl_state_name(m->state), m->processed, m->total, m->updated);
  }
}

void tm_ctl_print_outcome(FILE *out, const tm_ctl_pb_status *m, int name_width) {
  char text[1024];
  tm_ctl_describe_status(text, sizeof text, m);
  fprintf(out, "%-*s  %s\n", name_width, m->name ? m->name : "", text);
  for (size_t i = 0; i < m->n_samples; i++) fprintf(out, "    would set: %s\n", m->samples[i]);
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
    format_time(started, sizeof started, m->started_at);
    format_time(finished, sizeof finished, m->finished_at);
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
    if (m->drifted)
      fprintf(out,
              "%s: drifted: %" PRId64
              " documents match its filter again; the next run sweeps them\n",
              m->name, m->pending);
  }
}

/* Who a caller was: its identity when it proved one, else where it called from. */
static const char *who(const Twigz__Migrations__V1__Caller *c) {
  if (!c) return "?";
  if (c->identity && c->identity[0]) return c->identity;
  return c->peer && c->peer[0] ? c->peer : "?";
}

void tm_ctl_print_history_header(FILE *out) {
  fprintf(out, "%-20s  %-23s  %-11s  %9s  %9s  %9s  %-24s  %s\n", "STARTED", "MIGRATION", "STATE",
          "PROCESSED", "TOTAL", "UPDATED", "RUN", "CALLER");
}

void tm_ctl_print_history_record(FILE *out, const tm_ctl_pb_run_record *r) {
  char started[40], state[24];
  format_time(started, sizeof started, r->started_at);
  snprintf(state, sizeof state, "%s", tm_ctl_state_name(r->state));
  fprintf(out, "%-20s  %-23s  %-11s  %9" PRId64 "  %9" PRId64 "  %9" PRId64 "  %-24s  %s\n",
          started, r->migration, state, r->processed, r->total, r->updated, r->run_id,
          who(r->caller));
  if (r->error && r->error[0]) fprintf(out, "  error: %s\n", r->error);
  if (r->swept_drift) fprintf(out, "  swept drift: documents had come back after it SUCCEEDED\n");
  if (r->canceled_by) {
    char at[40];
    format_time(at, sizeof at, r->canceled_at);
    fprintf(out, "  canceled by %s at %s\n", who(r->canceled_by), at);
  }
}
