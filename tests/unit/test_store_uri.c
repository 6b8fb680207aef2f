/* Passwords in MongoDB URIs never survive redaction. */
#include <criterion/criterion.h>

#include <mongoc/mongoc.h>

#include "store/store.h"

static void expect(const char *uri, const char *want) {
  char out[256];
  tm_store_redact_uri(uri, out, sizeof out);
  cr_assert_str_eq(out, want);
}

Test(redact, a_password_is_replaced) {
  expect("mongodb://admin:hunter2@db:27017/x?authSource=admin",
         "mongodb://admin:***@db:27017/x?authSource=admin");
}
Test(redact, an_at_sign_inside_the_password_is_covered) {
  expect("mongodb://u:p@ss@h/", "mongodb://u:***@h/");
}
Test(redact, srv_uris_are_redacted_too) {
  expect("mongodb+srv://u:pw@cluster.example/", "mongodb+srv://u:***@cluster.example/");
}
Test(redact, a_uri_without_credentials_is_unchanged) {
  expect("mongodb://h1:1,h2:2/?replicaSet=rs", "mongodb://h1:1,h2:2/?replicaSet=rs");
}
Test(redact, a_user_without_password_is_unchanged) {
  expect("mongodb://user@h/", "mongodb://user@h/");
}
Test(redact, an_at_sign_in_the_query_is_not_mistaken_for_credentials) {
  expect("mongodb://h/?appname=a:b@c", "mongodb://h/?appname=a:b@c");
}

Test(store, a_malformed_uri_is_invalid_without_echoing_it) {
  tm_store *s = NULL;
  tm_error err;
  cr_assert_eq(tm_store_new("mongodb://u:topsecret@/bad", "db", &s, &err), TM_ERR_INVALID);
  cr_assert_null(strstr(err.msg, "topsecret"), "%s", err.msg);
}

/* The socket timeout a pool's clients get: the service's hour unless the URI says otherwise. */
static int32_t socket_timeout_of(const char *uri) {
  mongoc_init();
  tm_store *s = NULL;
  tm_error err;
  cr_assert_eq(tm_store_new(uri, "db", &s, &err), TM_OK, "%s", err.msg);
  mongoc_client_t *client = tm_store_pop(s);
  int32_t ms =
      mongoc_uri_get_option_as_int32(mongoc_client_get_uri(client), MONGOC_URI_SOCKETTIMEOUTMS, -1);
  tm_store_push(s, client);
  tm_store_destroy(s);
  return ms;
}

Test(store, long_server_operations_get_an_hour_before_the_socket_gives_up) {
  cr_assert_eq(socket_timeout_of("mongodb://127.0.0.1:1/"), 3600000);
}
Test(store, a_socket_timeout_in_the_uri_is_kept) {
  cr_assert_eq(socket_timeout_of("mongodb://127.0.0.1:1/?socketTimeoutMS=1234"), 1234);
}
