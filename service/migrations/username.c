#include "username.h"

#include <string.h>

size_t tm_username_base_of_text(const char *utf8, size_t len, char out[TM_USERNAME_BASE_MAX + 1]) {
  size_t n = 0;
  for (size_t i = 0; i < len && n < TM_USERNAME_BASE_MAX; i++) {
    unsigned char c = (unsigned char)utf8[i];
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out[n++] = (char)c;
  }
  out[n] = '\0';
  return n;
}

void tm_username_base(const bson_value_t *name, char out[TM_USERNAME_BASE_MAX + 1]) {
  if (name && name->value_type == BSON_TYPE_UTF8 &&
      tm_username_base_of_text(name->value.v_utf8.str, name->value.v_utf8.len, out) > 0)
    return;
  memcpy(out, "user", 5);
}
