/* The registry of migrations: what each one backfills, in the order they run.
 *
 * Adding a constant backfill is one entry in registry.c; a derived value is one function (see
 * usernames/derive.h). List, validation of names and the engine all read this table; nothing else
 * does. */
#ifndef TM_REGISTRY_H
#define TM_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

/* What counts as "missing" for a field: the documents a migration still has to touch. */
typedef enum {
  TM_MISSING_ABSENT, /* the field is absent (BSON undefined counts as absent too) */
  TM_MISSING_FALSY,  /* absent, undefined, null, "", false or a numeric zero */
} tm_missing_rule;

typedef struct {
  const char *field;
  const char *default_json; /* JSON text of a constant default; NULL when derived */
  const char *derived_from; /* the field a derived value comes from; NULL for constants */
  tm_missing_rule missing;
} tm_field;

typedef enum {
  TM_DERIVE_NONE,     /* every field is a constant */
  TM_DERIVE_USERNAME, /* username from name, unique through the by_username index */
} tm_derive_kind;

typedef struct {
  const char *name;
  const char *collection;
  const char *description;
  const tm_field *fields;
  size_t n_fields;
  tm_derive_kind derive;
} tm_migration;

size_t tm_registry_count(void);
/* The i-th migration in registry order; i < tm_registry_count(). */
const tm_migration *tm_registry_at(size_t i);
/* Where m, a migration of this registry, stands in registry order. */
size_t tm_registry_index(const tm_migration *m);
/* The migration with this exact name, or NULL. */
const tm_migration *tm_registry_find(const char *name);
/* Writes "a, b, c, d" (every name, registry order) into buf; for error messages. */
void tm_registry_names(char *buf, size_t size);

#endif
