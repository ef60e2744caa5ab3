/* Unit tests for common/http/http_client.c: the transport seam with canned answers, and libcurl
 * multi on libevent against an in-process http_glue server and raw sockets on 127.0.0.1.
 * One event loop drives both sides; every wait is bounded by a deadline timer. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "hookrun_build.h"
#include "http_client.h"
#include "http_glue.h"
#include "xalloc.h"

#define WAIT_MS  10000
#define MAX_HUNG 8

/* What the server saw of the last request. */
struct seen {
	enum http_method method;
	char *path;
	char *query;
	char *body;
	size_t body_len;
	char *user_agent;
	char *custom;
	char *empty;
	char *content_type;
	char *content_length;
	char *expect;
};

struct fixture {
	struct event_base *base;
	struct http_server *server;
	struct http_client *client;
	size_t n_requests; /* requests the server received */
	struct seen last;
	struct http_exchange *hung[MAX_HUNG];
	size_t n_hung;
	size_t n_done; /* done callbacks the client made */
};

/* A copy of one response, taken inside done. */
struct result {
	size_t *counter;
	int calls;
	int err;
	long status;
	char *body;
	size_t body_len;
	bool body_terminated;
	char *error_text;
	double total_ms;
	struct http_header *headers;
	size_t n_headers;
};

/* Milliseconds on the monotonic clock. */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deadline timer: marks the wait expired. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* Run the loop until *count reaches want; false when ms pass first. */
static bool run_until(struct event_base *base, const size_t *count, size_t want, long ms)
{
	bool expired = false;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct event *deadline = evtimer_new(base, on_deadline, &expired);

	assert_non_null(deadline);
	assert_int_equal(evtimer_add(deadline, &tv), 0);
	while (*count < want && !expired)
		assert_int_not_equal(event_base_loop(base, EVLOOP_ONCE), -1);
	event_free(deadline);
	return *count >= want;
}

/* Duplicate a header value or keep NULL. */
static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* Free what the server recorded. */
static void seen_fini(struct seen *s)
{
	free(s->path);
	free(s->query);
	free(s->body);
	free(s->user_agent);
	free(s->custom);
	free(s->empty);
	free(s->content_type);
	free(s->content_length);
	free(s->expect);
	*s = (struct seen){0};
}

/* Record what the server received. */
static void seen_record(struct seen *s, const struct http_req *req)
{
	seen_fini(s);
	s->method = req->method;
	s->path = xstrdup(req->path);
	s->query = dup_or_null(req->query);
	s->body = xmalloc(req->body_len + 1);
	if (req->body_len > 0)
		memcpy(s->body, req->body, req->body_len);
	s->body[req->body_len] = '\0';
	s->body_len = req->body_len;
	s->user_agent = dup_or_null(http_req_header(req, "User-Agent"));
	s->custom = dup_or_null(http_req_header(req, "X-Custom"));
	s->empty = dup_or_null(http_req_header(req, "X-Empty"));
	s->content_type = dup_or_null(http_req_header(req, "Content-Type"));
	s->content_length = dup_or_null(http_req_header(req, "Content-Length"));
	s->expect = dup_or_null(http_req_header(req, "Expect"));
}

/* The test server: /hang is never answered (until teardown), /big is 4 KiB, /n/<i> answers
 * "body-<i>", anything else is echoed as "<METHOD> <path> <body>" with status 201. */
static void on_request(struct http_exchange *ex, const struct http_req *req, void *userdata)
{
	struct fixture *f = userdata;
	const struct http_header extra[] = {{"X-Reply", "yes"},
	                                    {"X-Method", http_method_to_string(req->method)}};
	_cleanup_free_ char *body = NULL;

	f->n_requests++;
	seen_record(&f->last, req);
	if (strcmp(req->path, "/hang") == 0) {
		assert_true(f->n_hung < MAX_HUNG);
		f->hung[f->n_hung++] = ex;
		return;
	}
	if (strcmp(req->path, "/big") == 0) {
		body = xmalloc(4096);
		memset(body, 'x', 4096);
		http_exchange_respond(ex, 200, "text/plain", body, 4096, NULL, 0);
		return;
	}
	if (strncmp(req->path, "/n/", 3) == 0)
		body = xasprintf("body-%s", req->path + 3);
	else
		body = xasprintf("%s %s %s", http_method_to_string(req->method), req->path,
		                 f->last.body);
	http_exchange_respond(ex, strncmp(req->path, "/n/", 3) == 0 ? 200 : 201, "text/plain", body,
	                      strlen(body), extra, ELEMENTSOF(extra));
}

