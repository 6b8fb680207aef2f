/* A connection outage mid-run: the engine reads and writes through a proxy that drops every
 * connection once; the run retries (reopening its cursor after the last _id done) and completes. */
#include <unistd.h>

#include "../support/proxy.h"
#include "engine_support.h"

Test(engine_outage, a_run_survives_every_connection_dropping_mid_run) {
  testdb t;
  testdb_open(&t, "engo");
  insert_many_fmt(&t, "customers", 300, "{\"_id\": %d}");
  tm_test_proxy *px = tm_test_proxy_start();
  tm_store *through = tm_test_proxy_store(px, tm_store_database(t.store));
  tm_engine *e = new_engine(through, "test-a", 30000);
  const char *names[] = {"addPrivacyToCustomers", NULL};
  outcome o;
  start_run(e, &(tm_run_request){.names = names, .n_names = 1, .batch_size = 1}, &o);
  /* Replies held 2 ms: the run takes several seconds, however fast the server. */
  tm_test_proxy_delay(px, 2);
  while (count_where(&t, "customers", "{\"isPrivate\": true}") < 20) usleep(5000);
  tm_test_proxy_cut(px);
  cr_assert_lt(count_where(&t, "customers", "{\"isPrivate\": true}"), 300, "cut mid-run");
  outcome_wait(&o);
  cr_assert_eq(o.code, TM_OK, "%s", o.err);
  const tm_status *st = status_of(&o, "addPrivacyToCustomers");
  cr_assert_eq(st->state, TM_STATE_SUCCEEDED, "%s", st->error ? st->error : "");
  cr_assert_eq(count_where(&t, "customers", "{\"isPrivate\": true}"), 300);
  outcome_clear(&o);
  tm_engine_destroy(e);
  tm_store_destroy(through);
  tm_test_proxy_stop(px);
  testdb_close(&t);
}
