/* Unit tests for common/core/id.c: UUIDv7 layout against fixed inputs, fresh ids' shape and order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "id.h"

/* Assert that s looks like a lowercase UUIDv7 string. */
static void assert_uuid7_shape(const char *s)
{
	assert_int_equal(strlen(s), 36);
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(s[i], '-');
		else if (!strchr("0123456789abcdef", s[i]) || !s[i])
			fail_msg("%s: bad character at %zu", s, i);
	}
	assert_int_equal(s[14], '7');
	assert_non_null(strchr("89ab", s[19]));
}

/* The example of RFC 9562 appendix A.6 (2022-02-22T19:22:22Z), whatever the unused bits. */
static void test_format_rfc9562_example(void **state)
{
	static const uint8_t rnd[10] = {0x0c, 0xc3, 0x18, 0xc4, 0xdc, 0x0c, 0x0c, 0x07, 0x39, 0x8f};
	static const uint8_t noisy[10] = {0xfc, 0xc3, 0xd8, 0xc4, 0xdc,
	                                  0x0c, 0x0c, 0x07, 0x39, 0x8f};
	char out[ID_UUID_STRING_MAX];

	id_uuid7_format(out, 0x017F22E279B0ULL, rnd);
	assert_string_equal(out, "017f22e2-79b0-7cc3-98c4-dc0c0c07398f");
	id_uuid7_format(out, 0x017F22E279B0ULL, noisy);
	assert_string_equal(out, "017f22e2-79b0-7cc3-98c4-dc0c0c07398f");
}

/* Version nibble at [14] and variant bits at [19] are forced; the timestamp keeps 48 bits. */
static void test_format_extremes(void **state)
{
	static const uint8_t zero[10] = {0};
	static const uint8_t ones[10] = {0xff, 0xff, 0xff, 0xff, 0xff,
	                                 0xff, 0xff, 0xff, 0xff, 0xff};
	char out[ID_UUID_STRING_MAX];

	id_uuid7_format(out, 0, zero);
	assert_string_equal(out, "00000000-0000-7000-8000-000000000000");
	id_uuid7_format(out, 0xFFFFFFFFFFFFULL, ones);
	assert_string_equal(out, "ffffffff-ffff-7fff-bfff-ffffffffffff");
	id_uuid7_format(out, (1ULL << 48) | 0x0102030405ULL, zero);
	assert_string_equal(out, "00010203-0405-7000-8000-000000000000");
}

/* Fresh ids are well-formed, unique, and ordered across milliseconds. */
static void test_new_unique_and_ordered(void **state)
{
	char a[ID_UUID_STRING_MAX], b[ID_UUID_STRING_MAX];
	const struct timespec two_ms = {0, 2000000};

	assert_int_equal(id_uuid7_new(a), 0);
	assert_int_equal(id_uuid7_new(b), 0);
	assert_uuid7_shape(a);
	assert_uuid7_shape(b);
	assert_string_not_equal(a, b);
	/* Same or later millisecond: the 12 timestamp digits never go backwards. */
	assert_true(memcmp(a, b, 13) <= 0);

	assert_int_equal(nanosleep(&two_ms, NULL), 0);
	assert_int_equal(id_uuid7_new(b), 0);
	assert_true(strcmp(a, b) < 0);
}

/* Order two id strings for qsort. */
static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* A thousand fresh ids are pairwise distinct. */
static void test_new_many_distinct(void **state)
{
	enum { N = 1000 };
	char(*ids)[ID_UUID_STRING_MAX] = calloc(N, sizeof(*ids));

	assert_non_null(ids);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(id_uuid7_new(ids[i]), 0);
	qsort(ids, N, sizeof(*ids), cmp_id);
	for (size_t i = 1; i < N; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
	free(ids);
}

/* The timestamp of a fresh id is the current time. */
static void test_new_timestamp(void **state)
{
	char s[ID_UUID_STRING_MAX], hex[13];
	struct timespec ts;

	assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
	assert_int_equal(id_uuid7_new(s), 0);
	memcpy(hex, s, 8);
	memcpy(hex + 8, s + 9, 4);
	hex[12] = '\0';
	uint64_t ms = strtoull(hex, NULL, 16);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;

	assert_in_range(ms, now, now + 1000);
}

/* Run the id tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_rfc9562_example), cmocka_unit_test(test_format_extremes),
	    cmocka_unit_test(test_new_unique_and_ordered), cmocka_unit_test(test_new_many_distinct),
	    cmocka_unit_test(test_new_timestamp),
	};

	return cmocka_run_group_tests_name("id", tests, NULL, NULL);
}
