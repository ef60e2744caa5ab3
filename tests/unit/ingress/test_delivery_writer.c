/* Unit tests of the group-commit statement builder (the SQL itself runs in integration). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "delivery_writer.h"

/* Count occurrences of needle in s. */
static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* One row binds parameters $1..$11 and numbers the row 1. */
static void test_one_row(void **state)
{
	_cleanup_free_ char *sql = delivery_writer_sql_build(1, 604800);

	assert_non_null(strstr(sql, "(1,$1::uuid,$2::text,$3::text,to_timestamp($4::float8)"));
	assert_non_null(strstr(sql, "$11::text)"));
	assert_null(strstr(sql, "$12"));
	assert_non_null(strstr(sql, "make_interval(secs => 604800)"));
	assert_int_equal(count(sql, "::uuid"), 1);
}

/* n rows bind n*11 parameters, numbered consecutively, rows numbered 1..n. */
static void test_many_rows(void **state)
{
	size_t n = 512;
	_cleanup_free_ char *sql = delivery_writer_sql_build(n, 60);
	char needle[64];

	assert_int_equal(count(sql, "::uuid"), n);
	snprintf(needle, sizeof(needle), "(%zu,$%zu::uuid", n, (n - 1) * DELIVERY_WRITER_COLUMNS + 1);
	assert_non_null(strstr(sql, needle));
	snprintf(needle, sizeof(needle), "$%zu::text)", n * DELIVERY_WRITER_COLUMNS);
	assert_non_null(strstr(sql, needle));
	snprintf(needle, sizeof(needle), "$%zu:", n * DELIVERY_WRITER_COLUMNS + 1);
	assert_null(strstr(sql, needle));
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_row),
		cmocka_unit_test(test_many_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
