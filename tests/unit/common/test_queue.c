/* Tests for common/queue/queue.c with real ZeroMQ sockets over 127.0.0.1 on one event loop: a
 * worker's DEALER and a dispatcher's ROUTER exchange wire messages both ways; a message sent
 * before the dispatcher listens arrives once it does (workers reconnect by themselves);
 * sending to a peer that has gone fails at once; frames that are not one wire message, from
 * a raw ZeroMQ client, are dropped and reported without disturbing anyone else. Every wait
 * runs the loop until a condition holds, with a deadline. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <zmq.h>

#include "queue.h"
#include "xalloc.h"

#define MAX_SEEN 16

/* What one side has received. */
struct inbox {
	struct wire_msg msgs[MAX_SEEN];
	struct queue_peer from[MAX_SEEN];
	int errors[MAX_SEEN];
	size_t n;
	struct queue *reply_on; /* a ROUTER answering HELLO with a TASK from the callback */
};

static void on_msg(void *userdata, const struct queue_peer *from, const struct wire_msg *m,
                   int error)
{
	struct inbox *in = userdata;

	if (in->n == MAX_SEEN)
		return;
	if (m)
		in->msgs[in->n] = *m;
	in->from[in->n] = *from;
	in->errors[in->n] = error;
	in->n++;
	if (in->reply_on && m && m->type == WIRE_HELLO) {
		struct wire_msg task = {.type = WIRE_TASK, .task = {.item_id = 42, .token = 7}};

		assert_int_equal(queue_send(in->reply_on, from, &task), 0);
	}
}

/* Run base until *n reaches want or ms milliseconds pass; whether it did. */
static bool run_until_ms(struct event_base *base, const size_t *n, size_t want, int ms)
{
	struct timeval tick = {0, 10 * 1000};

	for (int i = 0; i < ms / 10 && *n < want; i++) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	return *n >= want;
}

/* run_until_ms() with a 5 s deadline. */
static bool run_until(struct event_base *base, const size_t *n, size_t want)
{
	return run_until_ms(base, n, want, 5000);
}

/* A new queue; the test fails when it cannot be made. */
static struct queue *queue_ok(struct event_base *base, enum queue_role role, struct inbox *in)
{
	_cleanup_free_ char *err = NULL;
	struct queue *q = queue_new(base, role, on_msg, in, &err);

	if (!q)
		fail_msg("queue_new: %s", err);
	return q;
}

/* A worker says hello, the dispatcher answers with a task from its callback, the worker
 * reports it done; the dispatcher then addresses the worker by the identity it came with. */
