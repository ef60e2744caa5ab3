/* Unit tests for common/core/backoff.c: sequences under fixed randomness, the cap, overflow, reset.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

/* Assert that successive delays from b with constant randomness r equal want[0..n). */
static void assert_sequence(struct backoff *b, uint32_t r, const unsigned *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned got = backoff_next_ms(b, r);

		if (got != want[i])
			fail_msg("attempt %zu: got %u, want %u", i, got, want[i]);
	}
	assert_int_equal(b->attempt, n);
}

/* Without jitter the delay doubles from base until it reaches the cap, then stays there. */
static void test_no_jitter_doubles_to_cap(void **state)
{
	struct backoff b = {.base_ms = 100, .cap_ms = 10000, .jitter = BACKOFF_JITTER_NONE};
	static const unsigned want[] = {100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000};

	assert_sequence(&b, 12345, want, 10);
}

/* Equal jitter (the zero-value default) is d/2 + random % (d/2 + 1). */
static void test_equal_jitter(void **state)
{
	struct backoff b = {.base_ms = 100, .cap_ms = 10000};
	static const unsigned zero[] = {50, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
	static const unsigned r1000[] = {81, 191, 396, 598, 999, 2600, 4200, 6000, 6000, 6000};
	static const unsigned rmax[] = {50, 167, 299, 654, 1289, 3018, 6338, 8474, 8474, 8474};

	assert_int_equal(b.jitter, BACKOFF_JITTER_EQUAL);
	assert_sequence(&b, 0, zero, 10);
	backoff_reset(&b);
	assert_sequence(&b, 1000, r1000, 10);
	backoff_reset(&b);
	assert_sequence(&b, UINT32_MAX, rmax, 10);
}

/* Full jitter is random % (d + 1). */
static void test_full_jitter(void **state)
{
	struct backoff b = {.base_ms = 100, .cap_ms = 10000, .jitter = BACKOFF_JITTER_FULL};
	static const unsigned r1000[] = {91, 196, 198, 199, 1000, 1000, 1000, 1000, 1000, 1000};
	static const unsigned rmax[] = {67, 99, 254, 489, 1418, 3138, 5112, 7842, 7842, 7842};

	assert_sequence(&b, 1000, r1000, 10);
	backoff_reset(&b);
	assert_sequence(&b, UINT32_MAX, rmax, 10);
}

/* Jittered delays never exceed the cap nor fall below half of it once capped. */
static void test_jitter_bounds(void **state)
{
	struct backoff b = {.base_ms = 7, .cap_ms = 3001};

	for (uint32_t r = 0; r < 100000; r += 7) {
		b.attempt = 20;
		unsigned d = backoff_next_ms(&b, r);

		assert_in_range(d, 1500, 3001);
	}
}

/* Shifts at and beyond the word width, or that would lose bits, give the cap. */
static void test_overflow(void **state)
{
	struct backoff b = {.base_ms = 100, .cap_ms = 5000, .jitter = BACKOFF_JITTER_NONE};
	static const unsigned attempts[] = {25, 26, 31, 32, 33, 63, 64, 65, 100, UINT_MAX - 1};

	for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
		b.attempt = attempts[i];
		assert_int_equal(backoff_next_ms(&b, 0), 5000);
		assert_int_equal(b.attempt, attempts[i] + 1);
	}

	/* A cap of UINT_MAX: 1 << 31 still fits, 3 << 31 does not. */
	b = (struct backoff){.base_ms = 1, .cap_ms = UINT_MAX, .jitter = BACKOFF_JITTER_NONE};
	b.attempt = 31;
	assert_int_equal(backoff_next_ms(&b, 0), 1u << 31);
	assert_int_equal(backoff_next_ms(&b, 0), UINT_MAX);
	b.base_ms = 3;
	b.attempt = 31;
	assert_int_equal(backoff_next_ms(&b, 0), UINT_MAX);
}

/* d + 1 must not wrap to zero under full jitter when d is UINT_MAX. */
static void test_full_jitter_at_uint_max(void **state)
{
	struct backoff b = {
	    .base_ms = 1, .cap_ms = UINT_MAX, .attempt = 64, .jitter = BACKOFF_JITTER_FULL};

	assert_int_equal(backoff_next_ms(&b, UINT32_MAX), UINT32_MAX);
	b.jitter = BACKOFF_JITTER_EQUAL;
	/* d/2 = 2147483647, plus UINT32_MAX % 2147483648 = 2147483647. */
	assert_int_equal(backoff_next_ms(&b, UINT32_MAX), 4294967294u);
}

/* The attempt counter saturates instead of wrapping back to the base delay. */
static void test_attempt_saturates(void **state)
{
	struct backoff b = {
	    .base_ms = 100, .cap_ms = 5000, .attempt = UINT_MAX, .jitter = BACKOFF_JITTER_NONE};

	assert_int_equal(backoff_next_ms(&b, 0), 5000);
	assert_int_equal(b.attempt, UINT_MAX);
	assert_int_equal(backoff_next_ms(&b, 0), 5000);
}

/* Reset starts the sequence again from the base delay. */
static void test_reset(void **state)
{
	struct backoff b = {.base_ms = 250, .cap_ms = 60000, .jitter = BACKOFF_JITTER_NONE};

	assert_int_equal(backoff_next_ms(&b, 0), 250);
	assert_int_equal(backoff_next_ms(&b, 0), 500);
	assert_int_equal(backoff_next_ms(&b, 0), 1000);
	backoff_reset(&b);
	assert_int_equal(b.attempt, 0);
	assert_int_equal(backoff_next_ms(&b, 0), 250);
}

/* Degenerate configurations: zero base gives zero, a cap below base gives the cap. */
static void test_degenerate(void **state)
{
	struct backoff b = {.base_ms = 0, .cap_ms = 1000};

	assert_int_equal(backoff_next_ms(&b, 999), 0);
	b = (struct backoff){.base_ms = 500, .cap_ms = 200, .jitter = BACKOFF_JITTER_NONE};
	assert_int_equal(backoff_next_ms(&b, 0), 200);
}

/* Run the backoff tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_jitter_doubles_to_cap),
	    cmocka_unit_test(test_equal_jitter),
	    cmocka_unit_test(test_full_jitter),
	    cmocka_unit_test(test_jitter_bounds),
	    cmocka_unit_test(test_overflow),
	    cmocka_unit_test(test_full_jitter_at_uint_max),
	    cmocka_unit_test(test_attempt_saturates),
	    cmocka_unit_test(test_reset),
	    cmocka_unit_test(test_degenerate),
	};

	return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
