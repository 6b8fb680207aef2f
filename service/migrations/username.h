/* The base of a derived username: exactly what JavaScript's
 *   name.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 12)
 * gives for a string name, for every Unicode input; "user" where name is missing, not a string, or
 * the base comes out empty. Pure functions, thread safe. */
#ifndef TM_USERNAME_H
#define TM_USERNAME_H

#include <bson/bson.h>
#include <stddef.h>

#define TM_USERNAME_BASE_MAX 12
/* A base plus a numeric suffix (at most 20 digits) and the terminating NUL. */
#define TM_USERNAME_MAX (TM_USERNAME_BASE_MAX + 20)

/* Writes the JavaScript expression's result for the UTF-8 text (len bytes; invalid sequences are
 * treated as JavaScript treats U+FFFD) into out and returns its length, 0..12 (0: empty). */
size_t tm_username_base_of_text(const char *utf8, size_t len, char out[TM_USERNAME_BASE_MAX + 1]);

/* The base for a document's name value (NULL when the field is absent): "user" unless it is a
 * string whose base is not empty. */
void tm_username_base(const bson_value_t *name, char out[TM_USERNAME_BASE_MAX + 1]);

#endif