static void test_exchange(void **state)
{
	struct event_base *base = event_base_new();
	struct inbox router_in = {0}, dealer_in = {0};
	struct queue *router = queue_ok(base, QUEUE_ROUTER, &router_in);
	struct queue *dealer = queue_ok(base, QUEUE_DEALER, &dealer_in);
	_cleanup_free_ char *endpoint = NULL, *err = NULL;
	struct wire_msg hello = {.type = WIRE_HELLO, .hello = {.name = "w1", .slots = 4, .pid = 9}};
	struct wire_msg done = {
	    .type = WIRE_DONE,
	    .done = {.item_id = 42, .token = 7, .outcome = WIRE_OUTCOME_SUCCEEDED}};
	struct wire_msg beat = {.type = WIRE_HEARTBEAT, .heartbeat = {.seq = 1}};

	router_in.reply_on = router;
	assert_int_equal(queue_bind(router, "tcp://127.0.0.1:0", &endpoint, &err), 0);
	assert_non_null(strstr(endpoint, "tcp://127.0.0.1:"));
	assert_int_equal(queue_connect(dealer, endpoint, &err), 0);
	assert_int_equal(queue_send(dealer, NULL, &hello), 0);
	assert_true(run_until(base, &dealer_in.n, 1));
	assert_int_equal(router_in.n, 1);
	assert_memory_equal(&router_in.msgs[0], &hello, sizeof(hello));
	assert_true(router_in.from[0].len > 0);
	assert_int_equal(dealer_in.msgs[0].type, WIRE_TASK);
	assert_int_equal(dealer_in.msgs[0].task.item_id, 42);
	assert_int_equal(dealer_in.msgs[0].task.token, 7);
	assert_int_equal(dealer_in.from[0].len, 0);
	assert_int_equal(queue_send(dealer, NULL, &done), 0);
	assert_true(run_until(base, &router_in.n, 2));
	assert_memory_equal(&router_in.msgs[1], &done, sizeof(done));
	assert_int_equal(queue_send(router, &router_in.from[0], &beat), 0);
	assert_true(run_until(base, &dealer_in.n, 2));
	assert_int_equal(dealer_in.msgs[1].heartbeat.seq, 1);
	/* Misuse is refused, not sent: a ROUTER needs a peer, a DEALER has none, and a message
	 * wire_encode() refuses never reaches the socket. */
	assert_int_equal(queue_send(router, NULL, &beat), -EINVAL);
	assert_int_equal(queue_send(dealer, &router_in.from[0], &beat), -EINVAL);
	assert_int_equal(queue_send(dealer, NULL, &(struct wire_msg){.type = WIRE_CREDIT}),
	                 -EINVAL);
	assert_int_equal(queue_bad_frames(router), 0);
	queue_free(dealer);
	queue_free(router);
	event_base_free(base);
}

/* A worker started before its dispatcher: its hello waits in the socket and arrives once the
 * dispatcher listens; when the dispatcher restarts, the worker reconnects by itself. Over
 * ipc:// in a directory of the test's own, so no other process can take the address while
 * no dispatcher holds it (a TCP port released and bound again could be). */
static void test_dealer_first_and_restart(void **state)
{
	struct event_base *base = event_base_new();
	struct inbox router_in = {0}, dealer_in = {0};
	struct queue *dealer = queue_ok(base, QUEUE_DEALER, &dealer_in);
	struct queue *router;
	_cleanup_free_ char *err = NULL, *endpoint = NULL, *path = NULL;
	char dir[] = "/tmp/hookrun-queue-XXXXXX";
	struct wire_msg hello = {.type = WIRE_HELLO, .hello = {.name = "early", .slots = 1}};
	struct wire_msg beat = {.type = WIRE_HEARTBEAT, .heartbeat = {.seq = 2}};

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/dispatch.sock", dir);
	endpoint = xasprintf("ipc://%s", path);
	assert_int_equal(queue_connect(dealer, endpoint, &err), 0);
	assert_int_equal(queue_send(dealer, NULL, &hello), 0);
	router = queue_ok(base, QUEUE_ROUTER, &router_in);
	assert_int_equal(queue_bind(router, endpoint, NULL, &err), 0);
	assert_true(run_until(base, &router_in.n, 1));
	assert_string_equal(router_in.msgs[0].hello.name, "early");
	/* The dispatcher restarts; the worker's next messages reach the new one. */
	queue_free(router);
	memset(&router_in, 0, sizeof(router_in));
	router = queue_ok(base, QUEUE_ROUTER, &router_in);
	assert_int_equal(queue_bind(router, endpoint, NULL, &err), 0);
	for (int i = 0; i < 50 && router_in.n == 0; i++) {
		assert_int_equal(queue_send(dealer, NULL, &beat), 0);
		run_until_ms(base, &router_in.n, 1, 100);
	}
	assert_true(router_in.n > 0);
	assert_int_equal(router_in.msgs[0].heartbeat.seq, 2);
	queue_free(dealer);
	queue_free(router);
	event_base_free(base);
	unlink(path);
	rmdir(dir);
}