/* Per test: a loop and a server on 127.0.0.1, any free port. */
static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct http_server_options so = {
	    .addr = "127.0.0.1", .port = 0, .max_body = 4 << 20, .read_timeout_s = 30};
	char *error = NULL;

	f->base = event_base_new();
	assert_non_null(f->base);
	f->server = http_server_new(f->base, &so, on_request, f, &error);
	if (!f->server)
		fail_msg("http_server_new: %s", error);
	*state = f;
	return 0;
}

/* Free the client first (cancelling), then answer what hangs so evhttp frees it, then free. */
static int teardown(void **state)
{
	struct fixture *f = *state;

	http_client_free(f->client);
	for (size_t i = 0; i < f->n_hung; i++)
		http_exchange_respond(f->hung[i], 200, "text/plain", "late", 4, NULL, 0);
	http_server_free(f->server);
	seen_fini(&f->last);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* The fixture's curl client with options o (NULL: defaults). */
static struct http_client *fixture_client(struct fixture *f, const struct http_client_options *o)
{
	const char *error = NULL;

	f->client = http_client_new(f->base, o, &error);
	if (!f->client)
		fail_msg("http_client_new: %s", error);
	return f->client;
}

/* A URL on the fixture's server. */
static char *fixture_url(const struct fixture *f, const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", http_server_port(f->server), path);
}

/* done: copy the response into the struct result passed as userdata. */
static void on_done(const struct http_client_response *resp, void *userdata)
{
	struct result *r = userdata;

	if (r->calls++ > 0)
		return;
	r->err = resp->transport_error;
	r->status = resp->status;
	r->body = xmemdup(resp->body, resp->body_len + 1);
	r->body_len = resp->body_len;
	r->body_terminated = resp->body[resp->body_len] == '\0';
	r->error_text = xstrdup(resp->error_text);
	r->total_ms = resp->total_ms;
	r->n_headers = resp->n_headers;
	r->headers = xcalloc(resp->n_headers + 1, sizeof(*r->headers));
	for (size_t i = 0; i < resp->n_headers; i++)
		r->headers[i] = (struct http_header){xstrdup(resp->headers[i].name),
		                                     xstrdup(resp->headers[i].value)};
	if (r->counter)
		(*r->counter)++;
}

/* A header of a recorded response, through http_client_response_header(). */
static const char *result_header(const struct result *r, const char *name)
{
	struct http_client_response resp = {.headers = r->headers, .n_headers = r->n_headers};

	return http_client_response_header(&resp, name);
}

/* Free a recorded response. */
static void result_fini(struct result *r)
{
	for (size_t i = 0; i < r->n_headers; i++) {
		free((char *)r->headers[i].name);
		free((char *)r->headers[i].value);
	}
	free(r->headers);
	free(r->body);
	free(r->error_text);
}

/* Send one request through the fixture's client and wait for its done. */
static void send_and_wait(struct fixture *f, const struct http_client_request *req,
                          struct result *r)
{
	size_t want = f->n_done + 1;

	r->counter = &f->n_done;
	assert_int_equal(http_client_send(f->client, req, on_done, r), 0);
	assert_int_equal(r->calls, 0); /* never from inside send */
	assert_true(run_until(f->base, &f->n_done, want, WAIT_MS));
	assert_int_equal(r->calls, 1);
	assert_true(r->body_terminated);
}

/* ---- the canned transport ---- */

struct canned {
	int fail_with;
	size_t n;
	http_client_done_fn done[4];
	void *userdata[4];
	enum http_method method[4];
	char *url[4];
};

/* A transport that keeps the request and answers when the test says so. */
static int canned_send(void *impl, const struct http_client_request *req, http_client_done_fn done,
                       void *userdata)
{
	struct canned *t = impl;

	if (t->fail_with)
		return t->fail_with;
	assert_true(t->n < 4);
	t->done[t->n] = done;
	t->userdata[t->n] = userdata;
	t->method[t->n] = req->method;
	t->url[t->n] = xstrdup(req->url);
	t->n++;
	return 0;
}

/* Free what the canned transport copied. */
static void canned_fini(struct canned *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->url[i]);
}

