/* Unit tests of common/jobs/job_copy.c: the COPY stream of a submission's kept items, from a
 * JSON array or a CSV body, in chunks of bounded size, quoted as COPY's CSV format reads it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "job_copy.h"
#include "job_csv.h"
#include "job_items.h"
#include "schema.h"
#include "xalloc.h"

#define JOB "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

/* The whole stream of c for JOB, as a new string; *ret_chunks counts its chunks, and every
 * chunk but the last is asserted to hold at least JOB_COPY_CHUNK bytes. */
static char *drain(struct job_copy *c, size_t *ret_chunks)
{
	char *all = xstrdup("");
	size_t len = 0, chunks = 0, last = 0;
	const void *data;
	size_t n;
	int r;

	job_copy_start(c, JOB);
	while ((r = job_copy_next(c, &data, &n)) > 0) {
		if (chunks > 0)
			assert_true(last >= JOB_COPY_CHUNK);
		all = xrealloc(all, len + n + 1);
		memcpy(all + len, data, n);
		len += n;
		all[len] = '\0';
		last = n;
		chunks++;
	}
	assert_int_equal(r, 0);
	assert_int_equal(job_copy_next(c, &data, &n), 0); /* the end, again */
	if (ret_chunks)
		*ret_chunks = chunks;
	return all;
}

/* The kept items of a JSON array, each a line: the job, the externalId and the rest of the
 * item as compact JSON, both quoted with '"' doubled; items not kept are left out. */
static void test_json_lines(void **state)
{
	static const char items[] =
	    "[{\"externalId\":\"u1\",\"variables\":{\"a\":1}},"
	    " {\"externalId\":\"skip\"},"
	    " {\"displayName\":\"Q \\\"uoted\\\", Ltd\",\"externalId\":\"a,b\\nc\\\"d\"}]";
	struct job_copy *c = job_copy_new_json(items, strlen(items));
	_cleanup_free_ char *out = NULL;

	job_copy_keep(c, 0, NULL);
	job_copy_keep(c, 2, NULL);
	job_copy_keep(c, 2, NULL); /* twice is once */
	assert_int_equal(job_copy_kept(c), 2);
	out = drain(c, NULL);
	assert_string_equal(out, JOB ",\"u1\",\"{\"\"variables\"\":{\"\"a\"\":1}}\"\n" JOB
	                             ",\"a,b\nc\"\"d\",\"{\"\"displayName\"\":\"\"Q "
	                             "\\\"\"uoted\\\"\", Ltd\"\"}\"\n");
	assert_int_equal(job_copy_lines(c), 2);
	job_copy_free(c);
}

/* The first pass (job_items, checking) marks what the second writes: a bad item and a
 * repeated externalId stay out. */
static void test_json_first_pass(void **state)
{
	static const char *const bodies[] = {"{\"externalId\":\"u1\"}", "{\"externalId\":7}",
	                                     "{\"externalId\":\"u1\"}", "{\"externalId\":\"u2\"}"};
	char items[256] = "[";
	struct job_items *k = job_items_new(NULL, 10);
	struct job_items_check chk = {0};
	_cleanup_free_ char *out = NULL, *text = NULL;
	struct job_copy *c;
	size_t len, n;

	for (size_t i = 0; i < 4; i++)
		snprintf(items + strlen(items), sizeof(items) - strlen(items), "%s%s", i ? "," : "",
		         bodies[i]);
	strcat(items, "]");
	c = job_copy_new_json(items, strlen(items));
	job_items_set_good(k, job_copy_keep, c);
	for (size_t i = 0; i < 4; i++) {
		json_t *item = json_loads(bodies[i], 0, NULL);
		job_items_add(k, item, NULL);
		json_decref(item);
	}
	assert_int_equal(job_items_finish(k, &text, &len, &n, &chk), -EINVAL);
	assert_int_equal(n, 2);
	assert_string_equal(text, "[]"); /* the good items went to the stream, not the text */
	assert_int_equal(chk.refused, 2);
	out = drain(c, NULL);
	assert_string_equal(out, JOB ",\"u1\",\"{}\"\n" JOB ",\"u2\",\"{}\"\n");
	job_items_check_fini(&chk);
	job_items_free(k);
	job_copy_free(c);
}

