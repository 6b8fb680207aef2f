/* A dry run's chain: it claims nothing and writes nothing; each asked migration is planned from
 * the start as a real run would see it, past any that would fail. */
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../store/clock.h"
#include "chain_impl.h"
#include "report.h"
#include "runner.h"

/* Fields of m that an earlier migration of this dry run, on the same collection, would set. */
static uint32_t covered_fields(chain *c, size_t upto) {
  const tm_migration *m = c->items[upto].m;
  uint32_t covered = 0;
  for (size_t j = 0; j < upto; j++) {
    const item *prev = &c->items[j];
    if (prev->st.skipped || prev->st.state != TM_STATE_SUCCEEDED) continue;
    if (strcmp(prev->m->collection, m->collection) != 0) continue;
    for (size_t f = 0; f < m->n_fields; f++) {
      for (size_t g = 0; g < prev->m->n_fields; g++) {
        if (strcmp(m->fields[f].field, prev->m->fields[g].field) == 0) covered |= 1u << f;
      }
    }
  }
  return covered;
}

/* A dry run goes through every asked migration, past a failing one (it writes nothing, so a later
 * one is planned as if the failed one had not run), and plans each from the start: what a real run
 * would change, its final sweep behind the cursor included. */
void tm_chain_run_dry(chain *c) {
  for (size_t i = 0; i < c->n; i++) {
    item *it = &c->items[i];
    if (tm_engine_stopping(c->e) || tm_chain_abandoned(c)) {
      tm_error err;
      tm_error_set(&err, TM_ERR_UNAVAILABLE, "interrupted: service shutting down");
      tm_chain_report(c, TM_ERR_UNAVAILABLE, &err);
      return;
    }
    tm_state_doc s, base;
    tm_error err = {0};
    bool skip = false;
    tm_code code = tm_state_read(c->states, it->m->name, &s, &err);
    if (code == TM_OK) {
      tm_chain_effective_base(&s, &base);
      tm_state_doc_clear(&s);
      if (base.exists && base.state == TM_STATE_SUCCEEDED) {
        code = tm_chain_skip_succeeded(c, it, &skip, &err);
        if (skip) tm_chain_set_status(it, &base, true);
      }
      tm_state_doc_clear(&base);
    }
    if (code != TM_OK && i == 0) {
      tm_chain_report(c, code, &err);
      return;
    }
    if (code != TM_OK || skip) {
      if (code != TM_OK) {
        tm_chain_set_pending(it);
        it->st.state = TM_STATE_FAILED;
        it->st.error = strdup(err.msg);
      }
      it->st.dry_run = true;
      continue;
    }
    tm_chain_set_pending(it);
    tm_runner_params p = {
        .engine = c->e,
        .client = c->client,
        .m = it->m,
        .batch_size = c->batch_size,
        .dry_run = true,
        .covered = covered_fields(c, i),
        .abandoned = &c->abandoned,
    };
    tm_runner_result r;
    int64_t started = tm_clock_wall_ms();
    tm_runner_run(&p, &r, &it->st);
    if (r.outcome == TM_RUN_INTERRUPTED) {
      tm_runner_result_clear(&r);
      tm_chain_report(c, TM_ERR_UNAVAILABLE, &r.err);
      return;
    }
    it->st.state = r.outcome == TM_RUN_SUCCEEDED ? TM_STATE_SUCCEEDED : TM_STATE_FAILED;
    it->st.dry_run = true;
    it->st.swept_drift = it->drift;
    it->st.run_id = strdup(c->run_id);
    it->st.total = r.total;
    it->st.processed = r.processed;
    it->st.updated = r.updated;
    it->st.started_at_ms = started;
    it->st.finished_at_ms = tm_clock_wall_ms();
    if (it->st.state == TM_STATE_FAILED) it->st.error = strdup(r.err.msg);
    tm_log(it->st.state == TM_STATE_FAILED ? TM_LOG_WARN : TM_LOG_INFO, "dry run ended",
           "migration", TM_LOG_STR(it->m->name), "run_id", TM_LOG_STR(c->run_id), "state",
           TM_LOG_STR(tm_state_name(it->st.state)), "total", TM_LOG_INT(r.total), "would_update",
           TM_LOG_INT(r.updated), "duration_ms", TM_LOG_INT(it->st.finished_at_ms - started),
           "error", TM_LOG_STR(it->st.error ? it->st.error : ""), NULL);
    tm_runner_result_clear(&r);
  }
  tm_chain_report(c, TM_OK, NULL);
}
