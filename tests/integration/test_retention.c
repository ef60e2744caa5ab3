/* Retention (migration 0025) on a real PostgreSQL: delivery bodies older than the limit are
 * emptied in batches, in id order, each batch leaving a retention.pruned audit event, newer
 * ones untouched, and a pruned delivery cannot be replayed; the items of jobs finished longer
 * ago are deleted in batches while the jobs keep their counts; an ingress does both by
 * itself every retention_interval, as the services' role; the hot queue tables carry their
 * autovacuum settings. */
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

/* State of the group: one migrated database. */
struct suite {
	struct harness_group g; /* first: the harness_group_*() functions take the state */
};

/* Group setup. */
static int group_setup(void **state)
{
	return harness_group_setup(state, sizeof(struct suite), NULL, NULL);
}

/* Per-test setup: no deliveries, jobs or marks of the test before. */
static int test_setup(void **state)
{
	struct suite *s = *state;

	harness_test_setup(state);
	if (!s->g.db)
		return 0;
	return harness_sql_exec(s->g.conn,
	                        "SET session_replication_role = replica; " /* see test_tokens.c */
	                        "TRUNCATE hookrun.deliveries, hookrun.idempotency_keys, "
	                        "hookrun.delivery_routes, hookrun.job_items, hookrun.jobs, "
	                        "hookrun.retention_marks, hookrun.audit_events; "
	                        "RESET session_replication_role")
	           ? 0
	           : -1;
}

/* Insert n deliveries of source received age ago, a millisecond apart (ids UUIDv7 of then,
 * as the ingress mints them), each with a body. */
static void insert_deliveries(PGconn *c, const char *source, int n, const char *age)
{
	_cleanup_free_ char *count = xasprintf("%d", n);

	assert_true(
	    harness_sql_int(
	        c,
	        "WITH ins AS (INSERT INTO hookrun.deliveries (id, source, received_at, "
	        "method, uri, headers, content_type, body, verified_by) "
	        "SELECT (left(hookrun.uuid7_floor(t)::text, 14) || '7' || "
	        "substr(md5(g::text || $1), 1, 3) || '-8' || substr(md5(g::text), 1, 3) || "
	        "'-' || substr(md5($1 || g::text), 1, 12))::uuid, $1, t, 'POST', '/hooks/x', "
	        "'{}', 'application/json', convert_to('{\"n\":' || g || '}', 'UTF8'), "
	        "'none' FROM generate_series(1, $2::integer) g, "
	        "LATERAL (SELECT now() - $3::interval + g * interval '1 ms') AS x(t) "
	        "RETURNING 1) SELECT count(*) FROM ins",
	        source, count, age, NULL) == n);
}

/* Bodies older than an hour are emptied 1,000 at a time, in id order, newer ones kept; each
 * batch is an audit event; once done, a call finds nothing; a pruned delivery cannot be
 * replayed. */
static void test_prune_bodies(void **state)
{
	struct suite *s = *state;
	PGconn *c = s->g.conn;
	long long got[5];
	_cleanup_free_ char *err = NULL, *id = NULL;

	HARNESS_REQUIRE_DB();
	insert_deliveries(c, "old", 2500, "2 hours");
	insert_deliveries(c, "new", 10, "10 minutes");
	for (int i = 0; i < 5; i++)
		got[i] = harness_sql_int(
		    c, "SELECT hookrun.prune_delivery_bodies('1 hour', 1000, 'test')", NULL);
	assert_int_equal(got[0], 1000);
	assert_int_equal(got[1], 1000);
	assert_int_equal(got[2], 500);
	assert_int_equal(got[3], 0);
	assert_int_equal(got[4], 0);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.deliveries WHERE source = "
	                                 "'old' AND octet_length(body) = 0 AND body_pruned_at IS "
	                                 "NOT NULL",
	                                 NULL),
	                 2500);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.deliveries WHERE source = "
	                                 "'new' AND octet_length(body) > 0 AND body_pruned_at IS "
	                                 "NULL",
	                                 NULL),
	                 10);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                                 "'retention.pruned' AND actor = 'test' AND "
	                                 "detail->>'what' = 'delivery_bodies'",
	                                 NULL),
	                 3);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT sum((detail->>'rows')::int) FROM "
	                                 "hookrun.audit_events WHERE kind = 'retention.pruned'",
	                                 NULL),
	                 2500);
	/* The views still read a pruned delivery. */
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.deliveries_json WHERE "
	                                 "source = 'old' AND payload IS NULL AND body_bytes = 0",
	                                 NULL),
	                 2500);
	id = harness_sql_text(c, "SELECT id FROM hookrun.deliveries WHERE source = 'old' LIMIT 1",
	                      NULL);
	err = harness_sql_error(c,
	                        "SELECT * FROM hookrun.replay_delivery($1, '{\"error\":\"x\"}', "
	                        "'test')",
	                        id, NULL);
	assert_non_null(err);
	assert_non_null(strstr(err, "its body was pruned"));
	/* Limits under an hour are refused. */
	free(err);
	err = harness_sql_error(c, "SELECT hookrun.prune_delivery_bodies('5 minutes', 10, 'x')",
	                        NULL);
	assert_non_null(err);
	s->g.passed = true;
}

/* Items of jobs finished more than an hour ago are deleted in batches; the jobs keep their
 * counts and are marked; a job finished recently keeps its items. */