/* Canned answers reach done with status, headers and body; in_flight follows. */
static void test_canned_transport(void **state)
{
	static const struct http_header hdrs[] = {{"Content-Type", "application/json"},
	                                          {"X-Request-Id", "req-1"},
	                                          {"x-request-id", "second"}};
	const struct http_client_response ok = {.status = 404,
	                                        .headers = hdrs,
	                                        .n_headers = 3,
	                                        .body = "{}",
	                                        .body_len = 2,
	                                        .error_text = ""};
	const struct http_client_response broken = {
	    .transport_error = -ECONNRESET, .body = "", .error_text = "reset"};
	struct canned t = {0};
	struct http_transport tr = {.send = canned_send, .impl = &t};
	struct http_client *c = http_client_new_with_transport(&tr, NULL);
	struct http_client_request req = {.method = HTTP_METHOD_PUT, .url = "http://x/a"};
	struct result r1 = {0}, r2 = {0};

	assert_int_equal(http_client_send(c, &req, on_done, &r1), 0);
	req.method = HTTP_METHOD_GET;
	assert_int_equal(http_client_send(c, &req, on_done, &r2), 0);
	assert_int_equal(http_client_in_flight(c), 2);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.method[0], HTTP_METHOD_PUT);
	assert_string_equal(t.url[1], "http://x/a");
	t.done[0](&ok, t.userdata[0]);
	assert_int_equal(http_client_in_flight(c), 1);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.status, 404);
	assert_string_equal(r1.body, "{}");
	assert_string_equal(result_header(&r1, "content-type"), "application/json");
	assert_string_equal(result_header(&r1, "X-REQUEST-ID"), "req-1");
	assert_null(result_header(&r1, "X-Request"));
	t.done[1](&broken, t.userdata[1]);
	assert_int_equal(http_client_in_flight(c), 0);
	assert_int_equal(r2.err, -ECONNRESET);
	assert_int_equal(http_client_connections_opened(c), 0);
	http_client_free(c);
	canned_fini(&t);
	result_fini(&r1);
	result_fini(&r2);
}

/* A transport that refuses: the error comes back, done is never called, nothing in flight. */
static void test_canned_refused(void **state)
{
	struct canned t = {.fail_with = -EAGAIN};
	struct http_transport tr = {.send = canned_send, .impl = &t};
	struct http_client *c = http_client_new_with_transport(&tr, NULL);
	struct http_client_request req = {.method = HTTP_METHOD_GET, .url = "http://x/"};
	struct result r = {0};

	assert_int_equal(http_client_send(c, &req, on_done, &r), -EAGAIN);
	assert_int_equal(http_client_in_flight(c), 0);
	assert_int_equal(r.calls, 0);
	http_client_free(c);
}

/* Freeing with a canned request pending: done gets -ECANCELED once; the late answer is
 * swallowed (and its bookkeeping freed: ASan would see a leak or a use after free). */
static void test_canned_free_pending(void **state)
{
	const struct http_client_response late = {.status = 200, .body = "", .error_text = ""};
	struct canned t = {0};
	struct http_transport tr = {.send = canned_send, .impl = &t};
	struct http_client *c = http_client_new_with_transport(&tr, NULL);
	struct http_client_request req = {.method = HTTP_METHOD_GET, .url = "http://x/"};
	struct result r = {0};

	assert_int_equal(http_client_send(c, &req, on_done, &r), 0);
	http_client_free(c);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err, -ECANCELED);
	assert_int_equal(r.status, 0);
	t.done[0](&late, t.userdata[0]);
	assert_int_equal(r.calls, 1);
	canned_fini(&t);
	result_fini(&r);
}

