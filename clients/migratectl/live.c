/* Live progress and change-of-state lines. */
#include "live.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "render.h"

/* Documents per second come from the samples of the last few seconds: recent enough to follow a
 * change of pace, long enough to smooth over batch boundaries. */
#define RATE_SAMPLES 16
#define MIN_BAR_WIDTH 10
/* QUEUED, or RUNNING but not started (counting its documents): shown apart so that only real work
 * looks like progress. */
#define PHASE_QUEUED 1000
#define MAX_BAR_WIDTH 30

typedef struct {
  char *name;
  bool has_base; /* the baseline's state still holds */
  int base_state;
  char *base_run_id;
  bool reported; /* phase and run_id below were printed */
  int phase;     /* the state, or PHASE_QUEUED */
  char *run_id;
  char *reason;         /* THROTTLED: why, for the progress line */
  bool live;            /* has a progress line */
  int64_t last_line_ms; /* plain mode: when a line about it was last printed */
  int64_t total, processed, updated;
  int64_t sample_ms[RATE_SAMPLES], sample_processed[RATE_SAMPLES];
  int n_samples, next_sample;
} entry;

struct tm_ctl_live {
  FILE *out;
  tm_ctl_live_mode mode;
  entry *entries;
  size_t n, cap;
  int name_width;
  int drawn;   /* lines of the live area now on screen, the cursor below them */
  bool follow; /* only the entries made by tm_ctl_live_follow are reported */
  const char *idle_text;
  int64_t idle_since_ms, now_ms;
  int64_t progress_ms; /* plain mode: the cadence of progress lines */
};

static char *dup_str(const char *s) {
  char *d = strdup(s ? s : "");
  if (!d) abort();
  return d;
}

static bool same(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

tm_ctl_live *tm_ctl_live_new(FILE *out, tm_ctl_live_mode mode) {
  tm_ctl_live *l = calloc(1, sizeof *l);
  if (!l) abort();
  l->out = out;
  l->mode = mode;
  l->name_width = 4;
  l->progress_ms = 30000;
  return l;
}

void tm_ctl_live_set_progress(tm_ctl_live *l, int64_t every_ms) {
  if (every_ms > 0) l->progress_ms = every_ms;
}

void tm_ctl_live_free(tm_ctl_live *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) {
    free(l->entries[i].name);
    free(l->entries[i].base_run_id);
    free(l->entries[i].run_id);
    free(l->entries[i].reason);
  }
  free(l->entries);
  free(l);
}

static entry *find(tm_ctl_live *l, const char *name, bool add) {
  for (size_t i = 0; i < l->n; i++)
    if (same(l->entries[i].name, name)) return &l->entries[i];
  if (!add) return NULL;
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 8;
    l->entries = realloc(l->entries, l->cap * sizeof *l->entries);
    if (!l->entries) abort();
  }
  entry *e = &l->entries[l->n++];
  memset(e, 0, sizeof *e);
  e->name = dup_str(name);
  int len = (int)strlen(e->name);
  if (len > l->name_width) l->name_width = len;
  return e;
}

/* --- the live area (terminal only) --- */

