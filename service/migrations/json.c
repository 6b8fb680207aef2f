/* Extended JSON rendering of cursors and samples, and safe quoting of caller input. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tm_json_canonical_value(const bson_value_t *value) {
  bson_t wrapper = BSON_INITIALIZER;
  BSON_APPEND_VALUE(&wrapper, "v", value);
  size_t len;
  char *json = bson_as_canonical_extended_json(&wrapper, &len);
  bson_destroy(&wrapper);
  /* libbson writes { "v" : VALUE }: keep VALUE. */
  static const char prefix[] = "{ \"v\" : ";
  static const char suffix[] = " }";
  size_t plen = sizeof prefix - 1, slen = sizeof suffix - 1;
  char *out;
  if (json && len >= plen + slen && strncmp(json, prefix, plen) == 0) {
    out = strndup(json + plen, len - plen - slen);
  } else {
    out = strdup(json ? json : "null");
  }
  bson_free(json);
  return out;
}

char *tm_json_relaxed_doc(const bson_t *doc) {
  char *json = bson_as_relaxed_extended_json(doc, NULL);
  char *out = strdup(json ? json : "{}");
  bson_free(json);
  return out;
}

void tm_json_quote_for_message(const char *text, size_t max_bytes, char *out, size_t size) {
  size_t o = 0;
  const unsigned char *p = (const unsigned char *)(text ? text : "");
  size_t i = 0;
  for (; p[i] && i < max_bytes && o + 5 < size; i++) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
      out[o++] = (char)p[i];
    } else {
      o += (size_t)snprintf(out + o, size - o, "\\x%02x", p[i]);
    }
  }
  if (p[i] && o + 4 <= size) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o < size ? o : size - 1] = '\0';
}