static void test_prune_items(void **state)
{
	struct suite *s = *state;
	PGconn *c = s->g.conn;
	_cleanup_free_ char *old = NULL, *recent = NULL;

	HARNESS_REQUIRE_DB();
	old =
	    harness_sql_text(c,
	                     "SELECT job_id FROM hookrun.submit_job('activation.provision', 'o', "
	                     "'{}', (SELECT jsonb_agg(jsonb_build_object('externalId', 'u' || g)) "
	                     "FROM generate_series(1, 5) g), 'test')",
	                     NULL);
	recent = harness_sql_text(c,
	                          "SELECT job_id FROM hookrun.submit_job('activation.provision', "
	                          "'o', '{}', '[{\"externalId\":\"r1\"}]', 'test')",
	                          NULL);
	assert_true(old && recent);
	assert_true(harness_sql_exec(c, "UPDATE hookrun.job_items SET state = 'cancelled'"));
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.jobs WHERE finished_at IS "
	                                 "NOT NULL",
	                                 NULL),
	                 2);
	assert_true(harness_sql_exec(c, "SET session_replication_role = replica")); /* no trigger */
	assert_int_equal(harness_sql_int(c,
	                                 "WITH u AS (UPDATE hookrun.jobs SET finished_at = now() - "
	                                 "interval '2 hours' WHERE id = $1 RETURNING 1) SELECT "
	                                 "count(*) FROM u",
	                                 old, NULL),
	                 1);
	assert_true(harness_sql_exec(c, "RESET session_replication_role"));
	assert_int_equal(
	    harness_sql_int(c, "SELECT hookrun.prune_finished_items('1 hour', 3, 'test')", NULL),
	    3);
	assert_int_equal(
	    harness_sql_int(c, "SELECT hookrun.prune_finished_items('1 hour', 3, 'test')", NULL),
	    2);
	assert_int_equal(
	    harness_sql_int(c, "SELECT hookrun.prune_finished_items('1 hour', 3, 'test')", NULL),
	    0);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.jobs WHERE id = $1 AND "
	                                 "items_total = 5 AND items_cancelled = 5 AND "
	                                 "items_pruned_at IS NOT NULL",
	                                 old, NULL),
	                 1);
	assert_int_equal(harness_sql_int(c, "SELECT count(*) FROM hookrun.job_items", NULL), 1);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.jobs WHERE id = $1 AND "
	                                 "items_pruned_at IS NULL",
	                                 recent, NULL),
	                 1);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT ((hookrun.job_json($1, ARRAY['o']) ->> "
	                                 "'items_pruned_at') IS NOT NULL)::int",
	                                 old, NULL),
	                 1);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT sum((detail->>'rows')::int) FROM "
	                                 "hookrun.audit_events WHERE kind = 'retention.pruned' AND "
	                                 "detail->>'what' = 'finished_items'",
	                                 NULL),
	                 5);
	s->g.passed = true;
}

/* An ingress with retention limits prunes by itself, as the services' role, every interval. */
static void test_ingress_prunes(void **state)
{
	struct suite *s = *state;
	struct harness_service *in;
	long long deadline, left = -1;

	HARNESS_REQUIRE_DB();
	insert_deliveries(s->g.conn, "old", 1500, "3 hours");
	in = harness_ingress_start(s->g.db,
	                           "retention_delivery_bodies = 1h\n"
	                           "retention_finished_items = 1d\n"
	                           "retention_interval = 1s\n",
	                           "[source.old]\nauth = none\nallow_unauthenticated = true\n"
	                           "route = provision\norganisation = o\n"
	                           "environment_id = 01JGFJK4VGAWSH8VHTPRE95B9E\n"
	                           "[versori.o]\norganisation_id = 01JGFJJZ00M9S346Q3D25VT4F5\n",
	                           NULL);
	assert_non_null(in);
	deadline = harness_now_ms() + 20000;
	while (harness_now_ms() < deadline &&
	       (left = harness_sql_int(s->g.conn,
	                               "SELECT count(*) FROM hookrun.deliveries WHERE "
	                               "body_pruned_at IS NULL",
	                               NULL)) > 0)
		harness_poll_pause();
	assert_int_equal(left, 0);
	assert_true(harness_metric(harness_service_port(in),
	                           "hookrun_retention_pruned_total{what=\"delivery_bodies\"}") >=
	            1500);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                                 "'retention.pruned' AND actor LIKE 'ingress-%'",
	                                 NULL),
	                 2);
	/* A pruned delivery cannot be replayed: 410, naming why. */
	{
		_cleanup_free_ char *token = harness_token_create(s->g.db, "r", "o", "write");
		_cleanup_free_ char *id =
		    harness_sql_text(s->g.conn, "SELECT id FROM hookrun.deliveries LIMIT 1", NULL);
		_cleanup_free_ char *path = xasprintf("/v1/deliveries/%s/replay", id);
		_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", token);
		struct harness_response r = {0};

		harness_http(
		    harness_service_port(in),
		    &(struct harness_request){.method = "POST",
		                              .path = path,
		                              .headers = (const char *const[]){auth, NULL}},
		    &r);
		assert_int_equal(r.status, 410);
		assert_string_equal(harness_response_error_code(&r), "body_pruned");
		harness_response_fini(&r);
	}
	assert_int_equal(harness_service_stop(in, 10000), 0);
	harness_service_free(in, false);
	s->g.passed = true;
}

/* The hot queue tables carry their autovacuum settings; a limit under an hour is refused at
 * start. */
static void test_settings(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *opts = NULL;

	HARNESS_REQUIRE_DB();
	opts = harness_sql_text(s->g.conn,
	                        "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE oid = "
	                        "'hookrun.job_items'::regclass",
	                        NULL);
	assert_non_null(opts);
	assert_non_null(strstr(opts, "fillfactor=80"));
	assert_non_null(strstr(opts, "autovacuum_vacuum_scale_factor=0.02"));
	s->g.passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_prune_bodies, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_prune_items, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_ingress_prunes, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_settings, test_setup, harness_test_teardown),
	};

	harness_init();
	return cmocka_run_group_tests_name("retention", tests, group_setup, harness_group_teardown);
}
