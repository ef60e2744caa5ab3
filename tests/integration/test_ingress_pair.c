/* Two hookrun-ingress processes on one port (SO_REUSEPORT), as the design runs several on one
 * host: the second binds the port the first holds, the kernel spreads connections over both,
 * one idempotency key sent to both at once is stored once under one id (the claim lives in
 * PostgreSQL, not in either process), and when one is killed with SIGKILL the other goes on
 * serving the port with every acknowledged delivery stored. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "harness.h"
#include "xalloc.h"

#define PAIR_SECRET "pair: one secret for both processes"

static const char pair_source[] = "[source.pair]\n"
                                  "auth = hmac\n"
                                  "hmac_algorithm = sha256\n"
                                  "hmac_encoding = hex\n"
                                  "signature_header = X-Signature\n"
                                  "signature_prefix = sha256=\n";

/* Every stored delivery logs at debug: the logs say which process answered what. */
static const char pair_hookrun_ini[] = "log_level = debug\n";

/* State of the group: one database; each test starts its own pair. */
struct suite {
	struct harness_group g; /* first: the harness_group_*() functions take the state */
	struct harness_service *in[2];
};

/* Group setup: a migrated database. */
static int group_setup(void **state)
{
	return harness_group_setup(state, sizeof(struct suite), NULL, NULL);
}

/* Per-test teardown: stop the load and both processes; logs are printed on failure. */
static int test_teardown(void **state)
{
	struct suite *s = *state;
	bool dirty = false;

	for (size_t i = 0; i < ELEMENTSOF(s->in); i++) {
		/* A sanitizer report at exit fails the test even when its assertions passed. */
		dirty |= s->in[i] && harness_service_stop(s->in[i], 15000) == -EPROTO;
		harness_service_free(s->in[i], !s->g.passed);
		s->in[i] = NULL;
	}
	return harness_test_teardown(state) < 0 || dirty ? -1 : 0;
}

/* How many lines of a process's log contain every one of the NULL-terminated needles. */
static size_t log_lines_with(const struct harness_service *svc, const char *const *needles)
{
	_cleanup_free_ char *log = harness_read_file(harness_service_log_path(svc), NULL);
	size_t count = 0;

	for (char *line = log, *end; line && *line; line = end ? end + 1 : NULL) {
		bool all = true;

		end = strchr(line, '\n');
		if (end)
			*end = '\0';
		for (size_t i = 0; needles[i] && all; i++)
			all = strstr(line, needles[i]) != NULL;
		count += all;
	}
	return count;
}

/* Wait until a process logs its first database connection. The harness's /readyz check
 * proves nothing for a process that shares a port (the other one may answer it), and a
 * process takes connections from the moment it listens: until its database is up it
 * answers them 503. */
static void wait_db_connected(const struct harness_service *svc)
{
	const char *const needles[] = {"level=info", "event=db.connected", NULL};
	long long deadline = harness_now_ms() + 30000;

	while (log_lines_with(svc, needles) == 0) {
		if (harness_now_ms() >= deadline)
			fail_msg("the second ingress logged no database connection in 30 s");
		harness_poll_pause();
	}
}

/* Start the first process on a free port, then the second on the same port (the environment
 * overrides the file's listen_port = 0). */
static void start_pair(struct suite *s)
{
	const char *const first_env[] = {"HOOKRUN_SOURCE_PAIR_SECRET=" PAIR_SECRET, NULL};
	_cleanup_free_ char *port_env = NULL;
	int port;

	s->in[0] = harness_ingress_start(s->g.db, pair_hookrun_ini, pair_source, first_env);
	assert_non_null(s->in[0]);
	port = harness_service_port(s->in[0]);
	port_env = xasprintf("HOOKRUN_LISTEN_PORT=%d", port);
	const char *const second_env[] = {first_env[0], port_env, NULL};
	s->in[1] = harness_ingress_start(s->g.db, pair_hookrun_ini, pair_source, second_env);
	if (!s->in[1])
		fail_msg("a second ingress could not bind port %d next to the first", port);
	assert_int_equal(harness_service_port(s->in[1]), port);
	wait_db_connected(s->in[1]);
}

/* Deliveries each process logged as answered with status (202 or 200); polls until the sum
 * reaches total, as a line is written just after its answer is sent. */
static void served_by_each(const struct suite *s, int status, size_t total, size_t ret[2])
{
	_cleanup_free_ char *status_field = xasprintf(" status=%d ", status);
	const char *const needles[] = {"event=webhook.received", status_field, NULL};
	long long deadline = harness_now_ms() + 5000;

	for (;;) {
		ret[0] = log_lines_with(s->in[0], needles);
		ret[1] = log_lines_with(s->in[1], needles);
		if (ret[0] + ret[1] >= total || harness_now_ms() >= deadline)
			break;
		harness_poll_pause();
	}
	print_message("# status %d: %zu answered by the first process, %zu by the second\n", status,
	              ret[0], ret[1]);
	assert_int_equal(ret[0] + ret[1], total);
}

/* A signed webhook with a unique body on a fresh connection (a new source port, so the
 * kernel picks a listener afresh); expect 202. */
