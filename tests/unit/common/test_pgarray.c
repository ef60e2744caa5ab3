/* Unit tests of PostgreSQL's binary array encoding, byte for byte. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pgarray.h"

/* A text[] of 'ab' and NULL, as array_send would produce it (without the null flag). */
static void test_text_array(void **state)
{
	static const unsigned char want[] = {
	    0, 0, 0, 1, 0, 0, 0, 0, 0, 0,   0,   25,   0,    0,    0,
	    2, 0, 0, 0, 1, 0, 0, 0, 2, 'a', 'b', 0xff, 0xff, 0xff, 0xff,
	};
	struct pgarray a = {0};

	pgarray_begin(&a, PG_OID_TEXT, 2);
	pgarray_put_text(&a, "ab");
	pgarray_put_text(&a, NULL);
	assert_int_equal(a.len, sizeof(want));
	assert_memory_equal(a.buf, want, sizeof(want));
	pgarray_fini(&a);
}

/* uuid text becomes 16 bytes; malformed text writes nothing. */
static void test_uuid(void **state)
{
	static const unsigned char want[16] = {0x01, 0x90, 0xb5, 0xc8, 0xde, 0xad, 0x7b, 0xee,
	                                       0x80, 0x00, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc};
	struct pgarray a = {0};
	size_t len;

	pgarray_begin(&a, PG_OID_UUID, 1);
	assert_int_equal(pgarray_put_uuid(&a, "0190b5c8-DEAD-7bee-8000-123456789abc"), 0);
	assert_int_equal(a.len, 20 + 4 + 16);
	assert_memory_equal(a.buf + 24, want, 16);
	len = a.len;
	assert_int_equal(pgarray_put_uuid(&a, "0190b5c8-dead-7bee-8000-123456789ab"), -EINVAL);
	assert_int_equal(pgarray_put_uuid(&a, "0190b5c8-dead-7bee-8000-123456789abcd"), -EINVAL);
	assert_int_equal(pgarray_put_uuid(&a, "0190b5c8xdead-7bee-8000-123456789abc"), -EINVAL);
	assert_int_equal(pgarray_put_uuid(&a, "0190b5c8-dead-7bee-8000-123456789abg"), -EINVAL);
	assert_int_equal(a.len, len);
	pgarray_fini(&a);
}

/* timestamptz counts microseconds from 2000-01-01; jsonb is version 1 plus text. */
static void test_timestamp_and_jsonb(void **state)
{
	static const unsigned char ts[] = {0,    0,    0,    8,    0xff, 0xff,
	                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct pgarray a = {0};

	pgarray_begin(&a, PG_OID_TIMESTAMPTZ, 1);
	pgarray_put_timestamptz(&a, 946684800000000LL - 1);
	assert_memory_equal(a.buf + 20, ts, sizeof(ts));
	pgarray_begin(&a, PG_OID_JSONB, 1);
	assert_int_equal(a.len, 20);
	pgarray_put_jsonb(&a, "{}");
	assert_int_equal(a.len, 20 + 4 + 3);
	assert_memory_equal(a.buf + 24, "\001{}", 3);
	pgarray_fini(&a);
}

/* Large elements grow the buffer and keep earlier content. */
static void test_growth(void **state)
{
	struct pgarray a = {0};
	static unsigned char big[100000];

	memset(big, 'x', sizeof(big));
	pgarray_begin(&a, PG_OID_BYTEA, 2);
	pgarray_put_bytes(&a, big, sizeof(big));
	pgarray_put_bytes(&a, "", 0);
	assert_int_equal(a.len, 20 + 4 + sizeof(big) + 4);
	assert_int_equal(a.buf[24 + sizeof(big) - 1], 'x');
	pgarray_fini(&a);
}

/* A binary COPY stream of one row with a text field and a NULL, byte for byte. */
static void test_copy_stream(void **state)
{
	static const unsigned char want[] = {
	    'P',  'G',  'C',  'O',  'P', 'Y', '\n', 0xff, '\r', '\n', 0, /* signature */
	    0,    0,    0,    0,    0,   0,   0,    0,                   /* flags, extension */
	    0,    2,                                                     /* two fields */
	    0,    0,    0,    2,    'a', 'b',                            /* 'ab' */
	    0xff, 0xff, 0xff, 0xff,                                      /* NULL */
	    0xff, 0xff,                                                  /* trailer */
	};
	struct pgarray a = {0};

	pgarray_put_text(&a, "left over from an earlier use");
	pgarray_copy_begin(&a);
	pgarray_copy_row(&a, 2);
	pgarray_put_text(&a, "ab");
	pgarray_put_text(&a, NULL);
	pgarray_copy_end(&a);
	assert_int_equal(a.len, sizeof(want));
	assert_memory_equal(a.buf, want, sizeof(want));
	pgarray_fini(&a);
}

/* SQL text with array literals: elements quoted for array_in and escaped for E'' (quote
 * doubled, backslash and double quote escaped twice), NULL as NULL, an empty array, text
 * appended as is; the buffer NUL-terminated throughout and reset by pgarray_sql_begin(). */
static void test_literal(void **state)
{
	struct pgarray a = {0};

	pgarray_sql_begin(&a);
	assert_int_equal(a.len, 0);
	assert_string_equal((const char *)a.buf, "");
	pgarray_sql_append(&a, "SELECT ");
	pgarray_literal_begin(&a);
	pgarray_literal_put(&a, NULL);
	pgarray_literal_put(&a, "it's");
	pgarray_literal_put(&a, "a\"b\\c");
	pgarray_literal_put(&a, "");
	pgarray_literal_put(&a, "{x,y} NULL");
	pgarray_literal_end(&a);
	assert_string_equal((const char *)a.buf,
	                    "SELECT E'{NULL,\"it''s\",\"a\\\\\"b\\\\\\\\c\",\"\",\"{x,y} NULL\"}'");
	assert_int_equal(strlen((const char *)a.buf), a.len);
	pgarray_sql_begin(&a);
	pgarray_literal_begin(&a);
	pgarray_literal_end(&a);
	assert_string_equal((const char *)a.buf, "E'{}'");
	pgarray_fini(&a);
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_array), cmocka_unit_test(test_copy_stream),
	    cmocka_unit_test(test_uuid),       cmocka_unit_test(test_timestamp_and_jsonb),
	    cmocka_unit_test(test_growth),     cmocka_unit_test(test_literal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
