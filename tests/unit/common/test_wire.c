/* Unit tests for common/queue/wire.c: known encodings, round trips, and every way a frame can be
 * wrong (truncated, extended, another version, an unknown type, fields out of range). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

/* One valid message of every type. */
static struct wire_msg samples[] = {
    {.type = WIRE_HELLO, .hello = {.name = "worker-1@host", .slots = 8, .pid = 4242}},
    {.type = WIRE_CREDIT, .credit = {.n = 3}},
    {.type = WIRE_TASK, .task = {.item_id = 0x0102030405060708, .token = UINT64_MAX}},
    {.type = WIRE_DONE, .done = {.item_id = 7, .token = 99, .outcome = WIRE_OUTCOME_FENCED}},
    {.type = WIRE_HEARTBEAT, .heartbeat = {.seq = 12}},
    {.type = WIRE_THROTTLE, .throttle = {.organisation = "acme", .retry_after_ms = 1500}},
    {.type = WIRE_BYE},
    {.type = WIRE_WANT, .permits = {.organisation = "acme", .n = 2}},
    {.type = WIRE_GRANT, .permits = {.organisation = "acme", .n = WIRE_SLOTS_MAX}},
};
#define N_SAMPLES (sizeof(samples) / sizeof(samples[0]))

/* The bytes are the protocol: a change here is a new protocol version. */
static void test_known_encodings(void **state)
{
	static const unsigned char task[] = {1, 3,    1,    2,    3,    4,    5,    6,    7,
	                                     8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const unsigned char hello[] = {1, 1, 2, 'w', '1', 0, 0, 0, 8, 0, 0, 0x10, 0x92};
	static const unsigned char throttle[] = {1, 6, 4, 'a', 'c', 'm', 'e', 0, 0, 0x05, 0xdc};
	struct wire_msg h = {.type = WIRE_HELLO, .hello = {.name = "w1", .slots = 8, .pid = 4242}};
	unsigned char buf[WIRE_MSG_MAX];

	assert_int_equal(wire_encode(&samples[2], buf), sizeof(task));
	assert_memory_equal(buf, task, sizeof(task));
	assert_int_equal(wire_encode(&h, buf), sizeof(hello));
	assert_memory_equal(buf, hello, sizeof(hello));
	assert_int_equal(wire_encode(&samples[5], buf), sizeof(throttle));
	assert_memory_equal(buf, throttle, sizeof(throttle));
	assert_int_equal(wire_encode(&samples[6], buf), 2);
	assert_memory_equal(buf, "\x01\x07", 2);
	assert_int_equal(wire_encode(&samples[7], buf), 11);
	assert_memory_equal(buf,
	                    "\x01\x08\x04"
	                    "acme"
	                    "\x00\x00\x00\x02",
	                    11);
}

/* Every sample decodes to itself, and every prefix or extension of it is refused. */
static void test_round_trip_and_exact_length(void **state)
{
	for (size_t i = 0; i < N_SAMPLES; i++) {
		unsigned char buf[WIRE_MSG_MAX + 1];
		struct wire_msg m;
		size_t n = wire_encode(&samples[i], buf);

		assert_true(n >= 2);
		assert_int_equal(wire_decode(buf, n, &m), 0);
		assert_memory_equal(&m, &samples[i], sizeof(m));
		for (size_t k = 0; k < n; k++)
			if (wire_decode(buf, k, &m) != -EBADMSG)
				fail_msg("%s cut to %zu of %zu bytes was accepted",
				         wire_type_to_string(samples[i].type), k, n);
		buf[n] = 0;
		assert_int_equal(wire_decode(buf, n + 1, &m), -EBADMSG);
		assert_int_equal(m.type, 0); /* nothing half-decoded is left behind */
	}
}

/* Another version is told apart from a bad frame; an unknown type is a bad frame. */
static void test_version_and_type(void **state)
{
	struct wire_msg m;

	assert_int_equal(wire_decode((const unsigned char *)"\x02\x07", 2, &m), -EPROTONOSUPPORT);
	assert_int_equal(wire_decode((const unsigned char *)"\x00\x07", 2, &m), -EPROTONOSUPPORT);
	assert_int_equal(wire_decode((const unsigned char *)"\x01\x00", 2, &m), -EBADMSG);
	assert_int_equal(wire_decode((const unsigned char *)"\x01\x0a", 2, &m), -EBADMSG);
	assert_int_equal(wire_decode((const unsigned char *)"\x01\xff", 2, &m), -EBADMSG);
	assert_int_equal(wire_decode(NULL, 0, &m), -EBADMSG);
	assert_string_equal(wire_type_to_string(WIRE_THROTTLE), "throttle");
	assert_string_equal(wire_type_to_string(WIRE_GRANT), "grant");
	assert_string_equal(wire_type_to_string(_WIRE_TYPE_MAX), "unknown");
	assert_string_equal(wire_outcome_to_string(WIRE_OUTCOME_RETRY), "retry");
	assert_string_equal(wire_outcome_to_string(_WIRE_OUTCOME_MAX), "unknown");
}

/* Fields out of range are refused by both sides. */
static void test_ranges(void **state)
{
	unsigned char buf[WIRE_MSG_MAX];
	struct wire_msg m = {.type = WIRE_CREDIT, .credit = {.n = 0}};

	assert_int_equal(wire_encode(&m, buf), 0);
	m.credit.n = WIRE_SLOTS_MAX + 1;
	assert_int_equal(wire_encode(&m, buf), 0);
	m.credit.n = WIRE_SLOTS_MAX;
	assert_int_equal(wire_encode(&m, buf), 6);
	assert_int_equal(wire_decode((const unsigned char *)"\x01\x02\x00\x00\x00\x00", 6, &m),
	                 -EBADMSG);
	assert_int_equal(wire_decode((const unsigned char *)"\x01\x02\x00\x00\x10\x01", 6, &m),
	                 -EBADMSG);

	m = (struct wire_msg){.type = WIRE_HELLO, .hello = {.name = "w", .slots = 0}};
	assert_int_equal(wire_encode(&m, buf), 0);
	assert_int_equal(
	    wire_decode((const unsigned char *)"\x01\x01\x01w\0\0\0\0\0\0\0\0", 12, &m), -EBADMSG);

	m = (struct wire_msg){.type = WIRE_GRANT, .permits = {.organisation = "acme", .n = 0}};
	assert_int_equal(wire_encode(&m, buf), 0);
	m.permits.n = WIRE_SLOTS_MAX + 1;
	assert_int_equal(wire_encode(&m, buf), 0);
	assert_int_equal(wire_decode((const unsigned char *)"\x01\x09\x01x\x00\x00\x00\x00", 8, &m),
	                 -EBADMSG);

	m = (struct wire_msg){.type = WIRE_DONE, .done = {.outcome = _WIRE_OUTCOME_MAX}};
	assert_int_equal(wire_encode(&m, buf), 0);
	m.done.outcome = WIRE_OUTCOME_RETRY;
	assert_int_equal(wire_encode(&m, buf), 19);
	buf[18] = _WIRE_OUTCOME_MAX;
	assert_int_equal(wire_decode(buf, 19, &m), -EBADMSG);

	m = (struct wire_msg){.type = (enum wire_type)99};
	assert_int_equal(wire_encode(&m, buf), 0);
}

/* Names: 1..WIRE_NAME_MAX bytes, no control bytes (NUL included), either way. */
static void test_names(void **state)
{
	unsigned char buf[WIRE_MSG_MAX];
	struct wire_msg m = {.type = WIRE_THROTTLE};
	struct wire_msg got;
	size_t n;

	assert_int_equal(wire_encode(&m, buf), 0); /* empty */
	memset(m.throttle.organisation, 'o', WIRE_NAME_MAX);
	n = wire_encode(&m, buf);
	assert_int_equal(n, 2 + 1 + WIRE_NAME_MAX + 4);
	assert_int_equal(wire_decode(buf, n, &got), 0);
	assert_int_equal(strlen(got.throttle.organisation), WIRE_NAME_MAX);
	memset(m.throttle.organisation, 'o', sizeof(m.throttle.organisation)); /* unterminated */
	assert_int_equal(wire_encode(&m, buf), 0);
	strcpy(m.throttle.organisation, "ac\tme");
	assert_int_equal(wire_encode(&m, buf), 0);
	strcpy(m.throttle.organisation, "caf\xc3\xa9"); /* UTF-8 is fine */
	n = wire_encode(&m, buf);
	assert_int_equal(wire_decode(buf, n, &got), 0);
	assert_string_equal(got.throttle.organisation, "caf\xc3\xa9");
	/* On the wire: a NUL, a DEL, a length past WIRE_NAME_MAX. */
	assert_int_equal(wire_decode((const unsigned char *)"\x01\x06\x02"
	                                                    "a\0\0\0\0\x01",
	                             9, &got),
	                 -EBADMSG);
	assert_int_equal(wire_decode((const unsigned char *)"\x01\x06\x02"
	                                                    "a\x7f\0\0\0\x01",
	                             9, &got),
	                 -EBADMSG);
	memset(buf, 'x', sizeof(buf));
	buf[0] = WIRE_VERSION;
	buf[1] = WIRE_THROTTLE;
	buf[2] = WIRE_NAME_MAX + 1;
	assert_int_equal(wire_decode(buf, 2 + 1 + WIRE_NAME_MAX + 1 + 4, &got), -EBADMSG);
}

/* Run the wire tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_encodings),
	    cmocka_unit_test(test_round_trip_and_exact_length),
	    cmocka_unit_test(test_version_and_type),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
