/* Unit tests for services/versori-sim/sim_server.c: the server runs on 127.0.0.1:0 in a thread
 * of its own and is driven over HTTP with libcurl: admin routes, call counting, X-Request-Id,
 * and faults as a client sees them (5xx, 429 + Retry-After, latency, reset, stall past the
 * client's timeout, a call still held when the server is freed). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <event2/event.h>

#include "json.h"
#include "log.h"
#include "sim_faults.h"
#include "sim_server.h"

#define USERS_PATH "/api/v2/o/01JGFJJZ00M9S346Q3D25VT4F5/users"

struct server {
	struct event_base *base;
	struct sim_server *sim;
	struct event *tick;
	pthread_t thread;
	atomic_bool stop;
	int port;
};

struct reply {
	CURLcode rc;
	long status;
	char body[16384];
	size_t len;
	char req_id[64];
	char retry_after[64];
	int64_t us;
};

/* Microseconds on the monotonic clock. */
static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Milliseconds on the monotonic clock. */
static int64_t now_ms(void)
{
	return now_us() / 1000;
}

/* Every 10 ms: leave the loop once asked to. */
static void server_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	if (atomic_load(&srv->stop))
		event_base_loopbreak(srv->base);
}

/* The server thread: run the loop until stopped. */
static void *server_thread(void *arg)
{
	struct server *srv = arg;

	event_base_dispatch(srv->base);
	return NULL;
}

/* Start a simulator with an empty world and no faults. */
static struct server *server_start(void)
{
	struct server *srv = calloc(1, sizeof(*srv));
	json_auto_t *fixture = json_pack("{s:[]}", "organisations");
	struct sim_server_options o = {.addr = "127.0.0.1", .port = 0, .fixture = fixture};
	struct timeval every = {0, 10000};
	char *err = NULL;

	srv->base = event_base_new();
	if (sim_server_new(srv->base, &o, sim_faults_new(1), &srv->sim, &err) < 0)
		fail_msg("sim_server_new: %s", err);
	srv->port = sim_server_port(srv->sim);
	srv->tick = event_new(srv->base, -1, EV_PERSIST, server_on_tick, srv);
	event_add(srv->tick, &every);
	assert_int_equal(pthread_create(&srv->thread, NULL, server_thread, srv), 0);
	return srv;
}

/* Stop the loop, then free the server (calls still held are dropped). */
static void server_stop(struct server *srv)
{
	atomic_store(&srv->stop, true);
	assert_int_equal(pthread_join(srv->thread, NULL), 0);
	sim_server_free(srv->sim);
	event_free(srv->tick);
	event_base_free(srv->base);
	free(srv);
}

/* Collect the body. */
static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n, room = sizeof(r->body) - 1 - r->len;

	memcpy(r->body + r->len, p, len < room ? len : room);
	r->len += len < room ? len : room;
	r->body[r->len] = '\0';
	return len;
}

/* Copy the value of header name from line into out when it matches. */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);

	if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	line += nl + 1;
	len -= nl + 1;
	while (len && *line == ' ') {
		line++;
		len--;
	}
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	snprintf(out, outlen, "%.*s", (int)len, line);
}

/* Collect X-Request-Id and Retry-After. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;

	header_value(p, size * n, "X-Request-Id", r->req_id, sizeof(r->req_id));
	header_value(p, size * n, "Retry-After", r->retry_after, sizeof(r->retry_after));
	return size * n;
}

/* One request to the server; timeout_ms 0 means 5 s. */
static struct reply *call(struct server *srv, const char *method, const char *path,
                          const char *body, long timeout_ms)
{
	static struct reply r;
	CURL *c = curl_easy_init();
	_cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d%s", srv->port, path);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	int64_t start = now_us();

	memset(&r, 0, sizeof(r));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms ? timeout_ms : 5000L);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	r.rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	r.us = now_us() - start;
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return &r;
}

/* A request that must succeed at the HTTP level with status want; returns its JSON body (or
 * NULL for an empty body). */
