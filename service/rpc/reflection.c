/* gRPC server reflection: building the descriptor index and looking names up in it. */
#include "reflection.h"

#include <grpc/status.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"

#include "reflection_impl.h"

tm_code tm_refl_oom(tm_error *err) {
  return tm_error_set(err, TM_ERR_RESOURCE, "reflection: out of memory");
}

/* ---------- splitting the set ---------- */

static bool read_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (*pos >= len) return false;
    uint8_t b = p[(*pos)++];
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

/* Finds each FileDescriptorSet.file (field 1) as a slice of the original bytes: serving exactly
 * what protoc wrote keeps whatever fields this protobuf-c's descriptor.proto does not know. */
static tm_code split_set(tm_reflection *r, const uint8_t *set, size_t len, tm_error *err) {
  size_t pos = 0, cap = 0;
  while (pos < len) {
    uint64_t key, n;
    if (!read_varint(set, len, &pos, &key)) goto bad;
    uint64_t field = key >> 3;
    unsigned wire = (unsigned)(key & 7);
    if (field == 0 || (field == 1 && wire != 2)) goto bad;
    switch (wire) {
    case 0:
      if (!read_varint(set, len, &pos, &n)) goto bad;
      break;
    case 1:
      if (len - pos < 8) goto bad;
      pos += 8;
      break;
    case 5:
      if (len - pos < 4) goto bad;
      pos += 4;
      break;
    case 2:
      if (!read_varint(set, len, &pos, &n) || n > len - pos) goto bad;
      if (field == 1) {
        if (r->n_files == cap) {
          size_t ncap = cap ? cap * 2 : 8;
          file_entry *nf = realloc(r->files, ncap * sizeof *nf);
          if (!nf) return tm_refl_oom(err);
          r->files = nf;
          cap = ncap;
        }
        /* protobuf-c's bytes type is not const; answers only read through it. */
        r->files[r->n_files++] =
            (file_entry){.bytes = {.len = (size_t)n, .data = (uint8_t *)set + pos}};
      }
      pos += (size_t)n;
      break;
    default: goto bad;
    }
  }
  return TM_OK;
bad:
  return tm_error_set(err, TM_ERR_INVALID,
                      "reflection: the descriptor set is not a FileDescriptorSet (bad bytes at "
                      "offset %zu)",
                      pos);
}

/* ---------- indexing symbols ---------- */

typedef struct {
  tm_reflection *r;
  size_t file;
  const char *file_name;
  tm_error *err;
} builder;

/* "scope.name", or "name" at the top level; malloc'ed, NULL when out of memory. */
static char *join(const char *scope, const char *name) {
  size_t sl = strlen(scope), nl = strlen(name);
  char *s = malloc(sl + 1 + nl + 1);
  if (!s) return NULL;
  if (sl) {
    memcpy(s, scope, sl);
    s[sl++] = '.';
  }
  memcpy(s + sl, name, nl + 1);
  return s;
}

static tm_code need_name(const builder *b, const char *name, const char *what, const char *scope) {
  if (name && *name) return TM_OK;
  return tm_error_set(b->err, TM_ERR_INVALID, "reflection: %s: a %s in \"%s\" has no name",
                      b->file_name, what, scope);
}

/* Takes ownership of name (which may be NULL after a failed join, reported as out of memory). The
 * string stays where it is when the array grows, so callers may keep using it as a scope. */
static tm_code add_symbol(builder *b, char *name, sym_kind kind) {
  tm_reflection *r = b->r;
  if (!name) return tm_refl_oom(b->err);
  if (r->n_symbols == r->cap_symbols) {
    size_t ncap = r->cap_symbols ? r->cap_symbols * 2 : 64;
    symbol *ns = realloc(r->symbols, ncap * sizeof *ns);
    if (!ns) {
      free(name);
      return tm_refl_oom(b->err);
    }
    r->symbols = ns;
    r->cap_symbols = ncap;
  }
  r->symbols[r->n_symbols++] = (symbol){.name = name, .file = b->file, .kind = kind};
  return TM_OK;
}