/* Header lookup is case-insensitive, first match wins, NULL when absent or none. */
static void test_response_header(void **state)
{
	static const struct http_header hdrs[] = {
	    {"Retry-After", "7"}, {"retry-after", "9"}, {"X-Empty", ""}};
	const struct http_client_response resp = {.headers = hdrs, .n_headers = 3};
	const struct http_client_response none = {0};

	assert_string_equal(http_client_response_header(&resp, "RETRY-AFTER"), "7");
	assert_string_equal(http_client_response_header(&resp, "x-empty"), "");
	assert_null(http_client_response_header(&resp, "Retry"));
	assert_null(http_client_response_header(&none, "Retry-After"));
}

/* ---- curl against the in-process server ---- */

/* One request with method m and body: the server sees it intact and the answer comes back. */
static void method_roundtrip(struct fixture *f, size_t i, enum http_method method, const char *body,
                             size_t blen)
{
	const char *m = http_method_to_string(method);
	_cleanup_free_ char *path = xasprintf("/echo/%s", m);
	_cleanup_free_ char *query = xasprintf("q=%zu", i);
	_cleanup_free_ char *url =
	    xasprintf("http://127.0.0.1:%d%s?%s", http_server_port(f->server), path, query);
	_cleanup_free_ char *custom = xasprintf("value for %s", m);
	const struct http_header hdrs[] = {
	    {"X-Custom", custom}, {"Content-Type", "application/json"}, {"X-Empty", ""}};
	struct http_client_request req = {.method = method,
	                                  .url = url,
	                                  .headers = hdrs,
	                                  .n_headers = 3,
	                                  .body = body,
	                                  .body_len = blen};
	struct result r = {0};
	_cleanup_free_ char *want = NULL;

	send_and_wait(f, &req, &r);
	assert_int_equal(f->last.method, method);
	assert_string_equal(f->last.path, path);
	assert_string_equal(f->last.query, query);
	assert_string_equal(f->last.custom, custom);
	assert_non_null(f->last.empty);
	assert_string_equal(f->last.empty, "");
	assert_string_equal(f->last.content_type, "application/json");
	assert_string_equal(f->last.user_agent, "hookrun/" HOOKRUN_VERSION);
	assert_null(f->last.expect);
	assert_int_equal(f->last.body_len, blen);
	assert_memory_equal(f->last.body, blen ? body : "", blen);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.error_text, "");
	assert_string_equal(result_header(&r, "x-reply"), "yes");
	assert_string_equal(result_header(&r, "X-Method"), m);
	assert_true(r.total_ms > 0);
	want =
	    method == HTTP_METHOD_HEAD ? xstrdup("") : xasprintf("%s %s %s", m, path, f->last.body);
	assert_int_equal(r.body_len, strlen(want));
	assert_string_equal(r.body, want);
	result_fini(&r);
}

/* Every method reaches the server intact, and status, headers and body come back. */
static void test_methods(void **state)
{
	static const struct {
		enum http_method method;
		const char *body;
		size_t body_len;
	} cases[] = {
	    {HTTP_METHOD_GET, NULL, 0},           {HTTP_METHOD_POST, "post-body", 9},
	    {HTTP_METHOD_PUT, "put \0 body", 10}, {HTTP_METHOD_PATCH, "{\"a\":1}", 7},
	    {HTTP_METHOD_DELETE, NULL, 0},        {HTTP_METHOD_HEAD, NULL, 0},
	};
	struct fixture *f = *state;

	fixture_client(f, NULL);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		method_roundtrip(f, i, cases[i].method, cases[i].body, cases[i].body_len);
	assert_int_equal(f->n_requests, ELEMENTSOF(cases));
	assert_int_equal(http_client_in_flight(f->client), 0);
}

