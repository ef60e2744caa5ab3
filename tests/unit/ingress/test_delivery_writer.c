/* Unit tests of the group-commit encoding (the statement itself runs in integration). */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "delivery_writer.h"
#include "pgarray.h"

/* Read the big-endian int32 at offset off of an array buffer. */
static int32_t be32_at(const struct pgarray *a, size_t off)
{
	uint32_t v;

	memcpy(&v, a->buf + off, 4);
	return (int32_t)be32toh(v);
}

/* Two rows become eleven arrays of two elements, NULLs where a field is absent. */
static void test_encode_rows(void **state)
{
	struct delivery d1 = {
	    .id = "0190b5c8-0000-7000-8000-000000000001",
	    .source = "demo",
	    .idempotency_key = (char *)"k1",
	    .received_us = 946684800000001LL,
	    .method = "POST",
	    .uri = (char *)"/hooks/demo",
	    .headers_json = (char *)"{}",
	    .content_type = (char *)"application/json",
	    .body = (const unsigned char *)"{\"a\":1}",
	    .body_len = 7,
	    .verified_by = "hmac",
	};
	struct delivery d2 = d1;
	struct delivery *rows[] = {&d1, &d2};
	struct pgarray cols[DELIVERY_WRITER_COLUMNS] = {0};

	d2.idempotency_key = NULL;
	d2.route = (char *)"{\"kind\":\"x\"}";
	assert_int_equal(delivery_writer_encode(rows, 2, cols), 0);
	for (size_t c = 0; c < DELIVERY_WRITER_COLUMNS; c++) {
		assert_int_equal(be32_at(&cols[c], 0), 1);  /* ndim */
		assert_int_equal(be32_at(&cols[c], 12), 2); /* elements */
		assert_int_equal(be32_at(&cols[c], 16), 1); /* lower bound */
	}
	assert_int_equal(be32_at(&cols[0], 8), PG_OID_UUID);
	assert_int_equal(be32_at(&cols[0], 20), 16);
	assert_int_equal(cols[0].buf[24], 0x01);
	assert_int_equal(cols[0].buf[24 + 15], 0x01);
	/* idempotency key: "k1" then NULL */
	assert_int_equal(be32_at(&cols[2], 20), 2);
	assert_memory_equal(cols[2].buf + 24, "k1", 2);
	assert_int_equal(be32_at(&cols[2], 26), -1);
	/* received_at: one microsecond after PostgreSQL's epoch */
	assert_int_equal(be32_at(&cols[3], 8), PG_OID_TIMESTAMPTZ);
	assert_int_equal(be32_at(&cols[3], 24), 0);
	assert_int_equal(be32_at(&cols[3], 28), 1);
	/* jsonb: version byte then text */
	assert_int_equal(be32_at(&cols[6], 20), 3);
	assert_int_equal(cols[6].buf[24], 1);
	/* body bytes verbatim; peer NULL */
	assert_int_equal(be32_at(&cols[8], 20), 7);
	assert_memory_equal(cols[8].buf + 24, "{\"a\":1}", 7);
	assert_int_equal(be32_at(&cols[10], 20), -1);
	/* route: NULL for a stored-only delivery, jsonb for a routed one */
	assert_int_equal(be32_at(&cols[11], 8), PG_OID_JSONB);
	assert_int_equal(be32_at(&cols[11], 20), -1);
	assert_int_equal(be32_at(&cols[11], 24), 13);
	assert_int_equal(cols[11].buf[28], 1);
	assert_memory_equal(cols[11].buf + 29, "{\"kind\":\"x\"}", 12);
	for (size_t c = 0; c < DELIVERY_WRITER_COLUMNS; c++)
		pgarray_fini(&cols[c]);
}

