/* The jobs data model (migrations/0004) on a real PostgreSQL: hookrun.submit_job() creates a
 * job and its items in one transaction and wakes the dispatchers; claim_items() leases with
 * a fresh fencing token per lease, skipping rows other dispatchers hold; complete_item()
 * settles only under the current token; the job's counts and state follow its items for
 * any UPDATE, an operator's included; every state change leaves an audit row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "xalloc.h"

/* State of the group: one database. */
struct suite {
	struct harness_group g; /* first: the harness_group_*() functions take the state */
};

/* Group setup: a migrated database. */
static int group_setup(void **state)
{
	return harness_group_setup(state, sizeof(struct suite), NULL, NULL);
}

/* Per-test setup: no jobs left from the test before (claims take any runnable item). */
static int test_setup(void **state)
{
	struct suite *s = *state;

	harness_test_setup(state);
	if (s->g.db &&
	    !harness_sql_exec(s->g.conn,
	                      "SET session_replication_role = replica; " /* see test_tokens.c */
	                      "TRUNCATE hookrun.delivery_routes, hookrun.jobs, hookrun.job_items, "
	                      "hookrun.audit_events; RESET session_replication_role"))
		return -1;
	return 0;
}

/* submit_job() with items (JSON text) by submitter and key (NULL: none): the job id, a new
 * string, with *ret_created; the test fails on an error. */
static char *submit(PGconn *conn, const char *items, const char *by, const char *key,
                    bool *ret_created)
{
	_cleanup_free_ char *row = harness_sql_text(
	    conn,
	    "SELECT job_id || ' ' || created FROM hookrun.submit_job('activation.provision', "
	    "'acme', '{\"environment\":\"env-1\"}', $1::jsonb, $2, nullif($3, ''))",
	    items, by, key ? key : "", NULL);
	char *sp;

	assert_non_null(row);
	sp = strchr(row, ' ');
	assert_non_null(sp);
	*sp = '\0';
	if (ret_created)
		*ret_created = sp[1] == 't';
	return xstrdup(row);
}

/* The job's counts as "state total/queued/leased/succeeded/failed/cancelled", new string. */
static char *job_counts(PGconn *conn, const char *job)
{
	return harness_sql_text(conn,
	                        "SELECT format('%s %s/%s/%s/%s/%s/%s', state, items_total, "
	                        "items_queued, items_leased, items_succeeded, items_failed, "
	                        "items_cancelled) FROM hookrun.jobs WHERE id = $1",
	                        job, NULL);
}

/* Assert the job's counts. */
static void assert_counts(PGconn *conn, const char *job, const char *want)
{
	_cleanup_free_ char *got = job_counts(conn, job);

	assert_non_null(got);
	assert_string_equal(got, want);
}

/* complete_item(item, token, <rest>) as 1 (settled) or 0 (refused); rest is the SQL of the
 * remaining arguments, from the state on. */
static long long complete(PGconn *conn, const char *item, const char *token, const char *rest)
{
	_cleanup_free_ char *sql = xasprintf("SELECT hookrun.complete_item($1, $2, %s)::int", rest);

	return harness_sql_int(conn, sql, item, token, NULL);
}

/* A job and its items in one call; the dispatchers hear of it at commit (LISTEN). */
static void test_submit_creates_and_notifies(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *job = NULL, *desired = NULL;
	PGnotify *n;
	bool created = false;
	bool heard = false;

	HARNESS_REQUIRE_DB();
	assert_true(harness_sql_exec(s->g.conn, "LISTEN hookrun_work"));
	job = submit(s->g.conn,
	             "[{\"externalId\":\"u1\",\"displayName\":\"User One\","
	             "\"variables\":{\"region\":\"eu\"}},{\"externalId\":\"u2\"}]",
	             "cli", NULL, &created);
	assert_true(created);
	assert_counts(s->g.conn, job, "queued 2/2/0/0/0/0");
	desired = harness_sql_text(s->g.conn,
	                           "SELECT desired::text FROM hookrun.job_items WHERE job_id = $1 "
	                           "AND external_id = 'u1'",
	                           job, NULL);
	assert_string_equal(desired,
	                    "{\"variables\": {\"region\": \"eu\"}, \"displayName\": \"User One\"}");
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE job_id = "
	                                 "$1 AND kind = 'job.submitted' AND actor = 'cli'",
	                                 job, NULL),
	                 1);
	assert_int_equal(PQconsumeInput(s->g.conn), 1);
	while ((n = PQnotifies(s->g.conn))) {
		heard |= strcmp(n->relname, "hookrun_work") == 0 && strcmp(n->extra, job) == 0;
		PQfreemem(n);
	}
	assert_true(heard);
	assert_true(harness_sql_exec(s->g.conn, "UNLISTEN hookrun_work"));
	s->g.passed = true;
}