/* A POST without a body sends Content-Length: 0 and no invented Content-Type; a 1.5 MiB body
 * goes in one round trip (no Expect: 100-continue) and arrives intact, and its echo comes back
 * whole through curl's receive buffer of a few KiB. */
static void test_post_bodies(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *url = fixture_url(f, "/echo");
	size_t big_len = 3 << 19;
	_cleanup_free_ char *big = xmalloc(big_len);
	struct http_client_request req = {.method = HTTP_METHOD_POST, .url = url};
	struct result r = {0};

	fixture_client(f, NULL);
	send_and_wait(f, &req, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(f->last.body_len, 0);
	assert_string_equal(f->last.content_length, "0");
	assert_null(f->last.content_type);
	result_fini(&r);

	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + i % 26);
	req.body = big;
	req.body_len = big_len;
	r = (struct result){0};
	send_and_wait(f, &req, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.status, 201);
	assert_null(f->last.expect);
	assert_int_equal(f->last.body_len, big_len);
	assert_memory_equal(f->last.body, big, big_len);
	assert_int_equal(r.body_len, strlen("POST /echo ") + big_len);
	assert_memory_equal(r.body, "POST /echo ", strlen("POST /echo "));
	assert_memory_equal(r.body + strlen("POST /echo "), big, big_len);
	result_fini(&r);
}

struct chain {
	struct fixture *f;
	const char *url;
	size_t done;
	size_t failures;
};

/* done of the keep-alive chain: check, then send the next request from inside done. */
static void on_chain_done(const struct http_client_response *resp, void *userdata)
{
	struct chain *ch = userdata;
	struct http_client_request req = {.method = HTTP_METHOD_GET, .url = ch->url};

	if (resp->transport_error || resp->status != 201)
		ch->failures++;
	if (++ch->done < 20 && http_client_send(ch->f->client, &req, on_chain_done, ch) < 0)
		ch->failures++;
}

/* 20 sequential requests, each sent from the previous one's done, share one connection. */
static void test_keep_alive(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *url = fixture_url(f, "/seq");
	struct chain ch = {.f = f, .url = url};
	struct http_client_request req = {.method = HTTP_METHOD_GET, .url = url};

	fixture_client(f, NULL);
	assert_int_equal(http_client_send(f->client, &req, on_chain_done, &ch), 0);
	assert_true(run_until(f->base, &ch.done, 20, WAIT_MS));
	assert_int_equal(ch.failures, 0);
	assert_int_equal(f->n_requests, 20);
	assert_int_equal(http_client_connections_opened(f->client), 1);
	assert_int_equal(http_client_in_flight(f->client), 0);
}

/* 100 requests at once all complete with their own bodies, over at most 8 connections. */
static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct result *r = xcalloc(100, sizeof(*r));

	fixture_client(f, NULL);
	for (size_t i = 0; i < 100; i++) {
		_cleanup_free_ char *path = xasprintf("/n/%zu", i);
		_cleanup_free_ char *url = fixture_url(f, path);
		struct http_client_request req = {.method = HTTP_METHOD_GET, .url = url};

		r[i].counter = &f->n_done;
		assert_int_equal(http_client_send(f->client, &req, on_done, &r[i]), 0);
	}
	assert_int_equal(http_client_in_flight(f->client), 100);
	assert_true(run_until(f->base, &f->n_done, 100, WAIT_MS));
	for (size_t i = 0; i < 100; i++) {
		_cleanup_free_ char *want = xasprintf("body-%zu", i);

		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].err, 0);
		assert_int_equal(r[i].status, 200);
		assert_string_equal(r[i].body, want);
		result_fini(&r[i]);
	}
	free(r);
	assert_int_equal(http_client_in_flight(f->client), 0);
	assert_in_range(http_client_connections_opened(f->client), 1, 8);
}

