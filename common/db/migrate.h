/* Schema migrations: migrations/NNNN_*.sql files applied in order in one transaction under
 * an advisory lock and recorded with their SHA-256 in hookrun.schema_migrations.
 * Used by `hookrun migrate` and tests; blocks (it runs on a blocking connection). */
#pragma once

#include <stddef.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "xalloc.h"

struct migration {
	char *version;     /* "0002" */
	char *name;        /* "0002_create_deliveries.sql" */
	char *sql;         /* file contents */
	char checksum[65]; /* lowercase hex SHA-256 of the contents */
};

struct migrate_report {
	size_t applied;     /* applied by this run */
	size_t already;     /* found applied with a matching checksum */
	size_t unknown;     /* recorded in the database but absent from the directory */
	char *last_version; /* newest version now applied, or NULL; owned */
};

/* Read every NNNN_name.sql in dir, sorted by version; duplicate versions are an error. */
int migrate_load_dir(const char *dir, struct migration **ret, size_t *ret_n,
                     char **ret_error) _warn_unused_result_;
void migrate_list_free(struct migration *list, size_t n);
/* Whether a file name has the NNNN_description.sql shape. */
int migrate_parse_name(const char *name, char **ret_version) _warn_unused_result_;
/* Apply pending migrations; refuses (-EBADMSG) when an applied file's checksum changed. */
int migrate_apply(PGconn *conn, const struct migration *list, size_t n, struct migrate_report *rep,
                  char **ret_error) _warn_unused_result_;
/* Print applied and pending migrations without changing anything. */
int migrate_status(PGconn *conn, const struct migration *list, size_t n, FILE *out,
                   char **ret_error) _warn_unused_result_;
void migrate_report_fini(struct migrate_report *rep);
