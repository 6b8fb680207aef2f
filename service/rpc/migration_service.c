/* MigrationService handlers: decode is done by the transport; here requests become engine calls and
 * engine results become responses. */
#include "migration_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../migrations/registry.h"
#include "convert.h"
#include "server.h"

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
  tm_status_array a = tm_convert_status_list(list);
  Twigz__Migrations__V1__StatusResponse resp = TWIGZ__MIGRATIONS__V1__STATUS_RESPONSE__INIT;
  resp.migrations = a.ptrs;
  resp.n_migrations = list->n;
  tm_call_reply(c, &resp.base);
  tm_status_array_free(a);
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

/* The controls a Run or Tune sets: wrapper fields, unset when absent. */
typedef struct {
  Google__Protobuf__DoubleValue *rate;
  Google__Protobuf__Int64Value *lag, *write, *failed;
} pb_controls;

static tm_controls_change controls_of(const pb_controls *pb) {
  tm_controls_change ch = {0};
  if (pb->rate) ch.rate = true, ch.v.max_docs_per_s = pb->rate->value;
  if (pb->lag) ch.lag = true, ch.v.max_lag_ms = pb->lag->value;
  if (pb->write) ch.write = true, ch.v.max_write_ms = pb->write->value;
  if (pb->failed) ch.failed = true, ch.v.max_failed = pb->failed->value;
  return ch;
}

/* Called by the engine when the chain ends (or, for async, once started). */
static void run_done(void *arg, tm_code code, const tm_error *err, const tm_run_result *result) {
  tm_call *c = arg;
  if (result) tm_call_set_run_id(c, result->run_id);
  if (code != TM_OK) {
    tm_call_fail_error(c, err);
  } else {
    tm_status_array a = tm_convert_status_list(&result->migrations);
    Twigz__Migrations__V1__RunResponse resp = TWIGZ__MIGRATIONS__V1__RUN_RESPONSE__INIT;
    resp.run_id = (char *)result->run_id;
    resp.migrations = a.ptrs;
    resp.n_migrations = result->migrations.n;
    resp.joined = result->joined;
    tm_call_reply(c, &resp.base);
    tm_status_array_free(a);
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
      .controls =
          controls_of(&(pb_controls){req->max_documents_per_second, req->max_replication_lag_ms,
                                     req->max_write_latency_ms, req->max_failed_documents}),
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

/* --- Cancel, Pause, Resume, Tune --- */

/* Replies resp, whose *field is set to st converted (the one status of a Cancel, Pause or Tune
 * answer). */
static void reply_status(tm_call *c, ProtobufCMessage *resp, pb_status **field, tm_status *st) {
  tm_call_set_run_id(c, st->run_id);
  tm_status_box box;
  tm_convert_status(st, &box);
  *field = &box.pb;
  tm_call_reply(c, resp);
  tm_status_clear(st);
}

/* Cancel or Pause name; false (the call failed) unless *st is filled. */
static bool stop(tm_call *c, const char *name, bool pause, tm_status *st) {
  tm_error err;
  tm_caller caller;
  tm_call_caller(c, &caller);
  tm_code code = pause ? tm_engine_pause(tm_call_ctx(c), name, &caller, st, &err)
                       : tm_engine_cancel(tm_call_ctx(c), name, &caller, st, &err);
  if (code != TM_OK) tm_call_fail_error(c, &err);
  return code == TM_OK;
}

static void handle_cancel(tm_call *c, const ProtobufCMessage *request) {
  tm_status st = {0};
  if (!stop(c, ((const Twigz__Migrations__V1__CancelRequest *)request)->name, false, &st)) return;
  Twigz__Migrations__V1__CancelResponse resp = TWIGZ__MIGRATIONS__V1__CANCEL_RESPONSE__INIT;
  reply_status(c, &resp.base, &resp.migration, &st);
}

static void handle_pause(tm_call *c, const ProtobufCMessage *request) {
  tm_status st = {0};
  if (!stop(c, ((const Twigz__Migrations__V1__PauseRequest *)request)->name, true, &st)) return;
  Twigz__Migrations__V1__PauseResponse resp = TWIGZ__MIGRATIONS__V1__PAUSE_RESPONSE__INIT;
  reply_status(c, &resp.base, &resp.migration, &st);
}

static void handle_resume(tm_call *c, const ProtobufCMessage *request) {
  const Twigz__Migrations__V1__ResumeRequest *req = (const void *)request;
  tm_caller caller;
  tm_call_caller(c, &caller);
  tm_status st = {0};
  tm_error err;
  bool withdrawn = false;
  tm_call_ref(c); /* held by the engine until run_done */
  if (tm_engine_resume(tm_call_ctx(c), req->name, &caller, run_done, c, &withdrawn, &st, &err) !=
      TM_OK) {
    tm_call_unref(c);
    tm_call_fail_error(c, &err);
    return;
  }
  if (!withdrawn) return; /* run_done answers */
  tm_run_result result = {.migrations = {.items = &st, .n = 1}};
  snprintf(result.run_id, sizeof result.run_id, "%s", st.run_id ? st.run_id : "");
  run_done(c, TM_OK, NULL, &result); /* takes the reference */
  tm_status_clear(&st);
}

static void handle_tune(tm_call *c, const ProtobufCMessage *request) {
  const Twigz__Migrations__V1__TuneRequest *req = (const void *)request;
  tm_caller caller;
  tm_call_caller(c, &caller);
  tm_controls_change change =
      controls_of(&(pb_controls){req->max_documents_per_second, req->max_replication_lag_ms,
                                 req->max_write_latency_ms, req->max_failed_documents});
  if (req->batch_size) change.batch_size = true, change.v.batch_size = req->batch_size->value;
  tm_status st = {0};
  tm_error err;
  char changes[512];
  if (tm_engine_tune(tm_call_ctx(c), req->name, &change, &caller, &st, changes, sizeof changes,
                     &err) != TM_OK) {
    tm_call_fail_error(c, &err);
    return;
  }
  /* "a -> b; c -> d" as one entry per change. */
  char *list[8];
  size_t n = 0;
  for (char *part = changes, *next; *part && n < 8; part = next) {
    next = strstr(part, "; ");
    if (next) {
      *next = '\0';
      next += 2;
    } else {
      next = part + strlen(part);
    }
    list[n++] = part;
  }
  Twigz__Migrations__V1__TuneResponse resp = TWIGZ__MIGRATIONS__V1__TUNE_RESPONSE__INIT;
  resp.changes = list;
  resp.n_changes = n;
  reply_status(c, &resp.base, &resp.migration, &st);
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
  tm_record_box *boxes = calloc(page.n ? page.n : 1, sizeof *boxes);
  Twigz__Migrations__V1__RunRecord **ptrs = calloc(page.n ? page.n : 1, sizeof *ptrs);
  for (size_t i = 0; i < page.n; i++) {
    tm_convert_record(&page.items[i], &boxes[i]);
    ptrs[i] = &boxes[i].pb;
  }
  Twigz__Migrations__V1__HistoryResponse resp = TWIGZ__MIGRATIONS__V1__HISTORY_RESPONSE__INIT;
  resp.runs = ptrs;
  resp.n_runs = page.n;
  resp.next_page_token = next;
  tm_call_reply(c, &resp.base);
  for (size_t i = 0; i < page.n; i++) tm_record_box_free(&boxes[i]);
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
    {"Pause", handle_pause, TM_LANE_CONTROL, false},
    {"Resume", handle_resume, TM_LANE_CONTROL, false},
    {"Tune", handle_tune, TM_LANE_CONTROL, false},
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
