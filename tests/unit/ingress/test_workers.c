/* Unit tests for services/ingress/workers.c, the dispatcher's book of workers: credits as the
 * only way to a task, capped at the slots a worker announced; a HELLO again starts from no
 * credit; tasks go round the workers in turn; silent workers are dropped. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "workers.h"

/* A peer identity of one byte. */
static struct queue_peer peer(unsigned char id)
{
	struct queue_peer p = {.id = {0, id}, .len = 2};

	return p;
}

/* Without a HELLO there is no credit; credits are capped at the slots announced. */
static void test_credits(void **state)
{
	struct workers *w = workers_new(5000);
	struct queue_peer a = peer(1), got;

	assert_int_equal(workers_credit(w, &a, 3, 0), -ENOENT);
	assert_false(workers_take(w, &got));
	assert_int_equal(workers_hello(w, &a, "a", 4, 0), 0);
	assert_false(workers_take(w, &got)); /* HELLO gives no credit */
	assert_int_equal(workers_credit(w, &a, 3, 0), 0);
	assert_int_equal(workers_credit(w, &a, 3, 0), 0);
	assert_int_equal(workers_credits_of(w, &a), 4);
	assert_int_equal(workers_credits(w), 4);
	for (int i = 0; i < 4; i++) {
		assert_true(workers_take(w, &got));
		assert_memory_equal(&got, &a, sizeof(a));
	}
	assert_false(workers_take(w, &got));
	workers_untake(w, &a);
	assert_int_equal(workers_credits_of(w, &a), 1);
	assert_int_equal(workers_credits(w), 1);
	workers_free(w);
}

/* A worker that says HELLO again (restarted) starts over from no credit. */
static void test_hello_again_voids_credits(void **state)
{
	struct workers *w = workers_new(5000);
	struct queue_peer a = peer(1);

	assert_int_equal(workers_hello(w, &a, "a", 8, 0), 0);
	assert_int_equal(workers_credit(w, &a, 8, 0), 0);
	assert_int_equal(workers_hello(w, &a, "a", 2, 10), 0);
	assert_int_equal(workers_credits_of(w, &a), 0);
	assert_int_equal(workers_credits(w), 0);
	assert_int_equal(workers_count(w), 1);
	assert_int_equal(workers_credit(w, &a, 8, 10), 0);
	assert_int_equal(workers_credits_of(w, &a), 2); /* the new slots */
	workers_free(w);
}

/* Tasks go round the workers in turn, skipping those without credit. */
static void test_round_robin(void **state)
{
	struct workers *w = workers_new(5000);
	struct queue_peer p[3] = {peer(1), peer(2), peer(3)}, got;
	unsigned counts[4] = {0};
	unsigned char order[6];

	for (int i = 0; i < 3; i++)
		assert_int_equal(workers_hello(w, &p[i], "w", 10, 0), 0);
	assert_int_equal(workers_credit(w, &p[0], 2, 0), 0);
	assert_int_equal(workers_credit(w, &p[1], 2, 0), 0);
	assert_int_equal(workers_credit(w, &p[2], 10, 0), 0);
	for (int i = 0; i < 6; i++) {
		assert_true(workers_take(w, &got));
		order[i] = got.id[1];
		counts[got.id[1]]++;
	}
	assert_memory_equal(order, "\x01\x02\x03\x01\x02\x03", 6);
	for (int i = 0; i < 8; i++) {
		assert_true(workers_take(w, &got));
		assert_int_equal(got.id[1], 3); /* the only one left with credit */
	}
	assert_false(workers_take(w, &got));
	workers_free(w);
}

/* A worker silent for longer than the timeout is dropped with its credits; any message
 * keeps a worker alive; BYE forgets at once; the turn carries on over the rest. */
static void test_silence_and_bye(void **state)
{
	struct workers *w = workers_new(1000);
	struct queue_peer a = peer(1), b = peer(2), c = peer(3), got;

	assert_int_equal(workers_hello(w, &a, "a", 4, 0), 0);
	assert_int_equal(workers_hello(w, &b, "b", 4, 0), 0);
	assert_int_equal(workers_hello(w, &c, "c", 4, 0), 0);
	assert_int_equal(workers_credit(w, &a, 4, 0), 0);
	assert_int_equal(workers_credit(w, &b, 4, 0), 0);
	assert_int_equal(workers_credit(w, &c, 4, 0), 0);
	workers_seen(w, &b, 900);
	assert_int_equal(workers_expire(w, 1000), 0); /* exactly the timeout: still alive */
	assert_int_equal(workers_expire(w, 1001), 2); /* a and c said nothing since 0 */
	assert_int_equal(workers_count(w), 1);
	assert_int_equal(workers_credits(w), 4);
	assert_int_equal(workers_credits_of(w, &a), -1);
	assert_true(workers_take(w, &got));
	assert_int_equal(got.id[1], 2);
	workers_seen(w, &a, 1002); /* unknown now: ignored */
	assert_int_equal(workers_count(w), 1);
	workers_forget(w, &b);
	assert_int_equal(workers_count(w), 0);
	assert_int_equal(workers_credits(w), 0);
	assert_false(workers_take(w, &got));
	workers_forget(w, &b); /* twice is harmless */
	workers_free(w);
}

/* The book has a size; a new worker beyond it is refused, a known one is not. */
static void test_full(void **state)
{
	struct workers *w = workers_new(1000);
	struct queue_peer p = {.len = 2};

	for (unsigned i = 0; i < WORKERS_MAX; i++) {
		p.id[0] = (unsigned char)(i >> 8);
		p.id[1] = (unsigned char)i;
		assert_int_equal(workers_hello(w, &p, "w", 1, 0), 0);
	}
	assert_int_equal(workers_hello(w, &p, "w", 1, 0), 0);
	p.id[0] = 0xff;
	assert_int_equal(workers_hello(w, &p, "w", 1, 0), -ENOSPC);
	assert_int_equal(workers_count(w), WORKERS_MAX);
	workers_free(w);
}

/* Run the workers tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_credits),     cmocka_unit_test(test_hello_again_voids_credits),
	    cmocka_unit_test(test_round_robin), cmocka_unit_test(test_silence_and_bye),
	    cmocka_unit_test(test_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
