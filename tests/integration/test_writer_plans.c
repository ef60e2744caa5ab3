/* The writer's statements on the statistics of empty tables, which autovacuum leaves right after
 * a TRUNCATE (and a new table may have before it grows): every plan they cache must stay
 * cheap as the tables grow. A plan chosen on those statistics and cached, a sequential scan
 * per row of a growing table, once took keyed ingest from ~8,000 to a few hundred requests/s
 * (the foreign key's per-key check, migration 0003). The checks are deterministic: plan
 * shapes from EXPLAIN, the tables' own triggers, and the sequential-scan counters of a real
 * ingress under keyed load with duplicates and expiring keys; no timing is asserted. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "delivery_writer.h"
#include "harness.h"
#include "xalloc.h"

#define PLANS_SECRET "plans: the writer's secret"

/* Keys from the body's per-thread sequence number: the load threads send the same keys at
 * about the same time (claims racing across batches, duplicates answered from the table),
 * and the 1 s window makes keys expire, be taken over and be deleted during the load. */
static const char plans_source[] = "[source.plans]\n"
                                   "auth = hmac\n"
                                   "hmac_algorithm = sha256\n"
                                   "hmac_encoding = hex\n"
                                   "signature_header = X-Signature\n"
                                   "signature_prefix = sha256=\n"
                                   "idempotency_key = json:/load/seq\n";
static const char plans_hookrun_ini[] = "dedup_window = 1s\n";

/* The statistics autovacuum leaves once it has analyzed the emptied tables. This session's
 * own counters (TRUNCATE rebuilds the indexes: a sequential scan of each empty table per
 * index) are published at the end of its next transaction. */
static const char empty_statistics_sql[] =
    "TRUNCATE hookrun.deliveries, hookrun.idempotency_keys;"
    "ANALYZE hookrun.deliveries; ANALYZE hookrun.idempotency_keys;"
    "SELECT pg_stat_force_next_flush();";

/* Sequential scans of the two tables so far (by every session of the database), deliveries'
 * partitions included. */
static const char seq_scans_sql[] =
    "SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_user_tables WHERE relid IN (SELECT relid "
    "FROM pg_partition_tree('hookrun.deliveries') UNION ALL SELECT "
    "'hookrun.idempotency_keys'::regclass)";

/* State of the group: one database. */
struct suite {
	struct harness_group g; /* first: the harness_group_*() functions take the state */
};

/* Group setup: a migrated database. */
static int group_setup(void **state)
{
	return harness_group_setup(state, sizeof(struct suite), NULL, NULL);
}

/* A connection to the suite's database with the writer's session settings. */
static PGconn *writer_session(const struct suite *s)
{
	PGconn *conn = harness_pg_connect(s->g.db->url);

	assert_non_null(conn);
	for (const char *const *p = delivery_writer_session_settings; *p; p++) {
		const char *eq = strchr(*p, '=');
		assert_non_null(eq);
		_cleanup_free_ char *set = xasprintf("SET %.*s = '%s'", (int)(eq - *p), *p, eq + 1);
		assert_true(harness_sql_exec(conn, set));
	}
	return conn;
}

/* The generic plan of sql (nparams parameters, all NULL) as EXPLAIN's text, a new string. */
static char *explain_generic(PGconn *conn, const char *name, const char *sql, int nparams)
{
	_cleanup_free_ char *explain = xasprintf("EXPLAIN EXECUTE %s", name);
	char *text = xstrdup(""), *next;
	PGresult *res = PQprepare(conn, name, sql, 0, NULL);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("PREPARE %s: %s", name, PQerrorMessage(conn));
	PQclear(res);
	for (int i = 0; i < nparams; i++) {
		next = xasprintf("%s%sNULL%s", explain, i ? ", " : "(", i + 1 < nparams ? "" : ")");
		free(explain);
		explain = next;
	}
	res = PQexec(conn, explain);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", explain, PQerrorMessage(conn));
	for (int i = 0; i < PQntuples(res); i++) {
		next = xasprintf("%s%s\n", text, PQgetvalue(res, i, 0));
		free(text);
		text = next;
	}
	PQclear(res);
	return text;
}