/* The same submitter and key return the first job and create nothing; another submitter's
 * identical key is its own. */
static void test_submit_idempotent(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *first = NULL, *again = NULL, *other = NULL;
	bool created = true;

	HARNESS_REQUIRE_DB();
	first = submit(s->g.conn, "[{\"externalId\":\"u1\"}]", "token:a", "k-1", &created);
	assert_true(created);
	again = submit(s->g.conn, "[{\"externalId\":\"u9\"},{\"externalId\":\"u8\"}]", "token:a",
	               "k-1", &created);
	assert_false(created);
	assert_string_equal(again, first);
	other = submit(s->g.conn, "[{\"externalId\":\"u1\"}]", "token:b", "k-1", &created);
	assert_true(created);
	assert_string_not_equal(other, first);
	assert_int_equal(harness_sql_int(s->g.conn, "SELECT count(*) FROM hookrun.job_items", NULL),
	                 2);
	s->g.passed = true;
}

/* Bad items are refused whole, with the item's position, and leave nothing behind. */
static void test_submit_refuses_bad_items(void **state)
{
	static const struct {
		const char *items, *want;
	} cases[] = {
	    {"{\"externalId\":\"u1\"}", "22023: items must be a JSON array"},
	    {"[{\"externalId\":\"u1\"},7]", "22023: item 2: an object with a non-empty"},
	    {"[{\"externalId\":\"\"}]", "22023: item 1: an object with a non-empty"},
	    {"[{\"externalId\":5}]", "22023: item 1: an object with a non-empty"},
	    {"[{\"externalId\":\"a\"},{\"externalId\":\"b\"},{\"externalId\":\"a\"}]",
	     "23505: item 3: externalId \"a\" appears earlier in the job"},
	};
	struct suite *s = *state;

	HARNESS_REQUIRE_DB();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *e = harness_sql_error(
		    s->g.conn,
		    "SELECT * FROM hookrun.submit_job('activation.provision', 'acme', '{}', "
		    "$1::jsonb, 'cli')",
		    cases[i].items, NULL);

		if (!e || strncmp(e, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("items %s: got \"%s\", want \"%s...\"", cases[i].items,
			         e ? e : "(success)", cases[i].want);
	}
	_cleanup_free_ char *e = harness_sql_error(
	    s->g.conn,
	    "SELECT * FROM hookrun.submit_job('activation.teleport', 'acme', '{}', '[]', 'cli')",
	    NULL);
	assert_non_null(e);
	assert_memory_equal(e, "23514", 5); /* the kind's CHECK */
	assert_int_equal(harness_sql_int(s->g.conn, "SELECT count(*) FROM hookrun.jobs", NULL), 0);
	assert_int_equal(
	    harness_sql_int(s->g.conn, "SELECT count(*) FROM hookrun.audit_events", NULL), 0);
	s->g.passed = true;
}

/* A stalled worker's lease expires and the item is claimed again under a new token; the
 * stalled worker's completion is then refused, the new holder's is taken, once. */
static void test_fencing(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *job = NULL, *t1 = NULL, *t2 = NULL, *item = NULL;

	HARNESS_REQUIRE_DB();
	job = submit(s->g.conn, "[{\"externalId\":\"u1\"}]", "cli", NULL, NULL);
	t1 = harness_sql_text(
	    s->g.conn, "SELECT fencing_token FROM hookrun.claim_items(10, '0 s', 'w-stalled')",
	    NULL);
	assert_non_null(t1);
	assert_counts(s->g.conn, job, "running 1/0/1/0/0/0");
	/* The lease (0 s) has expired: the next claim rescues the item. */
	t2 = harness_sql_text(s->g.conn,
	                      "SELECT fencing_token || ' ' || attempt FROM "
	                      "hookrun.claim_items(10, '1 hour', 'w-alive')",
	                      NULL);
	assert_non_null(t2);
	*strchr(t2, ' ') = '\0';
	assert_string_not_equal(t1, t2);
	item = harness_sql_text(s->g.conn, "SELECT id FROM hookrun.job_items WHERE job_id = $1",
	                        job, NULL);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT attempt FROM hookrun.job_items WHERE id = $1",
	                                 item, NULL),
	                 2);
	/* A lease held for an hour is not claimed again. */
	assert_int_equal(
	    harness_sql_int(s->g.conn, "SELECT count(*) FROM hookrun.claim_items(10, '1 s', 'w3')",
	                    NULL),
	    0);
	assert_int_equal(complete(s->g.conn, item, t1, "'succeeded'"), 0);
	assert_counts(s->g.conn, job, "running 1/0/1/0/0/0");
	assert_int_equal(
	    complete(s->g.conn, item, t2, "'succeeded', '{\"activationId\":\"act-1\"}'"), 1);
	assert_int_equal(complete(s->g.conn, item, t2, "'failed'"), 0);
	assert_counts(s->g.conn, job, "succeeded 1/0/0/1/0/0");
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.jobs WHERE id = $1 AND "
	                                 "started_at IS NOT NULL AND finished_at >= started_at",
	                                 job, NULL),
	                 1);
	/* Two leases and one settlement, each by whoever did it. */
	assert_int_equal(
	    harness_sql_int(s->g.conn,
	                    "SELECT count(*) FROM hookrun.audit_events WHERE item_id = "
	                    "$1 AND kind = 'item.state' AND ((actor = 'w-stalled' AND "
	                    "detail->>'state' = 'leased') OR (actor = 'w-alive' AND "
	                    "detail->>'state' IN ('leased', 'succeeded')))",
	                    item, NULL),
	    3);
	s->g.passed = true;
}

