/* Unit tests of migration file discovery, ordering and checksums (no database). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate.h"

/* Write a file in dir. */
static void put(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Names must be NNNN_lowercase.sql. */
static void test_parse_name(void **state)
{
	char *v = NULL;

	assert_int_equal(migrate_parse_name("0001_create_schema.sql", &v), 0);
	assert_string_equal(v, "0001");
	free(v);
	assert_int_equal(migrate_parse_name("001_x.sql", &v), -EINVAL);
	assert_int_equal(migrate_parse_name("0001_x.SQL", &v), -EINVAL);
	assert_int_equal(migrate_parse_name("0001-x.sql", &v), -EINVAL);
	assert_int_equal(migrate_parse_name("0001_.sql", &v), -EINVAL);
	assert_int_equal(migrate_parse_name("0001_Bad.sql", &v), -EINVAL);
	assert_int_equal(migrate_parse_name("README.md", &v), -EINVAL);
}

/* Files load sorted, other files are ignored, the checksum is SHA-256 of the bytes. */
static void test_load_dir(void **state)
{
	char dir[] = "/tmp/hookrun-migrate-XXXXXX";
	struct migration *list = NULL;
	char *err = NULL;
	size_t n = 0;

	assert_non_null(mkdtemp(dir));
	put(dir, "0002_b.sql", "abc");
	put(dir, "0001_a.sql", "");
	put(dir, "notes.txt", "x");
	assert_int_equal(migrate_load_dir(dir, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "0001_a.sql");
	assert_string_equal(list[1].version, "0002");
	assert_string_equal(list[0].checksum,
	                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_string_equal(list[1].checksum,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	migrate_list_free(list, n);

	put(dir, "0002_c.sql", "dup");
	assert_int_equal(migrate_load_dir(dir, &list, &n, &err), -EEXIST);
	assert_non_null(strstr(err, "0002"));
	free(err);
	_cleanup_free_ char *cmd = xasprintf("rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* A missing directory is a clear error. */
static void test_missing_dir(void **state)
{
	struct migration *list = NULL;
	char *err = NULL;
	size_t n = 0;

	assert_int_equal(migrate_load_dir("/nonexistent/hookrun", &list, &n, &err), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/hookrun"));
	free(err);
}

/* The repository's own migrations load. */
static void test_repo_migrations(void **state)
{
	struct migration *list = NULL;
	char *err = NULL;
	size_t n = 0;

	assert_int_equal(migrate_load_dir(SOURCE_ROOT "/migrations", &list, &n, &err), 0);
	assert_true(n >= 2);
	assert_string_equal(list[0].version, "0001");
	migrate_list_free(list, n);
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_name),
	    cmocka_unit_test(test_load_dir),
	    cmocka_unit_test(test_missing_dir),
	    cmocka_unit_test(test_repo_migrations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
