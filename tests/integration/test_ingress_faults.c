/* Fault tests of hookrun-ingress against a real PostgreSQL: a full backlog, a commit that
 * times out behind a table lock, the database stopped and restarted under load, and the
 * ingress killed with SIGKILL under load. Every acknowledged delivery must be stored.
 * These stop the shared PostgreSQL cluster: registered with is_parallel false. */
#include <errno.h>
#include <pthread.h>
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

/* struct source_config holds char * it never writes through; literals are cast to fit. */

#define FAULT_SECRET "faults: a secret of their own"

static const char *const fault_env[] = {"HOOKRUN_SOURCE_FAULT_SECRET=" FAULT_SECRET, NULL};

static const char fault_source[] = "[source.fault]\n"
                                   "auth = hmac\n"
                                   "hmac_algorithm = sha256\n"
                                   "hmac_encoding = hex\n"
                                   "signature_header = X-Signature\n"
                                   "signature_prefix = sha256=\n";

/* State of the group: one database; each test starts its own ingress. */
struct suite {
	struct harness_group g; /* first: the harness_group_*() functions take the state */
	PGconn *locker;         /* holds LOCK TABLE in an open transaction */
};

/* Group setup: a migrated database. */
static int group_setup(void **state)
{
	return harness_group_setup(state, sizeof(struct suite), NULL, NULL);
}

/* Per-test teardown: release the lock, stop load and ingress, bring PostgreSQL back. */
static int test_teardown(void **state)
{
	struct suite *s = *state;
	bool dirty;
	int r;

	if (!s->g.db)
		return 0;
	if (s->locker)
		PQfinish(s->locker);
	s->locker = NULL;
	dirty = harness_test_teardown(state) < 0;
	r = harness_pg_ensure_running();
	if (r < 0) {
		fprintf(stderr, "# cannot start PostgreSQL again: %s\n", strerror(-r));
		return -1;
	}
	/* The cluster may have restarted under the suite's connection. */
	PQfinish(s->g.conn);
	s->g.conn = harness_pg_connect(s->g.db->url);
	return !s->g.conn || dirty ? -1 : 0;
}

/* Start the test's ingress with extra [hookrun] lines. */
static void start_ingress(struct suite *s, const char *hookrun_ini)
{
	s->g.in = harness_ingress_start(s->g.db, hookrun_ini, fault_source, fault_env);
	assert_non_null(s->g.in);
}

/* Take an ACCESS EXCLUSIVE lock on hookrun.deliveries in an open transaction. */
static void lock_deliveries(struct suite *s)
{
	s->locker = harness_pg_connect(s->g.db->url);
	assert_non_null(s->locker);
	assert_true(harness_sql_exec(s->locker, "BEGIN; LOCK TABLE hookrun.deliveries "
	                                        "IN ACCESS EXCLUSIVE MODE"));
}

/* Release the lock by ending the transaction. */
static void unlock_deliveries(struct suite *s)
{
	assert_true(harness_sql_exec(s->locker, "ROLLBACK"));
	PQfinish(s->locker);
	s->locker = NULL;
}

/* Reconnect the suite's own connection (after the cluster was restarted). */
static void reconnect(struct suite *s)
{
	PQfinish(s->g.conn);
	s->g.conn = harness_pg_connect(s->g.db->url);
	assert_non_null(s->g.conn);
}

/* Start a paced load on the test's ingress. */
static struct harness_load *start_load(struct suite *s, unsigned threads, unsigned max_requests)
{
	return harness_load_start(&(struct harness_load_options){
	    .port = harness_service_port(s->g.in),
	    .path = "/hooks/fault",
	    .threads = threads,
	    .max_seconds = 120,
	    .max_requests = max_requests,
	    .hmac = &harness_hmac_signer,
	    .secret = FAULT_SECRET,
	    .pause_after_error_ms = 20,
	    .timeout_ms = 20000,
	});
}