static json_t *call_json(struct server *srv, const char *method, const char *path, const char *body,
                         long want)
{
	struct reply *r = call(srv, method, path, body, 0);
	json_t *doc;

	if (r->rc != CURLE_OK || r->status != want)
		fail_msg("%s %s: curl %d status %ld (want %ld) body %s", method, path, r->rc,
		         r->status, want, r->body);
	assert_int_equal(strlen(r->req_id), 36);
	if (!r->len)
		return NULL;
	doc = json_loads(r->body, 0, NULL);
	assert_non_null(doc);
	return doc;
}

/* The count of calls for route/status/fault in GET /_sim/calls (0 when absent). */
static json_int_t calls_count(struct server *srv, const char *route, long status, const char *fault,
                              json_int_t *ret_total)
{
	json_auto_t *doc = call_json(srv, "GET", "/_sim/calls", NULL, 200);
	json_int_t n = 0;
	size_t i;
	json_t *c;

	json_array_foreach (json_object_get(doc, "calls"), i, c) {
		if (strcmp(json_string_value(json_object_get(c, "route")), route) == 0 &&
		    json_integer_value(json_object_get(c, "status")) == status &&
		    strcmp(json_string_value(json_object_get(c, "fault")), fault) == 0)
			n += json_integer_value(json_object_get(c, "count"));
	}
	if (ret_total)
		*ret_total = json_integer_value(json_object_get(doc, "total"));
	return n;
}

/* Replace the fault rules. */
static void set_faults(struct server *srv, const char *rules)
{
	json_auto_t *doc = call_json(srv, "PUT", "/_sim/faults", rules, 200);

	assert_non_null(json_object_get(doc, "rules"));
}

/* Group setup: one server for the admin and fault tests. */
static int group_setup(void **state)
{
	log_setup("test", LOG_LEVEL_WARN, LOG_FORMAT_LOGFMT);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	*state = server_start();
	return 0;
}

/* Group teardown. */
static int group_teardown(void **state)
{
	server_stop(*state);
	curl_global_cleanup();
	return 0;
}

/* Before each test: no faults, no counted calls. */
static int test_setup(void **state)
{
	struct server *srv = *state;

	json_decref(call_json(srv, "DELETE", "/_sim/faults", NULL, 204));
	json_decref(call_json(srv, "DELETE", "/_sim/calls", NULL, 204));
	return 0;
}

/* Health, state, switches, unknown paths and methods. */
static void test_admin_routes(void **state)
{
	struct server *srv = *state;
	json_auto_t *health = call_json(srv, "GET", "/_sim/healthz", NULL, 200);
	json_auto_t *st = call_json(srv, "GET", "/_sim/state", NULL, 200);
	json_auto_t *sw = call_json(srv, "GET", "/_sim/switches", NULL, 200);
	json_auto_t *bad =
	    call_json(srv, "PUT", "/_sim/switches", "{\"duplicate_user\":\"nope\"}", 400);
	json_auto_t *notjson = call_json(srv, "PUT", "/_sim/faults", "{nope", 400);
	json_auto_t *badrule = call_json(srv, "PUT", "/_sim/faults", "[{\"kind\":\"x\"}]", 400);
	json_auto_t *missing = call_json(srv, "GET", "/_sim/nope", NULL, 404);
	json_auto_t *method = call_json(srv, "PATCH", "/_sim/state", "{}", 405);

	assert_string_equal(json_string_value(json_object_get(health, "status")), "ok");
	assert_true(json_is_array(json_object_get(st, "organisations")));
	assert_true(json_is_object(sw));
	assert_non_null(
	    strstr(json_string_value(json_object_get(bad, "message")), "duplicate_user=nope"));
	assert_non_null(
	    strstr(json_string_value(json_object_get(notjson, "message")), "malformed JSON"));
	assert_non_null(
	    strstr(json_string_value(json_object_get(badrule, "message")), "rules[0].kind"));
	assert_string_equal(json_string_value(json_object_get(missing, "code")), "404000");
	assert_string_equal(json_string_value(json_object_get(method, "code")), "405000");
}

