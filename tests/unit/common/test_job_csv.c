/* Unit tests of common/jobs/job_csv.c: RFC 4180 quoting, typing by the variable schema, and
 * every refusal naming its row and column. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "job_csv.h"
#include "schema.h"
#include "xalloc.h"

static const char schema_text[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"retailerId\":{\"type\":\"string\"},\"count\":{\"type\":\"integer\"},"
    "\"ratio\":{\"type\":\"number\"},\"enabled\":{\"type\":\"boolean\"},"
    "\"tags\":{\"type\":[\"null\",\"array\"]},\"extra\":{\"type\":\"object\"},"
    "\"note\":{},\"pin\":{\"type\":\"integer\",\"writeOnly\":true}}}";

/* Parse text (fed in pieces of step bytes, 0: at once) against the test schema; the return
 * value of job_csv_finish(), the items and the parser (for its problems). */
static int parse(const char *text, size_t step, json_t **items, struct job_csv **ret_p)
{
	json_t *schema = json_loads(schema_text, 0, NULL);
	struct job_csv *p = job_csv_new(schema, 10);
	size_t len = strlen(text);
	int r;

	assert_non_null(schema);
	for (size_t at = 0; at < len;) {
		size_t n = step && step < len - at ? step : len - at;
		(void)job_csv_feed(p, text + at, n);
		at += n;
	}
	r = job_csv_finish(p, items);
	*ret_p = p;
	json_decref(schema); /* the parser keeps its own reference to the properties */
	return r;
}

/* The JSON text of v, compact with sorted keys (a new string). */
static char *dump(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
}

/* Assert problem i names row and column (NULL: none) and contains what. */
static void expect_problem(const struct job_csv *p, size_t i, size_t row, const char *column,
                           const char *what)
{
	size_t n;
	const struct job_csv_problem *pr = job_csv_problems(p, &n, NULL);

	if (i >= n)
		fail_msg("problem %zu missing (%zu recorded)", i, n);
	assert_int_equal(pr[i].row, row);
	if (column)
		assert_string_equal(pr[i].column, column);
	else
		assert_null(pr[i].column);
	if (!strstr(pr[i].message, what))
		fail_msg("problem '%s' does not contain '%s'", pr[i].message, what);
}

/* Quoting (commas, doubled quotes, line breaks inside quotes), CRLF, a byte order mark, empty
 * cells left out, every type converted; the same items whatever the pieces it comes in. */
static void test_items(void **state)
{
	static const char text[] =
	    "\xef\xbb\xbf"
	    "externalId,displayName,var.retailerId,var.count,var.ratio,var.enabled,var.tags,"
	    "var.extra,var.note\r\n"
	    "c-1,\"Customer, "
	    "\"\"One\"\"\",r1,3,0.5,TRUE,\"[\"\"a\"\"]\",\"{\"\"k\"\":1}\",\"two\nlines\"\r\n"
	    "c-2,,007,-12,1e3,false,,,\r\n"
	    "c-3,Three,,,,,,,\n";
	static const char want[] =
	    "[{\"displayName\":\"Customer, \\\"One\\\"\",\"externalId\":\"c-1\",\"variables\":"
	    "{\"count\":3,\"enabled\":true,\"extra\":{\"k\":1},\"note\":\"two\\nlines\","
	    "\"ratio\":0.5,\"retailerId\":\"r1\",\"tags\":[\"a\"]}},"
	    "{\"externalId\":\"c-2\",\"variables\":{\"count\":-12,\"enabled\":false,"
	    "\"ratio\":1000.0,\"retailerId\":\"007\"}},"
	    "{\"displayName\":\"Three\",\"externalId\":\"c-3\"}]";
	static const size_t steps[] = {0, 1, 2, 7, 64};

	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		json_t *items = NULL;
		struct job_csv *p;
		char *got;

		assert_int_equal(parse(text, steps[s], &items, &p), 0);
		got = dump(items);
		if (strcmp(got, want) != 0)
			fail_msg("step %zu: got %s", steps[s], got);
		assert_int_equal(job_csv_rows(p), 3);
		free(got);
		json_decref(items);
		job_csv_free(p);
	}
}

/* A cell of a variable the schema marks secret is refused without repeating its value. */
static void test_secret_cell(void **state)
{
	static const char text[] = "externalId,var.pin\n"
	                           "a,s3cret-pin\n";
	json_t *items = NULL;
	struct job_csv *p;
	size_t n;
	const struct job_csv_problem *pr;

	assert_int_equal(parse(text, 0, &items, &p), -EINVAL);
	expect_problem(p, 0, 2, "var.pin", "the (secret) value is not an integer");
	pr = job_csv_problems(p, &n, NULL);
	assert_null(strstr(pr[0].message, "s3cret-pin"));
	json_decref(items);
	job_csv_free(p);
}

