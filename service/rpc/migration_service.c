/* MigrationService handlers: decode is done by the transport; here requests become engine calls and
 * engine results become responses. */
#include "migration_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../migrations/registry.h"
#include "server.h"
#include "twigz/migrations/v1/migration_service.pb-c.h"

typedef Twigz__Migrations__V1__MigrationStatus pb_status;

/* --- tm_status -> MigrationStatus --- */

/* Storage for one converted status; the pb_status points into it and into the tm_status. */
typedef struct {
  pb_status pb;
  Google__Protobuf__Timestamp started, finished;
} status_box;

/* The last millisecond of 9999-12-31, the end of the range a Timestamp may hold. */
#define TIMESTAMP_MAX_MS 253402300799999LL

/* A Timestamp before 1970 is valid protobuf but refused by grpcurl and Python, one after 9999 is
 * invalid everywhere, and a state document holding either was written by something else: clamp
 * it and say so. */
static void set_time(Google__Protobuf__Timestamp *ts, int64_t ms, const char *migration,
                     const char *field) {
  google__protobuf__timestamp__init(ts);
  if (ms < 0 || ms > TIMESTAMP_MAX_MS) {
    tm_log(TM_LOG_WARN, "time out of range in a state document, clamped to 1970..9999", "migration",
           TM_LOG_STR(migration), "field", TM_LOG_STR(field), "ms", TM_LOG_INT(ms), NULL);
    ms = ms < 0 ? 0 : TIMESTAMP_MAX_MS;
  }
  ts->seconds = ms / 1000;
  ts->nanos = (int32_t)(ms % 1000) * 1000000;
}

static char empty[] = "";

/* Borrows every string from st: keep st alive until the response is serialised. */
static void convert_status(const tm_status *st, status_box *box) {
  pb_status *pb = &box->pb;
  twigz__migrations__v1__migration_status__init(pb);
  pb->name = (char *)st->name;
  pb->state = (Twigz__Migrations__V1__MigrationState)st->state;
  pb->run_id = st->run_id ? st->run_id : empty;
  pb->total = st->total;
  pb->processed = st->processed;
  pb->updated = st->updated;
  pb->pending = st->has_pending ? st->pending : 0;
  pb->cursor = st->cursor ? st->cursor : empty;
  if (st->started_at_ms) {
    set_time(&box->started, st->started_at_ms, st->name, "startedAt");
    pb->started_at = &box->started;
  }
  if (st->finished_at_ms) {
    set_time(&box->finished, st->finished_at_ms, st->name, "finishedAt");
    pb->finished_at = &box->finished;
  }
  pb->error = st->error ? st->error : empty;
  pb->skipped = st->skipped;
  pb->dry_run = st->dry_run;
  pb->drifted = st->drifted;
  pb->swept_drift = st->swept_drift;
  pb->n_samples = st->n_samples;
  pb->samples = (char **)st->samples;
  pb->owner = st->owner ? st->owner : empty;
}

/* An array of converted statuses for a repeated field; free with free(). */
typedef struct {
  status_box *boxes;
  pb_status **ptrs;
} status_array;

static status_array convert_list(const tm_status_list *list) {
  status_array a = {calloc(list->n + 1, sizeof *a.boxes), calloc(list->n + 1, sizeof *a.ptrs)};
  for (size_t i = 0; i < list->n; i++) {
    convert_status(&list->items[i], &a.boxes[i]);
    a.ptrs[i] = &a.boxes[i].pb;
  }
  return a;
}

static void free_array(status_array a) {
  free(a.boxes);
  free(a.ptrs);
}

/* --- List --- */

