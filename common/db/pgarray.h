/* PostgreSQL's binary wire formats for a batch of rows: one-dimensional arrays (array_recv),
 * one parameter per column of a prepared statement, and the stream of COPY ... FROM STDIN
 * (FORMAT binary). Both encode a value the same way (big-endian int32 length, -1 for NULL,
 * then the type's binary form), so the pgarray_put_* calls serve both. Also SQL text with
 * array literals, for statements sent as text. Pure; used by the ingress's group commit.
 * Caller storage; the buffer is reused across batches. */
#pragma once

#include <stddef.h>

#include "xalloc.h"

#define PG_OID_BYTEA       17
#define PG_OID_TEXT        25
#define PG_OID_TIMESTAMPTZ 1184
#define PG_OID_UUID        2950
#define PG_OID_JSONB       3802

struct pgarray {
	unsigned char *buf;
	size_t len, cap;
};

/* Start an array of n elements of type elem_oid, discarding what the buffer held. */
void pgarray_begin(struct pgarray *a, unsigned elem_oid, size_t n);
void pgarray_put_null(struct pgarray *a);
void pgarray_put_bytes(struct pgarray *a, const void *p, size_t len);
/* A text element; NULL s is an SQL NULL. */
void pgarray_put_text(struct pgarray *a, const char *s);
/* A jsonb element from JSON text (binary jsonb is a version byte and the text). */
void pgarray_put_jsonb(struct pgarray *a, const char *json);
/* A uuid element from its 36-character text form; -EINVAL when malformed (nothing written). */
int pgarray_put_uuid(struct pgarray *a, const char *s) _warn_unused_result_;
/* A timestamptz element from microseconds since the Unix epoch. */
void pgarray_put_timestamptz(struct pgarray *a, long long unix_us);
void pgarray_fini(struct pgarray *a);

/* Start a binary COPY stream (signature, flags, header extension), discarding what the buffer
 * held; then per row pgarray_copy_row() and one pgarray_put_* per column; then
 * pgarray_copy_end(). */
void pgarray_copy_begin(struct pgarray *a);
void pgarray_copy_row(struct pgarray *a, unsigned n_fields);
void pgarray_copy_end(struct pgarray *a);

/* SQL text: pgarray_sql_begin() discards what the buffer held; pgarray_sql_append() adds
 * text as it is; pgarray_literal_begin(), one pgarray_literal_put() per element and
 * pgarray_literal_end() add a one-dimensional array literal (E'{...}', valid whatever
 * standard_conforming_strings says) whose elements are the strings given, NULL an SQL NULL.
 * The buffer stays NUL-terminated (not counted in len). The strings must not hold a NUL
 * byte; they are not checked for the database's encoding. */
void pgarray_sql_begin(struct pgarray *a);
void pgarray_sql_append(struct pgarray *a, const char *s);
void pgarray_literal_begin(struct pgarray *a);
void pgarray_literal_put(struct pgarray *a, const char *s);
void pgarray_literal_end(struct pgarray *a);