/* Every id answered 202/200 by the load is stored. */
static void expect_all_stored(PGconn *conn, const struct harness_load *load)
{
	char first[HARNESS_ID_MAX] = "";
	size_t n = 0;
	size_t missing = harness_load_unstored(conn, load, &n, first);

	if (missing != 0)
		fail_msg("%zu of %zu acknowledged deliveries are not stored (first: %s)", missing,
		         n, first);
	print_message("# %zu acknowledged deliveries, all stored\n", n);
}

/* Print the load's counters. */
static void print_stats(const struct harness_load *load)
{
	struct harness_load_stats st = harness_load_stats(load);

	print_message("# load: %zu answered: %zu 202, %zu 200, %zu 503, %zu other, %zu transport\n",
	              st.answered, st.s202, st.s200, st.s503, st.other, st.transport);
}

/* Poll /metrics until hookrun_commit_backlog is back to 0 (no request leaked in the
 * writer's accounting, which would end in 503 overloaded forever). */
static void expect_backlog_drained(struct suite *s)
{
	long long deadline = harness_now_ms() + 5000;
	double v;

	while ((v = harness_metric(harness_service_port(s->g.in), "hookrun_commit_backlog")) != 0) {
		if (harness_now_ms() >= deadline)
			fail_msg("hookrun_commit_backlog is still %g", v);
		harness_poll_pause();
	}
}

/* The outcomes of the backlog test: 503s fast with code and Retry-After; the rest 202. */
static size_t check_backlog_outcomes(const struct harness_outcome *oc, size_t n)
{
	size_t n202 = 0, n503 = 0;

	for (size_t i = 0; i < n; i++) {
		if (oc[i].status == 202) {
			n202++;
			continue;
		}
		if (oc[i].status != 503)
			fail_msg("request %zu answered %ld %s", i, oc[i].status, oc[i].code);
		n503++;
		assert_string_equal(oc[i].code, "overloaded");
		assert_true(oc[i].retry_after);
		if (oc[i].end_ms - oc[i].start_ms >= 1000)
			fail_msg("a 503 took %lld ms", oc[i].end_ms - oc[i].start_ms);
	}
	assert_int_equal(n202 + n503, n);
	assert_true(n503 >= n - 4);
	assert_true(n202 >= 1);
	return n202;
}

/* 9. max_backlog = 4 behind a table lock: the excess is refused at once, the rest stored. */
static void test_backlog_bound(void **state)
{
	struct suite *s = *state;
	const struct harness_outcome *oc;
	long long before;
	size_t n, n202;

	HARNESS_REQUIRE_DB();
	start_ingress(s, "max_backlog = 4\ncommit_timeout_ms = 5000\n");
	before = harness_deliveries_count(s->g.conn, NULL);
	lock_deliveries(s);
	s->g.load = start_load(s, 12, 12);
	/* At most 4 can wait; the other 8 must be refused while the lock is held. */
	assert_true(harness_load_wait(s->g.load, 503, 8, 5000));
	unlock_deliveries(s);
	assert_true(harness_load_wait_done(s->g.load, 20000));
	harness_load_stop(s->g.load);
	print_stats(s->g.load);
	oc = harness_load_outcomes(s->g.load, &n);
	assert_int_equal(n, 12);
	n202 = check_backlog_outcomes(oc, n);
	assert_int_equal(harness_deliveries_count(s->g.conn, NULL), before + (long long)n202);
	expect_all_stored(s->g.conn, s->g.load);
	expect_backlog_drained(s);
	assert_int_equal(harness_service_stop(s->g.in, 15000), 0);
	s->g.passed = true;
}

/* Expect a 200 answer. */
static void expect_status_200(const struct harness_response *r)
{
	if (r->status != 200)
		fail_msg("expected HTTP 200, got %ld (curl %d): %s", r->status, r->curl_code,
		         r->body ? r->body : "");
}

