/* Schema migrations applied in one transaction under an advisory lock. */
#include "migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "db.h"

/* Advisory lock key: "hookrun" read as a number; any fixed value shared by all runners. */
#define MIGRATE_LOCK_KEY "7526707281930"

static const char migrate_bootstrap_sql[] = "CREATE SCHEMA IF NOT EXISTS hookrun;"
                                            "CREATE TABLE IF NOT EXISTS hookrun.schema_migrations ("
                                            "  version    text PRIMARY KEY,"
                                            "  name       text NOT NULL,"
                                            "  checksum   text NOT NULL,"
                                            "  applied_at timestamptz NOT NULL DEFAULT now())";

/* Whether a file name has the NNNN_description.sql shape; returns the version. */
int migrate_parse_name(const char *name, char **ret_version)
{
	size_t len = strlen(name), digits = 0;

	while (isdigit((unsigned char)name[digits]))
		digits++;
	if (digits != 4 || name[4] != '_' || len < 4 + 1 + 1 + 4 ||
	    strcmp(name + len - 4, ".sql") != 0)
		return -EINVAL;
	for (const char *p = name + 5; p < name + len - 4; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
			return -EINVAL;
	*ret_version = xstrndup(name, 4);
	return 0;
}

/* Read a whole file into a new NUL-terminated string. */
static int migrate_read_file(const char *path, char **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return -errno;
	do {
		if (len + 4096 + 1 > cap)
			buf = xrealloc(buf, cap = (cap ? cap * 2 : 8192));
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf = buf ? buf : xmalloc(1);
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* Order migrations by version. */
static int migrate_cmp(const void *a, const void *b)
{
	return strcmp(((const struct migration *)a)->version,
	              ((const struct migration *)b)->version);
}

/* Read every NNNN_name.sql in dir, sorted by version. */
int migrate_load_dir(const char *dir, struct migration **ret, size_t *ret_n, char **ret_error)
{
	DIR *d = opendir(dir);
	struct migration *list = NULL;
	size_t n = 0;
	struct dirent *de;
	int r = 0;

	if (!d) {
		*ret_error =
		    xasprintf("cannot open migrations directory %s: %s", dir, strerror(errno));
		return -ENOENT;
	}
	while ((de = readdir(d))) {
		char *version = NULL;
		if (de->d_name[0] == '.' || migrate_parse_name(de->d_name, &version) < 0)
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
		struct migration m = {.version = version, .name = xstrdup(de->d_name)};
		size_t len = 0;
		r = migrate_read_file(path, &m.sql, &len);
		list = xreallocarray(list, n + 1, sizeof(*list));
		list[n++] = m;
		if (r < 0) {
			*ret_error = xasprintf("cannot read %s: %s", path, strerror(-r));
			goto out;
		}
		r = crypto_sha256_hex(m.sql, len, list[n - 1].checksum);
		if (r < 0) {
			*ret_error = xasprintf("cannot checksum %s: %s", path, strerror(-r));
			goto out;
		}
	}
	if (n > 1)
		qsort(list, n, sizeof(*list), migrate_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(list[i].version, list[i - 1].version) == 0) {
			*ret_error = xasprintf("two migrations share version %s: %s and %s",
			                       list[i].version, list[i - 1].name, list[i].name);
			r = -EEXIST;
			goto out;
		}
out:
	closedir(d);
	if (r < 0) {
		migrate_list_free(list, n);
		return r;
	}
	*ret = list;
	*ret_n = n;
	return 0;
}

/* Free a list from migrate_load_dir. */
void migrate_list_free(struct migration *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i].version);
		free(list[i].name);
		free(list[i].sql);
	}
	free(list);
}

/* Free what a report owns. */
void migrate_report_fini(struct migrate_report *rep)
{
	free(rep->last_version);
	rep->last_version = NULL;
}

/* Find a recorded version's row in the schema_migrations result, or -1. */
static int migrate_find_row(const PGresult *res, const char *version)
{
	for (int i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 0), version) == 0)
			return i;
	return -1;
}

