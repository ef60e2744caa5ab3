/* Integration tests of `hookrun migrate` against a real PostgreSQL (fresh database, rerun,
 * changed file, new file, two concurrent runs) and of hookrun-ingress's configuration errors
 * and --print-config masking (these need no database). */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "harness.h"
#include "migrate.h"
#include "xalloc.h"

/* The migration files of a directory, sorted. */
struct file_list {
	char **names;
	size_t n;
};

/* Order names. */
static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* List the NNNN_name.sql files of dir, as migrate does. */
static void file_list_load(const char *dir, struct file_list *ret)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	*ret = (struct file_list){0};
	while ((de = readdir(d))) {
		_cleanup_free_ char *version = NULL;
		if (de->d_name[0] == '.' || migrate_parse_name(de->d_name, &version) < 0)
			continue;
		ret->names = xreallocarray(ret->names, ret->n + 1, sizeof(*ret->names));
		ret->names[ret->n++] = xstrdup(de->d_name);
	}
	closedir(d);
	assert_true(ret->n >= 1);
	if (ret->n > 1)
		qsort(ret->names, ret->n, sizeof(*ret->names), name_cmp);
}

/* Free a list. */
static void file_list_fini(struct file_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	*l = (struct file_list){0};
}

/* State of the group. */
struct suite {
	struct harness_db *db;
	PGconn *conn;
	struct file_list files;
};

/* Group setup: list the real migrations. */
static int group_setup(void **state)
{
	struct suite *s = xcalloc(1, sizeof(*s));

	*state = s;
	return 0;
}

/* Group teardown. */
static int group_teardown(void **state)
{
	free(*state);
	return 0;
}

/* Per-test teardown: drop the test's database. */
static int test_teardown(void **state)
{
	struct suite *s = *state;

	if (s->conn)
		PQfinish(s->conn);
	s->conn = NULL;
	harness_db_free(s->db);
	s->db = NULL;
	file_list_fini(&s->files);
	return 0;
}

/* Create the test's database (migrated or not) and list the migrations. */
static void suite_db(struct suite *s, bool migrate)
{
	s->db = harness_db_new(migrate);
	assert_non_null(s->db);
	s->conn = harness_pg_connect(s->db->url);
	assert_non_null(s->conn);
	file_list_load(harness_migrations_dir(), &s->files);
}

/* Rows of hookrun.schema_migrations. */
static long long recorded(PGconn *conn)
{
	return harness_sql_int(conn, "SELECT count(*) FROM hookrun.schema_migrations", NULL);
}

/* The newest applied_at of hookrun.schema_migrations in microseconds. */
static long long newest_applied_at(PGconn *conn)
{
	return harness_sql_int(conn,
	                       "SELECT (extract(epoch FROM max(applied_at)) * 1e6)::bigint "
	                       "FROM hookrun.schema_migrations",
	                       NULL);
}

/* Each file is recorded once, with the SHA-256 of its content. */
static void expect_checksums(PGconn *conn, const char *dir, const struct file_list *files)
{
	for (size_t i = 0; i < files->n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, files->names[i]);
		size_t len = 0;
		_cleanup_free_ char *sql = harness_read_file(path, &len);
		char sum[CRYPTO_SHA256_HEX_SIZE];

		assert_non_null(sql);
		assert_int_equal(crypto_sha256_hex(sql, len, sum), 0);
		if (harness_sql_int(conn,
		                    "SELECT count(*) FROM hookrun.schema_migrations "
		                    "WHERE name = $1 AND checksum = $2",
		                    files->names[i], sum, NULL) != 1)
			fail_msg("%s is not recorded with checksum %s", files->names[i], sum);
	}
}

/* Run migrate with dir; expect exit code rc; return stdout (new). */
static char *migrate_expect(const struct harness_db *db, const char *dir, int rc, char **ret_err)
{
	char *out = NULL, *err = NULL;
	int r = harness_db_migrate(db, dir, &out, &err);

	if (r != rc && !(rc == -1 && r > 0))
		fail_msg("hookrun migrate exited %d, expected %s%d: %s%s", r,
		         rc == -1 ? "not " : "", rc == -1 ? 0 : rc, out ? out : "", err ? err : "");
	if (ret_err)
		*ret_err = err;
	else
		free(err);
	return out;
}

