/* Unit tests for common/http/http_glue.c on 127.0.0.1:0 with raw client sockets: a held exchange
 * outlives its client and the server, and a reset sends the partial bytes and then an RST. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "http_glue.h"

struct fixture {
	struct event_base *base;
	struct http_server *server;
	struct http_exchange *held;
	int client;
};

/* Milliseconds on the monotonic clock. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The handler holds every exchange without answering. */
static void hold_handler(struct http_exchange *ex, const struct http_req *req, void *userdata)
{
	struct fixture *f = userdata;

	f->held = ex;
}

/* Run the loop until an exchange is held. */
static void pump_until_held(struct fixture *f)
{
	int64_t deadline = now_ms() + 3000;

	while (!f->held && now_ms() < deadline) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_non_null(f->held);
}

/* Start a server, connect a client and send one request that the handler holds. */
static int setup_with(void **state, bool detect)
{
	static const char request[] = "POST /things/a%20b?x=1 HTTP/1.1\r\nHost: t\r\n"
	                              "X-Test: kept\r\nContent-Length: 5\r\n\r\nhello";
	struct http_server_options o = {
	    .addr = "127.0.0.1", .port = 0, .max_body = 1024, .detect_client_close = detect};
	struct fixture *f = calloc(1, sizeof(*f));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char *err = NULL;

	f->base = event_base_new();
	f->server = http_server_new(f->base, &o, hold_handler, f, &err);
	assert_non_null(f->server);
	sa.sin_port = htons((uint16_t)http_server_port(f->server));
	f->client = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(f->client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(f->client, request, sizeof(request) - 1, 0),
	                 (ssize_t)sizeof(request) - 1);
	pump_until_held(f);
	*state = f;
	return 0;
}

/* The fixture with client-close detection. */
static int setup(void **state)
{
	return setup_with(state, true);
}

/* The fixture without client-close detection (the ingress's setting). */
static int setup_nodetect(void **state)
{
	return setup_with(state, false);
}

/* Free what is left. */
static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->client >= 0)
		close(f->client);
	http_server_free(f->server);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* Assert the held request still reads as it was sent. */
static void assert_request_intact(const struct http_exchange *ex)
{
	const struct http_req *req = http_exchange_req(ex);

	assert_int_equal(req->method, HTTP_METHOD_POST);
	assert_string_equal(req->path, "/things/a b");
	assert_string_equal(req->query, "x=1");
	assert_string_equal(req->uri, "/things/a%20b?x=1");
	assert_string_equal(http_req_header(req, "X-Test"), "kept");
	assert_int_equal(req->body_len, 5);
	assert_memory_equal(req->body, "hello", 5);
}

/* Read from the client, pumping the loop, until n bytes or EOF/error; returns the count read
 * and the last recv() errno in *ret_errno (0 for EOF). */
static ssize_t client_read(struct fixture *f, char *buf, size_t size, int *ret_errno)
{
	int64_t deadline = now_ms() + 3000;
	size_t got = 0;

	*ret_errno = ETIMEDOUT;
	while (now_ms() < deadline && got < size) {
		ssize_t n;

		event_base_loop(f->base, EVLOOP_NONBLOCK);
		n = recv(f->client, buf + got, size - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
			*ret_errno = n == 0 ? 0 : errno;
			break;
		}
		usleep(1000);
	}
	return (ssize_t)got;
}

/* An ordinary answer reaches the client. */
static void test_respond(void **state)
{
	struct fixture *f = *state;
	char buf[512] = "";
	int e;

	assert_request_intact(f->held);
	http_exchange_respond(f->held, 204, NULL, NULL, 0, NULL, 0);
	f->held = NULL;
	assert_true(client_read(f, buf, 12, &e) == 12);
	assert_memory_equal(buf, "HTTP/1.1 204", 12);
}

/* Read from the client, pumping the loop, until what was read ends with tail (NUL-terminated
 * in buf); false when the deadline, EOF or an error comes first. */