static void handle_list(tm_call *c, const ProtobufCMessage *request) {
  (void)request;
  size_t n = tm_registry_count();
  Twigz__Migrations__V1__Migration migrations[n], *mptrs[n];
  size_t n_fields = 0;
  for (size_t i = 0; i < n; i++) n_fields += tm_registry_at(i)->n_fields;
  Twigz__Migrations__V1__FieldBackfill fields[n_fields], *fptrs[n_fields];

  size_t f = 0;
  for (size_t i = 0; i < n; i++) {
    const tm_migration *m = tm_registry_at(i);
    Twigz__Migrations__V1__Migration *pm = &migrations[i];
    twigz__migrations__v1__migration__init(pm);
    pm->name = (char *)m->name;
    pm->table = (char *)m->collection;
    pm->description = (char *)m->description;
    pm->fields = &fptrs[f];
    pm->n_fields = m->n_fields;
    for (size_t j = 0; j < m->n_fields; j++, f++) {
      twigz__migrations__v1__field_backfill__init(&fields[f]);
      fields[f].field = (char *)m->fields[j].field;
      fields[f].default_value =
          (char *)(m->fields[j].default_json ? m->fields[j].default_json : "");
      fields[f].derived_from = (char *)(m->fields[j].derived_from ? m->fields[j].derived_from : "");
      fptrs[f] = &fields[f];
    }
    mptrs[i] = pm;
  }
  Twigz__Migrations__V1__ListResponse resp = TWIGZ__MIGRATIONS__V1__LIST_RESPONSE__INIT;
  resp.migrations = mptrs;
  resp.n_migrations = n;
  tm_call_reply(c, &resp.base);
}

/* --- Status --- */

static void reply_statuses(tm_call *c, const tm_status_list *list) {
  status_array a = convert_list(list);
  Twigz__Migrations__V1__StatusResponse resp = TWIGZ__MIGRATIONS__V1__STATUS_RESPONSE__INIT;
  resp.migrations = a.ptrs;
  resp.n_migrations = list->n;
  tm_call_reply(c, &resp.base);
  free_array(a);
}

/* The engine's answer to a Status without pending counts, on its state-reads thread. */
static void status_answered(void *arg, tm_code code, const tm_error *err, tm_status_list *list) {
  tm_call *c = arg;
  if (code == TM_OK) {
    reply_statuses(c, list);
  } else {
    tm_call_fail_error(c, err);
  }
  tm_call_unref(c);
}

/* Status with live pending counts: they scan collections, so this runs on the bounded reads lane.
 * A caller gone by then costs nothing, and the server stops each count at the caller's deadline. */
static void status_with_pending(void *arg) {
  tm_call *c = arg;
  const Twigz__Migrations__V1__StatusRequest *req = (const void *)c->request;
  if (atomic_load(&c->cancelled)) {
    tm_call_unref(c);
    return;
  }
  tm_status_list list = {0};
  tm_error err;
  if (tm_engine_status(tm_call_ctx(c), (const char *const *)req->names, req->n_names, true,
                       tm_call_remaining_ms(c), &list, &err) == TM_OK) {
    reply_statuses(c, &list);
  } else {
    tm_call_fail_error(c, &err);
  }
  tm_status_list_clear(&list);
  tm_call_unref(c);
}

/* On a completion-queue thread: without pending counts the call waits for the shared state read
 * holding no thread at all. */
static void handle_status(tm_call *c, const ProtobufCMessage *request) {
  const Twigz__Migrations__V1__StatusRequest *req = (const void *)request;
  tm_call_ref(c);
  if (req->include_pending) {
    tm_call_watch_close(c, NULL);
    if (!tm_server_defer(c->server, TM_LANE_READS, status_with_pending, c)) {
      tm_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
                   "too many Status calls with pending counts are queued on this replica; retry "
                   "in a few seconds, or ask without includePending");
      tm_call_unref(c);
    }
    return;
  }
  tm_error err;
  if (tm_engine_status_async(tm_call_ctx(c), (const char *const *)req->names, req->n_names,
                             status_answered, c, &err) != TM_OK) {
    tm_call_fail_error(c, &err);
    tm_call_unref(c);
  }
}

/* --- Run --- */