/* Claim the only item of job for dispatcher-1: its fencing token and id in *ret_tok and
 * *ret_item (new strings). */
static void claim_one(struct suite *s, const char *job, char **ret_tok, char **ret_item)
{
	*ret_tok = harness_sql_text(
	    s->g.conn,
	    "SELECT fencing_token FROM hookrun.claim_items(10, '1 hour', 'dispatcher-1')", NULL);
	assert_non_null(*ret_tok);
	*ret_item = harness_sql_text(
	    s->g.conn, "SELECT id FROM hookrun.job_items WHERE job_id = $1", job, NULL);
	assert_non_null(*ret_item);
}

/* A worker's load reads and never writes: the item's row version stays the same, a stale or
 * wrong token gets no row; the settlement names the worker, which becomes the holder and the
 * actor of the call and state rows. */
static void test_load_then_settle(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *job = NULL, *tok = NULL, *item = NULL, *xmin = NULL, *after = NULL;
	_cleanup_free_ char *loaded = NULL, *settle = NULL;

	HARNESS_REQUIRE_DB();
	job = submit(s->g.conn, "[{\"externalId\":\"u1\",\"variables\":{\"a\":1}}]", "cli", NULL,
	             NULL);
	claim_one(s, job, &tok, &item);
	xmin = harness_sql_text(s->g.conn, "SELECT xmin FROM hookrun.job_items WHERE id = $1", item,
	                        NULL);
	loaded =
	    harness_sql_text(s->g.conn,
	                     "SELECT format('%s %s %s %s', kind, external_id, desired, attempt) "
	                     "FROM hookrun.load_items(ARRAY[$1::bigint], ARRAY[$2::bigint])",
	                     item, tok, NULL);
	assert_string_equal(loaded, "activation.provision u1 {\"variables\": {\"a\": 1}} 1");
	assert_int_equal(
	    harness_sql_int(s->g.conn,
	                    "SELECT count(*) FROM hookrun.load_items(ARRAY[$1::bigint], "
	                    "ARRAY[$2::bigint + 1])",
	                    item, tok, NULL),
	    0);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.load_item($1, $2)", item,
	                                 tok, NULL),
	                 1);
	after = harness_sql_text(s->g.conn, "SELECT xmin FROM hookrun.job_items WHERE id = $1",
	                         item, NULL);
	assert_string_equal(xmin, after);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.job_items WHERE id = $1 AND "
	                                 "leased_by = 'dispatcher-1'",
	                                 item, NULL),
	                 1);
	settle = xasprintf("[{\"item\":%s,\"token\":%s,\"state\":\"succeeded\",\"worker\":"
	                   "\"worker-7\",\"calls\":[{\"method\":\"GET\",\"status\":200}]}]",
	                   item, tok);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.finish_items($1::jsonb) "
	                                 "WHERE held",
	                                 settle, NULL),
	                 1);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.job_items WHERE id = $1 AND "
	                                 "leased_by = 'worker-7' AND state = 'succeeded'",
	                                 item, NULL),
	                 1);
	assert_int_equal(
	    harness_sql_int(s->g.conn,
	                    "SELECT count(*) FROM hookrun.audit_events WHERE item_id = "
	                    "$1 AND actor = 'worker-7' AND (kind = 'api.call' OR "
	                    "detail->>'state' = 'succeeded')",
	                    item, NULL),
	    2);
	assert_counts(s->g.conn, job, "succeeded 1/0/0/1/0/0");
	s->g.passed = true;
}

