/* UTF-8 that stays valid: what the service writes into a log line or a gRPC status message comes
 * partly from clients and stored documents, and a byte sequence cut in the middle of a character
 * (or never valid) makes grpcio log "Invalid encoding" and JSON-lines readers refuse the line. */
#ifndef TM_UTIL_UTF8_H
#define TM_UTIL_UTF8_H

#include <stddef.h>

/* Length (1 to 4) of the well-formed UTF-8 character at p, reading at most avail bytes; 0 when the
 * bytes there are not one (a stray continuation byte, an overlong form, a surrogate, a code point
 * past U+10FFFF, or a character cut short). */
size_t tm_utf8_char_len(const char *p, size_t avail);

/* The longest prefix of s, at most max bytes, that does not end inside a character. */
size_t tm_utf8_cut(const char *s, size_t max);

/* Copies s into out (size bytes, always terminated): each byte that is not part of a well-formed
 * character becomes the four characters "\xHH", and the copy is cut on a character boundary. */
void tm_utf8_sanitize(const char *s, char *out, size_t size);

#endif
