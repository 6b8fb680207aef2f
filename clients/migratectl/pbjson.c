/* protobuf-c message -> proto3 JSON. */
#include "pbjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  FILE *out;
  int indent; /* < 0: compact */
} writer;

static void put_newline(writer *w, int depth) {
  if (w->indent < 0) return;
  fputc('\n', w->out);
  for (int i = 0; i < depth * w->indent; i++) fputc(' ', w->out);
}

/* Length of the valid UTF-8 sequence at s (of at most n bytes), or 0 when it is not valid: overlong
 * forms, surrogates and code points above U+10FFFF are invalid too. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  uint32_t cp, min;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, cp = c & 0x1f, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, cp = c & 0x0f, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

/* A JSON string. protobuf-c does not check that strings it decodes are UTF-8: invalid bytes become
 * U+FFFD so the output always parses. */
static void put_string_n(FILE *out, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  fputc('"', out);
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    if (c < 0x80) {
      switch (c) {
      case '"': fputs("\\\"", out); break;
      case '\\': fputs("\\\\", out); break;
      case '\b': fputs("\\b", out); break;
      case '\f': fputs("\\f", out); break;
      case '\n': fputs("\\n", out); break;
      case '\r': fputs("\\r", out); break;
      case '\t': fputs("\\t", out); break;
      default:
        if (c < 0x20)
          fprintf(out, "\\u%04x", c);
        else
          fputc((int)c, out);
      }
      i++;
      continue;
    }
    size_t len = utf8_sequence(s + i, n - i);
    if (len == 0) {
      fputs("\\ufffd", out);
      i++;
    } else {
      fwrite(s + i, 1, len, out);
      i += len;
    }
  }
  fputc('"', out);
}

static void put_string(FILE *out, const char *s) {
  put_string_n(out, s ? s : "", s ? strlen(s) : 0);
}

/* The JSON name protoc derives: underscores dropped, the letter after each one capitalised. */
static void put_key(writer *w, const char *name) {
  fputc('"', w->out);
  bool upper = false;
  for (const char *p = name; *p; p++) {
    if (*p == '_') {
      upper = true;
    } else {
      fputc(upper && *p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p, w->out);
      upper = false;
    }
  }
  fputs(w->indent < 0 ? "\":" : "\": ", w->out);
}

static void put_base64(FILE *out, const ProtobufCBinaryData *b) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  fputc('"', out);
  size_t i = 0;
  for (; i + 2 < b->len; i += 3) {
    uint32_t v = (uint32_t)b->data[i] << 16 | (uint32_t)b->data[i + 1] << 8 | b->data[i + 2];
    fputc(alphabet[v >> 18], out);
    fputc(alphabet[(v >> 12) & 63], out);
    fputc(alphabet[(v >> 6) & 63], out);
    fputc(alphabet[v & 63], out);
  }
  if (b->len - i == 1) {
    uint32_t v = (uint32_t)b->data[i] << 16;
    fprintf(out, "%c%c==", alphabet[v >> 18], alphabet[(v >> 12) & 63]);
  } else if (b->len - i == 2) {
    uint32_t v = (uint32_t)b->data[i] << 16 | (uint32_t)b->data[i + 1] << 8;
    fprintf(out, "%c%c%c=", alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63]);
  }
  fputc('"', out);
}

/* The shortest decimal that reads back as the same value; non-finite values are strings. */
/* The shortest digits that read back as v, laid out as grpcurl (Go's protojson, after
 * encoding/json) lays them out: plain decimals ("50", "0.001") unless |v| < 1e-6 or >= 1e21, then
 * an exponent without zero padding ("1e+300", "1e-7"). */
static void put_floating(FILE *out, double v, bool single) {
  if (isnan(v)) {
    fputs("\"NaN\"", out);
    return;
  }
  if (isinf(v)) {
    fputs(v > 0 ? "\"Infinity\"" : "\"-Infinity\"", out);
    return;
  }
  char buf[400];
  int digits = 1;
  for (; digits < 17; digits++) {
    snprintf(buf, sizeof buf, "%.*e", digits - 1, v);
    double back = strtod(buf, NULL);
    if (single ? (float)back == (float)v : back == v) break;
  }
  snprintf(buf, sizeof buf, "%.*e", digits - 1, v);
  double magnitude = fabs(v);
  if (magnitude != 0 && (magnitude < 1e-6 || magnitude >= 1e21)) {
    /* "1e-07" -> "1e-7": the exponent's padding is C's, not JSON's. */
    char *e = strchr(buf, 'e');
    char *first = e + 2;
    if (first[0] == '0' && first[1] != '\0') memmove(first, first + 1, strlen(first));
    fputs(buf, out);
    return;
  }
  int exponent = atoi(strchr(buf, 'e') + 1);
  int decimals = digits - 1 - exponent;
  fprintf(out, "%.*f", decimals > 0 ? decimals : 0, v);
}

