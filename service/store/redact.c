/* Redaction of MongoDB URIs: every credential a URI can carry becomes "***" before the URI reaches
 * a log line, an error or a metric.
 *
 * The userinfo ends at the last '@' before the first '/' after the scheme, as libmongoc parses it,
 * so a password holding raw '?', ':' or '@' is covered whole; under MONGODB-AWS the user name (an
 * access key id) goes too. Redacting too much is harmless; too
 * little leaks, so a URI the driver would refuse is still redacted as far as it can be read. */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "store.h"

/* Appends n bytes of s to out, keeping it terminated; *len counts what fits. */
static void put(char *out, size_t size, size_t *len, const char *s, size_t n) {
  if (*len + 1 >= size) return;
  size_t room = size - 1 - *len;
  if (n > room) n = room;
  memcpy(out + *len, s, n);
  *len += n;
  out[*len] = '\0';
}

static bool contains_word(const char *name, size_t n, const char *word) {
  size_t w = strlen(word);
  for (size_t i = 0; i + w <= n; i++) {
    if (strncasecmp(name + i, word, w) == 0) return true;
  }
  return false;
}

/* Options whose value is a secret: tlsCertificateKeyFilePassword (and its ssl* alias),
 * authMechanismProperties (AWS_SESSION_TOKEN:...), and any whose name says password, secret or
 * token. */
static bool secret_option(const char *name, size_t n) {
  return contains_word(name, n, "password") || contains_word(name, n, "secret") ||
         contains_word(name, n, "token") || contains_word(name, n, "authMechanismProperties");
}

/* Copies the query string q ("a=1&b=2", ';' also separates), secret values replaced. */
static void redact_options(const char *q, char *out, size_t size, size_t *len) {
  while (*q) {
    size_t item = strcspn(q, "&;");
    const char *eq = memchr(q, '=', item);
    if (eq && secret_option(q, (size_t)(eq - q))) {
      put(out, size, len, q, (size_t)(eq + 1 - q));
      put(out, size, len, "***", 3);
    } else {
      put(out, size, len, q, item);
    }
    q += item;
    if (*q) put(out, size, len, q++, 1);
  }
}

void tm_store_redact_uri(const char *uri, char *out, size_t size) {
  size_t len = 0;
  if (size == 0) return;
  out[0] = '\0';
  const char *scheme = strstr(uri, "://");
  const char *auth = scheme ? scheme + 3 : uri;
  const char *slash = strchr(auth, '/');
  const char *auth_end = slash ? slash : auth + strlen(auth);
  const char *at = NULL;
  for (const char *p = auth; p < auth_end; p++) {
    if (*p == '@') at = p;
  }
  const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
  const char *from = uri; /* what is copied as it is next */
  /* Under MONGODB-AWS the user name is an AWS access key id: half of the credential. */
  bool aws = at && strcasestr(at, "MONGODB-AWS");
  if (aws) {
    put(out, size, &len, uri, (size_t)(auth - uri));
    put(out, size, &len, colon ? "***:***" : "***", colon ? 7 : 3);
    from = at;
  } else if (colon) {
    put(out, size, &len, uri, (size_t)(colon + 1 - uri));
    put(out, size, &len, "***", 3);
    from = at;
  }
  /* Without a '/', options may still follow a '?' in the authority. */
  const char *query = strchr(from, '?');
  if (!query) query = from + strlen(from);
  put(out, size, &len, from, (size_t)(query - from));
  if (*query) {
    put(out, size, &len, "?", 1);
    redact_options(query + 1, out, size, &len);
  }
}