/* A malformed id refuses the batch instead of sending garbage. */
static void test_encode_bad_id(void **state)
{
	struct delivery d = {.id = "not-a-uuid", .source = "s", .headers_json = (char *)"{}"};
	struct delivery *rows[] = {&d};
	struct pgarray cols[DELIVERY_WRITER_COLUMNS] = {0};

	assert_int_equal(delivery_writer_encode(rows, 1, cols), -EINVAL);
	for (size_t c = 0; c < DELIVERY_WRITER_COLUMNS; c++)
		pgarray_fini(&cols[c]);
}

/* Read the big-endian int16 at offset off of a buffer. */
static int16_t be16_at(const struct pgarray *a, size_t off)
{
	uint16_t v;

	memcpy(&v, a->buf + off, 2);
	return (int16_t)be16toh(v);
}

/* Two example rows: one with every field, one with the optional ones NULL. */
static void example_rows(struct delivery *d1, struct delivery *d2)
{
	*d1 = (struct delivery){
	    .id = "0190b5c8-0000-7000-8000-000000000001",
	    .source = "demo",
	    .received_us = 946684800000001LL,
	    .method = "POST",
	    .uri = (char *)"/hooks/demo?x=1",
	    .headers_json = (char *)"{\"x-a\":\"b\"}",
	    .content_type = (char *)"application/json",
	    .body = (const unsigned char *)"{\"a\":1}",
	    .body_len = 7,
	    .verified_by = "hmac",
	    .peer = (char *)"127.0.0.1",
	};
	*d2 = *d1;
	snprintf(d2->id, sizeof(d2->id), "%s", "0190b5c8-0000-7000-8000-0000000000ff");
	d2->content_type = NULL;
	d2->peer = NULL;
	d2->body_len = 0;
}

/* The binary COPY stream: signature, header, per row 11 fields each encoded exactly as the
 * same value in the statement's arrays, then the trailer and nothing after it. */
static void test_encode_copy(void **state)
{
	static const unsigned char sig[11] = {'P',  'G',  'C',  'O',  'P', 'Y',
	                                      '\n', 0xff, '\r', '\n', 0};
	struct delivery d1, d2;
	struct delivery *rows[] = {&d1, &d2};
	struct pgarray cols[DELIVERY_WRITER_COLUMNS] = {0};
	size_t at[DELIVERY_WRITER_COLUMNS];
	struct pgarray stream = {0};
	size_t off = 19;

	example_rows(&d1, &d2);
	assert_int_equal(delivery_writer_encode_copy(rows, 2, &stream), 0);
	assert_int_equal(delivery_writer_encode(rows, 2, cols), 0);
	assert_memory_equal(stream.buf, sig, sizeof(sig));
	assert_int_equal(be32_at(&stream, 11), 0); /* flags: no OIDs */
	assert_int_equal(be32_at(&stream, 15), 0); /* header extension length */
	for (size_t c = 0; c < DELIVERY_WRITER_COLUMNS; c++)
		at[c] = 20; /* the first element of each array */
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(be16_at(&stream, off), DELIVERY_WRITER_COLUMNS);
		off += 2;
		for (size_t c = 0; c < DELIVERY_WRITER_COLUMNS; c++) {
			int32_t len = be32_at(&stream, off);
			size_t n = 4 + (len < 0 ? 0 : (size_t)len);
			assert_int_equal(len, be32_at(&cols[c], at[c]));
			assert_true(off + n <= stream.len);
			assert_memory_equal(stream.buf + off, cols[c].buf + at[c], n);
			off += n;
			at[c] += n;
		}
	}
	assert_int_equal(be16_at(&stream, off), -1);
	assert_int_equal(off + 2, stream.len);
	for (size_t c = 0; c < DELIVERY_WRITER_COLUMNS; c++) {
		assert_int_equal(at[c], cols[c].len);
		pgarray_fini(&cols[c]);
	}
	/* The buffer is reused: a second encoding starts from scratch. */
	assert_int_equal(delivery_writer_encode_copy(rows, 1, &stream), 0);
	assert_int_equal(be16_at(&stream, stream.len - 2), -1);
	assert_true(stream.len < off);
	pgarray_fini(&stream);
}