/* ".5", ".500", ".500000" or ".500000000": the fewest of 0, 3, 6 or 9 digits that show nanos. */
static void put_fraction(FILE *out, int32_t nanos) {
  if (nanos == 0) return;
  if (nanos % 1000000 == 0)
    fprintf(out, ".%03d", nanos / 1000000);
  else if (nanos % 1000 == 0)
    fprintf(out, ".%06d", nanos / 1000);
  else
    fprintf(out, ".%09d", nanos);
}

static bool read_seconds_nanos(const ProtobufCMessage *m, int64_t *seconds, int32_t *nanos) {
  const ProtobufCFieldDescriptor *s =
      protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "seconds");
  const ProtobufCFieldDescriptor *n =
      protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "nanos");
  if (!s || !n || s->type != PROTOBUF_C_TYPE_INT64 || n->type != PROTOBUF_C_TYPE_INT32)
    return false;
  memcpy(seconds, (const char *)m + s->offset, sizeof *seconds);
  memcpy(nanos, (const char *)m + n->offset, sizeof *nanos);
  return true;
}

/* RFC 3339 in UTC, as proto3 JSON prints a Timestamp. Values outside years 1..9999 or with nanos
 * out of range are not valid Timestamps: false, and the caller prints the raw fields. */
static bool put_timestamp(FILE *out, const ProtobufCMessage *m) {
  int64_t seconds;
  int32_t nanos;
  if (!read_seconds_nanos(m, &seconds, &nanos)) return false;
  if (seconds < -62135596800LL || seconds > 253402300799LL || nanos < 0 || nanos > 999999999)
    return false;
  time_t t = (time_t)seconds;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) return false;
  fprintf(out, "\"%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
          tm.tm_hour, tm.tm_min, tm.tm_sec);
  put_fraction(out, nanos);
  fputs("Z\"", out);
  return true;
}

/* "1.5s", "-0.25s": seconds and nanos carry the same sign. */
static bool put_duration(FILE *out, const ProtobufCMessage *m) {
  int64_t seconds;
  int32_t nanos;
  if (!read_seconds_nanos(m, &seconds, &nanos)) return false;
  if (nanos <= -1000000000 || nanos >= 1000000000 || (seconds > 0 && nanos < 0) ||
      (seconds < 0 && nanos > 0))
    return false;
  bool negative = seconds < 0 || nanos < 0;
  uint64_t whole = seconds < 0 ? (uint64_t)0 - (uint64_t)seconds : (uint64_t)seconds;
  fprintf(out, "\"%s%" PRIu64, negative ? "-" : "", whole);
  put_fraction(out, nanos < 0 ? -nanos : nanos);
  fputs("s\"", out);
  return true;
}

static void put_message(writer *w, const ProtobufCMessage *m, int depth);

/* Bytes one element of a field of this type takes in protobuf-c's structs. */
static size_t element_size(ProtobufCType type) {
  switch (type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_ENUM: return sizeof(int32_t);
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32: return sizeof(uint32_t);
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64: return sizeof(int64_t);
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64: return sizeof(uint64_t);
  case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
  case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
  case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
  case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
  }
  return 0;
}

/* One value of field f stored at p. memcpy, not casts: the storage is only as aligned as
 * protobuf-c's struct layout promises. */
static void put_value(writer *w, const ProtobufCFieldDescriptor *f, const void *p, int depth) {
  FILE *out = w->out;
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32: {
    int32_t v;
    memcpy(&v, p, sizeof v);
    fprintf(out, "%" PRId32, v);
    break;
  }
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32: {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    fprintf(out, "%" PRIu32, v);
    break;
  }
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64: {
    int64_t v;
    memcpy(&v, p, sizeof v);
    fprintf(out, "\"%" PRId64 "\"", v);
    break;
  }
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64: {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    fprintf(out, "\"%" PRIu64 "\"", v);
    break;
  }
  case PROTOBUF_C_TYPE_FLOAT: {
    float v;
    memcpy(&v, p, sizeof v);
    put_floating(out, v, true);
    break;
  }
  case PROTOBUF_C_TYPE_DOUBLE: {
    double v;
    memcpy(&v, p, sizeof v);
    put_floating(out, v, false);
    break;
  }
  case PROTOBUF_C_TYPE_BOOL: {
    protobuf_c_boolean v;
    memcpy(&v, p, sizeof v);
    fputs(v ? "true" : "false", out);
    break;
  }
  case PROTOBUF_C_TYPE_ENUM: {
    int32_t v;
    memcpy(&v, p, sizeof v);
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
    if (ev)
      put_string(out, ev->name);
    else
      fprintf(out, "%" PRId32, v); /* a value newer than our descriptors: its number */
    break;
  }
  case PROTOBUF_C_TYPE_STRING: {
    const char *v;
    memcpy(&v, p, sizeof v);
    put_string(out, v);
    break;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    ProtobufCBinaryData v;
    memcpy(&v, p, sizeof v);
    put_base64(out, &v);
    break;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *v;
    memcpy(&v, p, sizeof v);
    put_message(w, v, depth);
    break;
  }
  }
}

