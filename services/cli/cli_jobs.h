/* hookrun jobs: reading jobs straight from PostgreSQL (the HTTP jobs API and the full CLI
 * over it come later). Used by the hookrun CLI; blocking. */
#pragma once

#include <stdio.h>

#include <libpq-fe.h>

/* Print job id (a UUID) with its counts, timings and up to ten failed items to out.
 * 0; -ENOENT when there is no such job; -EINVAL for an id that is not a UUID; -EIO after
 * printing the database's error to err. */
int cli_jobs_show(PGconn *conn, const char *id, FILE *out, FILE *err);