/* A worker that has gone cannot be sent to: the dispatcher learns it at once. */
static void test_send_to_gone_peer(void **state)
{
	struct event_base *base = event_base_new();
	struct inbox router_in = {0};
	struct queue *router = queue_ok(base, QUEUE_ROUTER, &router_in);
	struct queue_peer ghost = {.id = {0, 1, 2, 3, 4}, .len = 5};
	struct wire_msg task = {.type = WIRE_TASK, .task = {.item_id = 1, .token = 1}};
	_cleanup_free_ char *endpoint = NULL, *err = NULL;

	assert_int_equal(queue_bind(router, "tcp://127.0.0.1:0", &endpoint, &err), 0);
	assert_int_equal(queue_send(router, &ghost, &task), -EHOSTUNREACH);
	queue_free(router);
	event_base_free(base);
}

/* A raw ZeroMQ client sending garbage, a frame of another version, a three-part message and
 * an oversized frame: each bad frame is dropped and reported; a good message after them
 * still arrives. */
static void test_bad_frames(void **state)
{
	struct event_base *base = event_base_new();
	struct inbox router_in = {0};
	struct queue *router = queue_ok(base, QUEUE_ROUTER, &router_in);
	_cleanup_free_ char *endpoint = NULL, *err = NULL;
	void *ctx = zmq_ctx_new();
	void *raw = zmq_socket(ctx, ZMQ_DEALER);
	int linger = 0;
	unsigned char big[4096];
	size_t n_good;

	assert_int_equal(queue_bind(router, "tcp://127.0.0.1:0", &endpoint, &err), 0);
	assert_int_equal(zmq_setsockopt(raw, ZMQ_LINGER, &linger, sizeof(linger)), 0);
	assert_int_equal(zmq_connect(raw, endpoint), 0);
	assert_int_equal(zmq_send(raw, "\x01\x09", 2, 0), 2);
	assert_int_equal(zmq_send(raw, "\x02\x07", 2, 0), 2);
	assert_int_equal(zmq_send(raw, "\x01\x07", 2, ZMQ_SNDMORE), 2);
	assert_int_equal(zmq_send(raw, "\x01\x07", 2, 0), 2);
	assert_int_equal(zmq_send(raw, "", 0, 0), 0);
	assert_int_equal(zmq_send(raw, "\x01\x07", 2, 0), 2);
	assert_true(run_until(base, &router_in.n, 5));
	assert_int_equal(router_in.errors[0], -EBADMSG);
	assert_int_equal(router_in.errors[1], -EPROTONOSUPPORT);
	assert_int_equal(router_in.errors[2], -EBADMSG); /* two parts after the identity */
	assert_int_equal(router_in.errors[3], -EBADMSG); /* empty */
	assert_int_equal(router_in.errors[4], 0);
	assert_int_equal(router_in.msgs[4].type, WIRE_BYE);
	assert_int_equal(queue_bad_frames(router), 4);
	/* Over ZMQ_MAXMSGSIZE: libzmq drops that connection, and the frame never reaches the
	 * callback; the client reconnects by itself and its next message arrives. */
	memset(big, 1, sizeof(big));
	n_good = router_in.n;
	assert_int_equal(zmq_send(raw, big, sizeof(big), 0), (int)sizeof(big));
	for (int i = 0; i < 50 && router_in.n == n_good; i++) {
		assert_int_equal(zmq_send(raw, "\x01\x05\0\0\0\0\0\0\0\x09", 10, ZMQ_DONTWAIT), 10);
		run_until_ms(base, &router_in.n, n_good + 1, 100);
	}
	assert_true(router_in.n > n_good);
	assert_int_equal(router_in.errors[n_good], 0);
	assert_int_equal(router_in.msgs[n_good].type, WIRE_HEARTBEAT);
	assert_int_equal(router_in.msgs[n_good].heartbeat.seq, 9);
	assert_int_equal(queue_bad_frames(router), 4);
	zmq_close(raw);
	zmq_ctx_term(ctx);
	queue_free(router);
	event_base_free(base);
}

/* Run the queue tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exchange),
	    cmocka_unit_test(test_dealer_first_and_restart),
	    cmocka_unit_test(test_send_to_gone_peer),
	    cmocka_unit_test(test_bad_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