/* A worker stopping hands an item back under its own name; the wrong token changes nothing. */
static void test_release_names_worker(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *job = NULL, *tok = NULL, *item = NULL;

	HARNESS_REQUIRE_DB();
	job = submit(s->g.conn, "[{\"externalId\":\"u1\"}]", "cli", NULL, NULL);
	claim_one(s, job, &tok, &item);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT hookrun.release_item($1, $2::bigint + 1, 'stop', "
	                                 "'worker-9')::int",
	                                 item, tok, NULL),
	                 0);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT hookrun.release_item($1, $2, 'worker stopping', "
	                                 "'worker-9')::int",
	                                 item, tok, NULL),
	                 1);
	assert_int_equal(
	    harness_sql_int(s->g.conn,
	                    "SELECT count(*) FROM hookrun.audit_events WHERE item_id = "
	                    "$1 AND actor = 'worker-9' AND detail->>'state' = 'queued' "
	                    "AND detail->>'released' = 'worker stopping'",
	                    item, NULL),
	    1);
	assert_counts(s->g.conn, job, "running 1/1/0/0/0/0");
	s->g.passed = true;
}

/* Two dispatchers claiming at once never get the same item: the rows one holds (its claim
 * not yet committed) are skipped by the other, which takes the rest. The second's update of
 * the job's counts waits for the first to commit (the job row), then completes. */
static void test_claims_skip_locked(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *job = NULL;
	PGconn *other = NULL;
	PGresult *res;
	char items[200 * 24] = "[";
	size_t o = 1;

	HARNESS_REQUIRE_DB();
	for (int i = 0; i < 200; i++)
		o += (size_t)snprintf(items + o, sizeof(items) - o, "%s{\"externalId\":\"u%d\"}",
		                      i ? "," : "", i);
	snprintf(items + o, sizeof(items) - o, "]");
	job = submit(s->g.conn, items, "cli", NULL, NULL);
	other = harness_pg_connect(s->g.db->url);
	assert_non_null(other);
	/* Rows another transaction holds are skipped, not waited for (a wait would be cut
	 * short by the statement timeout and fail the test). */
	assert_true(harness_sql_exec(other, "BEGIN; SELECT id FROM hookrun.job_items ORDER BY id "
	                                    "LIMIT 199 FOR UPDATE"));
	assert_true(harness_sql_exec(s->g.conn, "SET statement_timeout = '10s'"));
	assert_int_equal(
	    harness_sql_int(s->g.conn,
	                    "WITH c AS (SELECT * FROM hookrun.claim_items(500, '0 s', "
	                    "'w-skip')) SELECT count(*) FROM c JOIN hookrun.job_items i "
	                    "ON i.id = c.item_id WHERE i.external_id = 'u199'",
	                    NULL),
	    1);
	assert_true(harness_sql_exec(s->g.conn, "RESET statement_timeout"));
	assert_true(harness_sql_exec(other, "ROLLBACK"));
	assert_true(harness_sql_exec(s->g.conn,
	                             "UPDATE hookrun.job_items SET state = 'queued', attempt = 0, "
	                             "lease_expires_at = NULL, fencing_token = NULL"));
	assert_true(harness_sql_exec(other, "BEGIN; CREATE TABLE public.jobs_sql_mine AS SELECT * "
	                                    "FROM hookrun.claim_items(50, '1 hour', 'w-a')"));
	assert_int_equal(PQsendQuery(s->g.conn, "CREATE TEMP TABLE theirs AS SELECT * FROM "
	                                        "hookrun.claim_items(500, '1 hour', 'w-b')"),
	                 1);
	assert_true(harness_sql_exec(other, "COMMIT"));
	PQfinish(other);
	while ((res = PQgetResult(s->g.conn))) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			fail_msg("second claim: %s", PQresultErrorMessage(res));
		PQclear(res);
	}
	assert_int_equal(harness_sql_int(s->g.conn, "SELECT count(*) FROM theirs", NULL), 150);
	assert_int_equal(
	    harness_sql_int(s->g.conn,
	                    "SELECT count(*) FROM public.jobs_sql_mine m JOIN theirs t "
	                    "USING (item_id)",
	                    NULL),
	    0);
	assert_int_equal(
	    harness_sql_int(s->g.conn,
	                    "SELECT count(DISTINCT fencing_token) FROM hookrun.job_items "
	                    "WHERE leased_by IN ('w-a', 'w-b')",
	                    NULL),
	    200);
	assert_counts(s->g.conn, job, "running 200/0/200/0/0/0");
	assert_true(harness_sql_exec(s->g.conn, "DROP TABLE public.jobs_sql_mine, theirs"));
	s->g.passed = true;
}