/* Check recorded checksums against the files; count unknown versions. */
static int migrate_verify(const PGresult *applied, const struct migration *list, size_t n,
                          struct migrate_report *rep, char **ret_error)
{
	for (size_t i = 0; i < n; i++) {
		int row = migrate_find_row(applied, list[i].version);
		if (row < 0)
			continue;
		const char *sum = PQgetvalue(applied, row, 2);
		if (strcmp(sum, list[i].checksum) != 0) {
			*ret_error = xasprintf(
			    "migration %s was applied with checksum %.12s but the file now has "
			    "%.12s: applied migrations must not change; add a new migration "
			    "instead",
			    list[i].name, sum, list[i].checksum);
			return -EBADMSG;
		}
		rep->already++;
	}
	for (int row = 0; row < PQntuples(applied); row++) {
		bool known = false;
		for (size_t i = 0; i < n && !known; i++)
			known = strcmp(PQgetvalue(applied, row, 0), list[i].version) == 0;
		rep->unknown += !known;
	}
	return 0;
}

/* Run one pending migration and record it. */
static int migrate_apply_one(PGconn *conn, const struct migration *m, char **ret_error)
{
	const char *params[] = {m->version, m->name, m->checksum};
	_cleanup_free_ char *err = NULL;
	PGresult *res = NULL;
	int r;

	r = db_exec(conn, m->sql, &err);
	if (r < 0) {
		*ret_error = xasprintf("migration %s failed: %s", m->name, err);
		return r;
	}
	r = db_query(conn,
	             "INSERT INTO hookrun.schema_migrations (version, name, checksum) "
	             "VALUES ($1, $2, $3)",
	             3, params, &res, ret_error);
	PQclear(res);
	return r;
}

/* Take the lock, create the bookkeeping table and read what is applied. */
static int migrate_begin(PGconn *conn, PGresult **ret_applied, char **ret_error)
{
	int r;

	r = db_exec(conn, "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", ret_error);
	if (r < 0)
		return r;
	r = db_exec(conn, migrate_bootstrap_sql, ret_error);
	if (r < 0)
		return r;
	return db_query(conn,
	                "SELECT version, name, checksum, applied_at FROM hookrun.schema_migrations "
	                "ORDER BY version",
	                0, NULL, ret_applied, ret_error);
}

/* Apply pending migrations in one transaction. */
int migrate_apply(PGconn *conn, const struct migration *list, size_t n, struct migrate_report *rep,
                  char **ret_error)
{
	_cleanup_pgresult_ PGresult *applied = NULL;
	_cleanup_free_ char *ignored = NULL;
	int r;

	*rep = (struct migrate_report){0};
	r = migrate_begin(conn, &applied, ret_error);
	if (r < 0)
		goto fail;
	r = migrate_verify(applied, list, n, rep, ret_error);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (migrate_find_row(applied, list[i].version) >= 0)
			continue;
		r = migrate_apply_one(conn, &list[i], ret_error);
		if (r < 0)
			goto fail;
		rep->applied++;
	}
	r = db_exec(conn, "COMMIT", ret_error);
	if (r < 0)
		goto fail;
	if (n > 0)
		rep->last_version = xstrdup(list[n - 1].version);
	return 0;
fail:
	(void)!db_exec(conn, "ROLLBACK", &ignored);
	*rep = (struct migrate_report){0};
	return r;
}

/* Print applied and pending migrations without changing anything. */
int migrate_status(PGconn *conn, const struct migration *list, size_t n, FILE *out,
                   char **ret_error)
{
	_cleanup_pgresult_ PGresult *applied = NULL;
	_cleanup_free_ char *ignored = NULL;
	struct migrate_report rep = {0};
	int r;

	r = migrate_begin(conn, &applied, ret_error);
	if (r >= 0)
		r = migrate_verify(applied, list, n, &rep, ret_error);
	(void)!db_exec(conn, "ROLLBACK", &ignored);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		int row = migrate_find_row(applied, list[i].version);
		fprintf(out, "%-8s %-40s %s\n", row >= 0 ? "applied" : "pending", list[i].name,
		        row >= 0 ? PQgetvalue(applied, row, 3) : "-");
	}
	if (rep.unknown)
		fprintf(out,
		        "unknown  %zu migration(s) recorded in the database are not in this "
		        "directory (a newer build applied them)\n",
		        rep.unknown);
	return 0;
}