/* Send n requests at once to /n/0.. and run them to completion (f->n_done reaches want). */
static void burst(struct fixture *f, size_t n, size_t want)
{
	struct result *r = xcalloc(n, sizeof(*r));

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = xasprintf("/n/%zu", i);
		_cleanup_free_ char *url = fixture_url(f, path);
		struct http_client_request req = {.method = HTTP_METHOD_GET, .url = url};

		r[i].counter = &f->n_done;
		assert_int_equal(http_client_send(f->client, &req, on_done, &r[i]), 0);
	}
	assert_true(run_until(f->base, &f->n_done, want, WAIT_MS));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(r[i].status, 200);
		result_fini(&r[i]);
	}
	free(r);
}

/* Connections opened by a burst stay open through a lull of single calls and serve the next
 * burst (libcurl's default cache, four per easy handle of the moment, closed one per call in
 * the lull). */
static void test_idle_connections_kept(void **state)
{
	struct fixture *f = *state;
	long opened;

	fixture_client(f, NULL);
	burst(f, 8, 8);
	opened = http_client_connections_opened(f->client);
	assert_in_range(opened, 5, 8);
	for (size_t i = 1; i <= 6; i++)
		burst(f, 1, 8 + i);
	burst(f, 8, 22);
	assert_int_equal(http_client_connections_opened(f->client), opened);
}

/* A server that never answers: -ETIMEDOUT after the request's own 200 ms. */
static void test_timeout(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *url = fixture_url(f, "/hang");
	struct http_client_request req = {.method = HTTP_METHOD_GET, .url = url, .timeout_ms = 200};
	struct result r = {0};
	long long start = now_ms(), took;

	fixture_client(f, NULL);
	send_and_wait(f, &req, &r);
	took = now_ms() - start;
	assert_int_equal(r.err, -ETIMEDOUT);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.body_len, 0);
	assert_int_equal(r.n_headers, 0);
	assert_true(r.error_text[0] != '\0');
	assert_int_equal(f->n_hung, 1);
	if (took < 190 || took > 5000)
		fail_msg("timed out after %lld ms, want about 200", took);
	result_fini(&r);
}

/* A port that was bound and closed again refuses the connection. */
static void test_connection_refused(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	_cleanup_free_ char *url = NULL;
	struct http_client_request req = {.method = HTTP_METHOD_GET};
	struct result r = {0};

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	url = xasprintf("http://127.0.0.1:%d/", ntohs(sin.sin_port));
	req.url = url;
	fixture_client(f, NULL);
	send_and_wait(f, &req, &r);
	assert_int_equal(r.err, -ECONNREFUSED);
	assert_int_equal(r.status, 0);
	assert_true(r.error_text[0] != '\0');
	result_fini(&r);
}

/* Bad input is refused at send (-EINVAL), nothing is queued and done is never called. */
static void test_send_refuses_bad_input(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *url = fixture_url(f, "/");
	const struct http_header crlf[] = {{"X-Bad", "a\r\nInjected: yes"}};
	const struct http_header colon[] = {{"X:Bad", "a"}};
	const struct http_client_request bad[] = {
	    {.method = HTTP_METHOD_GET, .url = "ftp://127.0.0.1/"},
	    {.method = HTTP_METHOD_GET, .url = "not a url"},
	    {.method = HTTP_METHOD_GET, .url = NULL},
	    {.method = HTTP_METHOD_OTHER, .url = url},
	    {.method = HTTP_METHOD_HEAD, .url = url, .body = "x", .body_len = 1},
	    {.method = HTTP_METHOD_GET, .url = url, .headers = crlf, .n_headers = 1},
	    {.method = HTTP_METHOD_GET, .url = url, .headers = colon, .n_headers = 1},
	    {.method = HTTP_METHOD_POST, .url = url, .body = NULL, .body_len = 3},
	};
	struct result r = {0};

	fixture_client(f, NULL);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (http_client_send(f->client, &bad[i], on_done, &r) != -EINVAL)
			fail_msg("case %zu was not refused with -EINVAL", i);
	assert_int_equal(http_client_in_flight(f->client), 0);
	assert_int_equal(r.calls, 0);
}

/* ---- raw servers that misbehave ---- */

struct raw_server {
	struct evconnlistener *listener;
	int port;
	const char *reply;
	bool reset;
};