/* An item put back for later is not claimed before its time, then is, with its attempt
 * counted; a failure for good ends the job failed. */
static void test_retry_later(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *job = NULL, *item = NULL, *tok = NULL;

	HARNESS_REQUIRE_DB();
	job = submit(s->g.conn, "[{\"externalId\":\"u1\"}]", "cli", NULL, NULL);
	tok = harness_sql_text(
	    s->g.conn, "SELECT fencing_token FROM hookrun.claim_items(1, '1 h', 'w')", NULL);
	item = harness_sql_text(s->g.conn, "SELECT id FROM hookrun.job_items WHERE job_id = $1",
	                        job, NULL);
	assert_int_equal(
	    complete(s->g.conn, item, tok, "'queued', NULL, 'HTTP 503', now() + interval '1 hour'"),
	    1);
	assert_counts(s->g.conn, job, "running 1/1/0/0/0/0");
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.claim_items(1, '1 h', 'w')",
	                                 NULL),
	                 0);
	assert_true(harness_sql_exec(s->g.conn, "UPDATE hookrun.job_items SET run_at = now() - "
	                                        "interval '1 s'"));
	free(tok);
	tok = harness_sql_text(
	    s->g.conn, "SELECT fencing_token FROM hookrun.claim_items(1, '1 h', 'w')", NULL);
	assert_non_null(tok);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT attempt FROM hookrun.job_items WHERE id = $1",
	                                 item, NULL),
	                 2);
	assert_int_equal(complete(s->g.conn, item, tok, "'failed', NULL, 'HTTP 422: bad variable'"),
	                 1);
	assert_counts(s->g.conn, job, "failed 1/0/0/0/1/0");
	_cleanup_free_ char *e = harness_sql_error(
	    s->g.conn, "SELECT hookrun.complete_item($1, $2, 'leased')", item, tok, NULL);
	assert_non_null(e);
	assert_memory_equal(e, "22023", 5);
	s->g.passed = true;
}

/* A claim of 16 items from a 5,000-item job reads about what it leases (the job's due items
 * in claim order, from an index), never all of the job's queued items to sort them, as claims
 * on a bulk job once did on some statistics. */
static void test_claim_reads_in_order(void **state)
{
	struct suite *s = *state;
	long long fetched;

	HARNESS_REQUIRE_DB();
	assert_true(harness_sql_exec(s->g.conn, "ANALYZE hookrun.job_items"));
	assert_true(harness_sql_exec(
	    s->g.conn, "SELECT hookrun.submit_job('environment.variables', 'acme', '{}', "
	               "(SELECT jsonb_agg(jsonb_build_object('externalId', 'u' || g)) "
	               "FROM generate_series(1, 5000) g), 'cli')"));
	assert_true(harness_sql_exec(s->g.conn, "BEGIN"));
	assert_true(harness_sql_exec(s->g.conn, "CREATE TEMP TABLE fetched ON COMMIT DROP AS "
	                                        "SELECT idx_tup_fetch AS n FROM "
	                                        "pg_stat_xact_user_tables WHERE relid = "
	                                        "'hookrun.job_items'::regclass"));
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.claim_items(16, '1 h', 'w')",
	                                 NULL),
	                 16);
	fetched = harness_sql_int(s->g.conn,
	                          "SELECT t.idx_tup_fetch - f.n FROM pg_stat_xact_user_tables t, "
	                          "fetched f WHERE t.relid = 'hookrun.job_items'::regclass",
	                          NULL);
	assert_true(harness_sql_exec(s->g.conn, "COMMIT"));
	assert_in_range(fetched, 16, 64);
	s->g.passed = true;
}

