/* Bearer-token authentication of MigrationService calls.
 *
 * Tokens are compared in constant time. The scheme must be exactly "Bearer" (RFC 6750 spells it so;
 * refusing other casings keeps one unambiguous form). Health and reflection stay open: the server
 * decides which methods call this. */
#ifndef TM_RPC_AUTH_H
#define TM_RPC_AUTH_H

#include <grpc/grpc.h>
#include <stdbool.h>

/* True when md holds "authorization: Bearer <token>" with exactly this token. */
bool tm_auth_check(const grpc_metadata_array *md, const char *token);

/* The token a file or an environment variable holds: its first line with surrounding whitespace
 * trimmed, so both sources read alike. NULL when that is empty or blank. The caller frees it. */
char *tm_auth_token_from_text(const char *text);

/* tm_auth_token_from_text of a file's contents; NULL with *unreadable set when the file cannot be
 * read, NULL with it clear when it holds no token. The caller frees the result. */
char *tm_auth_read_token_file(const char *path, bool *unreadable);

#endif