static void send_unique(int port, unsigned seq)
{
	_cleanup_free_ char *body = xasprintf("{\"seq\":%u,\"pid\":%d}", seq, (int)getpid());
	_cleanup_free_ char *sig = harness_hmac_header(&harness_hmac_signer, PAIR_SECRET,
	                                               "/hooks/pair", body, strlen(body));
	const char *headers[] = {sig, NULL};
	struct harness_response r;

	assert_non_null(sig);
	harness_http(port,
	             &(struct harness_request){.path = "/hooks/pair",
	                                       .content_type = "application/json",
	                                       .body = body,
	                                       .body_len = strlen(body),
	                                       .headers = headers},
	             &r);
	if (r.status != 202)
		fail_msg("request %u answered %ld (curl %d): %s", seq, r.status, r.curl_code,
		         r.body ? r.body : "");
	harness_response_fini(&r);
}

/* Start a load of signed requests on the pair's port. */
static struct harness_load *start_load(struct suite *s, unsigned threads, unsigned max_requests,
                                       const char *const *headers)
{
	return harness_load_start(&(struct harness_load_options){
	    .port = harness_service_port(s->in[0]),
	    .path = "/hooks/pair",
	    .threads = threads,
	    .max_seconds = 60,
	    .max_requests = max_requests,
	    .hmac = &harness_hmac_signer,
	    .secret = PAIR_SECRET,
	    .headers = headers,
	    .pause_after_error_ms = 20,
	});
}

/* 1. Both processes serve the port; 64 fresh connections are spread over them (the chance
 * that all land on one is 2^-63) and every one is stored. */
static void test_pair_shares_port(void **state)
{
	enum { N = 64 };
	struct suite *s = *state;
	size_t served[2];

	HARNESS_REQUIRE_DB();
	start_pair(s);
	for (unsigned i = 0; i < N; i++)
		send_unique(harness_service_port(s->in[0]), i);
	served_by_each(s, 202, N, served);
	assert_true(served[0] > 0);
	assert_true(served[1] > 0);
	assert_int_equal(harness_deliveries_count(s->g.conn, "pair"), N);
	s->g.passed = true;
}

/* 2. One idempotency key sent by 32 connections at once, spread over both processes: every
 * answer carries one id, one of them is a 202, and there is one row. */
static void test_pair_dedup_across_processes(void **state)
{
	enum { N = 32 };
	struct suite *s = *state;
	_cleanup_free_ char *key = xasprintf("pair-%d", (int)getpid());
	_cleanup_free_ char *key_line = xasprintf("Idempotency-Key: %s", key);
	const char *const headers[] = {key_line, NULL};
	const struct harness_outcome *oc;
	size_t n, n202 = 0, served202[2], served200[2];

	HARNESS_REQUIRE_DB();
	start_pair(s);
	s->g.load = start_load(s, N, N, headers);
	assert_true(harness_load_wait_done(s->g.load, 60000));
	harness_load_stop(s->g.load);
	oc = harness_load_outcomes(s->g.load, &n);
	assert_int_equal(n, N);
	for (size_t i = 0; i < n; i++) {
		if (oc[i].status != 202 && oc[i].status != 200)
			fail_msg("request %zu answered %ld %s", i, oc[i].status, oc[i].code);
		n202 += oc[i].status == 202;
		assert_string_equal(oc[i].id, oc[0].id);
	}
	assert_int_equal(n202, 1);
	served_by_each(s, 202, 1, served202);
	served_by_each(s, 200, N - 1, served200);
	/* Both processes answered for the key: the dedup held across them. */
	assert_true(served202[0] + served200[0] > 0);
	assert_true(served202[1] + served200[1] > 0);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.deliveries "
	                                 "WHERE source = 'pair' AND idempotency_key = $1",
	                                 key, NULL),
	                 1);
	s->g.passed = true;
}

/* 3. SIGKILL of one process under load: the other keeps the port; the load goes on being
 * accepted, fresh connections all succeed, and every acknowledged delivery is stored. */
static void test_pair_survives_kill(void **state)
{
	struct suite *s = *state;
	struct harness_load_stats st;
	char first[HARNESS_ID_MAX] = "";
	size_t n = 0, missing;
	int port;

	HARNESS_REQUIRE_DB();
	start_pair(s);
	port = harness_service_port(s->in[0]);
	s->g.load = start_load(s, 8, 20000, NULL);
	assert_true(harness_load_wait(s->g.load, 202, 200, 30000));
	assert_int_equal(harness_service_kill(s->in[0]), 128 + 9);
	st = harness_load_stats(s->g.load);
	/* Connections the killed process held fail once; their threads reconnect to the other. */
	assert_true(harness_load_wait(s->g.load, 202, st.s202 + 500, 30000));
	harness_load_stop(s->g.load);
	st = harness_load_stats(s->g.load);
	print_message("# load: %zu answered: %zu 202, %zu 503, %zu other, %zu transport\n",
	              st.answered, st.s202, st.s503, st.other, st.transport);
	assert_int_equal(st.other, 0);
	for (unsigned i = 0; i < 20; i++)
		send_unique(port, 1000 + i);
	missing = harness_load_unstored(s->g.conn, s->g.load, &n, first);
	if (missing != 0)
		fail_msg("%zu of %zu acknowledged deliveries are not stored (first: %s)", missing,
		         n, first);
	print_message("# %zu acknowledged deliveries, all stored\n", n);
	s->g.passed = true;
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pair_shares_port, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_pair_dedup_across_processes, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_pair_survives_kill, harness_test_setup,
	                                    test_teardown),
	};

	harness_init();
	return cmocka_run_group_tests_name("ingress_pair", tests, group_setup,
	                                   harness_group_teardown);
}