static bool client_read_until(struct fixture *f, char *buf, size_t size, const char *tail)
{
	int64_t deadline = now_ms() + 3000;
	size_t got = 0, tail_len = strlen(tail);

	while (now_ms() < deadline && got + 1 < size) {
		ssize_t n;

		event_base_loop(f->base, EVLOOP_NONBLOCK);
		n = recv(f->client, buf + got, size - 1 - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			buf[got] = '\0';
			if (got >= tail_len && memcmp(buf + got - tail_len, tail, tail_len) == 0)
				return true;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return false;
		usleep(1000);
	}
	return false;
}

/* An answer with a body and extra headers arrives whole, with its Content-Length. */
static void test_respond_body(void **state)
{
	static const char body[] = "{\"ok\":true}";
	const struct http_header extra[] = {{"X-Request-Id", "r-1"}};
	struct fixture *f = *state;
	char buf[1024] = "";
	const char *end;

	http_exchange_respond(f->held, 201, "application/json", body, sizeof(body) - 1, extra, 1);
	f->held = NULL;
	assert_true(client_read_until(f, buf, sizeof(buf), body));
	assert_memory_equal(buf, "HTTP/1.1 201 Created\r\n", 22);
	assert_non_null(strstr(buf, "Content-Length: 11\r\n"));
	assert_non_null(strstr(buf, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(buf, "X-Request-Id: r-1\r\n"));
	end = strstr(buf, "\r\n\r\n");
	assert_non_null(end);
	assert_string_equal(end + 4, body);
}

/* A listen address that is not an IP address fails with a reason, leaking nothing. */
static void test_new_bad_address(void **state)
{
	struct http_server_options o = {.addr = "not-an-address", .max_body = 1024};
	struct event_base *base = event_base_new();
	char *err = NULL;

	assert_non_null(base);
	assert_null(http_server_new(base, &o, hold_handler, NULL, &err));
	assert_non_null(err);
	assert_non_null(strstr(err, "not-an-address"));
	free(err);
	event_base_free(base);
}

/* The client closes while the exchange is held: evhttp notices, the request stays readable,
 * and answering later frees everything without touching the dead connection. */
static void test_client_gone_then_respond(void **state)
{
	struct fixture *f = *state;
	bool gone = false;
	int64_t deadline;

	close(f->client);
	f->client = -1;
	deadline = now_ms() + 3000;
	while (!(gone = http_exchange_client_gone(f->held)) && now_ms() < deadline) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_true(gone);
	assert_request_intact(f->held);
	http_exchange_respond(f->held, 200, "text/plain", "late", 4, NULL, 0);
	f->held = NULL;
	event_base_loop(f->base, EVLOOP_NONBLOCK);
}

/* Without detection a closed client goes unnoticed until the answer, which evhttp then
 * fails to write and cleans up itself. */
static void test_client_gone_undetected(void **state)
{
	struct fixture *f = *state;
	int64_t deadline;

	shutdown(f->client, SHUT_RDWR);
	close(f->client);
	f->client = -1;
	deadline = now_ms() + 100;
	while (now_ms() < deadline) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_false(http_exchange_client_gone(f->held));
	assert_request_intact(f->held);
	http_exchange_respond(f->held, 200, "text/plain", "late", 4, NULL, 0);
	f->held = NULL;
	deadline = now_ms() + 100;
	while (now_ms() < deadline) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/* The server is freed while an exchange is held: the request stays readable and answering
 * it afterwards only frees it; the client sees the connection close. */
static void test_server_freed_then_respond(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	int e = -1;

	http_server_free(f->server);
	f->server = NULL;
	assert_true(http_exchange_client_gone(f->held));
	assert_request_intact(f->held);
	http_exchange_respond(f->held, 200, "text/plain", "late", 4, NULL, 0);
	f->held = NULL;
	assert_int_equal(client_read(f, buf, sizeof(buf), &e), 0);
	assert_true(e == 0 || e == ECONNRESET);
}

/* A reset delivers exactly the partial bytes and then ECONNRESET, not an orderly EOF. */
static void test_reset_sends_partial_then_rst(void **state)
{
	struct fixture *f = *state;
	static const char partial[] = "HTTP/1.1 200 OK\r\nContent-Le";
	char buf[256];
	int e = 0;

	http_exchange_reset(f->held, partial, sizeof(partial) - 1);
	f->held = NULL;
	assert_int_equal(client_read(f, buf, sizeof(buf), &e), (ssize_t)sizeof(partial) - 1);
	assert_memory_equal(buf, partial, sizeof(partial) - 1);
	assert_int_equal(e, ECONNRESET);
}

/* A reset with nothing to send is a bare RST. */
static void test_reset_empty(void **state)
{
	struct fixture *f = *state;
	char buf[16];
	int e = 0;

	http_exchange_reset(f->held, NULL, 0);
	f->held = NULL;
	assert_int_equal(client_read(f, buf, sizeof(buf), &e), 0);
	assert_int_equal(e, ECONNRESET);
}

/* A body of 1 MiB sent in 64 KiB writes, which evhttp holds in many pieces: the handler sees
 * it whole and in order, and still does once its client has gone (the body moved out of
 * evhttp's buffer is not copied again). */
static void test_large_body(void **state)
{
	const size_t len = (size_t)1024 * 1024, step = (size_t)64 * 1024;
	struct http_server_options o = {
	    .addr = "127.0.0.1", .port = 0, .max_body = 4 * len, .detect_client_close = true};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct fixture f = {.base = event_base_new()};
	unsigned char *body = malloc(len);
	char head[128];
	char *err = NULL;
	int64_t deadline;
	bool gone = false;
	int n;

	for (size_t i = 0; i < len; i++)
		body[i] = (unsigned char)(i * 7 + i / 251);
	f.server = http_server_new(f.base, &o, hold_handler, &f, &err);
	assert_non_null(f.server);
	sa.sin_port = htons((uint16_t)http_server_port(f.server));
	f.client = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(f.client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	n = snprintf(head, sizeof(head),
	             "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", len);
	assert_int_equal(send(f.client, head, (size_t)n, 0), n);
	for (size_t at = 0; at < len; at += step) {
		size_t sent = 0;
		while (sent < step) {
			ssize_t k = send(f.client, body + at + sent, step - sent, MSG_DONTWAIT);
			if (k > 0)
				sent += (size_t)k;
			event_base_loop(f.base, EVLOOP_NONBLOCK);
		}
	}
	pump_until_held(&f);
	assert_int_equal(http_exchange_req(f.held)->body_len, len);
	assert_memory_equal(http_exchange_req(f.held)->body, body, len);
	close(f.client);
	deadline = now_ms() + 3000;
	while (!(gone = http_exchange_client_gone(f.held)) && now_ms() < deadline) {
		event_base_loop(f.base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_true(gone);
	assert_int_equal(http_exchange_req(f.held)->body_len, len);
	assert_memory_equal(http_exchange_req(f.held)->body, body, len);
	assert_string_equal(http_exchange_req(f.held)->path, "/big");
	http_exchange_respond(f.held, 200, "text/plain", "late", 4, NULL, 0);
	event_base_loop(f.base, EVLOOP_NONBLOCK);
	http_server_free(f.server);
	event_base_free(f.base);
	free(body);
}

/* Run the http_glue tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_respond, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_respond_body, setup, teardown),
	    cmocka_unit_test(test_new_bad_address),
	    cmocka_unit_test_setup_teardown(test_client_gone_then_respond, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_gone_undetected, setup_nodetect, teardown),
	    cmocka_unit_test_setup_teardown(test_server_freed_then_respond, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_sends_partial_then_rst, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_empty, setup, teardown),
	    cmocka_unit_test(test_large_body),
	};

	return cmocka_run_group_tests_name("http_glue", tests, NULL, NULL);
}