/* Post one signed webhook to the test's ingress. */
static void post_one(struct suite *s, const char *body, struct harness_response *r)
{
	_cleanup_free_ char *sig = harness_hmac_header(&harness_hmac_signer, FAULT_SECRET,
	                                               "/hooks/fault", body, strlen(body));
	const char *headers[] = {sig, NULL};

	assert_non_null(sig);
	harness_http(harness_service_port(s->g.in),
	             &(struct harness_request){.path = "/hooks/fault",
	                                       .content_type = "application/json",
	                                       .body = body,
	                                       .body_len = strlen(body),
	                                       .headers = headers},
	             r);
}

/* Post until one answer is 202 (the ingress reconnects with backoff); false at the deadline. */
static bool post_until_accepted(struct suite *s, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	struct harness_response r;
	bool ok;

	for (;;) {
		post_one(s, "{\"after\":\"unlock\"}", &r);
		ok = r.status == 202;
		harness_response_fini(&r);
		if (ok)
			return true;
		if (harness_now_ms() >= deadline)
			return false;
		harness_poll_pause();
	}
}

/* 10. commit_timeout_ms = 300 behind a lock: 503 with Retry-After in time; then recovery. */
static void test_commit_timeout(void **state)
{
	struct suite *s = *state;
	struct harness_response r;
	long long t0, took, before, rows;

	HARNESS_REQUIRE_DB();
	start_ingress(s, "commit_timeout_ms = 300\n");
	before = harness_deliveries_count(s->g.conn, NULL);
	lock_deliveries(s);
	t0 = harness_now_ms();
	post_one(s, "{\"behind\":\"lock\"}", &r);
	took = harness_now_ms() - t0;
	print_message("# locked commit answered %ld %s after %lld ms\n", r.status,
	              harness_response_error_code(&r) ? harness_response_error_code(&r) : "", took);
	assert_int_equal(r.status, 503);
	assert_non_null(harness_response_error_code(&r));
	assert_non_null(harness_response_header(&r, "Retry-After"));
	harness_response_fini(&r);
	/* A correctness bound (the deadline is enforced), not a performance assertion. */
	assert_true(took < 3000);
	unlock_deliveries(s);
	assert_true(post_until_accepted(s, 20000));
	/* The refused request may still have been stored (its statement was already sent). */
	rows = harness_deliveries_count(s->g.conn, NULL) - before;
	print_message("# %lld rows for 1 acknowledged request\n", rows);
	assert_true(rows >= 1);
	assert_true(harness_wait_status(harness_service_port(s->g.in), "/readyz", 200, 10000));
	expect_backlog_drained(s);
	assert_int_equal(harness_service_stop(s->g.in, 15000), 0);
	s->g.passed = true;
}

/* Poll until hookrun.deliveries holds at least n rows; false at the deadline. */
static bool wait_rows(PGconn *conn, long long n, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (harness_deliveries_count(conn, NULL) < n) {
		if (harness_now_ms() >= deadline)
			return false;
		harness_poll_pause();
	}
	return true;
}

/* Clients that give up (close their connection) while their commit waits behind a lock: once
 * the lock goes the deliveries are stored and answering the vanished clients is harmless. */
static void test_client_gone_during_commit(void **state)
{
	struct suite *s = *state;
	struct harness_response r;
	long long before;

	HARNESS_REQUIRE_DB();
	start_ingress(s, "commit_timeout_ms = 5000\n");
	before = harness_deliveries_count(s->g.conn, NULL);
	lock_deliveries(s);
	s->g.load = harness_load_start(&(struct harness_load_options){
	    .port = harness_service_port(s->g.in),
	    .path = "/hooks/fault",
	    .threads = 3,
	    .max_seconds = 30,
	    .max_requests = 3,
	    .hmac = &harness_hmac_signer,
	    .secret = FAULT_SECRET,
	    .timeout_ms = 300,
	});
	assert_true(harness_load_wait_done(s->g.load, 10000));
	assert_int_equal(harness_load_stats(s->g.load).transport, 3);
	unlock_deliveries(s);
	assert_true(wait_rows(s->g.conn, before + 3, 10000));
	harness_http_get(harness_service_port(s->g.in), "/healthz", &r);
	expect_status_200(&r);
	harness_response_fini(&r);
	expect_backlog_drained(s);
	assert_int_equal(harness_service_stop(s->g.in, 15000), 0);
	s->g.passed = true;
}

