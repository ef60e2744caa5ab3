/* hookrun tokens: bearer tokens of the jobs API, created, listed and revoked straight in
 * PostgreSQL (the first token cannot come from the API it opens). Used by the hookrun CLI;
 * blocking. */
#pragma once

#include <stdio.h>

#include <libpq-fe.h>

/* Run "tokens create|list|revoke ..." (argv[0] is "tokens"): prints to out, problems to err.
 * The process's exit status: 0, or 1 with the reason printed (2 for a usage error). */
int cli_tokens_handle(PGconn *conn, int argc, char **argv, FILE *out, FILE *err);
/* The usage of the tokens commands. */
void cli_tokens_usage(FILE *f);