/* API calls are counted per route and status (admin calls are not); DELETE clears. */
static void test_call_counting(void **state)
{
	struct server *srv = *state;
	struct reply *r;
	long status;
	json_int_t total = -1;

	r = call(srv, "GET", USERS_PATH, NULL, 0);
	assert_int_equal(r->rc, CURLE_OK);
	assert_int_equal(strlen(r->req_id), 36);
	status = r->status;
	r = call(srv, "GET", USERS_PATH, NULL, 0);
	assert_int_equal(r->status, status);
	assert_int_equal(calls_count(srv, "GET /api/v2/o/{org}/users", status, "none", &total), 2);
	assert_int_equal(total, 2);
	json_decref(call_json(srv, "DELETE", "/_sim/calls", NULL, 204));
	assert_int_equal(calls_count(srv, "GET /api/v2/o/{org}/users", status, "none", &total), 0);
	assert_int_equal(total, 0);
}

/* A scoped, counted 5xx: only POST on the path fails, only once; the body is an Error. */
static void test_error_fault_scoped(void **state)
{
	struct server *srv = *state;
	struct reply *r;
	json_auto_t *faults = NULL;

	set_faults(srv, "[{\"kind\":\"error\",\"method\":\"POST\",\"path\":\"" USERS_PATH "\","
	                "\"statuses\":[503],\"count\":1}]");
	r = call(srv, "GET", USERS_PATH, NULL, 0);
	assert_true(r->status != 503);
	r = call(srv, "POST", USERS_PATH, "{\"externalId\":\"a\"}", 0);
	assert_int_equal(r->status, 503);
	assert_non_null(strstr(r->body, "\"code\":\"503000\""));
	r = call(srv, "POST", USERS_PATH, "{\"externalId\":\"a\"}", 0);
	assert_true(r->status != 503);
	assert_int_equal(calls_count(srv, "POST /api/v2/o/{org}/users", 503, "error", NULL), 1);
	faults = call_json(srv, "GET", "/_sim/faults", NULL, 200);
	assert_int_equal(json_integer_value(json_pointer_get(faults, "/rules/0/remaining")), 0);
}

/* A tiny token bucket: the second call is throttled with a Retry-After in seconds. */
static void test_throttle(void **state)
{
	struct server *srv = *state;
	struct reply *r;

	set_faults(srv, "[{\"kind\":\"throttle\",\"per_second\":0.1,\"burst\":1}]");
	r = call(srv, "GET", USERS_PATH, NULL, 0);
	assert_true(r->status != 429);
	r = call(srv, "GET", USERS_PATH, NULL, 0);
	assert_int_equal(r->status, 429);
	assert_true(atoi(r->retry_after) >= 9 && atoi(r->retry_after) <= 10);
	assert_int_equal(calls_count(srv, "GET /api/v2/o/{org}/users", 429, "throttle", NULL), 1);
}

/* Fixed latency delays the answer by at least that much. */
static void test_latency(void **state)
{
	struct server *srv = *state;
	struct reply *r;

	set_faults(srv, "[{\"kind\":\"latency\",\"ms\":300}]");
	r = call(srv, "GET", USERS_PATH, NULL, 0);
	assert_int_equal(r->rc, CURLE_OK);
	if (r->us < 300000)
		fail_msg("answered after %lld us, want >= 300 ms", (long long)r->us);
}

/* A reset sends part of the answer, then an RST: curl reports a receive error. */
static void test_reset(void **state)
{
	struct server *srv = *state;
	struct reply *r;
	json_int_t total = 0;

	set_faults(srv, "[{\"kind\":\"reset\",\"count\":2}]");
	r = call(srv, "GET", USERS_PATH, NULL, 0);
	assert_int_equal(r->rc, CURLE_RECV_ERROR);
	set_faults(srv, "[{\"kind\":\"reset\",\"bytes\":0}]");
	r = call(srv, "GET", USERS_PATH, NULL, 0);
	assert_int_equal(r->rc, CURLE_RECV_ERROR);
	json_decref(call_json(srv, "DELETE", "/_sim/faults", NULL, 204));
	r = call(srv, "GET", USERS_PATH, NULL, 0);
	assert_int_equal(r->rc, CURLE_OK);
	(void)calls_count(srv, "", 0, "", &total);
	assert_int_equal(total, 3);
}