static int terminal_width(FILE *out) {
  struct winsize ws;
  if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

static void clear_area(tm_ctl_live *l) {
  for (; l->drawn > 0; l->drawn--) fputs("\033[1A\r\033[2K", l->out);
}

static void rate_and_eta(const entry *e, char *rate, size_t rsize, char *eta, size_t esize) {
  snprintf(rate, rsize, "-- docs/s");
  snprintf(eta, esize, "ETA --");
  if (e->n_samples < 2) return;
  int newest = (e->next_sample + RATE_SAMPLES - 1) % RATE_SAMPLES;
  int oldest = e->n_samples < RATE_SAMPLES ? 0 : e->next_sample;
  int64_t dt = e->sample_ms[newest] - e->sample_ms[oldest];
  int64_t dp = e->sample_processed[newest] - e->sample_processed[oldest];
  if (dt < 400 || dp < 0) return;
  double per_s = (double)dp * 1000.0 / (double)dt;
  snprintf(rate, rsize, "%.0f docs/s", per_s);
  if (per_s > 0 && e->total > e->processed) {
    char left[32];
    tm_ctl_format_seconds(left, sizeof left, (double)(e->total - e->processed) / per_s);
    snprintf(eta, esize, "ETA %s", left);
  } else if (e->total > 0 && e->processed >= e->total) {
    snprintf(eta, esize, "ETA 0s");
  }
}

static void put_clipped(tm_ctl_live *l, const char *line) {
  /* A wrapped line would break the count of lines to move up over. */
  int width = terminal_width(l->out) - 1;
  fprintf(l->out, "%.*s\n", width > 0 ? width : 1, line);
  l->drawn++;
}

/* What follows a held migration's progress when it is not simply RUNNING: "  throttled: <why>",
 * "  pausing", "  canceling". */
static void phase_tag(const entry *e, char *buf, size_t size) {
  buf[0] = '\0';
  if (e->phase == TM_CTL_THROTTLED)
    snprintf(buf, size, "  throttled%s%s", e->reason && e->reason[0] ? ": " : "",
             e->reason ? e->reason : "");
  else if (e->phase == TM_CTL_PAUSING)
    snprintf(buf, size, "  pausing");
  else if (e->phase == TM_CTL_CANCELING)
    snprintf(buf, size, "  canceling");
}

/* "name  [#####-----] 1200/5000  24%  850 docs/s  ETA 4.5s": the bar takes what the terminal's
 * width leaves, and goes when too little is left. A tag after it says when the migration is
 * held but not moving on its own (throttled, pausing); it is clipped first. */
static void draw_progress(tm_ctl_live *l, const entry *e) {
  char rate[32], eta[40], counts[64], line[512], tag[256];
  if (e->phase == PHASE_QUEUED) {
    snprintf(line, sizeof line, "%-*s  queued", l->name_width, e->name);
    put_clipped(l, line);
    return;
  }
  rate_and_eta(e, rate, sizeof rate, eta, sizeof eta);
  phase_tag(e, tag, sizeof tag);
  if (e->total <= 0) {
    snprintf(line, sizeof line, "%-*s  RUNNING  %" PRId64 " processed  %s%s", l->name_width,
             e->name, e->processed, rate, tag);
    put_clipped(l, line);
    return;
  }
  int64_t done = e->processed < e->total ? e->processed : e->total;
  snprintf(counts, sizeof counts, "%" PRId64 "/%" PRId64 " %3d%%", e->processed, e->total,
           (int)(done * 100 / e->total));
  int fixed = snprintf(NULL, 0, "%-*s  [] %s  %s  %s", l->name_width, e->name, counts, rate, eta);
  int bar_width = terminal_width(l->out) - 1 - fixed;
  if (bar_width > MAX_BAR_WIDTH) bar_width = MAX_BAR_WIDTH;
  if (bar_width < MIN_BAR_WIDTH) {
    snprintf(line, sizeof line, "%-*s  %s  %s  %s%s", l->name_width, e->name, counts, rate, eta,
             tag);
  } else {
    char bar[MAX_BAR_WIDTH + 1];
    int fill = (int)(done * bar_width / e->total);
    for (int b = 0; b < bar_width; b++) bar[b] = b < fill ? '#' : '-';
    bar[bar_width] = '\0';
    snprintf(line, sizeof line, "%-*s  [%s] %s  %s  %s%s", l->name_width, e->name, bar, counts,
             rate, eta, tag);
  }
  put_clipped(l, line);
}

static void draw_area(tm_ctl_live *l) {
  bool any = false;
  for (size_t i = 0; i < l->n; i++) {
    if (!l->entries[i].live) continue;
    any = true;
    draw_progress(l, &l->entries[i]);
  }
  if (!any && l->idle_text) {
    char elapsed[32], line[256];
    tm_ctl_format_seconds(elapsed, sizeof elapsed, (double)(l->now_ms - l->idle_since_ms) / 1000.0);
    snprintf(line, sizeof line, "%s %s", l->idle_text, elapsed);
    put_clipped(l, line);
  }
  fflush(l->out);
}

/* --- reporting --- */

/* Prints what m says now: a plain line is timestamped (wall clock, UTC) for Job logs. */
static void emit(tm_ctl_live *l, const tm_ctl_pb_status *m, bool with_samples) {
  if (l->mode == TM_CTL_LIVE_PLAIN) {
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    fputs(stamp, l->out);
  }
  if (with_samples) {
    tm_ctl_print_outcome(l->out, m, l->name_width);
  } else {
    char text[1024];
    tm_ctl_describe_status(text, sizeof text, m);
    fprintf(l->out, "%-*s  %s\n", l->name_width, m->name, text);
  }
}

/* Plain mode, at the cadence: "<stamp> name  RUNNING  1200/5000 24%  850 docs/s  ETA 4.5s". */
static void emit_progress(tm_ctl_live *l, const tm_ctl_pb_status *m, const entry *e) {
  char rate[32], eta[40], stamp[32], counts[64];
  rate_and_eta(e, rate, sizeof rate, eta, sizeof eta);
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (e->total > 0) {
    int64_t done = e->processed < e->total ? e->processed : e->total;
    snprintf(counts, sizeof counts, "%" PRId64 "/%" PRId64 " %d%%", e->processed, e->total,
             (int)(done * 100 / e->total));
  } else {
    snprintf(counts, sizeof counts, "%" PRId64 " processed", e->processed);
  }
  fprintf(l->out, "%s %-*s  %s  %s  updated %" PRId64 "  %s  %s\n", stamp, l->name_width, m->name,
          tm_ctl_state_name(m->state), counts, e->updated, rate, eta);
}

static void add_sample(entry *e, int64_t now_ms) {
  e->sample_ms[e->next_sample] = now_ms;
  e->sample_processed[e->next_sample] = e->processed;
  e->next_sample = (e->next_sample + 1) % RATE_SAMPLES;
  if (e->n_samples < RATE_SAMPLES) e->n_samples++;
}

void tm_ctl_live_follow(tm_ctl_live *l, const char *const *names, size_t n) {
  if (n == 0) return;
  for (size_t i = 0; i < n; i++) find(l, names[i], true);
  l->follow = true;
}

bool tm_ctl_live_stdout_is_terminal(void) {
  const char *term = getenv("TERM");
  return isatty(STDOUT_FILENO) && !(term && strcmp(term, "dumb") == 0);
}

void tm_ctl_live_baseline(tm_ctl_live *l, const tm_ctl_pb_status_response *resp) {
  for (size_t i = 0; i < resp->n_migrations; i++) {
    const tm_ctl_pb_status *m = resp->migrations[i];
    entry *e = find(l, m->name, !l->follow);
    if (!e) continue;
    e->has_base = true;
    e->base_state = m->state;
    free(e->base_run_id);
    e->base_run_id = dup_str(m->run_id);
  }
}

void tm_ctl_live_update(tm_ctl_live *l, const tm_ctl_pb_status_response *resp, int64_t now_ms) {
  l->now_ms = now_ms;
  if (l->mode == TM_CTL_LIVE_TTY) clear_area(l);
  for (size_t i = 0; i < resp->n_migrations; i++) {
    const tm_ctl_pb_status *m = resp->migrations[i];
    entry *e = find(l, m->name, !l->follow);
    if (!e) continue;
    bool running = tm_ctl_state_held(m->state);
    if (e->has_base && !running && (int)m->state == e->base_state &&
        same(m->run_id, e->base_run_id))
      continue;
    e->has_base = false;
    bool waiting =
        m->state == TM_CTL_QUEUED || (m->state == TM_CTL_RUNNING && !tm_ctl_status_started(m));
    int phase = waiting ? PHASE_QUEUED : (int)m->state;
    bool new_run = !e->reported || !same(e->run_id, m->run_id);
    bool changed = new_run || e->phase != phase;
    e->total = m->total;
    e->processed = m->processed;
    e->updated = m->updated;
    free(e->reason);
    e->reason = m->state == TM_CTL_THROTTLED ? dup_str(m->throttle_reason) : NULL;
    if (changed) {
      /* The pace goes on across RUNNING and THROTTLED (waiting is part of it), but starts anew
       * with a new run, out of the queue, or after a pause. */
      if (new_run || !tm_ctl_state_held(e->phase)) e->n_samples = e->next_sample = 0;
      e->reported = true;
      e->phase = phase;
      free(e->run_id);
      e->run_id = dup_str(m->run_id);
      if (l->mode == TM_CTL_LIVE_PLAIN) {
        if (phase != PHASE_QUEUED) emit(l, m, false); /* the line comes when it starts */
        e->last_line_ms = now_ms;
      } else {
        e->live = running;
        if (!running) emit(l, m, false);
      }
    }
    if (running) add_sample(e, now_ms);
    if (l->mode == TM_CTL_LIVE_PLAIN && running && phase != PHASE_QUEUED && !changed &&
        now_ms - e->last_line_ms >= l->progress_ms) {
      emit_progress(l, m, e);
      e->last_line_ms = now_ms;
    }
  }
  if (l->mode == TM_CTL_LIVE_TTY)
    draw_area(l);
  else
    fflush(l->out);
}

void tm_ctl_live_set_idle(tm_ctl_live *l, const char *text, int64_t since_ms) {
  l->idle_text = text;
  l->idle_since_ms = since_ms;
}

void tm_ctl_live_tick(tm_ctl_live *l, int64_t now_ms) {
  if (l->mode != TM_CTL_LIVE_TTY || !l->idle_text) return;
  for (size_t i = 0; i < l->n; i++)
    if (l->entries[i].live) return; /* progress lines change with data, not with time */
  l->now_ms = now_ms;
  clear_area(l);
  draw_area(l);
}

void tm_ctl_live_finish(tm_ctl_live *l, tm_ctl_pb_status *const *statuses, size_t n) {
  if (l->mode == TM_CTL_LIVE_TTY) clear_area(l);
  for (size_t i = 0; i < n; i++) {
    int len = (int)strlen(statuses[i]->name);
    if (len > l->name_width) l->name_width = len;
  }
  for (size_t i = 0; i < n; i++) {
    const tm_ctl_pb_status *m = statuses[i];
    entry *e = find(l, m->name, false);
    if (e) e->live = false;
    bool said = e && e->reported && e->phase == (int)m->state && same(e->run_id, m->run_id);
    if (said && m->n_samples == 0) continue;
    emit(l, m, true);
  }
  fflush(l->out);
}
