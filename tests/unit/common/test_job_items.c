/* Unit tests of common/jobs/job_items.c: a submission's JSON items checked by shape and
 * against a project's variable schema, each problem naming its item and field, the good items
 * kept in order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "job_items.h"
#include "schema.h"
#include "xalloc.h"

static const char schema_text[] =
    "{\"type\":\"object\",\"properties\":{\"count\":{\"type\":\"integer\",\"minimum\":1},"
    "\"zip\":{\"type\":\"string\",\"pattern\":\"^[0-9]{5}$\"}},\"required\":[\"count\"],"
    "\"additionalProperties\":false}";

/* Check items (JSON text) with the test schema (or none); the result in *ret. */
static int check(const char *items_text, bool with_schema, size_t max, struct job_items_check *ret)
{
	json_t *items = json_loads(items_text, 0, NULL);
	json_t *doc = json_loads(schema_text, 0, NULL);
	struct schema *s = NULL;
	int r;

	assert_non_null(items);
	assert_int_equal(schema_compile(doc, &s, NULL), 0);
	r = job_items_check(items, with_schema ? s : NULL, max, ret);
	schema_free(s);
	json_decref(doc);
	json_decref(items);
	return r;
}

/* Problem i names item and field and its text holds what. */
static void expect(const struct job_items_check *c, size_t i, long long item, const char *field,
                   const char *what)
{
	const json_t *p = json_array_get(c->problems, i);
	const char *text = json_string_value(json_object_get(p, "problem"));

	if (!p)
		fail_msg("problem %zu missing", i);
	assert_int_equal(json_integer_value(json_object_get(p, "item")), item);
	assert_string_equal(json_string_value(json_object_get(p, "field")), field);
	if (!text || !strstr(text, what))
		fail_msg("problem %zu: '%s' does not hold '%s'", i, text ? text : "", what);
}

/* Good items pass whole: an update may leave required variables out. */
static void test_good(void **state)
{
	struct job_items_check c;

	assert_int_equal(
	    check("[{\"externalId\":\"a\",\"variables\":{\"zip\":\"12345\"}},"
	          "{\"externalId\":\"b\",\"variable\":{\"name\":\"count\",\"value\":3}},"
	          "{\"externalId\":\"c\",\"variables\":null}]",
	          true, 10, &c),
	    0);
	assert_int_equal(json_array_size(c.good), 3);
	assert_int_equal(c.total, 0);
	assert_int_equal(c.refused, 0);
	job_items_check_fini(&c);
}

/* Every kind of problem, by item and field; the good items kept in order. */
static void test_problems(void **state)
{
	struct job_items_check c;

	assert_int_equal(
	    check("[{\"externalId\":\"a\"},"
	          "7,"
	          "{\"externalId\":\"\"},"
	          "{\"externalId\":\"a\"},"
	          "{\"externalId\":\"d\",\"variables\":[]},"
	          "{\"externalId\":\"e\",\"variables\":{\"count\":0}},"
	          "{\"externalId\":\"f\",\"variables\":{\"zip\":\"1\"}},"
	          "{\"externalId\":\"g\",\"variables\":{\"other\":1}},"
	          "{\"externalId\":\"h\",\"variable\":{\"name\":\"nope\",\"value\":1}},"
	          "{\"externalId\":\"i\",\"variable\":{\"name\":\"count\",\"value\":\"x\"}},"
	          "{\"externalId\":\"j\",\"variable\":{\"name\":\"count\"}},"
	          "{\"externalId\":\"k\"}]",
	          true, 100, &c),
	    -EINVAL);
	expect(&c, 0, 1, "items[1]", "must be an object");
	expect(&c, 1, 2, "items[2].externalId", "non-empty");
	expect(&c, 2, 3, "items[3].externalId", "already item 0");
	expect(&c, 3, 4, "items[4].variables", "must be an object");
	expect(&c, 4, 5, "items[5].variables", "count: must be >= 1 (minimum in the project's");
	expect(&c, 5, 6, "items[6].variables", "zip: ");
	expect(&c, 5, 6, "items[6].variables", "pattern");
	expect(&c, 6, 7, "items[7].variables", "additionalProperties");
	expect(&c, 7, 8, "items[8].variable.name", "does not declare nope");
	expect(&c, 8, 9, "items[9].variable.value", "count");
	expect(&c, 9, 10, "items[10].variable", "a name and a value");
	assert_int_equal(c.total, 10);
	assert_int_equal(c.refused, 10);
	assert_int_equal(json_array_size(c.good), 2);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(c.good, 1), "externalId")), "k");
	job_items_check_fini(&c);
}

/* Without a schema only shapes are checked; the list stops at max but the count goes on. */
static void test_no_schema_and_limit(void **state)
{
	struct job_items_check c;

	assert_int_equal(
	    check("[{\"externalId\":\"a\",\"variables\":{\"count\":0}},"
	          "{\"externalId\":\"b\",\"variable\":{\"name\":\"nope\",\"value\":1}}]",
	          false, 10, &c),
	    0);
	job_items_check_fini(&c);
	assert_int_equal(check("[{},{},{},{}]", false, 2, &c), -EINVAL);
	assert_int_equal(json_array_size(c.problems), 2);
	assert_int_equal(c.total, 4);
	assert_int_equal(c.refused, 4);
	assert_int_equal(json_array_size(c.good), 0);
	job_items_check_fini(&c);
}

/* externalId: at most 1,024 bytes. */
static void test_external_id_length(void **state)
{
	char *text = xcalloc(1, JOB_ITEMS_EXTERNAL_ID_MAX + 64);
	struct job_items_check c;

	strcpy(text, "[{\"externalId\":\"");
	memset(text + strlen(text), 'x', JOB_ITEMS_EXTERNAL_ID_MAX + 1);
	strcat(text, "\"}]");
	assert_int_equal(check(text, false, 10, &c), -EINVAL);
	expect(&c, 0, 0, "items[0].externalId", "at most 1024 bytes");
	job_items_check_fini(&c);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_problems),
	    cmocka_unit_test(test_no_schema_and_limit),
	    cmocka_unit_test(test_external_id_length),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
