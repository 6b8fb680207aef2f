/* gRPC server reflection (grpc.reflection.v1 and v1alpha): turns one serialized
 * ServerReflectionRequest into one serialized ServerReflectionResponse. The bidi stream that
 * carries them belongs to the transport; nothing here knows about gRPC calls.
 *
 * The two protocol versions use the same field names and numbers, so one decoder serves both.
 *
 * The answers come from a serialized FileDescriptorSet (the build embeds one made by
 * `protoc --include_imports`): files are served as the exact bytes protoc wrote, each with its
 * transitive imports. Symbols are indexed as protobuf's own descriptor pool names them: packages
 * (and their parent packages), messages (nested too), fields, oneofs, enums, enum values (scoped as
 * siblings of their enum, as in protobuf), extensions, services and methods.
 *
 * Thread safety: a tm_reflection is immutable once built, so any number of threads may answer at
 * once. */
#ifndef TM_RPC_REFLECTION_H
#define TM_RPC_REFLECTION_H

#include <stddef.h>
#include <stdint.h>

#include "../error.h"

typedef struct tm_reflection tm_reflection;

/* Indexes descriptor_set (a serialized google.protobuf.FileDescriptorSet; borrowed: it must outlive
 * the result, whose answers point into it) and copies the names of the exposed services, which
 * list_services reports in the given order. TM_ERR_INVALID when the set does not decode, a file
 * imports one the set lacks, a name is defined twice, or an exposed service is not in the set. */
tm_code tm_reflection_new(const uint8_t *descriptor_set, size_t len, const char *const *services,
                          size_t n_services, tm_reflection **out, tm_error *err);

/* Answers one request. On TM_OK *response is malloc'ed (the caller frees it) and holds a
 * ServerReflectionResponse that echoes the host and the request. A request that does not decode is
 * TM_ERR_INVALID (the transport should end the stream). A valid request that cannot be answered is
 * answered in the response with error_response and returns TM_OK, so the stream stays open:
 * NOT_FOUND for an unknown file, symbol or extension, INVALID_ARGUMENT when no question is set. */
tm_code tm_reflection_answer(const tm_reflection *r, const uint8_t *request, size_t len,
                             uint8_t **response, size_t *response_len, tm_error *err);

void tm_reflection_destroy(tm_reflection *r);

#endif
