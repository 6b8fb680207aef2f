/* Extended JSON as the engine reports it: canonical for cursors (exact type round trip), relaxed
 * for samples (readable: {"_id": {"$oid": "..."}, "status": "pending"}). */
#ifndef TM_JSON_H
#define TM_JSON_H

#include <bson/bson.h>
#include <stddef.h>

/* Canonical extended JSON of one value, e.g. {"$oid": "..."} or {"$numberInt": "5"}; malloc'd,
 * the caller frees it. */
char *tm_json_canonical_value(const bson_value_t *value);

/* Relaxed extended JSON of a document; malloc'd, the caller frees it. */
char *tm_json_relaxed_doc(const bson_t *doc);

/* Copies text into out (size > 4) for quoting in a message: at most max_bytes of it, with bytes
 * outside printable ASCII written as \xNN, and "..." when cut. Input from callers never reaches
 * messages or logs raw or unbounded. */
void tm_json_quote_for_message(const char *text, size_t max_bytes, char *out, size_t size);

#endif
