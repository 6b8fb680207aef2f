/* A proto3 JSON printer for any protobuf-c message, driven by its descriptors alone (the same
 * mapping grpcurl and the official libraries use): lowerCamelCase field names, 64-bit integers as
 * strings, enums by name, bytes as base64, google.protobuf.Timestamp and Duration as strings, the
 * wrapper types (Int64Value...) as their bare value, and fields holding their default value
 * omitted.
 *
 * Not handled specially (printed as ordinary messages): map fields (protobuf-c keeps no trace of
 * them in its descriptors), Any and Struct/Value. None is in our contract. */
#ifndef TM_CTL_PBJSON_H
#define TM_CTL_PBJSON_H

#include <protobuf-c/protobuf-c.h>
#include <stdio.h>

/* indent < 0: the whole message on one line (JSON Lines); otherwise pretty-printed with indent
 * spaces per level. No trailing newline. */
void tm_ctl_json_print(FILE *out, const ProtobufCMessage *msg, int indent);

#endif