/* 13. A fresh database gets every file with its checksum; a second run applies nothing. */
static void test_migrate_fresh_and_rerun(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *out1 = NULL;
	_cleanup_free_ char *out2 = NULL;
	_cleanup_free_ char *expect = NULL;
	long long stamp;

	HARNESS_REQUIRE_DB();
	suite_db(s, false);
	out1 = migrate_expect(s->db, harness_migrations_dir(), 0, NULL);
	assert_int_equal(recorded(s->conn), (long long)s->files.n);
	expect_checksums(s->conn, harness_migrations_dir(), &s->files);
	expect = xasprintf("%zu applied now", s->files.n);
	assert_non_null(strstr(out1, expect));
	stamp = newest_applied_at(s->conn);
	out2 = migrate_expect(s->db, harness_migrations_dir(), 0, NULL);
	assert_non_null(strstr(out2, "0 applied now"));
	assert_int_equal(recorded(s->conn), (long long)s->files.n);
	assert_int_equal(newest_applied_at(s->conn), stamp);
}

/* Copy every migration file to a new directory; returns its path. */
static char *copy_migrations(const struct file_list *files)
{
	char *dir = harness_mkdtemp("migrations");

	for (size_t i = 0; i < files->n; i++) {
		_cleanup_free_ char *src =
		    xasprintf("%s/%s", harness_migrations_dir(), files->names[i]);
		_cleanup_free_ char *sql = harness_read_file(src, NULL);
		_cleanup_free_ char *dst = NULL;

		assert_non_null(sql);
		dst = harness_write_file(dir, files->names[i], sql);
		assert_non_null(dst);
	}
	return dir;
}

/* Append a comment to dir/name (an edit that changes the checksum). */
static void edit_file(const char *dir, const char *name, const char *suffix)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *sql = harness_read_file(path, NULL);
	_cleanup_free_ char *edited = NULL;
	_cleanup_free_ char *written = NULL;

	assert_non_null(sql);
	edited = xasprintf("%s%s", sql, suffix);
	written = harness_write_file(dir, name, edited);
	assert_non_null(written);
}

/* 13. A changed applied file is refused by name; a new file is applied. */
static void test_migrate_changed_and_new_file(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *dir = NULL;
	_cleanup_free_ char *err = NULL;
	_cleanup_free_ char *out = NULL;
	_cleanup_free_ char *added = NULL;
	const char *changed;

	HARNESS_REQUIRE_DB();
	suite_db(s, true);
	dir = copy_migrations(&s->files);
	changed = s->files.names[s->files.n - 1];
	edit_file(dir, changed, "\n-- edited after it was applied\n");
	free(migrate_expect(s->db, dir, -1, &err));
	if (!strstr(err, changed) || !strstr(err, "change"))
		fail_msg("stderr does not name %s as changed: %s", changed, err);
	assert_int_equal(recorded(s->conn), (long long)s->files.n);
	free(dir);
	dir = copy_migrations(&s->files);
	added = harness_write_file(dir, "9999_x.sql",
	                           "CREATE TABLE hookrun.integ_x (id int PRIMARY KEY);\n");
	assert_non_null(added);
	out = migrate_expect(s->db, dir, 0, NULL);
	assert_non_null(strstr(out, "1 applied now"));
	assert_int_equal(recorded(s->conn), (long long)s->files.n + 1);
	assert_int_equal(harness_sql_int(s->conn,
	                                 "SELECT count(*) FROM hookrun.schema_migrations "
	                                 "WHERE version = '9999' AND name = '9999_x.sql'",
	                                 NULL),
	                 1);
	assert_int_equal(harness_sql_int(s->conn, "SELECT count(*) FROM hookrun.integ_x", NULL), 0);
}

/* The number in "migrations: N applied now" of one run's stdout. */
static long applied_now(const char *out)
{
	const char *p = out ? strstr(out, "migrations: ") : NULL;

	if (!p) {
		fail_msg("no summary line in: %s", out ? out : "");
		return -1;
	}
	return strtol(p + strlen("migrations: "), NULL, 10);
}

/* 13. Two concurrent runs on a fresh database: both succeed, each file recorded once. */
static void test_migrate_concurrent(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *env_url = NULL;
	_cleanup_free_ char *dir = harness_mkdtemp("concurrent");
	_cleanup_free_ char *o1 = xasprintf("%s/out1", dir);
	_cleanup_free_ char *o2 = xasprintf("%s/out2", dir);
	_cleanup_free_ char *out1 = NULL;
	_cleanup_free_ char *out2 = NULL;
	struct harness_proc p1, p2;

	HARNESS_REQUIRE_DB();
	suite_db(s, false);
	env_url = xasprintf("HOOKRUN_DB_URL=%s", s->db->url);
	const char *argv[] = {harness_cli_bin(), "migrate", "--dir", harness_migrations_dir(),
	                      NULL};
	const char *env[] = {env_url, NULL};
	assert_int_equal(harness_proc_spawn(argv, env, o1, o1, &p1), 0);
	assert_int_equal(harness_proc_spawn(argv, env, o2, o2, &p2), 0);
	int r1 = harness_proc_wait(&p1, 60000);
	int r2 = harness_proc_wait(&p2, 60000);
	out1 = harness_read_file(o1, NULL);
	out2 = harness_read_file(o2, NULL);
	if (r1 != 0 || r2 != 0)
		fail_msg("concurrent migrate exited %d and %d:\n%s\n%s", r1, r2, out1, out2);
	assert_int_equal(applied_now(out1) + applied_now(out2), (long)s->files.n);
	assert_int_equal(recorded(s->conn), (long long)s->files.n);
	expect_checksums(s->conn, harness_migrations_dir(), &s->files);
}