/* Called by the engine when the chain ends (or, for async, once started). */
static void run_done(void *arg, tm_code code, const tm_error *err, const tm_run_result *result) {
  tm_call *c = arg;
  if (result) tm_call_set_run_id(c, result->run_id);
  if (code != TM_OK) {
    tm_call_fail_error(c, err);
  } else {
    status_array a = convert_list(&result->migrations);
    Twigz__Migrations__V1__RunResponse resp = TWIGZ__MIGRATIONS__V1__RUN_RESPONSE__INIT;
    resp.run_id = (char *)result->run_id;
    resp.migrations = a.ptrs;
    resp.n_migrations = result->migrations.n;
    resp.joined = result->joined;
    tm_call_reply(c, &resp.base);
    free_array(a);
  }
  tm_call_unref(c); /* the engine's reference */
}

static void run_caller_left(tm_call *c) { tm_engine_run_leave(tm_call_ctx(c), c); }

static void handle_run(tm_call *c, const ProtobufCMessage *request) {
  const Twigz__Migrations__V1__RunRequest *req = (const void *)request;
  tm_caller caller;
  tm_call_caller(c, &caller);
  tm_run_request run = {
      .caller = &caller,
      .names = (const char *const *)req->names,
      .n_names = req->n_names,
      .dry_run = req->dry_run,
      .batch_size = req->batch_size,
      .rerun = req->rerun,
      .async = req->async,
  };
  /* A caller that gives up (deadline, cancel) is answered and let go at once, not when the run
   * ends. Watched first: the run may answer before tm_engine_run returns. */
  tm_call_watch_close(c, run_caller_left);
  tm_error err;
  tm_call_ref(c); /* held by the engine until run_done */
  if (tm_engine_run(tm_call_ctx(c), &run, run_done, c, &err) != TM_OK) {
    tm_call_unref(c);
    tm_call_fail_error(c, &err);
    return;
  }
  /* Gone before the engine knew of it (a deadline already passed): run_caller_left found nothing.
   */
  if (atomic_load(&c->cancelled)) tm_engine_run_leave(tm_call_ctx(c), c);
}

/* --- Cancel --- */

static void handle_cancel(tm_call *c, const ProtobufCMessage *request) {
  const Twigz__Migrations__V1__CancelRequest *req = (const void *)request;
  tm_status st = {0};
  tm_error err;
  tm_caller caller;
  tm_call_caller(c, &caller);
  if (tm_engine_cancel(tm_call_ctx(c), req->name, &caller, &st, &err) != TM_OK) {
    tm_call_fail_error(c, &err);
    return;
  }
  tm_call_set_run_id(c, st.run_id);
  status_box box;
  convert_status(&st, &box);
  Twigz__Migrations__V1__CancelResponse resp = TWIGZ__MIGRATIONS__V1__CANCEL_RESPONSE__INIT;
  resp.migration = &box.pb;
  tm_call_reply(c, &resp.base);
  tm_status_clear(&st);
}

/* --- History --- */

/* Storage for one converted entry; the record points into it and into the entry. */
typedef struct {
  Twigz__Migrations__V1__RunRecord pb;
  Twigz__Migrations__V1__Caller caller, canceled_by;
  Google__Protobuf__Timestamp started, finished, canceled;
} record_box;

static void convert_caller(const tm_caller *from, Twigz__Migrations__V1__Caller *to) {
  twigz__migrations__v1__caller__init(to);
  to->peer = (char *)from->peer;
  to->identity = (char *)from->identity;
  to->user_agent = (char *)from->user_agent;
}