/* A CSV body read twice: the first pass checks against the schema and marks the good rows, the
 * second types the cells as the first did and writes the marked rows only. */
static void test_csv_two_passes(void **state)
{
	static const char body[] = "externalId,displayName,var.count,var.on\r\n"
	                           "u1,One,3,true\r\n"
	                           "u2,Two,three,false\r\n"
	                           "\"u\"\"3\",,,\r\n";
	json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"count\":{\"type\":"
	                            "\"integer\"},\"on\":{\"type\":\"boolean\"}}}",
	                            0, NULL);
	struct job_csv *p = job_csv_new(schema, 10);
	struct job_copy *c = job_copy_new_csv(body, strlen(body), schema);
	_cleanup_free_ char *text = NULL, *out = NULL;
	size_t len, n;

	job_csv_set_good(p, job_copy_keep, c);
	assert_int_equal(job_csv_feed(p, body, strlen(body)), 0);
	assert_int_equal(job_csv_finish_text(p, &text, &len, &n), -EINVAL); /* row 3 */
	assert_int_equal(n, 2);
	assert_string_equal(text, "[]");
	assert_int_equal(job_copy_kept(c), 2);
	out = drain(c, NULL);
	assert_string_equal(out, JOB ",\"u1\",\"{\"\"displayName\"\":\"\"One\"\",\"\"variables\"\":"
	                             "{\"\"count\"\":3,\"\"on\"\":true}}\"\n" JOB
	                             ",\"u\"\"3\",\"{}\"\n");
	job_csv_free(p);
	job_copy_free(c);
	json_decref(schema);
}

/* A large body comes out in chunks of about JOB_COPY_CHUNK, every kept item once, in order:
 * JSON and CSV alike. */
static void test_chunks(void **state)
{
	const size_t items = 20000;
	size_t cap = items * 64 + 64, at = 0, chunks = 0, lines = 0;
	char *json = xmalloc(cap), *csv = xmalloc(cap), *line = NULL;
	_cleanup_free_ char *out_json = NULL, *out_csv = NULL;
	struct job_copy *cj, *cc;

	at = (size_t)snprintf(json, cap, "[");
	for (size_t i = 0; i < items; i++)
		at += (size_t)snprintf(json + at, cap - at, "%s{\"externalId\":\"user-%zu\"}",
		                       i ? "," : "", i);
	snprintf(json + at, cap - at, "]");
	at = (size_t)snprintf(csv, cap, "externalId\n");
	for (size_t i = 0; i < items; i++)
		at += (size_t)snprintf(csv + at, cap - at, "user-%zu\n", i);
	cj = job_copy_new_json(json, strlen(json));
	cc = job_copy_new_csv(csv, strlen(csv), NULL);
	for (size_t i = 0; i < items; i += 2) {
		job_copy_keep(cj, i, NULL);
		job_copy_keep(cc, i, NULL);
	}
	out_json = drain(cj, &chunks);
	assert_true(chunks > 5);
	out_csv = drain(cc, &chunks);
	assert_true(chunks > 5);
	assert_string_equal(out_json, out_csv);
	for (char *s = out_json, *nl; (nl = strchr(s, '\n')); s = nl + 1, lines++) {
		free(line);
		line = xasprintf(JOB ",\"user-%zu\",\"{}\"", lines * 2);
		assert_int_equal((size_t)(nl - s), strlen(line));
		assert_memory_equal(s, line, strlen(line));
	}
	assert_int_equal(lines, items / 2);
	free(line);
	free(json);
	free(csv);
	job_copy_free(cj);
	job_copy_free(cc);
}

/* A body that no longer reads as a JSON array where a kept item should be is refused. */
static void test_changed_body(void **state)
{
	static const char items[] = "[{\"externalId\":\"u1\"},7]";
	struct job_copy *c = job_copy_new_json(items, strlen(items));
	const void *data;
	size_t n;

	job_copy_keep(c, 1, NULL);
	job_copy_start(c, JOB);
	assert_int_equal(job_copy_next(c, &data, &n), -EBADMSG);
	job_copy_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_lines),     cmocka_unit_test(test_json_first_pass),
	    cmocka_unit_test(test_csv_two_passes), cmocka_unit_test(test_chunks),
	    cmocka_unit_test(test_changed_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