static tm_code add_enum(builder *b, const char *scope,
                        const Google__Protobuf__EnumDescriptorProto *e) {
  tm_code rc = need_name(b, e->name, "enum", scope);
  if (rc == TM_OK) rc = add_symbol(b, join(scope, e->name), SYM_ENUM);
  /* Enum values live beside their enum, not inside it (C++ scoping rules). */
  for (size_t i = 0; rc == TM_OK && i < e->n_value; i++) {
    rc = need_name(b, e->value[i]->name, "enum value", scope);
    if (rc == TM_OK) rc = add_symbol(b, join(scope, e->value[i]->name), SYM_ENUM_VALUE);
  }
  return rc;
}

static tm_code add_extension(builder *b, const char *scope,
                             const Google__Protobuf__FieldDescriptorProto *f) {
  tm_reflection *r = b->r;
  tm_code rc = need_name(b, f->name, "extension", scope);
  if (rc == TM_OK) rc = add_symbol(b, join(scope, f->name), SYM_EXTENSION);
  if (rc != TM_OK) return rc;
  if (!f->extendee || !*f->extendee || !f->has_number)
    return tm_error_set(b->err, TM_ERR_INVALID,
                        "reflection: %s: extension %s.%s names no extendee or number", b->file_name,
                        scope, f->name);
  if (r->n_exts == r->cap_exts) {
    size_t ncap = r->cap_exts ? r->cap_exts * 2 : 8;
    extension *ne = realloc(r->exts, ncap * sizeof *ne);
    if (!ne) return tm_refl_oom(b->err);
    r->exts = ne;
    r->cap_exts = ncap;
  }
  /* protoc writes resolved type names as ".pkg.Msg"; requests name them without the dot. */
  const char *extendee = f->extendee[0] == '.' ? f->extendee + 1 : f->extendee;
  char *copy = strdup(extendee);
  if (!copy) return tm_refl_oom(b->err);
  r->exts[r->n_exts++] = (extension){.extendee = copy, .number = f->number, .file = b->file};
  return TM_OK;
}

static tm_code add_message(builder *b, const char *scope,
                           const Google__Protobuf__DescriptorProto *m, int depth) {
  if (depth > MAX_NESTING)
    return tm_error_set(b->err, TM_ERR_INVALID, "reflection: %s: messages nest deeper than %d",
                        b->file_name, MAX_NESTING);
  tm_code rc = need_name(b, m->name, "message", scope);
  if (rc != TM_OK) return rc;
  char *full = join(scope, m->name);
  rc = add_symbol(b, full, SYM_MESSAGE); /* full now belongs to the index and stays valid */
  for (size_t i = 0; rc == TM_OK && i < m->n_field; i++) {
    rc = need_name(b, m->field[i]->name, "field", full);
    if (rc == TM_OK) rc = add_symbol(b, join(full, m->field[i]->name), SYM_FIELD);
  }
  for (size_t i = 0; rc == TM_OK && i < m->n_oneof_decl; i++) {
    rc = need_name(b, m->oneof_decl[i]->name, "oneof", full);
    if (rc == TM_OK) rc = add_symbol(b, join(full, m->oneof_decl[i]->name), SYM_ONEOF);
  }
  for (size_t i = 0; rc == TM_OK && i < m->n_extension; i++)
    rc = add_extension(b, full, m->extension[i]);
  for (size_t i = 0; rc == TM_OK && i < m->n_nested_type; i++)
    rc = add_message(b, full, m->nested_type[i], depth + 1);
  for (size_t i = 0; rc == TM_OK && i < m->n_enum_type; i++)
    rc = add_enum(b, full, m->enum_type[i]);
  return rc;
}