/* A malformed id refuses a copy batch too. */
static void test_encode_copy_bad_id(void **state)
{
	struct delivery d = {.id = "0190b5c8-0000-7000-8000-00000000000g",
	                     .source = "s",
	                     .headers_json = (char *)"{}"};
	struct delivery *rows[] = {&d};
	struct pgarray stream = {0};

	assert_int_equal(delivery_writer_encode_copy(rows, 1, &stream), -EINVAL);
	pgarray_fini(&stream);
}

/* COPY names the same columns, in the same order, as the statement's INSERT. */
static void test_copy_columns(void **state)
{
	static const char cols[] = "(id, source, idempotency_key, received_at, method, uri, "
	                           "headers, content_type, body, verified_by, peer, route)";

	assert_non_null(strstr(delivery_writer_copy_sql, cols));
	assert_non_null(strstr(delivery_writer_retry_sql, cols));
	assert_non_null(strstr(delivery_writer_copy_sql, "FROM STDIN (FORMAT binary)"));
}

/* Each statement takes exactly the parameters the writer binds; only the retry statement
 * inserts deliveries, and it tolerates rows that exist already. */
static void test_statement_params(void **state)
{
	const struct {
		const char *sql;
		int params;
	} stmts[] = {{delivery_writer_claim_sql, DELIVERY_WRITER_CLAIM_PARAMS},
	             {delivery_writer_retry_sql, DELIVERY_WRITER_PARAMS}};
	char needle[16];

	for (size_t i = 0; i < ELEMENTSOF(stmts); i++) {
		snprintf(needle, sizeof(needle), "$%d::", stmts[i].params);
		assert_non_null(strstr(stmts[i].sql, needle));
		snprintf(needle, sizeof(needle), "$%d", stmts[i].params + 1);
		assert_null(strstr(stmts[i].sql, needle));
	}
	assert_null(strstr(delivery_writer_claim_sql, "INSERT INTO hookrun.deliveries"));
	assert_non_null(
	    strstr(delivery_writer_retry_sql, "ON CONFLICT (id, received_at) DO NOTHING"));
}

/* A claim batch's text: EXECUTE with one array literal per column (a quote, a double quote
 * and a backslash in a key escaped for both the literal and array_in; a missing key NULL),
 * the window, then the COPY. The buffer is reused. */
static void test_encode_claim(void **state)
{
	struct delivery d1, d2;
	struct delivery *rows[] = {&d1, &d2};
	struct pgarray sql = {0};

	example_rows(&d1, &d2);
	d1.idempotency_key = (char *)"k'1\"\\";
	delivery_writer_encode_claim(rows, 2, "3600", &sql);
	assert_string_equal((const char *)sql.buf,
	                    "EXECUTE " DELIVERY_WRITER_CLAIM_STATEMENT
	                    "(E'{\"0190b5c8-0000-7000-8000-000000000001\","
	                    "\"0190b5c8-0000-7000-8000-0000000000ff\"}', "
	                    "E'{\"demo\",\"demo\"}', E'{\"k''1\\\\\"\\\\\\\\\",NULL}', '3600'); "
	                    "COPY hookrun.deliveries (id, source, idempotency_key, received_at, "
	                    "method, uri, headers, content_type, body, verified_by, peer, route) "
	                    "FROM STDIN (FORMAT binary)");
	assert_int_equal(strlen((const char *)sql.buf), sql.len);
	delivery_writer_encode_claim(rows + 1, 1, "60", &sql);
	assert_non_null(strstr((const char *)sql.buf,
	                       "(E'{\"0190b5c8-0000-7000-8000-0000000000ff\"}', "
	                       "E'{\"demo\"}', E'{NULL}', '60'); COPY"));
	pgarray_fini(&sql);
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode_rows),        cmocka_unit_test(test_encode_bad_id),
	    cmocka_unit_test(test_statement_params),   cmocka_unit_test(test_encode_copy),
	    cmocka_unit_test(test_encode_copy_bad_id), cmocka_unit_test(test_copy_columns),
	    cmocka_unit_test(test_encode_claim),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
