/* hookrun audit: seal the audit trail's pending events, print the latest seal (or POST it,
 * signed, to keep a copy outside the database), and verify the chain, recomputing every digest and
 * hash here rather than trusting the database's own functions. Used by the hookrun CLI; blocking.
 */
#pragma once

#include <stdio.h>

#include <libpq-fe.h>

struct config;

/* Run "audit seal|head|verify ..." (argv[0] is "audit") with configuration c (its
 * audit_head_secret): prints to out, problems to err. The process's exit status: 0; 1 when
 * verify finds the chain broken (the first bad block and event printed), a statement fails
 * or a head sent is refused; 2 for a usage error. */
int cli_audit_handle(PGconn *conn, const struct config *c, int argc, char **argv, FILE *out,
                     FILE *err);
/* The usage of the audit commands. */
void cli_audit_usage(FILE *f);
