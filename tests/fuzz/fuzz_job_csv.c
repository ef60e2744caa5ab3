/* Fuzz job items from CSV (job_csv): any input, fed in two pieces at a point the input picks,
 * gives either items (each with a string externalId, unique) and no problem, or problems that
 * each name a row; the COPY stream of the good rows (job_copy, which reads the input again)
 * has one line for each of them; no crash, no leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "job_copy.h"
#include "job_csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A first pass that marks the good rows, then their COPY stream: one line per good row. */
static void copy_lines_check(const uint8_t *data, size_t size, const json_t *schema, size_t good)
{
	struct job_csv *p = job_csv_new(schema, 0);
	struct job_copy *c = job_copy_new_csv(data, size, schema);
	const void *chunk;
	char *text = NULL;
	size_t len, tlen, n;
	int r;

	job_csv_set_good(p, job_copy_keep, c);
	(void)job_csv_feed(p, data, size);
	(void)job_csv_finish_text(p, &text, &tlen, &n);
	free(text);
	job_copy_start(c, "00000000-0000-0000-0000-000000000000");
	while ((r = job_copy_next(c, &chunk, &len)) > 0)
		if (len == 0)
			abort();
	if (r != 0 || job_copy_kept(c) != good || job_copy_lines(c) != good)
		abort();
	job_csv_free(p);
	job_copy_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *schema;
	struct job_csv *p;
	size_t split = size ? data[0] % (size + 1) : 0, n, total;
	const struct job_csv_problem *pr;
	json_t *items = NULL, *seen, *it;
	size_t i;
	int r;

	if (!schema)
		schema =
		    json_loads("{\"type\":\"object\",\"properties\":{\"retailerId\":{\"type\":"
		               "\"string\"},\"count\":{\"type\":\"integer\"},\"enabled\":{\"type\":"
		               "\"boolean\"},\"tags\":{\"type\":[\"array\",\"null\"]},\"ratio\":"
		               "{\"type\":\"number\"},\"extra\":{\"type\":\"object\"}}}",
		               0, NULL);
	p = job_csv_new(schema, 5);
	(void)job_csv_feed(p, data, split);
	(void)job_csv_feed(p, data + split, size - split);
	r = job_csv_finish(p, &items);
	pr = job_csv_problems(p, &n, &total);
	if ((r == 0) != (total == 0) || n > 5 || n > total || !json_is_array(items))
		abort();
	for (i = 0; i < n; i++)
		if (pr[i].row < 1 || !pr[i].message)
			abort();
	seen = json_object();
	json_array_foreach (items, i, it) {
		const char *id = json_string_value(json_object_get(it, "externalId"));

		if (!id || !*id || json_object_get(seen, id))
			abort();
		json_object_set_new(seen, id, json_true());
	}
	json_decref(seen);
	copy_lines_check(data, size, schema, json_array_size(items));
	json_decref(items);
	job_csv_free(p);
	return 0;
}
