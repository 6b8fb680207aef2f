/* Statuses as the engine reports them: built from state documents, released by their owners. */
#ifndef TM_REPORT_H
#define TM_REPORT_H

#include "../store/state.h"
#include "registry.h"
#include "run_model.h"

/* Fills st (zeroed by this call) for migration m from doc (which may not exist: PENDING). */
void tm_report_from_state(const tm_migration *m, const tm_state_doc *doc, tm_status *st);

/* Sets st's refused documents: count, and the first TM_FAILED_REPORT of list ({_id, error} array;
 * may be NULL). */
void tm_report_failed(tm_status *st, int64_t count, const bson_t *list);

/* A bare PENDING status: what a chain reports for a migration it never reached. */
void tm_report_pending(const tm_migration *m, tm_status *st);

/* Appends a sample (taken: the caller's malloc'd JSON) unless TM_MAX_SAMPLES are there already, in
 * which case it is freed. */
void tm_report_add_sample(tm_status *st, char *json);

/* Frees st's samples (a dry run planning again from the start). */
void tm_report_clear_samples(tm_status *st);

#endif
