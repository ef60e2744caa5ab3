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
	struct delivery *rows[] = { &d1, &d2 };
	struct pgarray cols[DELIVERY_WRITER_COLUMNS] = { 0 };

	d2.idempotency_key = NULL;
	assert_int_equal(delivery_writer_encode(rows, 2, cols), 0);
	for (size_t c = 0; c < DELIVERY_WRITER_COLUMNS; c++) {
		assert_int_equal(be32_at(&cols[c], 0), 1); /* ndim */
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
	for (size_t c = 0; c < DELIVERY_WRITER_COLUMNS; c++)
		pgarray_fini(&cols[c]);
}

/* A malformed id refuses the batch instead of sending garbage. */
static void test_encode_bad_id(void **state)
{
	struct delivery d = { .id = "not-a-uuid", .source = "s", .headers_json = (char *)"{}" };
	struct delivery *rows[] = { &d };
	struct pgarray cols[DELIVERY_WRITER_COLUMNS] = { 0 };

	assert_int_equal(delivery_writer_encode(rows, 1, cols), -EINVAL);
	for (size_t c = 0; c < DELIVERY_WRITER_COLUMNS; c++)
		pgarray_fini(&cols[c]);
}

/* The statement takes exactly the parameters the writer binds. */
static void test_statement_params(void **state)
{
	char needle[16];

	snprintf(needle, sizeof(needle), "$%d::", DELIVERY_WRITER_PARAMS);
	assert_non_null(strstr(delivery_writer_sql, needle));
	snprintf(needle, sizeof(needle), "$%d", DELIVERY_WRITER_PARAMS + 1);
	assert_null(strstr(delivery_writer_sql, needle));
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_rows),
		cmocka_unit_test(test_encode_bad_id),
		cmocka_unit_test(test_statement_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
