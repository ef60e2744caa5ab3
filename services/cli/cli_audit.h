/* hookrun audit: seal the audit trail's pending events, print the latest seal (to keep a copy
 * outside the database), and verify the chain, recomputing every digest and hash here rather
 * than trusting the database's own functions. Used by the hookrun CLI; blocking. */
#pragma once

#include <stdio.h>

#include <libpq-fe.h>

/* Run "audit seal|head|verify ..." (argv[0] is "audit"): prints to out, problems to err.
 * The process's exit status: 0; 1 when verify finds the chain broken (the first bad block
 * and event printed) or a statement fails; 2 for a usage error. */
int cli_audit_handle(PGconn *conn, int argc, char **argv, FILE *out, FILE *err);
/* The usage of the audit commands. */
void cli_audit_usage(FILE *f);