static tm_code add_service(builder *b, const char *scope,
                           const Google__Protobuf__ServiceDescriptorProto *s) {
  tm_code rc = need_name(b, s->name, "service", scope);
  if (rc != TM_OK) return rc;
  char *full = join(scope, s->name);
  rc = add_symbol(b, full, SYM_SERVICE);
  for (size_t i = 0; rc == TM_OK && i < s->n_method; i++) {
    rc = need_name(b, s->method[i]->name, "method", full);
    if (rc == TM_OK) rc = add_symbol(b, join(full, s->method[i]->name), SYM_METHOD);
  }
  return rc;
}

/* A package and each of its parents ("a", "a.b", "a.b.c") are symbols, as in protobuf's pool. */
static tm_code add_package(builder *b, const char *package) {
  tm_code rc = TM_OK;
  for (size_t i = 0; rc == TM_OK; i++) {
    if (package[i] != '.' && package[i] != '\0') continue;
    if (i > 0) rc = add_symbol(b, strndup(package, i), SYM_PACKAGE);
    if (package[i] == '\0') break;
  }
  return rc;
}

static tm_code index_file(builder *b, const Google__Protobuf__FileDescriptorProto *f) {
  const char *pkg = f->package ? f->package : "";
  tm_code rc = *pkg ? add_package(b, pkg) : TM_OK;
  for (size_t i = 0; rc == TM_OK && i < f->n_message_type; i++)
    rc = add_message(b, pkg, f->message_type[i], 0);
  for (size_t i = 0; rc == TM_OK && i < f->n_enum_type; i++) rc = add_enum(b, pkg, f->enum_type[i]);
  for (size_t i = 0; rc == TM_OK && i < f->n_service; i++) rc = add_service(b, pkg, f->service[i]);
  for (size_t i = 0; rc == TM_OK && i < f->n_extension; i++)
    rc = add_extension(b, pkg, f->extension[i]);
  return rc;
}

/* ---------- sorting and lookups ---------- */

static int cmp_symbol(const void *a, const void *b) {
  const symbol *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if (c) return c;
  return (x->file > y->file) - (x->file < y->file);
}

static int cmp_extension(const void *a, const void *b) {
  const extension *x = a, *y = b;
  int c = strcmp(x->extendee, y->extendee);
  if (c) return c;
  return (x->number > y->number) - (x->number < y->number);
}

static int cmp_file_key(const void *a, const void *b) {
  return strcmp(((const file_key *)a)->name, ((const file_key *)b)->name);
}

