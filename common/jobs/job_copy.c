/* A submission's items as the COPY stream that stores them (job_copy.h). */
#include "job_copy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_csv.h"
#include "job_secrets.h"
#include "json_scan.h"
#include "xalloc.h"

/* CSV input read per step: its lines never make a chunk much bigger than JOB_COPY_CHUNK. */
#define JOB_COPY_CSV_SLICE ((size_t)16 * 1024)

struct job_copy {
	const char *body;
	size_t len;
	bool csv;
	struct job_csv *parser; /* csv: reads the body again, typed as the first pass did */
	size_t pos;             /* json: the array cursor; csv: bytes fed */
	size_t index;           /* json: the next element's index */
	bool done;
	uint64_t *keep; /* a bit per item: kept */
	size_t n_keep_words, kept;
	char job_id[37];
	const struct job_secrets *secrets; /* seal the items' secret values; NULL: none */
	bool seal_failed;
	char *out;
	size_t out_len, out_cap, lines;
};

/* Append n bytes to the chunk. */
static void out_put(struct job_copy *c, const char *s, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		c->out_cap = c->out_cap ? c->out_cap : JOB_COPY_CHUNK + 4096;
		while (c->out_len + n > c->out_cap)
			c->out_cap *= 2;
		c->out = xrealloc(c->out, c->out_cap);
	}
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
}

/* Append n bytes inside a quoted CSV field: each '"' doubled. */
static void out_put_escaped(struct job_copy *c, const char *s, size_t n)
{
	const char *q;

	while (n > 0 && (q = memchr(s, '"', n))) {
		out_put(c, s, (size_t)(q - s) + 1);
		out_put(c, "\"", 1);
		n -= (size_t)(q - s) + 1;
		s = q + 1;
	}
	out_put(c, s, n);
}

/* json_dump_callback(): the desired state, written inside its quoted field. */
static int out_dump(const char *buffer, size_t size, void *data)
{
	out_put_escaped(data, buffer, size);
	return 0;
}

/* One line: the job, the item's externalId and the rest of the item, its desired state. */
static void out_line(struct job_copy *c, const json_t *item)
{
	const json_t *id = json_object_get(item, "externalId");
	json_t *desired = json_copy((json_t *)item); /* shallow: the values are shared */

	if (!desired)
		abort(); /* only on out of memory */
	(void)json_object_del(desired, "externalId");
	if (c->secrets) {
		/* Sealing replaces members: of copies, never of the values the item shares. */
		static const char *const holders[] = {"variables", "variable"};

		for (size_t i = 0; i < sizeof(holders) / sizeof(*holders); i++) {
			json_t *h = json_object_get(desired, holders[i]);

			if (json_is_object(h))
				json_object_set_new(desired, holders[i], json_copy(h));
		}
		if (job_secrets_seal(c->secrets, NULL, desired, NULL) < 0)
			c->seal_failed = true;
	}
	out_put(c, c->job_id, strlen(c->job_id));
	out_put(c, ",\"", 2);
	out_put_escaped(c, json_string_value(id), json_string_length(id));
	out_put(c, "\",\"", 3);
	if (json_dump_callback(desired, out_dump, c, JSON_COMPACT) != 0)
		abort(); /* only on out of memory */
	out_put(c, "\"\n", 2);
	json_decref(desired);
	c->lines++;
}

/* Whether the item of this index is kept. */
static bool kept(const struct job_copy *c, size_t index)
{
	return index / 64 < c->n_keep_words && (c->keep[index / 64] >> (index % 64) & 1);
}

void job_copy_keep(void *userdata, size_t index, const json_t *item)
{
	struct job_copy *c = userdata;

	if (index / 64 >= c->n_keep_words) {
		size_t n = c->n_keep_words ? c->n_keep_words : 64;

		while (index / 64 >= n)
			n *= 2;
		c->keep = xrealloc(c->keep, n * sizeof(*c->keep));
		memset(c->keep + c->n_keep_words, 0, (n - c->n_keep_words) * sizeof(*c->keep));
		c->n_keep_words = n;
	}
	if (!kept(c, index))
		c->kept++;
	c->keep[index / 64] |= UINT64_C(1) << (index % 64);
}

void job_copy_set_secrets(struct job_copy *c, const struct job_secrets *s)
{
	c->secrets = s;
}

size_t job_copy_kept(const struct job_copy *c)
{
	return c->kept;
}

/* job_csv's good rows in the second pass: the kept ones become lines. */
static void csv_good(void *userdata, size_t index, const json_t *item)
{
	struct job_copy *c = userdata;

	if (kept(c, index))
		out_line(c, item);
}

struct job_copy *job_copy_new_json(const void *items, size_t len)
{
	struct job_copy *c = xcalloc(1, sizeof(*c));

	c->body = items;
	c->len = len;
	return c;
}

struct job_copy *job_copy_new_csv(const void *body, size_t len, const json_t *schema)
{
	struct job_copy *c = job_copy_new_json(body, len);

	c->csv = true;
	c->parser = job_csv_new(schema, 0);
	job_csv_set_good(c->parser, csv_good, c);
	return c;
}

void job_copy_free(struct job_copy *c)
{
	if (!c)
		return;
	job_csv_free(c->parser);
	free(c->keep);
	free(c->out);
	free(c);
}

void job_copy_start(struct job_copy *c, const char *job_id)
{
	snprintf(c->job_id, sizeof(c->job_id), "%s", job_id);
}

/* One step of a JSON body: the next element, a line when it is kept. */
static int json_step(struct job_copy *c)
{
	const void *v;
	size_t n;
	json_t *item;
	int r = json_scan_array_next(c->body, c->len, &c->pos, &v, &n);

	if (r <= 0) {
		c->done = true;
		return r;
	}
	if (kept(c, c->index)) {
		item = json_loadb(v, n, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(item) || !json_is_string(json_object_get(item, "externalId"))) {
			json_decref(item);
			return -EBADMSG;
		}
		out_line(c, item);
		json_decref(item);
	}
	c->index++;
	return 0;
}

/* One step of a CSV body: the next slice of it, and the lines of the rows it completes. */
static int csv_step(struct job_copy *c)
{
	size_t n = c->len - c->pos < JOB_COPY_CSV_SLICE ? c->len - c->pos : JOB_COPY_CSV_SLICE;
	_cleanup_free_ char *text = NULL;
	size_t text_len, items;

	if (n > 0) {
		(void)job_csv_feed(c->parser, c->body + c->pos, n);
		c->pos += n;
		return 0;
	}
	(void)job_csv_finish_text(c->parser, &text, &text_len, &items);
	c->done = true;
	return 0;
}

int job_copy_next(struct job_copy *c, const void **ret_data, size_t *ret_len)
{
	c->out_len = 0;
	while (!c->done && c->out_len < JOB_COPY_CHUNK) {
		int r = c->csv ? csv_step(c) : json_step(c);
		if (r < 0)
			return -EBADMSG;
		if (c->seal_failed)
			return -EIO;
	}
	if (c->out_len == 0)
		return 0;
	*ret_data = c->out;
	*ret_len = c->out_len;
	return 1;
}

size_t job_copy_lines(const struct job_copy *c)
{
	return c->lines;
}