static void convert_record(const tm_history_entry *e, record_box *box) {
  Twigz__Migrations__V1__RunRecord *pb = &box->pb;
  twigz__migrations__v1__run_record__init(pb);
  pb->run_id = e->run_id;
  pb->migration = e->migration;
  pb->state = (Twigz__Migrations__V1__MigrationState)e->state;
  pb->migrations = e->migrations;
  pb->n_migrations = e->n_migrations;
  pb->rerun = e->rerun;
  pb->async = e->async;
  pb->batch_size = e->batch_size;
  convert_caller(&e->caller, &box->caller);
  pb->caller = &box->caller;
  set_time(&box->started, e->started_at_ms, e->migration, "history startedAt");
  pb->started_at = &box->started;
  if (e->finished_at_ms) {
    set_time(&box->finished, e->finished_at_ms, e->migration, "history finishedAt");
    pb->finished_at = &box->finished;
  }
  pb->total = e->total;
  pb->processed = e->processed;
  pb->updated = e->updated;
  pb->error = e->error ? e->error : empty;
  pb->swept_drift = e->swept_drift;
  if (e->canceled) {
    convert_caller(&e->canceled_by, &box->canceled_by);
    pb->canceled_by = &box->canceled_by;
    set_time(&box->canceled, e->canceled_at_ms, e->migration, "history canceledAt");
    pb->canceled_at = &box->canceled;
  }
}

static void handle_history(tm_call *c, const ProtobufCMessage *request) {
  const Twigz__Migrations__V1__HistoryRequest *req = (const void *)request;
  tm_history_page page;
  char next[TM_HISTORY_TOKEN_MAX];
  tm_error err;
  if (tm_engine_history(tm_call_ctx(c), req->name, req->page_token, req->page_size, &page, next,
                        &err) != TM_OK) {
    tm_call_fail_error(c, &err);
    return;
  }
  record_box *boxes = calloc(page.n ? page.n : 1, sizeof *boxes);
  Twigz__Migrations__V1__RunRecord **ptrs = calloc(page.n ? page.n : 1, sizeof *ptrs);
  for (size_t i = 0; i < page.n; i++) {
    convert_record(&page.items[i], &boxes[i]);
    ptrs[i] = &boxes[i].pb;
  }
  Twigz__Migrations__V1__HistoryResponse resp = TWIGZ__MIGRATIONS__V1__HISTORY_RESPONSE__INIT;
  resp.runs = ptrs;
  resp.n_runs = page.n;
  resp.next_page_token = next;
  tm_call_reply(c, &resp.base);
  free(ptrs);
  free(boxes);
  tm_history_page_clear(&page);
}

/* --- the method table --- */

static const struct {
  const char *name;
  tm_request_fn handler;
  tm_lane lane;
  bool quiet; /* polled reads: a log line per call would bury the runs (metrics count them) */
} handlers[] = {
    {"Run", handle_run, TM_LANE_HANDLERS, false},
    {"Status", handle_status, TM_LANE_INLINE, true}, /* defers what blocks */
    {"List", handle_list, TM_LANE_INLINE, true},
    {"Cancel", handle_cancel, TM_LANE_CONTROL, false},
    {"History", handle_history, TM_LANE_READS, true},
};

size_t tm_migration_service_methods(tm_engine *engine, tm_method *out, size_t max) {
  static char paths[TM_MIGRATION_SERVICE_MAX_METHODS][128];
  const ProtobufCServiceDescriptor *svc = &twigz__migrations__v1__migration_service__descriptor;
  size_t n = 0;
  for (unsigned i = 0; i < svc->n_methods && n < max && n < TM_MIGRATION_SERVICE_MAX_METHODS; i++) {
    const ProtobufCMethodDescriptor *md = &svc->methods[i];
    for (size_t h = 0; h < sizeof handlers / sizeof handlers[0]; h++) {
      if (strcmp(handlers[h].name, md->name) != 0) continue;
      snprintf(paths[n], sizeof paths[n], "/%s/%s", svc->name, md->name);
      out[n++] = (tm_method){
          .path = paths[n - 1],
          .service = svc->name,
          .name = md->name,
          .kind = TM_METHOD_UNARY,
          .needs_auth = true,
          .lane = handlers[h].lane,
          .quiet = handlers[h].quiet,
          .input = md->input,
          .on_request = handlers[h].handler,
          .ctx = engine,
      };
    }
  }
  return n;
}