/* Skip the calling test when the cluster cannot be stopped and started. */
#define REQUIRE_PG_DIR()                                                                           \
	do {                                                                                       \
		if (!harness_pg_dir()) {                                                           \
			print_message("# TEST_PG_DIR is unset: skipping\n");                       \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* Stop PostgreSQL under load: 503s and /readyz 503 within 2 s. */
static void stop_db_expect_503(struct suite *s)
{
	int port = harness_service_port(s->g.in);
	size_t base = harness_load_stats(s->g.load).s503;
	long long t0;

	assert_int_equal(harness_pg_stop("fast"), 0);
	t0 = harness_now_ms();
	assert_true(harness_load_wait(s->g.load, 503, base + 1, 2000));
	assert_true(harness_wait_status(port, "/readyz", 503, 2000));
	print_message("# 503 and /readyz 503 within %lld ms of the stop\n", harness_now_ms() - t0);
}

/* Every 503 of the load was answered within limit_ms (nothing hangs while the database is
 * away) and carried Retry-After. */
static void expect_503_fast(const struct harness_load *load, long long limit_ms)
{
	size_t n;
	const struct harness_outcome *oc = harness_load_outcomes(load, &n);

	for (size_t i = 0; i < n; i++) {
		if (oc[i].status != 503)
			continue;
		long long took = oc[i].end_ms - oc[i].start_ms;
		if (took > limit_ms)
			fail_msg("a 503 (%s) took %lld ms", oc[i].code, took);
		if (!oc[i].retry_after)
			fail_msg("a 503 (%s) lacks Retry-After", oc[i].code);
	}
}

/* With the database away, the jobs API answers 503 with Retry-After at once too (its
 * connection noticed the loss; nothing waits for the database to come back). */
static void expect_jobs_api_503(struct suite *s)
{
	const char *const auth[] = {
	    "Authorization: Bearer hrt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL};
	static const char body[] = "{\"kind\":\"activation.remove\",\"organisation\":\"x\","
	                           "\"items\":[{\"externalId\":\"u\"}]}";
	struct harness_request req = {.method = "POST",
	                              .path = "/v1/jobs",
	                              .content_type = "application/json",
	                              .body = body,
	                              .body_len = sizeof(body) - 1,
	                              .headers = auth,
	                              .timeout_ms = 5000};
	struct harness_response r = {0};
	long long deadline = harness_now_ms() + 2000;

	for (;;) {
		harness_response_fini(&r);
		harness_http(harness_service_port(s->g.in), &req, &r);
		if (r.status == 503 || harness_now_ms() >= deadline)
			break;
		harness_poll_pause();
	}
	assert_int_equal(r.status, 503);
	assert_non_null(harness_response_header(&r, "Retry-After"));
	assert_true(r.elapsed_s < 2.0);
	harness_response_fini(&r);
}

/* 11. The database stops and starts again under load; every 202 is stored. */
static void test_db_restart_under_load(void **state)
{
	struct suite *s = *state;
	struct harness_load_stats st;
	long long t0;

	HARNESS_REQUIRE_DB();
	REQUIRE_PG_DIR();
	start_ingress(s, "db_reconnect_max_ms = 500\n");
	s->g.load = start_load(s, 4, 50000);
	assert_true(harness_load_wait(s->g.load, 202, 100, 30000));
	stop_db_expect_503(s);
	expect_jobs_api_503(s);
	assert_int_equal(harness_pg_start(), 0);
	t0 = harness_now_ms();
	assert_true(harness_wait_status(harness_service_port(s->g.in), "/readyz", 200, 30000));
	print_message("# /readyz 200 again %lld ms after the start\n", harness_now_ms() - t0);
	st = harness_load_stats(s->g.load);
	assert_true(harness_load_wait(s->g.load, 202, st.s202 + 50, 30000));
	harness_load_stop(s->g.load);
	print_stats(s->g.load);
	reconnect(s);
	expect_all_stored(s->g.conn, s->g.load);
	st = harness_load_stats(s->g.load);
	assert_true(harness_deliveries_count(s->g.conn, NULL) >= (long long)(st.s202 + st.s200));
	assert_int_equal(st.other, 0);
	expect_503_fast(s->g.load, 2000);
	expect_backlog_drained(s);
	assert_int_equal(harness_service_stop(s->g.in, 15000), 0);
	s->g.passed = true;
}

/* 12. SIGKILL under load: every 202 answered before the kill is stored. */
static void test_kill9_under_load(void **state)
{
	struct suite *s = *state;
	int r;

	HARNESS_REQUIRE_DB();
	start_ingress(s, NULL);
	s->g.load = start_load(s, 4, 20000);
	assert_true(harness_load_wait(s->g.load, 202, 200, 30000));
	r = harness_service_kill(s->g.in);
	harness_load_stop(s->g.load);
	print_stats(s->g.load);
	assert_int_equal(r, 128 + 9);
	expect_all_stored(s->g.conn, s->g.load);
	s->g.passed = true;
}

/* Make the next n row inserts into hookrun.deliveries fail with SQLSTATE code. A sequence is
 * not transactional, so the failure is used up even though its statement rolls back. Every
 * row that is stored notes in hookrun.test_insert_via the first word of the statement that
 * wrote it: COPY, or WITH for the batch statement. */
static void fail_next_inserts(struct suite *s, int n, const char *code)
{
	char sql[1536];

	snprintf(sql, sizeof(sql),
	         "CREATE SEQUENCE IF NOT EXISTS hookrun.test_insert_fault;"
	         "SELECT setval('hookrun.test_insert_fault', 1, false);"
	         "CREATE TABLE IF NOT EXISTS hookrun.test_insert_via (via text NOT NULL);"
	         "TRUNCATE hookrun.test_insert_via;"
	         "CREATE OR REPLACE FUNCTION hookrun.test_insert_fault() RETURNS trigger "
	         "LANGUAGE plpgsql AS $$ BEGIN "
	         "IF nextval('hookrun.test_insert_fault') <= %d THEN "
	         "RAISE EXCEPTION 'injected by the test' USING ERRCODE = '%s'; END IF; "
	         "INSERT INTO hookrun.test_insert_via "
	         "VALUES (upper(split_part(btrim(current_query()), ' ', 1))); "
	         "RETURN NEW; END $$;"
	         "CREATE OR REPLACE TRIGGER test_insert_fault BEFORE INSERT ON hookrun.deliveries "
	         "FOR EACH ROW EXECUTE FUNCTION hookrun.test_insert_fault();",
	         n, code);
	assert_true(harness_sql_exec(s->g.conn, sql));
}

/* Remove the trigger fail_next_inserts() installed. */
static void fail_inserts_off(struct suite *s)
{
	assert_true(harness_sql_exec(s->g.conn, "DROP TRIGGER IF EXISTS test_insert_fault "
	                                        "ON hookrun.deliveries"));
}

/* Load of n requests on 8 connections; every answer 202 and every acknowledged delivery
 * stored exactly once. */
static void load_all_accepted(struct suite *s, size_t n)
{
	long long before = harness_deliveries_count(s->g.conn, "fault");
	struct harness_load_stats st;

	s->g.load = start_load(s, 8, (unsigned)n);
	assert_true(harness_load_wait_done(s->g.load, 60000));
	harness_load_stop(s->g.load);
	st = harness_load_stats(s->g.load);
	print_stats(s->g.load);
	assert_int_equal(st.s202, n);
	expect_all_stored(s->g.conn, s->g.load);
	assert_int_equal(harness_deliveries_count(s->g.conn, "fault") - before, (long long)n);
}

/* A batch written by COPY that fails (here: a unique violation, as when a row of a batch
 * exists already) goes back to the queue and is written by the statement instead: every
 * request still gets 202, and every row is there once. */
static void test_copy_failure_falls_back(void **state)
{
	struct suite *s = *state;

	HARNESS_REQUIRE_DB();
	start_ingress(s, "");
	fail_next_inserts(s, 1, "23505");
	load_all_accepted(s, 300);
	assert_true(harness_metric(harness_service_port(s->g.in), "hookrun_commit_errors_total") >=
	            1);
	assert_int_equal(
	    harness_sql_int(s->g.conn, "SELECT nextval('hookrun.test_insert_fault')", NULL),
	    300 + 1 + 1);
	/* Keyless first attempts went by COPY; the failed batch came back on a later attempt,
	 * which only the statement writes. */
	assert_true(
	    harness_sql_int(s->g.conn,
	                    "SELECT count(*) FROM hookrun.test_insert_via WHERE via = 'COPY'",
	                    NULL) >= 1);
	assert_true(
	    harness_sql_int(s->g.conn,
	                    "SELECT count(*) FROM hookrun.test_insert_via WHERE via = 'WITH'",
	                    NULL) >= 1);
	assert_int_equal(
	    harness_sql_int(s->g.conn, "SELECT count(*) FROM hookrun.test_insert_via", NULL), 300);
	fail_inserts_off(s);
	expect_backlog_drained(s);
	s->g.passed = true;
}

/* A retryable failure (serialization, 40001) of the first batches is retried, COPY or not. */
static void test_serialization_failure_retried(void **state)
{
	struct suite *s = *state;

	HARNESS_REQUIRE_DB();
	start_ingress(s, "");
	fail_next_inserts(s, 3, "40001");
	load_all_accepted(s, 200);
	fail_inserts_off(s);
	expect_backlog_drained(s);
	s->g.passed = true;
}

/* A failure that retrying cannot fix answers 500 internal_error, stores nothing for those
 * requests, and leaves the ingress working for the next ones. */
static void test_permanent_failure_answers_500(void **state)
{
	struct suite *s = *state;
	struct harness_response r;
	long long before;

	HARNESS_REQUIRE_DB();
	start_ingress(s, "");
	before = harness_deliveries_count(s->g.conn, "fault");
	/* Its COPY fails, then the statement that retries it alone: a failure of its own. */
	fail_next_inserts(s, 2, "P0001");
	post_one(s, "{\"doomed\":true}", &r);
	assert_int_equal(r.status, 500);
	assert_string_equal(harness_response_error_code(&r), "internal_error");
	harness_response_fini(&r);
	assert_int_equal(harness_deliveries_count(s->g.conn, "fault"), before);
	post_one(s, "{\"doomed\":false}", &r);
	assert_int_equal(r.status, 202);
	harness_response_fini(&r);
	assert_int_equal(harness_deliveries_count(s->g.conn, "fault"), before + 1);
	fail_inserts_off(s);
	s->g.passed = true;
}

/* One POST in a thread of its own, for requests that must be in flight at the same time. */
struct async_post {
	pthread_t thread;
	struct suite *s;
	const char *body;
	struct harness_response r;
};

/* Thread body: post and keep the answer. */
static void *async_post_main(void *arg)
{
	struct async_post *p = arg;

	post_one(p->s, p->body, &p->r);
	return NULL;
}

/* Start posting body in a thread. */
static void async_post_start(struct async_post *p, struct suite *s, const char *body)
{
	*p = (struct async_post){.s = s, .body = body};
	assert_int_equal(pthread_create(&p->thread, NULL, async_post_main, p), 0);
}

/* Poll until n backends wait for an advisory lock; false at the deadline. */
static bool wait_lock_waiters(struct suite *s, long long n, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (harness_sql_int(s->g.conn,
	                       "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
	                       "AND NOT granted",
	                       NULL) < n) {
		if (harness_now_ms() >= deadline)
			return false;
		harness_poll_pause();
	}
	return true;
}

/* Poll until the ingress's backlog holds at least n requests; false at the deadline. */
static bool wait_backlog(struct suite *s, double n, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (harness_metric(harness_service_port(s->g.in), "hookrun_commit_backlog") < n) {
		if (harness_now_ms() >= deadline)
			return false;
		harness_poll_pause();
	}
	return true;
}

/* One request's own bad value never fails the others of its group commit. A trigger makes
 * any row whose body says "poison" fail (SQLSTATE P0001), and holds a row whose body says
 * "slow" on an advisory lock the test owns. With one database connection, the slow row's
 * commit hangs while the poisoned request and eight loaded ones queue behind it, so they go
 * out as one batch: COPY fails, the statement retries and fails, and the batch is split in
 * halves until the poisoned row is alone. It gets 500; every other request gets 202 and is
 * stored; the bisection is counted. */
static void test_one_bad_row_isolated(void **state)
{
	struct suite *s = *state;
	struct async_post slow, poison;
	struct harness_load_stats st;
	long long before;

	HARNESS_REQUIRE_DB();
	assert_true(harness_sql_exec(
	    s->g.conn,
	    "CREATE OR REPLACE FUNCTION hookrun.test_row_fault() RETURNS trigger "
	    "LANGUAGE plpgsql AS $$ BEGIN "
	    "IF position('poison' in convert_from(NEW.body, 'UTF8')) > 0 THEN "
	    "RAISE EXCEPTION 'this row is poisoned' USING ERRCODE = 'P0001'; END IF; "
	    "IF position('slow' in convert_from(NEW.body, 'UTF8')) > 0 THEN "
	    "PERFORM pg_advisory_xact_lock(4242); END IF; RETURN NEW; END $$;"
	    "CREATE OR REPLACE TRIGGER test_row_fault BEFORE INSERT ON hookrun.deliveries "
	    "FOR EACH ROW EXECUTE FUNCTION hookrun.test_row_fault();"));
	start_ingress(s, "db_connections = 1\ncommit_timeout_ms = 20000\n");
	before = harness_deliveries_count(s->g.conn, "fault");
	s->locker = harness_pg_connect(s->g.db->url);
	assert_non_null(s->locker);
	assert_true(harness_sql_exec(s->locker, "SELECT pg_advisory_lock(4242)"));
	async_post_start(&slow, s, "{\"slow\":true}");
	assert_true(wait_lock_waiters(s, 1, 10000));
	s->g.load = start_load(s, 8, 200);
	async_post_start(&poison, s, "{\"poison\":true}");
	assert_true(wait_backlog(s, 1 + 8 + 1, 10000));
	assert_true(harness_sql_exec(s->locker, "SELECT pg_advisory_unlock(4242)"));
	assert_int_equal(pthread_join(slow.thread, NULL), 0);
	assert_int_equal(pthread_join(poison.thread, NULL), 0);
	assert_true(harness_load_wait_done(s->g.load, 60000));
	harness_load_stop(s->g.load);
	st = harness_load_stats(s->g.load);
	print_stats(s->g.load);
	assert_int_equal(slow.r.status, 202);
	assert_int_equal(poison.r.status, 500);
	assert_string_equal(harness_response_error_code(&poison.r), "internal_error");
	assert_int_equal(st.s202, 200);
	expect_all_stored(s->g.conn, s->g.load);
	assert_int_equal(harness_deliveries_count(s->g.conn, "fault") - before, 200 + 1);
	assert_true(
	    harness_metric(harness_service_port(s->g.in), "hookrun_commit_bisections_total") >= 1);
	harness_response_fini(&slow.r);
	harness_response_fini(&poison.r);
	assert_true(
	    harness_sql_exec(s->g.conn, "DROP TRIGGER test_row_fault ON hookrun.deliveries"));
	s->g.passed = true;
}

/* A statement whose rows come back and whose commit then fails (here a deferred constraint
 * trigger refusing rows whose body says "late", checked at commit) is not acknowledged:
 * libpq hands the rows first and the commit's error after them, and the error is what counts.
 * Both paths: a keyed request (the statement) and an unkeyed one (COPY). Each gets 500, no
 * row is stored, and a request without "late" is still stored. */
static void test_commit_time_error_not_acknowledged(void **state)
{
	static const char *const key[] = {"Idempotency-Key: late-key-1", NULL};
	struct suite *s = *state;
	_cleanup_free_ char *sig = NULL;
	struct harness_response r;
	long long before;

	HARNESS_REQUIRE_DB();
	assert_true(harness_sql_exec(
	    s->g.conn,
	    "CREATE OR REPLACE FUNCTION hookrun.test_late_fault() RETURNS trigger "
	    "LANGUAGE plpgsql AS $$ BEGIN "
	    "IF position('late' in convert_from(NEW.body, 'UTF8')) > 0 THEN "
	    "RAISE EXCEPTION 'refused at commit' USING ERRCODE = 'P0001'; END IF; "
	    "RETURN NULL; END $$;"
	    "CREATE CONSTRAINT TRIGGER test_late_fault AFTER INSERT ON hookrun.deliveries "
	    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
	    "EXECUTE FUNCTION hookrun.test_late_fault();"));
	start_ingress(s, "");
	before = harness_deliveries_count(s->g.conn, "fault");
	post_one(s, "{\"late\":\"copy\"}", &r);
	assert_int_equal(r.status, 500);
	harness_response_fini(&r);
	sig = harness_hmac_header(&harness_hmac_signer, FAULT_SECRET, "/hooks/fault",
	                          "{\"late\":\"keyed\"}", strlen("{\"late\":\"keyed\"}"));
	harness_http(harness_service_port(s->g.in),
	             &(struct harness_request){
	                 .path = "/hooks/fault",
	                 .content_type = "application/json",
	                 .body = "{\"late\":\"keyed\"}",
	                 .body_len = strlen("{\"late\":\"keyed\"}"),
	                 .headers = (const char *const[]){sig, key[0], NULL},
	             },
	             &r);
	assert_int_equal(r.status, 500);
	harness_response_fini(&r);
	assert_int_equal(harness_deliveries_count(s->g.conn, "fault"), before);
	post_one(s, "{\"on\":\"time\"}", &r);
	assert_int_equal(r.status, 202);
	harness_response_fini(&r);
	assert_int_equal(harness_deliveries_count(s->g.conn, "fault"), before + 1);
	assert_true(
	    harness_sql_exec(s->g.conn, "DROP TRIGGER test_late_fault ON hookrun.deliveries"));
	s->g.passed = true;
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_backlog_bound, harness_test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_commit_timeout, harness_test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_client_gone_during_commit, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_db_restart_under_load, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_kill9_under_load, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_copy_failure_falls_back, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_serialization_failure_retried, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_permanent_failure_answers_500, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_one_bad_row_isolated, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_commit_time_error_not_acknowledged,
	                                    harness_test_setup, test_teardown),
	};

	harness_init();
	return cmocka_run_group_tests_name("ingress_faults", tests, group_setup,
	                                   harness_group_teardown);
}