/* Each bad cell or row is refused naming row and column; the good rows are still returned
 * (a caller may skip the bad ones), and the count goes on past the ones kept. */
static void test_row_problems(void **state)
{
	static const char text[] = "externalId,var.count,var.enabled,var.tags,var.ratio\n"
	                           "a,x,,,\n"       /* row 2: not an integer */
	                           "b,1,maybe,,\n"  /* row 3: not a boolean */
	                           "c,1,true,{},\n" /* row 4: not an array */
	                           ",1,,,\n"        /* row 5: empty externalId */
	                           "d,1\n"          /* row 6: too few fields */
	                           "e,2,,,inf\n"    /* row 7: not a finite number */
	                           "f,3,,,\n"       /* row 8: fine */
	                           "f,4,,,\n";      /* row 9: externalId twice */
	json_t *items = NULL;
	struct job_csv *p;
	size_t n, total;
	char *got;

	assert_int_equal(parse(text, 0, &items, &p), -EINVAL);
	expect_problem(p, 0, 2, "var.count", "'x' is not an integer");
	expect_problem(p, 1, 3, "var.enabled", "'maybe' is not a boolean");
	expect_problem(p, 2, 4, "var.tags", "'{}' is not an array");
	expect_problem(p, 3, 5, "externalId", "is empty");
	expect_problem(p, 4, 6, NULL, "the row has 2 fields, the header 5");
	expect_problem(p, 5, 7, "var.ratio", "'inf' is not a number");
	expect_problem(p, 6, 9, "externalId", "f is already on row 8");
	(void)job_csv_problems(p, &n, &total);
	assert_int_equal(n, 7);
	assert_int_equal(total, 7);
	got = dump(items);
	assert_string_equal(got, "[{\"externalId\":\"f\",\"variables\":{\"count\":3}}]");
	free(got);
	json_decref(items);
	job_csv_free(p);
}

/* The header: unknown and repeated columns, a variable the schema does not declare, no
 * externalId; an empty input. */
static void test_header_problems(void **state)
{
	json_t *items = NULL;
	struct job_csv *p;

	assert_int_equal(
	    parse("displayName,email,var.nope,displayName,var.\nx,y,z,w,v\n", 0, &items, &p),
	    -EINVAL);
	expect_problem(p, 0, 1, "email", "unknown column");
	expect_problem(p, 1, 1, "var.nope", "does not declare nope");
	expect_problem(p, 2, 1, "displayName", "appears twice");
	expect_problem(p, 3, 1, "var.", "unknown column");
	expect_problem(p, 4, 1, NULL, "no externalId column");
	json_decref(items);
	job_csv_free(p);
	assert_int_equal(parse("", 0, &items, &p), -EINVAL);
	expect_problem(p, 0, 1, NULL, "empty");
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
	job_csv_free(p);
}

/* Text that is not CSV (a quote inside an unquoted field, one left open) stops the parse
 * naming the row; bytes that are not UTF-8 and NULs are refused per field. */
static void test_not_csv(void **state)
{
	json_t *items = NULL;
	struct job_csv *p;

	assert_int_equal(parse("externalId\na\"b\n", 0, &items, &p), -EINVAL);
	expect_problem(p, 0, 2, NULL, "not CSV");
	assert_int_equal(job_csv_feed(p, "more\n", 5), -EINVAL);
	json_decref(items);
	job_csv_free(p);
	assert_int_equal(parse("externalId\n\"open\n", 0, &items, &p), -EINVAL);
	expect_problem(p, 0, 2, NULL, "not CSV");
	json_decref(items);
	job_csv_free(p);
	assert_int_equal(parse("externalId,displayName\nok,\xff\xfe\nfine,x\n", 0, &items, &p),
	                 -EINVAL);
	expect_problem(p, 0, 2, "displayName", "not UTF-8");
	assert_int_equal(json_array_size(items), 1);
	json_decref(items);
	job_csv_free(p);

	/* A NUL inside a field (fed with its length, as a body arrives). */
	{
		static const char nul[] = "externalId\na\0b\n";
		json_t *schema = json_loads(schema_text, 0, NULL);

		p = job_csv_new(schema, 10);
		assert_int_equal(job_csv_feed(p, nul, sizeof(nul) - 1), 0);
		assert_int_equal(job_csv_finish(p, &items), -EINVAL);
		expect_problem(p, 0, 2, "externalId", "NUL byte");
		json_decref(items);
		job_csv_free(p);
		json_decref(schema);
	}
}