/* Run hookrun-ingress with an INI (and extra environment); returns the exit code. */
static int ingress_run(const char *ini, const char *flag, const char *const *env, char **ret_out,
                       char **ret_err)
{
	_cleanup_free_ char *dir = harness_mkdtemp("config");
	_cleanup_free_ char *path = harness_write_file(dir, "hookrun.ini", ini);
	const char *argv[] = {harness_ingress_bin(), "--config", path, flag, NULL};

	assert_non_null(path);
	/* A configuration wrongly accepted would start a server: the timeout ends it. */
	return harness_run(argv, env, 15000, ret_out, ret_err);
}

/* Expect a refused configuration whose message names what is wrong. */
static void expect_config_error(const char *ini, const char *const *env, const char *name)
{
	_cleanup_free_ char *err = NULL;
	int r = ingress_run(ini, NULL, env, NULL, &err);

	if (r <= 0 || r >= 128)
		fail_msg("hookrun-ingress exited %d for a bad configuration: %s", r, err);
	if (!err || !strstr(err, name))
		fail_msg("stderr does not name %s: %s", name, err ? err : "");
}

/* 14. Unknown keys (global, source, environment) are fatal and named. */
static void test_config_unknown_key(void **state)
{
	static const char *const db_env[] = {"HOOKRUN_DB_URL=postgresql://h@127.0.0.1:1/x", NULL};
	static const char *const bogus_env[] = {"HOOKRUN_DB_URL=postgresql://h@127.0.0.1:1/x",
	                                        "HOOKRUN_BOGUS_SETTING=1", NULL};

	expect_config_error("[hookrun]\nlisten_port = 0\nbogus_key = 1\n", db_env, "bogus_key");
	expect_config_error("[hookrun]\nlisten_port = 0\n[source.a]\nauth = none\n"
	                    "allow_unauthenticated = true\nsignature_thing = x\n",
	                    db_env, "signature_thing");
	expect_config_error("[hookrun]\nlisten_port = 0\n", bogus_env, "HOOKRUN_BOGUS_SETTING");
}

/* 14. --print-config masks secrets from the file and the environment and the db password. */
static void test_print_config_masks(void **state)
{
	static const char ini[] = "[hookrun]\n"
	                          "listen_port = 0\n"
	                          "db_url = postgresql://hookrun:pw-s3cr3t-db@127.0.0.1:5432/x\n"
	                          "[source.gh]\n"
	                          "auth = hmac\n"
	                          "secret = file-s3cr3t-value\n"
	                          "[source.env]\n"
	                          "auth = bearer\n";
	static const char *const env[] = {"HOOKRUN_SOURCE_ENV_SECRET=env-s3cr3t-value", NULL};
	static const char *const secrets[] = {"pw-s3cr3t-db", "file-s3cr3t-value",
	                                      "env-s3cr3t-value"};
	_cleanup_free_ char *out = NULL;
	_cleanup_free_ char *err = NULL;
	int r = ingress_run(ini, "--print-config", env, &out, &err);

	if (r != 0)
		fail_msg("--print-config exited %d: %s", r, err ? err : "");
	assert_non_null(strstr(out, "********"));
	assert_non_null(strstr(out, "[source.gh]"));
	assert_non_null(strstr(out, "[source.env]"));
	for (size_t i = 0; i < ELEMENTSOF(secrets); i++)
		if (strstr(out, secrets[i]) || strstr(err, secrets[i]))
			fail_msg("--print-config shows %s:\n%s", secrets[i], out);
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_migrate_fresh_and_rerun, test_teardown),
	    cmocka_unit_test_teardown(test_migrate_changed_and_new_file, test_teardown),
	    cmocka_unit_test_teardown(test_migrate_concurrent, test_teardown),
	    cmocka_unit_test(test_config_unknown_key),
	    cmocka_unit_test(test_print_config_masks),
	};

	harness_init();
	return cmocka_run_group_tests_name("migrate", tests, group_setup, group_teardown);
}