static bool is_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return false;
  return true;
}

/* Whether f is printed: proto3 JSON omits fields that hold their default value unless the field
 * tracks presence (proto2 optional, proto3 optional, oneof members, messages). */
static bool present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
  const char *base = (const char *)m;
  const void *value = base + f->offset;
  if (f->label == PROTOBUF_C_LABEL_REPEATED) {
    size_t n;
    memcpy(&n, base + f->quantifier_offset, sizeof n);
    return n > 0;
  }
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
    uint32_t which;
    memcpy(&which, base + f->quantifier_offset, sizeof which);
    return which == f->id;
  }
  if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) {
    const char *ptr;
    memcpy(&ptr, value, sizeof ptr);
    if (!ptr) return false;
    if (f->label == PROTOBUF_C_LABEL_NONE)
      return f->type == PROTOBUF_C_TYPE_MESSAGE || ptr[0] != '\0';
    return f->label == PROTOBUF_C_LABEL_REQUIRED || ptr != (const char *)f->default_value;
  }
  if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
    protobuf_c_boolean has;
    memcpy(&has, base + f->quantifier_offset, sizeof has);
    return has;
  }
  if (f->label == PROTOBUF_C_LABEL_REQUIRED) return true;
  if (f->type == PROTOBUF_C_TYPE_BYTES) {
    ProtobufCBinaryData b;
    memcpy(&b, value, sizeof b);
    return b.len > 0;
  }
  return !is_zero(value, element_size(f->type));
}

static void put_field(writer *w, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                      int depth) {
  const char *base = (const char *)m;
  if (f->label != PROTOBUF_C_LABEL_REPEATED) {
    put_value(w, f, base + f->offset, depth);
    return;
  }
  size_t n;
  const char *items;
  memcpy(&n, base + f->quantifier_offset, sizeof n);
  memcpy(&items, base + f->offset, sizeof items);
  size_t size = element_size(f->type);
  fputc('[', w->out);
  for (size_t i = 0; i < n; i++) {
    if (i) fputc(',', w->out);
    put_newline(w, depth + 1);
    put_value(w, f, items + i * size, depth + 1);
  }
  put_newline(w, depth);
  fputc(']', w->out);
}

/* google.protobuf.Int64Value and its kin: JSON has the wrapped value alone, even a zero (the
 * wrapper's presence is what says it was set). */
static bool is_wrapper(const ProtobufCMessageDescriptor *d) {
  static const char *const names[] = {
      "google.protobuf.DoubleValue", "google.protobuf.FloatValue",  "google.protobuf.Int64Value",
      "google.protobuf.UInt64Value", "google.protobuf.Int32Value",  "google.protobuf.UInt32Value",
      "google.protobuf.BoolValue",   "google.protobuf.StringValue", "google.protobuf.BytesValue"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(d->name, names[i]) == 0) return d->n_fields == 1;
  return false;
}

static void put_message(writer *w, const ProtobufCMessage *m, int depth) {
  if (!m) {
    fputs("null", w->out);
    return;
  }
  const ProtobufCMessageDescriptor *d = m->descriptor;
  if (strcmp(d->name, "google.protobuf.Timestamp") == 0 && put_timestamp(w->out, m)) return;
  if (strcmp(d->name, "google.protobuf.Duration") == 0 && put_duration(w->out, m)) return;
  if (is_wrapper(d)) {
    put_value(w, &d->fields[0], (const char *)m + d->fields[0].offset, depth);
    return;
  }
  fputc('{', w->out);
  bool any = false;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (!present(m, f)) continue;
    if (any) fputc(',', w->out);
    any = true;
    put_newline(w, depth + 1);
    put_key(w, f->name);
    put_field(w, m, f, depth + 1);
  }
  if (any) put_newline(w, depth);
  fputc('}', w->out);
}

void tm_ctl_json_print(FILE *out, const ProtobufCMessage *msg, int indent) {
  writer w = {out, indent};
  put_message(&w, msg, 0);
}