const symbol *tm_refl_find_symbol(const tm_reflection *r, const char *name) {
  size_t lo = 0, hi = r->n_symbols;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(r->symbols[mid].name, name);
    if (c == 0) return &r->symbols[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

bool tm_refl_find_file(const tm_reflection *r, const char *name, size_t *out) {
  size_t lo = 0, hi = r->n_files;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(r->files_by_name[mid].name, name);
    if (c == 0) {
      *out = r->files_by_name[mid].file;
      return true;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

/* The first extension of extendee in sort order (n_exts when there is none). */
size_t tm_refl_first_extension(const tm_reflection *r, const char *extendee) {
  size_t lo = 0, hi = r->n_exts;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(r->exts[mid].extendee, extendee) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Sorts the symbols and drops repeated packages (files share them; the first file keeps it). Any
 * other repeated name means the set is inconsistent. */
static tm_code finish_symbols(tm_reflection *r, tm_error *err) {
  if (r->n_symbols > 1) qsort(r->symbols, r->n_symbols, sizeof *r->symbols, cmp_symbol);
  size_t kept = 0;
  for (size_t i = 0; i < r->n_symbols; i++) {
    symbol *s = &r->symbols[i];
    if (kept > 0 && strcmp(r->symbols[kept - 1].name, s->name) == 0) {
      const symbol *prev = &r->symbols[kept - 1];
      if (prev->kind != SYM_PACKAGE || s->kind != SYM_PACKAGE) {
        tm_error_set(err, TM_ERR_INVALID, "reflection: \"%s\" is defined twice (in %s and %s)",
                     s->name, r->files[prev->file].name, r->files[s->file].name);
        /* The tail from i on is still owned by the array: keep it for destroy to free. */
        memmove(&r->symbols[kept], &r->symbols[i], (r->n_symbols - i) * sizeof *s);
        r->n_symbols = kept + (r->n_symbols - i);
        return TM_ERR_INVALID;
      }
      free(s->name);
      continue;
    }
    r->symbols[kept++] = *s;
  }
  r->n_symbols = kept;

  if (r->n_exts > 1) qsort(r->exts, r->n_exts, sizeof *r->exts, cmp_extension);
  for (size_t i = 1; i < r->n_exts; i++)
    if (cmp_extension(&r->exts[i - 1], &r->exts[i]) == 0)
      return tm_error_set(err, TM_ERR_INVALID, "reflection: %s has extension %d twice (%s and %s)",
                          r->exts[i].extendee, (int)r->exts[i].number,
                          r->files[r->exts[i - 1].file].name, r->files[r->exts[i].file].name);
  return TM_OK;
}

static tm_code finish_files(tm_reflection *r, Google__Protobuf__FileDescriptorProto **protos,
                            tm_error *err) {
  r->files_by_name = malloc((r->n_files ? r->n_files : 1) * sizeof *r->files_by_name);
  if (!r->files_by_name) return tm_refl_oom(err);
  for (size_t i = 0; i < r->n_files; i++)
    r->files_by_name[i] = (file_key){.name = r->files[i].name, .file = i};
  if (r->n_files > 1) qsort(r->files_by_name, r->n_files, sizeof *r->files_by_name, cmp_file_key);
  for (size_t i = 1; i < r->n_files; i++)
    if (strcmp(r->files_by_name[i - 1].name, r->files_by_name[i].name) == 0)
      return tm_error_set(err, TM_ERR_INVALID, "reflection: the set holds %s twice",
                          r->files_by_name[i].name);

  for (size_t i = 0; i < r->n_files; i++) {
    const Google__Protobuf__FileDescriptorProto *p = protos[i];
    if (p->n_dependency == 0) continue;
    r->files[i].deps = malloc(p->n_dependency * sizeof *r->files[i].deps);
    if (!r->files[i].deps) return tm_refl_oom(err);
    for (size_t d = 0; d < p->n_dependency; d++) {
      const char *dep = p->dependency[d] ? p->dependency[d] : "";
      if (!tm_refl_find_file(r, dep, &r->files[i].deps[d]))
        return tm_error_set(err, TM_ERR_INVALID,
                            "reflection: %s imports \"%s\", which the set lacks (was it made with "
                            "--include_imports?)",
                            r->files[i].name, dep);
      r->files[i].n_deps = d + 1;
    }
  }
  return TM_OK;
}

static tm_code set_services(tm_reflection *r, const char *const *services, size_t n,
                            tm_error *err) {
  size_t cap = n ? n : 1;
  r->service_names = calloc(cap, sizeof *r->service_names);
  r->service_msgs = calloc(cap, sizeof *r->service_msgs);
  r->service_ptrs = calloc(cap, sizeof *r->service_ptrs);
  if (!r->service_names || !r->service_msgs || !r->service_ptrs) return tm_refl_oom(err);
  for (size_t i = 0; i < n; i++) {
    const char *name = services[i];
    if (!name)
      return tm_error_set(err, TM_ERR_INVALID, "reflection: exposed service %zu is NULL", i);
    const symbol *s = tm_refl_find_symbol(r, name);
    if (!s || s->kind != SYM_SERVICE)
      return tm_error_set(err, TM_ERR_INVALID,
                          "reflection: exposed service \"%s\" is not in the descriptor set", name);
    for (size_t j = 0; j < i; j++)
      if (strcmp(r->service_names[j], name) == 0)
        return tm_error_set(err, TM_ERR_INVALID,
                            "reflection: exposed service \"%s\" is listed twice", name);
    r->service_names[i] = strdup(name);
    if (!r->service_names[i]) return tm_refl_oom(err);
    r->n_services = i + 1;
    r->service_msgs[i] =
        (Grpc__Reflection__V1__ServiceResponse)GRPC__REFLECTION__V1__SERVICE_RESPONSE__INIT;
    r->service_msgs[i].name = r->service_names[i];
    r->service_ptrs[i] = &r->service_msgs[i];
  }
  return TM_OK;
}

static tm_code build(tm_reflection *r, const uint8_t *set, size_t len, const char *const *services,
                     size_t n_services, tm_error *err) {
  tm_code rc = split_set(r, set, len, err);
  if (rc != TM_OK) return rc;
  /* Each file is decoded once for its names and imports; only the slices outlive construction. */
  Google__Protobuf__FileDescriptorProto **protos =
      calloc(r->n_files ? r->n_files : 1, sizeof *protos);
  if (!protos) return tm_refl_oom(err);
  for (size_t i = 0; rc == TM_OK && i < r->n_files; i++) {
    protos[i] = google__protobuf__file_descriptor_proto__unpack(NULL, r->files[i].bytes.len,
                                                                r->files[i].bytes.data);
    if (!protos[i]) {
      rc = tm_error_set(err, TM_ERR_INVALID,
                        "reflection: file %zu of the descriptor set is not a FileDescriptorProto",
                        i);
      break;
    }
    if (!protos[i]->name || !*protos[i]->name) {
      rc = tm_error_set(err, TM_ERR_INVALID,
                        "reflection: file %zu of the descriptor set has no name", i);
      break;
    }
    r->files[i].name = strdup(protos[i]->name);
    if (!r->files[i].name) {
      rc = tm_refl_oom(err);
      break;
    }
    builder b = {.r = r, .file = i, .file_name = r->files[i].name, .err = err};
    rc = index_file(&b, protos[i]);
  }
  if (rc == TM_OK) rc = finish_files(r, protos, err);
  if (rc == TM_OK) rc = finish_symbols(r, err);
  if (rc == TM_OK) rc = set_services(r, services, n_services, err);
  for (size_t i = 0; i < r->n_files; i++)
    if (protos[i]) google__protobuf__file_descriptor_proto__free_unpacked(protos[i], NULL);
  free(protos);
  return rc;
}

tm_code tm_reflection_new(const uint8_t *descriptor_set, size_t len, const char *const *services,
                          size_t n_services, tm_reflection **out, tm_error *err) {
  if (!out) return tm_error_set(err, TM_ERR_INVALID, "reflection: no place for the result");
  *out = NULL;
  if ((!descriptor_set && len > 0) || (!services && n_services > 0))
    return tm_error_set(err, TM_ERR_INVALID, "reflection: NULL descriptor set or service list");
  tm_reflection *r = calloc(1, sizeof *r);
  if (!r) return tm_refl_oom(err);
  tm_code rc = build(r, descriptor_set, len, services, n_services, err);
  if (rc != TM_OK) {
    tm_reflection_destroy(r);
    return rc;
  }
  tm_log(TM_LOG_DEBUG, "reflection indexed", "files", TM_LOG_INT(r->n_files), "symbols",
         TM_LOG_INT(r->n_symbols), "extensions", TM_LOG_INT(r->n_exts), "services",
         TM_LOG_INT(r->n_services), NULL);
  *out = r;
  return TM_OK;
}

void tm_reflection_destroy(tm_reflection *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n_files; i++) {
    free(r->files[i].name);
    free(r->files[i].deps);
  }
  free(r->files);
  free(r->files_by_name);
  for (size_t i = 0; i < r->n_symbols; i++) free(r->symbols[i].name);
  free(r->symbols);
  for (size_t i = 0; i < r->n_exts; i++) free(r->exts[i].extendee);
  free(r->exts);
  for (size_t i = 0; i < r->n_services; i++) free(r->service_names[i]);
  free(r->service_names);
  free(r->service_msgs);
  free(r->service_ptrs);
  free(r);
}
