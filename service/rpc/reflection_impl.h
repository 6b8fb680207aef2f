/* The descriptor index that reflection.c builds and reflection_answer.c answers from. Private to
 * the two. */
#ifndef TM_RPC_REFLECTION_IMPL_H
#define TM_RPC_REFLECTION_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "reflection.h"

/* protoc never nests this deep in practice; deeper input is taken as corrupt rather than recursed
 * into without bound. */
#define MAX_NESTING 100

typedef enum {
  SYM_PACKAGE,
  SYM_MESSAGE,
  SYM_FIELD,
  SYM_ONEOF,
  SYM_ENUM,
  SYM_ENUM_VALUE,
  SYM_EXTENSION,
  SYM_SERVICE,
  SYM_METHOD,
} sym_kind;

typedef struct {
  char *name; /* owned; fully qualified, no leading dot */
  size_t file;
  sym_kind kind;
} symbol;

/* One extension field: which message it extends, with which number, and where it is declared. */
typedef struct {
  char *extendee; /* owned; fully qualified, no leading dot */
  int32_t number;
  size_t file;
} extension;

typedef struct {
  char *name;                /* owned */
  ProtobufCBinaryData bytes; /* points into the borrowed descriptor set */
  size_t *deps;              /* owned; indices into files, one per import */
  size_t n_deps;
} file_entry;

typedef struct {
  const char *name; /* the file's own name */
  size_t file;
} file_key;

struct tm_reflection {
  file_entry *files;
  size_t n_files;
  file_key *files_by_name; /* sorted by name */
  symbol *symbols;         /* sorted by name, unique */
  size_t n_symbols, cap_symbols;
  extension *exts; /* sorted by (extendee, number), unique */
  size_t n_exts, cap_exts;
  /* list_services answers from these prebuilt messages; answers only read them. */
  char **service_names;
  Grpc__Reflection__V1__ServiceResponse *service_msgs;
  Grpc__Reflection__V1__ServiceResponse **service_ptrs;
  size_t n_services;
};

/* Lookups in the sorted index: a file by name (*out its index), a symbol by its full name (NULL:
 * none), the first extension of extendee (n_exts: none); oom says the index ran out of memory. */
bool tm_refl_find_file(const tm_reflection *r, const char *name, size_t *out);
const symbol *tm_refl_find_symbol(const tm_reflection *r, const char *name);
size_t tm_refl_first_extension(const tm_reflection *r, const char *extendee);
tm_code tm_refl_oom(tm_error *err);

#endif