/* Wait until the server has answered n calls in total (5 s deadline). */
static void wait_total(struct server *srv, json_int_t n)
{
	int64_t deadline = now_ms() + 5000;
	json_int_t total = -1;

	while (now_ms() < deadline) {
		(void)calls_count(srv, "", 0, "", &total);
		if (total >= n)
			return;
		usleep(20000);
	}
	fail_msg("server answered %lld calls, want %lld", (long long)total, (long long)n);
}

/* A stall longer than the client's timeout: the client times out, the server answers the
 * departed client later without harm, and keeps serving. */
static void test_stall_past_client_timeout(void **state)
{
	struct server *srv = *state;
	struct reply *r;
	json_auto_t *health = NULL;

	set_faults(srv, "[{\"kind\":\"stall\",\"ms\":800,\"count\":1}]");
	r = call(srv, "GET", USERS_PATH, NULL, 200);
	assert_int_equal(r->rc, CURLE_OPERATION_TIMEDOUT);
	health = call_json(srv, "GET", "/_sim/healthz", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(health, "pending")), 1);
	wait_total(srv, 1);
	json_decref(health);
	health = call_json(srv, "GET", "/_sim/healthz", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(health, "pending")), 0);
	r = call(srv, "GET", USERS_PATH, NULL, 0);
	assert_int_equal(r->rc, CURLE_OK);
}

/* POST /_sim/reset rebuilds the state (switches included) and clears the counts. */
static void test_reset_endpoint(void **state)
{
	struct server *srv = *state;
	json_auto_t *done = NULL, *sw = NULL;
	json_int_t total = -1;

	json_decref(
	    call_json(srv, "PUT", "/_sim/switches", "{\"duplicate_user\":\"existing\"}", 200));
	(void)call(srv, "GET", USERS_PATH, NULL, 0);
	done = call_json(srv, "POST", "/_sim/reset", NULL, 200);
	assert_string_equal(json_string_value(json_object_get(done, "status")), "reset");
	(void)calls_count(srv, "", 0, "", &total);
	assert_int_equal(total, 0);
	sw = call_json(srv, "GET", "/_sim/switches", NULL, 200);
	assert_string_equal(json_string_value(json_object_get(sw, "duplicate_user")), "409");
}

/* A call still stalled when the server is freed is dropped cleanly. */
static void test_free_with_held_call(void **state)
{
	struct server *srv = server_start();
	struct reply *r;
	json_auto_t *health = NULL;

	set_faults(srv, "[{\"kind\":\"stall\",\"ms\":60000}]");
	r = call(srv, "GET", USERS_PATH, NULL, 200);
	assert_int_equal(r->rc, CURLE_OPERATION_TIMEDOUT);
	json_decref(call_json(srv, "DELETE", "/_sim/faults", NULL, 204));
	health = call_json(srv, "GET", "/_sim/healthz", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(health, "pending")), 1);
	server_stop(srv);
}

/* Run the sim_server tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_admin_routes, test_setup),
	    cmocka_unit_test_setup(test_call_counting, test_setup),
	    cmocka_unit_test_setup(test_error_fault_scoped, test_setup),
	    cmocka_unit_test_setup(test_throttle, test_setup),
	    cmocka_unit_test_setup(test_latency, test_setup),
	    cmocka_unit_test_setup(test_reset, test_setup),
	    cmocka_unit_test_setup(test_stall_past_client_timeout, test_setup),
	    cmocka_unit_test_setup(test_reset_endpoint, test_setup),
	    cmocka_unit_test_setup(test_free_with_held_call, test_setup),
	};

	return cmocka_run_group_tests_name("sim_server", tests, group_setup, group_teardown);
}