/* Print a plan as TAP comments, one per line. */
static void print_plan(const char *name, const char *plan)
{
	print_message("# %s:\n", name);
	for (const char *p = plan, *end; *p; p = *end ? end + 1 : end) {
		end = strchr(p, '\n');
		if (!end)
			end = p + strlen(p);
		print_message("#   %.*s\n", (int)(end - p), p);
	}
}

/* Whether the plan contains needle (absent: must not) as it should. */
static bool plan_ok(const char *name, const char *plan, const char *needle, bool absent)
{
	if ((strstr(plan, needle) != NULL) != absent)
		return true;
	print_message("# the plan of %s %s \"%s\"\n", name, absent ? "has" : "lacks", needle);
	return false;
}

/* 1. On empty statistics, under the writer's session settings, the cached (generic) plans
 * read the tables through indexes only: the batch statements look a key's holder up in
 * the key table's primary key and touch nothing else but the rows they insert; the expiry
 * finds expired keys in their index and deletes them by TID. */
static void test_plans_on_empty_statistics(void **state)
{
	struct suite *s = *state;
	static const struct {
		const char *name, *sql, *needs[2];
		int nparams;
	} stmts[] = {
	    {DELIVERY_WRITER_CLAIM_STATEMENT,
	     delivery_writer_claim_sql,
	     {"Index Scan using idempotency_keys_pkey", "hashed SubPlan"},
	     DELIVERY_WRITER_CLAIM_PARAMS},
	    {DELIVERY_WRITER_RETRY_STATEMENT,
	     delivery_writer_retry_sql,
	     {"Index Scan using idempotency_keys_pkey", "hashed SubPlan"},
	     DELIVERY_WRITER_PARAMS},
	    {DELIVERY_WRITER_EXPIRE_STATEMENT,
	     delivery_writer_expire_sql,
	     {"Index Scan using idempotency_keys_expires_idx", "Tid Scan"},
	     0},
	};
	PGconn *conn;
	bool ok = true;

	HARNESS_REQUIRE_DB();
	assert_true(harness_sql_exec(s->g.conn, empty_statistics_sql));
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM pg_class WHERE relname IN "
	                                 "('deliveries', 'idempotency_keys') AND reltuples = 0",
	                                 NULL),
	                 2);
	conn = writer_session(s);
	for (size_t i = 0; i < ELEMENTSOF(stmts); i++) {
		_cleanup_free_ char *plan =
		    explain_generic(conn, stmts[i].name, stmts[i].sql, stmts[i].nparams);
		bool good = plan_ok(stmts[i].name, plan, "Seq Scan", true);

		good &= plan_ok(stmts[i].name, plan, "Nested Loop", true);
		for (size_t j = 0; j < ELEMENTSOF(stmts[i].needs); j++)
			good &= plan_ok(stmts[i].name, plan, stmts[i].needs[j], false);
		if (!good)
			print_plan(stmts[i].name, plan);
		ok &= good;
	}
	PQfinish(conn);
	assert_true(ok);
	s->g.passed = true;
}

/* 2. No row trigger on either table but the routing one: no foreign key, no check that runs
 * a query of its own per row with a plan of its own, cached per session, which no statement
 * above controls. The routing trigger (migration 0006) fires only for rows with a route (its
 * WHEN clause is evaluated without a call), and what it runs reads neither table. The one
 * statement trigger (deliveries_audit, migration 0024) runs once per batch and reads only
 * the batch's own rows (its transition table). */
