/* PostgreSQL's wire formats: one-dimensional arrays, binary COPY streams, array literals. */
#include "pgarray.h"

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "crypto.h"

/* Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
#define PG_EPOCH_OFFSET_US 946684800000000LL

/* Make room for n more bytes. */
static unsigned char *pgarray_grow(struct pgarray *a, size_t n)
{
	if (a->len + n > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 4096;
		while (a->cap < a->len + n)
			a->cap *= 2;
		a->buf = xrealloc(a->buf, a->cap);
	}
	a->len += n;
	return a->buf + a->len - n;
}

/* Append a big-endian 32-bit integer. */
static void pgarray_put_i32(struct pgarray *a, int32_t v)
{
	uint32_t be = htobe32((uint32_t)v);

	memcpy(pgarray_grow(a, 4), &be, 4);
}

/* Start an array: ndim 1, no null bitmap flag (array_recv finds NULLs by length -1), the
 * element type, n elements from index 1. */
void pgarray_begin(struct pgarray *a, unsigned elem_oid, size_t n)
{
	a->len = 0;
	pgarray_put_i32(a, 1);
	pgarray_put_i32(a, 0);
	pgarray_put_i32(a, (int32_t)elem_oid);
	pgarray_put_i32(a, (int32_t)n);
	pgarray_put_i32(a, 1);
}

/* An SQL NULL element. */
void pgarray_put_null(struct pgarray *a)
{
	pgarray_put_i32(a, -1);
}

/* An element of raw bytes. */
void pgarray_put_bytes(struct pgarray *a, const void *p, size_t len)
{
	pgarray_put_i32(a, (int32_t)len);
	if (len)
		memcpy(pgarray_grow(a, len), p, len);
}

/* A text element; NULL is an SQL NULL. */
void pgarray_put_text(struct pgarray *a, const char *s)
{
	if (!s)
		pgarray_put_null(a);
	else
		pgarray_put_bytes(a, s, strlen(s));
}

/* A jsonb element: version 1, then the JSON text. */
void pgarray_put_jsonb(struct pgarray *a, const char *json)
{
	size_t n = strlen(json);
	unsigned char *p;

	pgarray_put_i32(a, (int32_t)(n + 1));
	p = pgarray_grow(a, n + 1);
	p[0] = 1;
	/* jsonb on the wire: a version byte, then the text without its NUL */
	memcpy(p + 1, json, n); /* NOLINT(bugprone-not-null-terminated-result) */
}

/* A uuid element from 8-4-4-4-12 hex text. */
int pgarray_put_uuid(struct pgarray *a, const char *s)
{
	_cleanup_free_ unsigned char *u = NULL;
	char hex[32];
	size_t o = 0, n = 0;

	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (!s[i] || (s[i] == '-') != dash)
			return -EINVAL;
		if (!dash)
			hex[o++] = s[i];
	}
	if (s[36] != '\0' || crypto_hex_decode(hex, sizeof(hex), &u, &n) < 0 || n != 16)
		return -EINVAL;
	pgarray_put_bytes(a, u, n);
	return 0;
}

/* A timestamptz element: microseconds since 2000-01-01 UTC, big-endian. */
void pgarray_put_timestamptz(struct pgarray *a, long long unix_us)
{
	uint64_t be = htobe64((uint64_t)(unix_us - PG_EPOCH_OFFSET_US));

	pgarray_put_i32(a, 8);
	memcpy(pgarray_grow(a, 8), &be, 8);
}

/* Free the buffer. */
void pgarray_fini(struct pgarray *a)
{
	free(a->buf);
	*a = (struct pgarray){0};
}

/* Append a big-endian 16-bit integer. */
static void pgarray_put_i16(struct pgarray *a, int16_t v)
{
	uint16_t be = htobe16((uint16_t)v);

	memcpy(pgarray_grow(a, 2), &be, 2);
}

/* The 11-byte signature, no flags (no OIDs), an empty header extension. */
void pgarray_copy_begin(struct pgarray *a)
{
	static const unsigned char signature[11] = {'P',  'G',  'C',  'O',  'P', 'Y',
	                                            '\n', 0xff, '\r', '\n', 0};

	a->len = 0;
	memcpy(pgarray_grow(a, sizeof(signature)), signature, sizeof(signature));
	pgarray_put_i32(a, 0);
	pgarray_put_i32(a, 0);
}

/* A tuple starts with its field count (an int16 on the wire). */
void pgarray_copy_row(struct pgarray *a, unsigned n_fields)
{
	assert(n_fields <= INT16_MAX);
	pgarray_put_i16(a, (int16_t)n_fields);
}

/* The trailer: a field count of -1. */
void pgarray_copy_end(struct pgarray *a)
{
	pgarray_put_i16(a, -1);
}

/* Terminate the text with a NUL that len does not count. */
static void pgarray_sql_terminate(struct pgarray *a)
{
	*pgarray_grow(a, 1) = '\0';
	a->len--;
}

/* Start SQL text. */
void pgarray_sql_begin(struct pgarray *a)
{
	a->len = 0;
	pgarray_sql_terminate(a);
}

/* Append text as it is. */
void pgarray_sql_append(struct pgarray *a, const char *s)
{
	size_t n = strlen(s);

	memcpy(pgarray_grow(a, n), s, n);
	pgarray_sql_terminate(a);
}

/* Open an escape string literal holding an array. */
void pgarray_literal_begin(struct pgarray *a)
{
	pgarray_sql_append(a, "E'{");
}

/* One element: NULL, or the string double-quoted for array_in (a backslash before '"' and
 * '\'), then escaped for the E'' literal (a backslash doubled, a quote written twice). */
void pgarray_literal_put(struct pgarray *a, const char *s)
{
	if (a->len > 0 && a->buf[a->len - 1] != '{')
		pgarray_sql_append(a, ",");
	if (!s) {
		pgarray_sql_append(a, "NULL");
		return;
	}
	*pgarray_grow(a, 1) = '"';
	for (; *s; s++) {
		const char *esc;

		switch (*s) {
		case '"': /* \" in array_in's input, written \\" in the literal */
			esc = "\\\\\"";
			break;
		case '\\': /* \\ in array_in's input, \\\\ in the literal */
			esc = "\\\\\\\\";
			break;
		case '\'':
			esc = "''";
			break;
		default:
			*pgarray_grow(a, 1) = (unsigned char)*s;
			continue;
		}
		memcpy(pgarray_grow(a, strlen(esc)), esc, strlen(esc));
	}
	*pgarray_grow(a, 1) = '"';
	pgarray_sql_terminate(a);
}

/* Close the array and the literal. */
void pgarray_literal_end(struct pgarray *a)
{
	pgarray_sql_append(a, "}'");
}