/* Without a schema every variable is a string and no variable is unknown; problems beyond
 * the limit are counted, not kept. */
static void test_no_schema_and_limit(void **state)
{
	struct job_csv *p = job_csv_new(NULL, 2);
	static const char text[] = "externalId,var.anything\nu,42\n,1\n,2\n,3\n";
	json_t *items = NULL;
	size_t n, total;
	char *got;

	assert_int_equal(job_csv_feed(p, text, strlen(text)), 0);
	assert_int_equal(job_csv_finish(p, &items), -EINVAL);
	(void)job_csv_problems(p, &n, &total);
	assert_int_equal(n, 2);
	assert_int_equal(total, 3);
	got = dump(items);
	assert_string_equal(got, "[{\"externalId\":\"u\",\"variables\":{\"anything\":\"42\"}}]");
	free(got);
	json_decref(items);
	job_csv_free(p);
}

/* An externalId over 1024 bytes is refused; one of exactly 1024 is taken. */
static void test_external_id_length(void **state)
{
	char long_id[1026], *text;
	json_t *items = NULL;
	struct job_csv *p;

	memset(long_id, 'x', 1025);
	long_id[1025] = '\0';
	text = xasprintf("externalId\n%.1024s\n%s\n", long_id, long_id);
	assert_int_equal(parse(text, 0, &items, &p), -EINVAL);
	expect_problem(p, 0, 3, "externalId", "longer than 1024 bytes");
	assert_int_equal(json_array_size(items), 1);
	assert_int_equal(
	    strlen(json_string_value(json_object_get(json_array_get(items, 0), "externalId"))),
	    1024);
	json_decref(items);
	job_csv_free(p);
	free(text);
}

/* Entry point. */
/* With a compiled schema each row's variables are validated: the refusal names the row, the
 * variable's column and the rule; the other rows stay items; a header problem is fatal, a
 * row's is not. */
static void test_validated_rows(void **state)
{
	json_t *doc = json_loads("{\"type\":\"object\",\"properties\":{"
	                         "\"count\":{\"type\":\"integer\",\"minimum\":1},"
	                         "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\"]}}},"
	                         "\"required\":[\"count\"]}",
	                         0, NULL);
	struct schema *s = NULL;
	struct job_csv *p;
	json_t *items = NULL;
	const char *text = "externalId,var.count,var.tags\n"
	                   "u1,1,\"[\"\"a\"\"]\"\n"
	                   "u2,0,\n"
	                   "u3,2,\"[\"\"a\"\",\"\"b\"\"]\"\n"
	                   "u4,,\n";
	_cleanup_free_ char *got = NULL;

	assert_non_null(doc);
	assert_int_equal(schema_compile(doc, &s, NULL), 0);
	p = job_csv_new(doc, 10);
	job_csv_validate_with(p, s);
	assert_int_equal(job_csv_feed(p, text, strlen(text)), 0);
	assert_int_equal(job_csv_finish(p, &items), -EINVAL);
	expect_problem(p, 0, 3, "var.count", "must be >= 1 (minimum in the project's");
	expect_problem(p, 1, 4, "var.tags", "[1]: ");
	expect_problem(p, 1, 4, "var.tags", "(enum in the project's variable schema)");
	assert_false(job_csv_fatal(p));
	/* An update may leave a required variable out (u4). */
	got = dump(items);
	assert_string_equal(got, "[{\"externalId\":\"u1\",\"variables\":{\"count\":1,\"tags\":["
	                         "\"a\"]}},{\"externalId\":\"u4\"}]");
	json_decref(items);
	job_csv_free(p);
	/* A header problem makes the whole text untrustworthy. */
	p = job_csv_new(doc, 10);
	job_csv_validate_with(p, s);
	assert_int_equal(job_csv_feed(p, "externalId,var.nope\nu1,x\n", 25), 0);
	assert_int_equal(job_csv_finish(p, &items), -EINVAL);
	assert_true(job_csv_fatal(p));
	json_decref(items);
	job_csv_free(p);
	schema_free(s);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_items),
	    cmocka_unit_test(test_row_problems),
	    cmocka_unit_test(test_secret_cell),
	    cmocka_unit_test(test_header_problems),
	    cmocka_unit_test(test_not_csv),
	    cmocka_unit_test(test_no_schema_and_limit),
	    cmocka_unit_test(test_external_id_length),
	    cmocka_unit_test(test_validated_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