/* Once the request head is in, send the canned reply and close (with RST when asked). */
static void raw_on_read(struct bufferevent *bev, void *arg)
{
	struct raw_server *rs = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	evutil_socket_t fd = bufferevent_getfd(bev);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (evbuffer_search(in, "\r\n\r\n", 4, NULL).pos < 0)
		return;
	assert_int_equal(send(fd, rs->reply, strlen(rs->reply), MSG_NOSIGNAL),
	                 (ssize_t)strlen(rs->reply));
	if (rs->reset)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	bufferevent_free(bev);
}

/* The peer went away first: just free. */
static void raw_on_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

/* A connection arrived: read its request. */
static void raw_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                          int socklen, void *arg)
{
	struct bufferevent *bev =
	    bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);

	assert_non_null(bev);
	bufferevent_setcb(bev, raw_on_read, NULL, raw_on_event, arg);
	assert_int_equal(bufferevent_enable(bev, EV_READ), 0);
}

/* Listen on 127.0.0.1, any free port. */
static void raw_server_open(struct raw_server *rs, struct event_base *base)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t len = sizeof(sin);

	rs->listener = evconnlistener_new_bind(base, raw_on_accept, rs,
	                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	                                       (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(rs->listener);
	assert_int_equal(
	    getsockname(evconnlistener_get_fd(rs->listener), (struct sockaddr *)&sin, &len), 0);
	rs->port = ntohs(sin.sin_port);
}

/* GET / from a raw server with this reply; the result is left in r. */
static void raw_exchange(struct fixture *f, const char *reply, bool reset, struct result *r)
{
	struct raw_server rs = {.reply = reply, .reset = reset};
	_cleanup_free_ char *url = NULL;
	struct http_client_request req = {.method = HTTP_METHOD_GET};

	raw_server_open(&rs, f->base);
	url = xasprintf("http://127.0.0.1:%d/", rs.port);
	req.url = url;
	if (!f->client)
		fixture_client(f, NULL);
	send_and_wait(f, &req, r);
	evconnlistener_free(rs.listener);
}

/* The connection is reset in the middle of the body. curl reports CURLE_RECV_ERROR (the RST
 * arrived before the data was read) or CURLE_PARTIAL_FILE (data read, then the close):
 * either way the class is -ECONNRESET. */
static void test_reset_mid_response(void **state)
{
	struct fixture *f = *state;
	struct result r = {0};

	raw_exchange(f, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", true, &r);
	assert_int_equal(r.err, -ECONNRESET);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.body_len, 0);
	assert_true(r.error_text[0] != '\0');
	result_fini(&r);
}

/* A reply that is not HTTP at all is a protocol error. */
static void test_garbage_reply(void **state)
{
	struct fixture *f = *state;
	struct result r = {0};

	raw_exchange(f, "hello\r\n\r\n", false, &r);
	assert_int_equal(r.err, -EPROTO);
	assert_int_equal(r.status, 0);
	assert_true(r.error_text[0] != '\0');
	result_fini(&r);
}

/* After an interim 103 response, only the final response's headers are kept. */
static void test_interim_response_headers(void **state)
{
	struct fixture *f = *state;
	struct result r = {0};

	raw_exchange(f,
	             "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
	             "HTTP/1.1 202 Accepted\r\nX-Final:  yes  \r\nContent-Length: 2\r\n\r\nok",
	             false, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.status, 202);
	assert_null(result_header(&r, "Link"));
	assert_string_equal(result_header(&r, "x-final"), "yes");
	assert_string_equal(result_header(&r, "Content-Length"), "2");
	assert_string_equal(r.body, "ok");
	result_fini(&r);
}

/* A body over max_response_body ends the request with -EFBIG and says why. */
static void test_body_cap(void **state)
{
	struct fixture *f = *state;
	struct http_client_options o = {.max_response_body = 1024};
	_cleanup_free_ char *url = fixture_url(f, "/big");
	struct http_client_request req = {.method = HTTP_METHOD_GET, .url = url};
	struct result r = {0};

	fixture_client(f, &o);
	send_and_wait(f, &req, &r);
	assert_int_equal(r.err, -EFBIG);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.body_len, 0);
	assert_non_null(strstr(r.error_text, "larger than 1024"));
	result_fini(&r);
}