/* Counts follow any UPDATE, an operator's in psql too; states outside the model and leases
 * without a token are refused by the table itself. */
static void test_operator_updates(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *job = NULL, *e1 = NULL, *e2 = NULL;

	HARNESS_REQUIRE_DB();
	job = submit(s->g.conn,
	             "[{\"externalId\":\"a\"},{\"externalId\":\"b\"},{\"externalId\":\"c\"}]",
	             "cli", NULL, NULL);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.claim_items(1, '1 h', 'w')",
	                                 NULL),
	                 1);
	assert_true(harness_sql_exec(s->g.conn, "UPDATE hookrun.job_items SET state = 'cancelled' "
	                                        "WHERE state = 'queued'"));
	assert_counts(s->g.conn, job, "running 3/0/1/0/0/2");
	e1 = harness_sql_error(s->g.conn,
	                       "UPDATE hookrun.job_items SET state = 'paused' WHERE job_id = $1",
	                       job, NULL);
	assert_non_null(e1);
	assert_memory_equal(e1, "23514", 5);
	e2 = harness_sql_error(s->g.conn,
	                       "UPDATE hookrun.job_items SET state = 'leased' WHERE state = "
	                       "'cancelled'",
	                       NULL);
	assert_non_null(e2);
	assert_memory_equal(e2, "23514", 5);
	assert_true(harness_sql_exec(s->g.conn,
	                             "UPDATE hookrun.job_items SET state = 'cancelled', "
	                             "lease_expires_at = NULL, fencing_token = NULL WHERE state = "
	                             "'leased'"));
	assert_counts(s->g.conn, job, "cancelled 3/0/0/0/0/3");
	assert_true(harness_sql_exec(s->g.conn, "DELETE FROM hookrun.job_items WHERE external_id "
	                                        "= 'c'"));
	assert_counts(s->g.conn, job, "cancelled 2/0/0/0/0/2");
	s->g.passed = true;
}

/* One statement moving the items of two jobs at once (an operator's UPDATE) keeps both jobs'
 * counts, including items whose state did not change and an update of no state at all. */
static void test_counts_across_jobs(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *a = NULL, *b = NULL;

	HARNESS_REQUIRE_DB();
	a = submit(s->g.conn, "[{\"externalId\":\"a1\"},{\"externalId\":\"a2\"}]", "cli", NULL,
	           NULL);
	b = submit(s->g.conn,
	           "[{\"externalId\":\"b1\"},{\"externalId\":\"b2\"},{\"externalId\":\"b3\"}]",
	           "cli", NULL, NULL);
	assert_true(harness_sql_exec(s->g.conn, "UPDATE hookrun.job_items SET state = 'cancelled' "
	                                        "WHERE external_id IN ('a1', 'b1', 'b2')"));
	assert_counts(s->g.conn, a, "queued 2/1/0/0/0/1");
	assert_counts(s->g.conn, b, "queued 3/1/0/0/0/2");
	/* Every item of both jobs updated, only some of them changing state. */
	assert_true(harness_sql_exec(
	    s->g.conn, "UPDATE hookrun.job_items SET state = CASE WHEN state = "
	               "'queued' THEN 'cancelled' ELSE state END, updated_at = now()"));
	assert_counts(s->g.conn, a, "cancelled 2/0/0/0/0/2");
	assert_counts(s->g.conn, b, "cancelled 3/0/0/0/0/3");
	assert_true(harness_sql_exec(s->g.conn, "UPDATE hookrun.job_items SET updated_at = now()"));
	assert_counts(s->g.conn, b, "cancelled 3/0/0/0/0/3");
	assert_true(harness_sql_exec(s->g.conn, "DELETE FROM hookrun.job_items WHERE external_id "
	                                        "IN ('a2', 'b3')"));
	assert_counts(s->g.conn, a, "cancelled 1/0/0/0/0/1");
	assert_counts(s->g.conn, b, "cancelled 2/0/0/0/0/2");
	s->g.passed = true;
}

/* Run the jobs model tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_submit_creates_and_notifies, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_submit_idempotent, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_submit_refuses_bad_items, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_fencing, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_load_then_settle, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_release_names_worker, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_claims_skip_locked, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_retry_later, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_claim_reads_in_order, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_operator_updates, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_counts_across_jobs, test_setup,
	                                    harness_test_teardown),
	};

	harness_init();
	return cmocka_run_group_tests_name("jobs_sql", tests, group_setup, harness_group_teardown);
}