static void test_no_per_row_triggers(void **state)
{
	struct suite *s = *state;

	HARNESS_REQUIRE_DB();
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM pg_trigger WHERE tgrelid IN "
	                                 "('hookrun.deliveries'::regclass, "
	                                 "'hookrun.idempotency_keys'::regclass) "
	                                 "AND tgname NOT IN ('deliveries_route', "
	                                 "'deliveries_audit')",
	                                 NULL),
	                 0);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM pg_trigger WHERE tgrelid = "
	                                 "'hookrun.deliveries'::regclass AND tgname = "
	                                 "'deliveries_audit' AND (tgtype & 1) = 0 AND "
	                                 "pg_get_triggerdef(oid) LIKE '%FOR EACH STATEMENT%'",
	                                 NULL),
	                 1);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM pg_trigger WHERE tgrelid = "
	                                 "'hookrun.deliveries'::regclass AND tgname = "
	                                 "'deliveries_route' AND tgqual IS NOT NULL AND "
	                                 "pg_get_triggerdef(oid) LIKE "
	                                 "'%WHEN ((new.route IS NOT NULL))%'",
	                                 NULL),
	                 1);
	s->g.passed = true;
}

/* Wait until no other session is connected to the database: the ingress's backends have
 * exited, and a backend's statistics are published when it exits. */
static void wait_sessions_gone(PGconn *conn)
{
	long long deadline = harness_now_ms() + 15000;

	while (harness_sql_int(conn,
	                       "SELECT count(*) FROM pg_stat_activity WHERE "
	                       "datname = current_database() AND pid <> pg_backend_pid() "
	                       "AND backend_type = 'client backend'",
	                       NULL) != 0) {
		if (harness_now_ms() >= deadline)
			fail_msg("the ingress's database sessions did not end within 15 s");
		harness_poll_pause();
	}
}

/* 3. A real ingress started on empty statistics, under keyed load with racing duplicates and
 * keys expiring, taken over and deleted: not one sequential scan of either table (before
 * migration 0003 every claimed key scanned hookrun.deliveries), every acknowledged delivery
 * stored, and every key names a stored delivery (what the foreign key checked). */
static void test_keyed_load_without_scans(void **state)
{
	static const char *const env[] = {"HOOKRUN_SOURCE_PLANS_SECRET=" PLANS_SECRET, NULL};
	struct suite *s = *state;
	struct harness_load_stats st;
	char first[HARNESS_ID_MAX] = "";
	long long scans;
	size_t n = 0, missing;

	HARNESS_REQUIRE_DB();
	assert_true(harness_sql_exec(s->g.conn, empty_statistics_sql));
	scans = harness_sql_int(s->g.conn, seq_scans_sql, NULL);
	s->g.in = harness_ingress_start(s->g.db, plans_hookrun_ini, plans_source, env);
	assert_non_null(s->g.in);
	s->g.load = harness_load_start(&(struct harness_load_options){
	    .port = harness_service_port(s->g.in),
	    .path = "/hooks/plans",
	    .threads = 4,
	    .max_seconds = 60,
	    .max_requests = 4000,
	    .hmac = &harness_hmac_signer,
	    .secret = PLANS_SECRET,
	});
	assert_true(harness_load_wait_done(s->g.load, 90000));
	harness_load_stop(s->g.load);
	st = harness_load_stats(s->g.load);
	print_message("# load: %zu answered: %zu 202, %zu 200, %zu 503, %zu other, %zu transport\n",
	              st.answered, st.s202, st.s200, st.s503, st.other, st.transport);
	assert_int_equal(st.s202 + st.s200, st.answered);
	assert_true(st.s200 > 0);
	assert_int_equal(harness_service_stop(s->g.in, 15000), 0);
	wait_sessions_gone(s->g.conn);
	assert_int_equal(harness_sql_int(s->g.conn, seq_scans_sql, NULL), scans);
	missing = harness_load_unstored(s->g.conn, s->g.load, &n, first);
	if (missing != 0)
		fail_msg("%zu of %zu acknowledged deliveries are not stored (first: %s)", missing,
		         n, first);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.idempotency_keys k WHERE "
	                                 "NOT EXISTS (SELECT 1 FROM hookrun.deliveries d "
	                                 "WHERE d.id = k.delivery_id)",
	                                 NULL),
	                 0);
	s->g.passed = true;
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_plans_on_empty_statistics, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_no_per_row_triggers, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_keyed_load_without_scans, harness_test_setup,
	                                    harness_test_teardown),
	};

	harness_init();
	return cmocka_run_group_tests_name("writer_plans", tests, group_setup,
	                                   harness_group_teardown);
}
