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

Test(redact, a_password_holding_a_raw_question_mark_is_covered_whole) {
  expect("mongodb://user:SECRET?pw4@host/", "mongodb://user:***@host/");
}
Test(redact, a_password_holding_a_colon_is_covered_whole) {
  expect("mongodb://user:SEC:RET@host/db", "mongodb://user:***@host/db");
}
Test(redact, the_key_file_password_option_is_redacted) {
  expect("mongodb://h/?tls=true&tlsCertificateKeyFilePassword=SECRET&appname=x",
         "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=***&appname=x");
}
Test(redact, auth_mechanism_properties_are_redacted) {
  expect(
      "mongodb://AKIA:SECRET@h/?authMechanism=MONGODB-AWS&authMechanismProperties="
      "AWS_SESSION_TOKEN:SECRET",
      "mongodb://***:***@h/?authMechanism=MONGODB-AWS&authMechanismProperties=***");
}
Test(redact, any_option_named_like_a_secret_is_redacted_whatever_its_case) {
  expect("mongodb://h/?SSLCLIENTCERTIFICATEKEYPASSWORD=SECRET;x_Secret=SECRET&myToken=SECRET",
         "mongodb://h/?SSLCLIENTCERTIFICATEKEYPASSWORD=***;x_Secret=***&myToken=***");
}
Test(redact, options_without_a_slash_before_them_are_redacted_too) {
  expect("mongodb://h?tlsCertificateKeyFilePassword=SECRET",
         "mongodb://h?tlsCertificateKeyFilePassword=***");
}
Test(redact, a_uri_longer_than_the_buffer_is_cut_without_leaking) {
  char out[24];
  tm_store_redact_uri("mongodb://user:SECRETSECRETSECRET@host/", out, sizeof out);
  cr_assert_null(strstr(out, "SECRET"), "%s", out);
}
