/* Flags and environment variables: defaults, precedence, and errors that name the culprit. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define ARGV(...) ((char *[]){"twigz-migrations", __VA_ARGS__, NULL})
#define ARGC(argv) ((int)(sizeof(argv) / sizeof(argv[0])) - 1)

static void clean_env(void) {
  unsetenv("TWIGZ_LISTEN");
  unsetenv("MONGODB_URI");
  unsetenv("MONGODB_DATABASE");
  unsetenv("TWIGZ_THREADS");
  unsetenv("TWIGZ_AUTH_TOKEN");
}

TestSuite(config, .init = clean_env);

Test(config, defaults_match_the_documentation) {
  tm_config cfg;
  tm_error err;
  char *argv[] = {"twigz-migrations", NULL};
  cr_assert_eq(tm_config_parse(&cfg, 1, argv, &err), TM_OK);
  cr_assert_str_eq(cfg.listen, "0.0.0.0:50051");
  cr_assert_str_eq(cfg.mongodb_uri, "mongodb://127.0.0.1:27017");
  cr_assert_str_eq(cfg.database, "twigz");
  cr_assert_str_eq(cfg.state_collection, "_migrations");
  cr_assert_eq(cfg.lease_seconds, 30);
  cr_assert_eq(cfg.batch_size, 500);
  cr_assert_gt(cfg.threads, 0);
  cr_assert_null(cfg.auth_token);
}

Test(config, the_flag_wins_over_the_environment) {
  setenv("TWIGZ_LISTEN", "127.0.0.1:1", 1);
  setenv("MONGODB_DATABASE", "fromenv", 1);
  tm_config cfg;
  tm_error err;
  char **argv = ARGV("--listen", "127.0.0.1:2");
  cr_assert_eq(tm_config_parse(&cfg, 3, argv, &err), TM_OK);
  cr_assert_str_eq(cfg.listen, "127.0.0.1:2");
  cr_assert_str_eq(cfg.database, "fromenv");
}

Test(config, equals_form_is_accepted) {
  tm_config cfg;
  tm_error err;
  char **argv = ARGV("--threads=3");
  cr_assert_eq(tm_config_parse(&cfg, 2, argv, &err), TM_OK);
  cr_assert_eq(cfg.threads, 3);
}

Test(config, an_unknown_flag_is_named) {
  tm_config cfg;
  tm_error err;
  char **argv = ARGV("--bogus");
  cr_assert_eq(tm_config_parse(&cfg, 2, argv, &err), TM_ERR_INVALID);
  cr_assert(strstr(err.msg, "--bogus"), "%s", err.msg);
}

Test(config, an_integer_out_of_range_is_named_with_its_bounds) {
  tm_config cfg;
  tm_error err;
  char **argv = ARGV("--batch-size", "10001");
  cr_assert_eq(tm_config_parse(&cfg, 3, argv, &err), TM_ERR_INVALID);
  cr_assert(strstr(err.msg, "--batch-size") && strstr(err.msg, "10000"), "%s", err.msg);
}

Test(config, a_bad_environment_value_names_the_variable) {
  setenv("TWIGZ_THREADS", "many", 1);
  tm_config cfg;
  tm_error err;
  char *argv[] = {"twigz-migrations", NULL};
  cr_assert_eq(tm_config_parse(&cfg, 1, argv, &err), TM_ERR_INVALID);
  cr_assert(strstr(err.msg, "TWIGZ_THREADS"), "%s", err.msg);
}

Test(config, a_missing_value_is_reported) {
  tm_config cfg;
  tm_error err;
  char **argv = ARGV("--listen");
  cr_assert_eq(tm_config_parse(&cfg, 2, argv, &err), TM_ERR_INVALID);
  cr_assert(strstr(err.msg, "--listen needs a value"), "%s", err.msg);
}
