/* Run history: one document per migration a run worked on (a dry run writes nothing), in
 * "<state collection>_history": who asked, with what arguments and controls, when, how it ended,
 * and the control calls on it (Pause, Resume, Tune, Cancel: who, when, what). The newest `keep`
 * per migration are kept.
 *
 * The collection holds at most keep x migrations documents, so its reads sort without an index. */
#ifndef TM_HISTORY_H
#define TM_HISTORY_H

#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stdint.h>

#include "../caller.h"
#include "../error.h"
#include "controls.h"
#include "state.h"

#define TM_HISTORY_ACTION_MAX 16
#define TM_HISTORY_EVENTS_MAX 100 /* per entry; later calls are not recorded */

/* A Pause, Resume, Tune or Cancel call on a run. */
typedef struct {
  char action[TM_HISTORY_ACTION_MAX]; /* "pause", "resume", "tune", "cancel" */
  tm_caller by;
  int64_t at_ms;
  char *detail; /* Tune: what changed; may be NULL */
} tm_history_event;

typedef struct {
  char *run_id, *migration;
  char **migrations; /* every migration the run was asked for, in order */
  size_t n_migrations;
  bool rerun, async, swept_drift;
  int batch_size;
  tm_caller caller;
  tm_state state;                        /* QUEUED or RUNNING while it runs */
  int64_t started_at_ms, finished_at_ms; /* 0: not yet */
  int64_t total, processed, updated;
  char *error;
  bool canceled;
  tm_caller canceled_by;
  int64_t canceled_at_ms;
  bool has_controls;
  tm_controls controls; /* as the run started */
  tm_history_event *events;
  size_t n_events;
  int64_t failed_count;
  bson_t *failed; /* the first refused documents ({_id, error} array), or NULL */
} tm_history_entry;

void tm_history_entry_clear(tm_history_entry *e);

/* Records a run of e->migration starting (or, with finished_at_ms set, a whole one). */
tm_code tm_history_begin(mongoc_collection_t *history, const tm_history_entry *e, tm_error *err);

/* How run_id's work on a migration ended (or paused). */
typedef struct {
  tm_state state;
  const char *error;
  int64_t total, processed, updated, finished_at_ms;
  bool only_if_held; /* an entry that ended already is left as it is */
  int64_t failed_count;
  const bson_t *failed; /* may be NULL */
} tm_history_outcome;

tm_code tm_history_end(mongoc_collection_t *history, const char *run_id, const char *migration,
                       const tm_history_outcome *o, tm_error *err);

/* A PAUSED entry runs again (Resume). */
tm_code tm_history_resume(mongoc_collection_t *history, const char *run_id, const char *migration,
                          tm_error *err);

/* Appends a control call to the entry (up to TM_HISTORY_EVENTS_MAX). */
tm_code tm_history_event_add(mongoc_collection_t *history, const char *run_id,
                             const char *migration, const tm_history_event *ev, tm_error *err);

/* Who asked to cancel run_id's work on migration (the first asker is kept). */
tm_code tm_history_cancel(mongoc_collection_t *history, const char *run_id, const char *migration,
                          const tm_caller *by, int64_t at_ms, tm_error *err);

/* Deletes all but the newest keep entries of migration. */
tm_code tm_history_trim(mongoc_collection_t *history, const char *migration, int keep,
                        tm_error *err);

/* A page of entries, newest first: of migration (NULL: every one), after the position page_token
 * names ("" or NULL: from the newest). *next receives the token of the next page, or "" at the end
 * (size TM_HISTORY_TOKEN_MAX). TM_ERR_INVALID for a token this did not make. */
#define TM_HISTORY_TOKEN_MAX 128
typedef struct {
  tm_history_entry *items;
  size_t n;
} tm_history_page;

tm_code tm_history_list(mongoc_collection_t *history, const char *migration, const char *page_token,
                        int page_size, tm_history_page *out, char *next, tm_error *err);
void tm_history_page_clear(tm_history_page *page);

#endif
