/* The base of a derived username: exactly what JavaScript's
 *   name.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 12)
 * gives for a string name, for every Unicode input; "user" where name is missing, not a string, or
 * the base comes out empty. Pure functions, thread safe, no allocation; time linear in the name and
 * bounded by where the twelfth kept character is found. The oracle is
 * tests/fixtures/usernames/expected.tsv, made by Node.js (generate.js next to it). */
#ifndef TM_USERNAMES_DERIVE_H
#define TM_USERNAMES_DERIVE_H

#include <bson/bson.h>
#include <stddef.h>

#define TM_USERNAME_BASE_MAX 12
/* A base plus a numeric suffix (at most 20 digits) and the terminating NUL. */
#define TM_USERNAME_MAX (TM_USERNAME_BASE_MAX + 20)

/* Writes the JavaScript expression's result for the UTF-8 text (len bytes, NULs included; utf8 may
 * be NULL when len is 0) into out, NUL-terminated, and returns its length, 0..12 (0: empty).
 * Invalid UTF-8 is read as a JavaScript driver decodes it: each invalid sequence becomes U+FFFD,
 * which the expression strips; overlong forms of letters are not letters. */
size_t tm_username_base_of_text(const char *utf8, size_t len, char out[TM_USERNAME_BASE_MAX + 1]);

/* The base for a document's name value (NULL when the field is absent): "user" unless it is a
 * string (BSON_TYPE_UTF8; the deprecated symbol type counts as not a string) whose base is not
 * empty. */
void tm_username_base(const bson_value_t *name, char out[TM_USERNAME_BASE_MAX + 1]);

#endif