struct resender {
	struct fixture *f;
	int calls;
	int err;
	int send_r;
};

/* done that tries to send again while its client is being freed. */
static void on_done_resend(const struct http_client_response *resp, void *userdata)
{
	struct resender *rs = userdata;
	struct http_client_request req = {.method = HTTP_METHOD_GET, .url = "http://127.0.0.1/"};

	rs->calls++;
	rs->err = resp->transport_error;
	rs->send_r = http_client_send(rs->f->client, &req, on_done_resend, rs);
}

/* Freeing with requests in flight: each done gets -ECANCELED before free returns, and a send
 * from inside such a done is refused. */
static void test_free_cancels(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *url = fixture_url(f, "/hang");
	struct http_client_request req = {.method = HTTP_METHOD_GET, .url = url};
	struct result r[3] = {0};
	struct resender rs = {.f = f};

	fixture_client(f, NULL);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(http_client_send(f->client, &req, on_done, &r[i]), 0);
	assert_int_equal(http_client_send(f->client, &req, on_done_resend, &rs), 0);
	assert_true(run_until(f->base, &f->n_hung, 4, WAIT_MS));
	assert_int_equal(http_client_in_flight(f->client), 4);
	http_client_free(f->client);
	f->client = NULL;
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].err, -ECANCELED);
		assert_int_equal(r[i].status, 0);
		assert_true(r[i].error_text[0] != '\0');
		result_fini(&r[i]);
	}
	assert_int_equal(rs.calls, 1);
	assert_int_equal(rs.err, -ECANCELED);
	assert_int_equal(rs.send_r, -ECANCELED);
}

struct freer {
	struct fixture *f;
	struct result *others;
	size_t n_others;
	int calls;
	bool others_cancelled;
};

/* done that frees its own client; the others must be cancelled inside that free. */
static void on_done_free_client(const struct http_client_response *resp, void *userdata)
{
	struct freer *fr = userdata;

	fr->calls++;
	http_client_free(fr->f->client);
	fr->f->client = NULL;
	fr->others_cancelled = true;
	for (size_t i = 0; i < fr->n_others; i++)
		if (fr->others[i].calls != 1 || fr->others[i].err != -ECANCELED)
			fr->others_cancelled = false;
	fr->f->n_done++;
}

/* A done callback may free the client while curl is delivering completions. */
static void test_free_from_done(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *hang = fixture_url(f, "/hang");
	_cleanup_free_ char *echo = fixture_url(f, "/echo");
	struct http_client_request rh = {.method = HTTP_METHOD_GET, .url = hang};
	struct http_client_request re = {.method = HTTP_METHOD_GET, .url = echo};
	struct result others[2] = {0};
	struct freer fr = {.f = f, .others = others, .n_others = 2};

	fixture_client(f, NULL);
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(http_client_send(f->client, &rh, on_done, &others[i]), 0);
	assert_int_equal(http_client_send(f->client, &re, on_done_free_client, &fr), 0);
	assert_true(run_until(f->base, &f->n_done, 1, WAIT_MS));
	assert_int_equal(fr.calls, 1);
	assert_true(fr.others_cancelled);
	assert_null(f->client);
	/* Let the loop run on: nothing of the freed client may fire any more. */
	assert_int_not_equal(event_base_loop(f->base, EVLOOP_NONBLOCK), -1);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(others[i].calls, 1);
		result_fini(&others[i]);
	}
}

/* Run the http_client tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_canned_transport),
	    cmocka_unit_test(test_canned_refused),
	    cmocka_unit_test(test_canned_free_pending),
	    cmocka_unit_test(test_response_header),
	    cmocka_unit_test_setup_teardown(test_methods, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_post_bodies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_connections_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_refuses_bad_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_mid_response, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_interim_response_headers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_cancels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_from_done, setup, teardown),
	};

	/* Answering an exchange whose client already left must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
