/* The audit trail's guarantees (migrations 0020 and 0021) on a real PostgreSQL, through the
 * real hookrun CLI: UPDATE, DELETE and TRUNCATE of the audit tables fail for the owner; a
 * login role of hookrun_service may write events but not change them, nor the schema, nor
 * the triggers; hookrun_auditor only reads. `hookrun audit seal` seals events in blocks and
 * `hookrun audit verify` finds every change a superuser makes with the triggers off (an
 * altered, a deleted and an inserted event, a changed seal), naming block and event; an
 * event committed after a later one was sealed joins a later block, never falling outside
 * the chain. Ingresses seal by themselves, taking turns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "xalloc.h"

/* State of the group: one database (each sealing test makes its own as well). */
struct suite {
	struct harness_group g; /* first: the harness_group_*() functions take the state */
};

/* Group setup: a migrated database. */
static int group_setup(void **state)
{
	return harness_group_setup(state, sizeof(struct suite), NULL, NULL);
}

/* Run `hookrun audit ARGS...` (NULL-terminated, at most 8) against db: its exit code, with
 * stdout in *out (a new string, replacing what it held). */
static int audit(const struct harness_db *db, char **out, ...)
{
	_cleanup_free_ char *db_env = xasprintf("HOOKRUN_DB_URL=%s", db->url);
	_cleanup_free_ char *err = NULL;
	const char *argv[12] = {harness_cli_bin(), "audit"};
	const char *env[] = {db_env, NULL};
	size_t n = 2;
	va_list ap;
	int rc;

	va_start(ap, out);
	for (const char *a; n < 10 && (a = va_arg(ap, const char *));)
		argv[n++] = a;
	va_end(ap);
	free(*out);
	*out = NULL;
	rc = harness_run(argv, env, 60000, out, &err);
	if (err && *err)
		print_message("# hookrun audit stderr: %s", err);
	return rc;
}

/* Assert `hookrun audit verify` on db exits with want and prints what. */
static void expect_verify(const struct harness_db *db, int want, const char *what)
{
	_cleanup_free_ char *out = NULL;
	int rc = audit(db, &out, "verify", NULL);

	if (rc != want || !out || !strstr(out, what))
		fail_msg("verify exited %d (want %d) saying '%s' (want '%s')", rc, want,
		         out ? out : "", what);
}

/* Insert n events in one transaction of their own. */
static void insert_events(PGconn *conn, int n, const char *kind)
{
	_cleanup_free_ char *sql = xasprintf(
	    "INSERT INTO hookrun.audit_events (kind, actor, organisation, detail) "
	    "SELECT '%s', 'test', 'org-a', jsonb_build_object('n', g, 'text', 'é \"q\" \\\\ \t') "
	    "FROM generate_series(1, %d) g",
	    kind, n);

	assert_true(harness_sql_exec(conn, sql));
}

/* Seal (blocks of at most max events) until want events are sealed. Transaction ids are the
 * cluster's: a transaction of another test, in another database, holds the horizon back
 * while it runs, so a round may seal less than all, or nothing. */
static void seal_until(PGconn *conn, int max, long long want)
{
	_cleanup_free_ char *sql = xasprintf("SELECT count(*) FROM hookrun.seal_audit(%d)", max);
	long long deadline = harness_now_ms() + 30000, sealed = 0;

	for (;;) {
		sealed = harness_sql_int(
		    conn, "SELECT coalesce(sum(n_events), 0) FROM hookrun.audit_seals", NULL);
		if (sealed >= want || harness_now_ms() > deadline)
			break;
		if (harness_sql_int(conn, sql, NULL) == 0)
			harness_poll_pause();
	}
	assert_int_equal(sealed, want);
}

/* The number of the last block, or 0. */
static long long last_block(PGconn *conn)
{
	return harness_sql_int(conn, "SELECT coalesce(max(block), 0) FROM hookrun.audit_seals",
	                       NULL);
}

/* A fresh migrated database of the test's own and a connection to it. */
static PGconn *fresh_db(struct harness_db **ret_db)
{
	PGconn *c;

	*ret_db = harness_db_new(true);
	assert_non_null(*ret_db);
	c = harness_pg_connect((*ret_db)->url);
	assert_non_null(c);
	return c;
}

/* Close what fresh_db() opened and drop the database. */
static void fresh_db_close(struct harness_db *db, PGconn *c)
{
	PQfinish(c);
	harness_db_free(db);
}

/* UPDATE, DELETE and TRUNCATE of events and seals fail for the owner; INSERT works. */
static void test_append_only(void **state)
{
	struct suite *s = *state;
	static const char *const refused[] = {
	    "UPDATE hookrun.audit_events SET kind = 'x'",
	    "DELETE FROM hookrun.audit_events",
	    "TRUNCATE hookrun.audit_events",
	    "UPDATE hookrun.audit_seals SET n_events = 1",
	    "DELETE FROM hookrun.audit_seals",
	    "TRUNCATE hookrun.audit_seals",
	};

	HARNESS_REQUIRE_DB();
	insert_events(s->g.conn, 3, "append.only");
	seal_until(s->g.conn, 50000,
	           harness_sql_int(s->g.conn, "SELECT count(*) FROM hookrun.audit_events", NULL));
	for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
		_cleanup_free_ char *e = harness_sql_error(s->g.conn, refused[i], NULL);

		if (!e || !strstr(e, "is append-only"))
			fail_msg("'%s' was not refused (%s)", refused[i], e ? e : "it succeeded");
	}
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                                 "'append.only'",
	                                 NULL),
	                 3);
}

/* The URL of db for another user (trust authentication, as the test cluster has). */
static char *url_as(const struct harness_db *db, const char *user)
{
	const char *at = strchr(db->url, '@');
	const char *scheme = strstr(db->url, "://");

	assert_non_null(at);
	assert_non_null(scheme);
	return xasprintf("%.*s%s%s", (int)(scheme + 3 - db->url), db->url, user, at);
}

/* Assert sql fails on conn with SQLSTATE 42501 (insufficient privilege). */
static void expect_denied(PGconn *conn, const char *sql)
{
	_cleanup_free_ char *e = harness_sql_error(conn, sql, NULL);

	if (!e || strncmp(e, "42501", 5) != 0)
		fail_msg("'%s': want 42501, got %s", sql, e ? e : "success");
}

/* A login role of hookrun_service writes events and reads them, and cannot change them, nor
 * switch the triggers off, nor drop them, nor create in the schema; one of hookrun_auditor
 * reads and does nothing else. */
static void test_roles(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *svc = xasprintf("audit_svc_%d", (int)getpid());
	_cleanup_free_ char *aud = xasprintf("audit_aud_%d", (int)getpid());
	_cleanup_free_ char *mk = xasprintf("CREATE ROLE %s LOGIN IN ROLE hookrun_service; "
	                                    "CREATE ROLE %s LOGIN IN ROLE hookrun_auditor",
	                                    svc, aud);
	_cleanup_free_ char *rm =
	    xasprintf("DROP ROLE IF EXISTS %s; DROP ROLE IF EXISTS %s", svc, aud);
	_cleanup_free_ char *svc_url = NULL, *aud_url = NULL;
	PGconn *sc, *ac;

	HARNESS_REQUIRE_DB();
	(void)harness_sql_exec(s->g.conn, rm);
	assert_true(harness_sql_exec(s->g.conn, mk));
	svc_url = url_as(s->g.db, svc);
	aud_url = url_as(s->g.db, aud);
	sc = harness_pg_connect(svc_url);
	ac = harness_pg_connect(aud_url);
	assert_non_null(sc);
	assert_non_null(ac);

	insert_events(sc, 2, "role.service");
	assert_int_equal(harness_sql_int(sc,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE kind "
	                                 "= 'role.service'",
	                                 NULL),
	                 2);
	expect_denied(sc, "UPDATE hookrun.audit_events SET kind = 'x'");
	expect_denied(sc, "DELETE FROM hookrun.audit_events");
	expect_denied(sc, "TRUNCATE hookrun.audit_events");
	expect_denied(sc, "ALTER TABLE hookrun.audit_events DISABLE TRIGGER USER");
	expect_denied(sc, "DROP TRIGGER audit_events_append_only ON hookrun.audit_events");
	expect_denied(sc, "ALTER TABLE hookrun.audit_events DROP COLUMN detail");
	expect_denied(sc, "CREATE TABLE hookrun.mine (x int)");
	expect_denied(sc, "SET session_replication_role = replica");
	expect_denied(sc, "UPDATE hookrun.audit_seals SET n_events = 1");
	expect_denied(sc, "INSERT INTO hookrun.schema_migrations (version, name, checksum) "
	                  "VALUES (9999, 'x', 'x')");

	assert_int_equal(harness_sql_int(ac,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE kind "
	                                 "= 'role.service'",
	                                 NULL),
	                 2);
	assert_true(harness_sql_int(ac, "SELECT count(*) FROM hookrun.jobs", NULL) >= 0);
	expect_denied(ac, "INSERT INTO hookrun.audit_events (kind, actor) VALUES ('x', 'y')");
	expect_denied(ac, "SELECT * FROM hookrun.seal_audit()");
	expect_denied(ac, "UPDATE hookrun.jobs SET state = state");

	PQfinish(sc);
	PQfinish(ac);
	assert_true(harness_sql_exec(s->g.conn, rm));
}

/* Run sql as a superuser with the triggers off (how an attacker with the keys would). */
static void tamper(PGconn *conn, const char *sql)
{
	_cleanup_free_ char *all = xasprintf(
	    "SET session_replication_role = replica; %s; RESET session_replication_role", sql);

	assert_true(harness_sql_exec(conn, all));
}

/* Expect verify to exit want saying what (printf-style). */
_printf_(3, 4) static void tamper_expect(const struct harness_db *db, int want, const char *what,
                                         ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;

	va_start(ap, what);
	text = xvasprintf(what, ap);
	va_end(ap);
	expect_verify(db, want, text);
}

/* The text an event's digest is taken of, pinned (migration 0020): JSON, at in UTC without
 * a zone, strings escaped, detail in jsonb's order. */
static void expect_pinned_text(PGconn *c)
{
	_cleanup_free_ char *text = NULL;

	assert_true(harness_sql_exec(
	    c, "INSERT INTO hookrun.audit_events (at, kind, actor, item_id, detail) VALUES "
	       "('2026-12-03 08:00:00.5+01', 'pin', 'é \"q\"', 7, '{\"b\": 1, \"a\": [null]}')"));
	text = harness_sql_text(c,
	                        "SELECT hookrun.audit_event_text(e) FROM hookrun.audit_events e "
	                        "WHERE kind = 'pin'",
	                        NULL);
	assert_non_null(text);
	assert_string_equal(strchr(text, ','),
	                    ", \"2026-12-03T07:00:00.5\", \"pin\", \"é \\\"q\\\"\", null, null, 7, "
	                    "null, {\"a\": [null], \"b\": 1}]");
}

/* Alter, then delete, event id of block (then put it back), and slip one into block 1: each
 * found and named. */
static void tamper_events(const struct harness_db *db, PGconn *c, long long block, long long id,
                          const char *intact)
{
	_cleanup_free_ char *sql = NULL;
	long long forged;

	sql = xasprintf("CREATE TABLE public.saved AS SELECT * FROM hookrun.audit_events "
	                "WHERE id = %lld; "
	                "SET session_replication_role = replica; "
	                "UPDATE hookrun.audit_events SET actor = 'mallory' WHERE id = %lld; "
	                "RESET session_replication_role",
	                id, id);
	assert_true(harness_sql_exec(c, sql));
	tamper_expect(db, 1, "block %lld: event %lld altered", block, id);
	free(sql);
	sql = xasprintf("DELETE FROM hookrun.audit_events WHERE id = %lld", id);
	tamper(c, sql);
	tamper_expect(db, 1, "block %lld: event %lld deleted", block, id);
	tamper(c, "INSERT INTO hookrun.audit_events OVERRIDING SYSTEM VALUE SELECT * FROM "
	          "public.saved");
	expect_verify(db, 0, intact);

	/* An event slipped into block 1's transactions, under a new id. */
	tamper(c,
	       "INSERT INTO hookrun.audit_events (kind, actor, xact) SELECT 'forged', 'mallory', "
	       "xact_from FROM hookrun.audit_seals WHERE block = 1");
	forged =
	    harness_sql_int(c, "SELECT id FROM hookrun.audit_events WHERE kind = 'forged'", NULL);
	tamper_expect(db, 1, "block 1: event %lld inserted", forged);
	tamper(c, "DELETE FROM hookrun.audit_events WHERE kind = 'forged'");
	expect_verify(db, 0, intact);
}

/* Sealed (in up to three blocks), the chain verifies; then each change is found and named,
 * and undoing it makes the chain whole again; a changed seal is found too. */
static void test_tamper(void **state)
{
	struct harness_db *db;
	PGconn *c;
	_cleanup_free_ char *out = NULL, *sql = NULL, *intact = NULL;
	long long id, block, last;

	HARNESS_REQUIRE_DB();
	c = fresh_db(&db);
	expect_verify(db, 0, "nothing sealed yet");
	expect_pinned_text(c);
	for (int b = 0; b < 3; b++) {
		insert_events(c, 40, "tamper.test");
		assert_int_equal(audit(db, &out, "seal", NULL), 0);
		seal_until(c, 50000, 40LL * (b + 1) + 1);
	}
	last = last_block(c);
	intact = xasprintf("intact: blocks 1-%lld, 121 events; 0 not sealed", last);
	expect_verify(db, 0, intact);
	id = harness_sql_int(c, "SELECT min(id) + 50 FROM hookrun.audit_events", NULL);
	sql = xasprintf("SELECT block FROM hookrun.audit_seals WHERE %lld = ANY (event_ids)", id);
	block = harness_sql_int(c, sql, NULL);
	tamper_events(db, c, block, id, intact);

	/* A seal removed from the middle of the chain (only the last one needs a head kept
	 * outside: audit head, --expect). */
	assert_true(harness_sql_exec(c, "CREATE TABLE public.saved_seal AS SELECT * FROM "
	                                "hookrun.audit_seals WHERE block = 1"));
	tamper(c, "DELETE FROM hookrun.audit_seals WHERE block = 1");
	tamper_expect(db, 1, "block 1: seal_missing");
	tamper(c, "INSERT INTO hookrun.audit_seals SELECT * FROM public.saved_seal");
	expect_verify(db, 0, intact);

	free(sql);
	sql = xasprintf("UPDATE hookrun.audit_seals SET hash = sha256(hash) WHERE block = %lld",
	                last);
	tamper(c, sql);
	tamper_expect(db, 1, "block %lld: seal_altered", last);
	free(sql);
	sql = xasprintf("UPDATE hookrun.audit_seals SET prev_hash = sha256(prev_hash) "
	                "WHERE block = %lld",
	                last);
	tamper(c, sql);
	tamper_expect(db, 1, "block %lld: broken", last);
	fresh_db_close(db, c);
}

/* A head printed for safekeeping anchors a later verify: the same head passes, another
 * hash fails; --from starts at an archived block. */
static void test_head_and_from(void **state)
{
	struct harness_db *db;
	PGconn *c;
	_cleanup_free_ char *out = NULL, *hash = NULL, *good = NULL, *bad = NULL, *want = NULL;
	_cleanup_free_ char *from = NULL;
	long long last;

	HARNESS_REQUIRE_DB();
	c = fresh_db(&db);
	for (int b = 0; b < 2; b++) {
		insert_events(c, 5, "head.test");
		assert_int_equal(audit(db, &out, "seal", NULL), 0);
		seal_until(c, 50000, 5LL * (b + 1));
	}
	last = last_block(c);
	assert_int_equal(audit(db, &out, "head", "--json", NULL), 0);
	want = xasprintf("\"block\" : %lld", last);
	assert_non_null(strstr(out, want));
	hash = harness_sql_text(c,
	                        "SELECT encode(hash, 'hex') FROM hookrun.audit_seals "
	                        "ORDER BY block DESC LIMIT 1",
	                        NULL);
	assert_non_null(hash);
	assert_non_null(strstr(out, hash));
	good = xasprintf("%lld:%s", last, hash);
	bad = xasprintf("%lld:%064d", last, 0);
	assert_int_equal(audit(db, &out, "verify", "--expect", good, NULL), 0);
	assert_int_equal(audit(db, &out, "verify", "--expect", bad, NULL), 1);
	assert_non_null(strstr(out, "differs_from_expected_head"));
	from = xasprintf("%lld", last);
	free(want);
	want = xasprintf("blocks %lld-%lld,", last, last);
	assert_int_equal(audit(db, &out, "verify", "--from", from, NULL), 0);
	assert_non_null(strstr(out, want));
	assert_int_equal(audit(db, &out, "verify", "--from", "x", NULL), 2);
	fresh_db_close(db, c);
}

/* audit_events is partitioned by month: partitions for the months ahead exist, an event lands
 * in its month's, a partition refuses UPDATE, DELETE and TRUNCATE like the table; a month
 * detached for archiving leaves the chain verifiable from the first block after it (and
 * verify over the whole chain names the events that left). */
static void test_partitions(void **state)
{
	struct harness_db *db;
	PGconn *c;
	_cleanup_free_ char *out = NULL, *part = NULL, *err = NULL, *sql = NULL, *from = NULL;
	long long block;

	HARNESS_REQUIRE_DB();
	c = fresh_db(&db);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM pg_class WHERE oid = "
	                                 "'hookrun.audit_events'::regclass AND relkind = 'p'",
	                                 NULL),
	                 1);
	/* p0, three months ahead, the default */
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM pg_inherits WHERE inhparent = "
	                                 "'hookrun.audit_events'::regclass",
	                                 NULL),
	                 5);
	assert_int_equal(harness_sql_int(c, "SELECT hookrun.ensure_partitions(3)", NULL), 0);
	/* Events of the month after next: in their partition, sealed alone in a block. */
	part = harness_sql_text(c,
	                        "SELECT 'audit_events_p' || to_char(date_trunc('month', now() AT "
	                        "TIME ZONE 'UTC') + interval '2 months', 'YYYYMM')",
	                        NULL);
	assert_non_null(part);
	assert_true(harness_sql_exec(c, "INSERT INTO hookrun.audit_events (at, kind, actor) SELECT "
	                                "date_trunc('month', now()) + interval '2 months 1 day', "
	                                "'future', 'test' FROM generate_series(1, 3)"));
	sql = xasprintf("SELECT count(*) FROM hookrun.%s", part);
	assert_int_equal(harness_sql_int(c, sql, NULL), 3);
	seal_until(c, 50000, 3);
	block = last_block(c);
	insert_events(c, 4, "after");
	seal_until(c, 50000, 7);
	expect_verify(db, 0, "intact");
	/* A partition refuses what the table refuses, to its owner too. */
	free(sql);
	sql = xasprintf("TRUNCATE hookrun.%s", part);
	err = harness_sql_error(c, sql, NULL);
	assert_non_null(err);
	assert_non_null(strstr(err, "append-only"));
	free(sql);
	free(err);
	sql = xasprintf("DELETE FROM hookrun.%s", part);
	err = harness_sql_error(c, sql, NULL);
	assert_non_null(err);
	assert_non_null(strstr(err, "append-only"));
	/* Archived: detached (as an archive would), the chain from the next block holds. */
	free(sql);
	sql = xasprintf("ALTER TABLE hookrun.audit_events DETACH PARTITION hookrun.%s", part);
	assert_true(harness_sql_exec(c, sql));
	expect_verify(db, 1, "deleted");
	from = xasprintf("%lld", block + 1);
	assert_int_equal(audit(db, &out, "verify", "--from", from, NULL), 0);
	assert_non_null(strstr(out, "intact"));
	fresh_db_close(db, c);
}

/* `hookrun audit head --post URL` sends the latest seal to a receiver outside, signed the
 * Standard Webhooks way with audit_head_secret (checked there with Python's own hmac), and
 * the copy it keeps anchors `verify --expect`; without the secret it refuses (2); a receiver
 * that refuses the head makes it fail (1). */
static void test_head_posted(void **state)
{
	static const char secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
	struct harness_db *db;
	struct harness_receiver rc = {0}, no = {0};
	_cleanup_free_ char *db_env = NULL, *url = NULL, *out = NULL, *err = NULL, *hash = NULL;
	_cleanup_free_ char *expect = NULL;
	const char *secret_env = "HOOKRUN_AUDIT_HEAD_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
	json_t *reqs, *body;
	PGconn *c;

	HARNESS_REQUIRE_DB();
	c = fresh_db(&db);
	insert_events(c, 5, "head.post");
	seal_until(c, 50000, 5);
	assert_true(harness_receiver_start(secret, "204", &rc));
	db_env = xasprintf("HOOKRUN_DB_URL=%s", db->url);
	url = xasprintf("http://127.0.0.1:%d/audit-head", rc.port);
	assert_int_equal(harness_run((const char *const[]){harness_cli_bin(), "audit", "head",
	                                                   "--post", url, NULL},
	                             (const char *const[]){db_env, secret_env, NULL}, 30000, &out,
	                             &err),
	                 0);
	reqs = harness_receiver_requests(&rc);
	assert_int_equal(json_array_size(reqs), 1);
	assert_true(json_is_true(json_object_get(json_array_get(reqs, 0), "verified")));
	body = json_loads(json_string_value(json_object_get(json_array_get(reqs, 0), "body")), 0,
	                  NULL);
	assert_string_equal(json_string_value(json_object_get(body, "type")), "audit.head");
	hash =
	    harness_sql_text(c,
	                     "SELECT encode(hash, 'hex') FROM hookrun.audit_seals ORDER BY block "
	                     "DESC LIMIT 1",
	                     NULL);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(body, "data"), "hash")), hash);
	/* The copy outside anchors the chain. */
	expect = xasprintf(
	    "%lld:%s",
	    (long long)json_integer_value(json_object_get(json_object_get(body, "data"), "block")),
	    hash);
	assert_int_equal(audit(db, &out, "verify", "--expect", expect, NULL), 0);
	json_decref(body);
	json_decref(reqs);
	harness_receiver_stop(&rc);
	/* No secret: refused before anything is sent; a receiver refusing: exit 1. */
	free(out);
	free(err);
	out = err = NULL;
	assert_int_equal(harness_run((const char *const[]){harness_cli_bin(), "audit", "head",
	                                                   "--post", url, NULL},
	                             (const char *const[]){db_env, NULL}, 30000, &out, &err),
	                 2);
	assert_non_null(strstr(err, "audit_head_secret"));
	assert_true(harness_receiver_start(secret, "403", &no));
	free(url);
	url = xasprintf("http://127.0.0.1:%d/audit-head", no.port);
	free(out);
	free(err);
	out = err = NULL;
	assert_int_equal(harness_run((const char *const[]){harness_cli_bin(), "audit", "head",
	                                                   "--post", url, NULL},
	                             (const char *const[]){db_env, secret_env, NULL}, 30000, &out,
	                             &err),
	                 1);
	assert_non_null(strstr(err, "HTTP 403"));
	harness_receiver_stop(&no);
	fresh_db_close(db, c);
}

/* A transaction that wrote an event before others committed theirs and sealed them stays
 * out of every block until it ends, then joins the next: nothing falls outside the chain,
 * and every event is sealed exactly once. */
static void test_late_commit(void **state)
{
	struct harness_db *db;
	PGconn *c, *late;
	_cleanup_free_ char *out = NULL;

	HARNESS_REQUIRE_DB();
	c = fresh_db(&db);
	late = harness_pg_connect(db->url);
	assert_non_null(late);
	insert_events(c, 3, "before");
	assert_true(harness_sql_exec(late, "BEGIN; INSERT INTO hookrun.audit_events (kind, actor) "
	                                   "VALUES ('late', 'test')"));
	insert_events(c, 4, "after");
	seal_until(c, 50000, 3);
	/* Only the 3 before the open transaction: the 4 after it wait with it. */
	assert_int_equal(audit(db, &out, "seal", NULL), 0);
	assert_non_null(strstr(out, "nothing to seal"));
	expect_verify(db, 0, "intact: blocks 1-1, 3 events; 4 not sealed");
	assert_true(harness_sql_exec(late, "COMMIT"));
	expect_verify(db, 0, "intact: blocks 1-1, 3 events; 5 not sealed");
	seal_until(c, 50000, 8);
	expect_verify(db, 0, "8 events; 0 not sealed");
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.audit_events e WHERE "
	                                 "(SELECT count(*) FROM hookrun.audit_seals s WHERE e.id = "
	                                 "ANY (s.event_ids)) <> 1",
	                                 NULL),
	                 0);
	PQfinish(late);
	fresh_db_close(db, c);
}

/* A backlog larger than a block is sealed in several, none past the limit unless one
 * transaction alone is; the chain verifies. */
static void test_block_limit(void **state)
{
	struct harness_db *db;
	PGconn *c;

	HARNESS_REQUIRE_DB();
	c = fresh_db(&db);
	for (int t = 0; t < 10; t++)
		insert_events(c, 5, "limit.test");
	insert_events(c, 30, "big.one");
	seal_until(c, 12, 80);
	assert_int_equal(harness_sql_int(c, "SELECT max(n_events) FROM hookrun.audit_seals", NULL),
	                 30);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.audit_seals WHERE "
	                                 "n_events > 12 AND n_events <> 30",
	                                 NULL),
	                 0);
	assert_int_equal(harness_sql_int(c, "SELECT sum(n_events) FROM hookrun.audit_seals", NULL),
	                 80);
	expect_verify(db, 0, "80 events; 0 not sealed");
	fresh_db_close(db, c);
}

/* Every view answers whatever the rows hold: a JSON delivery whose body is not JSON, not
 * UTF-8, or holds \u0000 (which jsonb refuses); audit details with a status or a duration
 * that is not a number. */
static void test_views_never_fail(void **state)
{
	struct suite *s = *state;
	static const char *const views[] = {
	    "hookrun.deliveries_json",       "hookrun.job_progress",
	    "hookrun.failed_items",          "hookrun.end_user_history",
	    "hookrun.api_calls_by_endpoint", "hookrun.deliveries_by_source",
	    "hookrun.daily_summary",
	};

	HARNESS_REQUIRE_DB();
	assert_true(harness_sql_exec(
	    s->g.conn,
	    "INSERT INTO hookrun.deliveries (id, source, received_at, method, uri, headers, "
	    "content_type, body, verified_by) SELECT gen_random_uuid(), 'odd', now(), 'POST', "
	    "'/hooks/odd', '{}', 'application/json', b, 'none' FROM unnest(ARRAY["
	    "convert_to('{\"a\": \"\\u0000\"}', 'UTF8'), '\\xfffe7b7d'::bytea, "
	    "convert_to('not json', 'UTF8'), convert_to('{\"ok\": 1}', 'UTF8')]) b"));
	assert_true(harness_sql_exec(
	    s->g.conn,
	    "INSERT INTO hookrun.audit_events (kind, actor, organisation, detail) VALUES "
	    "('api.call', 'x', 'odd', '{\"status\": \"abc\", \"duration_ms\": \"slow\"}'), "
	    "('api.call', 'x', 'odd', '{\"status\": 1e300, \"duration_ms\": [1]}'), "
	    "('api.call', 'x', 'odd', '{\"status\": 200, \"duration_ms\": 1.5}'), "
	    "('item.state', 'x', 'odd', '\"not an object\"')"));
	for (size_t i = 0; i < sizeof(views) / sizeof(*views); i++) {
		_cleanup_free_ char *sql =
		    xasprintf("SELECT count(*) FROM (SELECT * FROM %s) v", views[i]);

		if (harness_sql_int(s->g.conn, sql, NULL) < 0)
			fail_msg("%s failed on odd rows", views[i]);
	}
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(payload) FROM hookrun.deliveries_json "
	                                 "WHERE source = 'odd'",
	                                 NULL),
	                 1);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT calls::int * 100 + status_2xx FROM "
	                                 "hookrun.api_calls_by_endpoint WHERE organisation = 'odd'",
	                                 NULL),
	                 301);
}

/* Two ingresses sealing every second, with events committed all along: they take turns
 * (one block at a time, no block twice), every event ends in exactly one block, the chain
 * verifies, and /metrics counts what each sealed. */
static void test_ingress_seals(void **state)
{
	static const char ini[] = "audit_seal_interval = 1s\n";
	static const char sources[] = "[source.open]\nauth = none\nallow_unauthenticated = true\n";
	struct harness_db *db;
	struct harness_service *in[2];
	PGconn *c;
	long long deadline, sealed = 0, total = 0;

	HARNESS_REQUIRE_DB();
	c = fresh_db(&db);
	for (int i = 0; i < 2; i++) {
		in[i] = harness_ingress_start(db, ini, sources, NULL);
		assert_non_null(in[i]);
	}
	/* Each writes the configuration it loaded on a connection of its own: wait for both, so
	 * that the total below is every event. */
	deadline = harness_now_ms() + 10000;
	while (harness_now_ms() < deadline &&
	       harness_sql_int(c,
	                       "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                       "'config.loaded'",
	                       NULL) < 2)
		harness_poll_pause();
	for (int t = 0; t < 30; t++) {
		insert_events(c, 50, "ingress.seals");
		harness_poll_pause();
	}
	total = harness_sql_int(c, "SELECT count(*) FROM hookrun.audit_events", NULL);
	deadline = harness_now_ms() + 20000;
	while (harness_now_ms() < deadline &&
	       (sealed = harness_sql_int(c,
	                                 "SELECT coalesce(sum(n_events), 0) FROM "
	                                 "hookrun.audit_seals",
	                                 NULL)) < total)
		harness_poll_pause();
	assert_int_equal(sealed, total);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.audit_events e WHERE "
	                                 "(SELECT count(*) FROM hookrun.audit_seals s WHERE e.id = "
	                                 "ANY (s.event_ids)) <> 1",
	                                 NULL),
	                 0);
	expect_verify(db, 0, "0 not sealed");
	/* They ran as the services' login, with its grants only. */
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.audit_seals WHERE sealed_by "
	                                 "<> '" HARNESS_SERVICE_ROLE "'",
	                                 NULL),
	                 0);
	{
		struct harness_response r = {0};
		long long n = 0;

		for (int i = 0; i < 2; i++) {
			const char *m;

			harness_http_get(harness_service_port(in[i]), "/metrics", &r);
			assert_int_equal(r.status, 200);
			m = strstr(r.body, "\nhookrun_audit_events_sealed_total ");
			assert_non_null(m);
			n += strtoll(m + strlen("\nhookrun_audit_events_sealed_total "), NULL, 10);
			harness_response_fini(&r);
		}
		assert_int_equal(n, total);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(harness_service_stop(in[i], 10000), 0);
		harness_service_free(in[i], false);
	}
	fresh_db_close(db, c);
}

/* The events a service writes itself, and delivery.accepted, against an ingress with the
 * given tally period: a key-authenticated source, an open one; two refused webhooks (wrong
 * key), one to a source that does not exist, one too large (refused before routing), two
 * stored; two uses of a token. */
static struct harness_service *events_ingress(struct harness_db *db, const char *period,
                                              char **ret_token)
{
	static const char sources[] = "[source.key]\nauth = api-key\napi_key_header = X-Api-Key\n"
	                              "body_limit = 1KiB\n"
	                              "[source.open]\nauth = none\nallow_unauthenticated = true\n";
	static const char *const env[] = {"HOOKRUN_SOURCE_KEY_SECRET=k-audit-events-1234", NULL};
	_cleanup_free_ char *ini = xasprintf("audit_tally_interval = %s\n", period);
	_cleanup_free_ char *bearer = NULL;
	static char big[2048];
	struct harness_service *in = harness_ingress_start(db, ini, sources, env);
	struct harness_response r = {0};
	int port;

	assert_non_null(in);
	port = harness_service_port(in);
	for (int i = 0; i < 2; i++) {
		harness_http(port,
		             &(struct harness_request){
		                 .path = "/hooks/key",
		                 .content_type = "application/json",
		                 .body = "{}",
		                 .body_len = 2,
		                 .headers = (const char *const[]){"X-Api-Key: wrong", NULL}},
		             &r);
		assert_int_equal(r.status, 401);
		harness_response_fini(&r);
	}
	harness_http(port,
	             &(struct harness_request){.path = "/hooks/nosuch",
	                                       .content_type = "application/json",
	                                       .body = "{}",
	                                       .body_len = 2},
	             &r);
	assert_int_equal(r.status, 404);
	harness_response_fini(&r);
	memset(big, 'x', sizeof(big));
	harness_http(port,
	             &(struct harness_request){
	                 .path = "/hooks/key",
	                 .content_type = "text/plain",
	                 .body = big,
	                 .body_len = sizeof(big),
	                 .headers = (const char *const[]){"X-Api-Key: k-audit-events-1234", NULL}},
	             &r);
	assert_int_equal(r.status, 413);
	harness_response_fini(&r);
	for (int i = 0; i < 2; i++) {
		harness_http(port,
		             &(struct harness_request){.path = "/hooks/open",
		                                       .content_type = "application/json",
		                                       .body = i ? "{\"n\":2}" : "{\"n\":1}",
		                                       .body_len = 7},
		             &r);
		assert_int_equal(r.status, 202);
		harness_response_fini(&r);
	}
	*ret_token = harness_token_create(db, "audit", "org-a", "read");
	assert_non_null(*ret_token);
	bearer = xasprintf("Authorization: Bearer %s", *ret_token);
	for (int i = 0; i < 2; i++) {
		harness_http(
		    port,
		    &(struct harness_request){.path = "/v1/jobs",
		                              .headers = (const char *const[]){bearer, NULL}},
		    &r);
		assert_int_equal(r.status, 200);
		harness_response_fini(&r);
	}
	return in;
}

/* Sum of the counts of kind's tallies by actor for reason. */
static long long tallied(PGconn *c, const char *kind, const char *actor, const char *reason)
{
	return harness_sql_int(c,
	                       "SELECT coalesce(sum((detail->>'count')::bigint), 0) FROM "
	                       "hookrun.audit_events WHERE kind = $1 AND actor = $2 AND "
	                       "detail->>'reason' = $3",
	                       kind, actor, reason, NULL);
}

/* What events_ingress() did is in the audit trail: the configuration it loaded, each stored
 * delivery, the refusals and the token's uses counted per source
 * (per token) and reason. */
static void expect_events(PGconn *c)
{
	assert_int_equal(tallied(c, "delivery.rejected", "source:key", "bad_credentials"), 2);
	assert_int_equal(tallied(c, "delivery.rejected", "source:key", "body_too_large"), 1);
	assert_int_equal(tallied(c, "delivery.rejected", "source:-", "unknown_source"), 1);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                                 "'token.used' AND actor = 'token:' || (SELECT id FROM "
	                                 "hookrun.api_tokens WHERE name = 'audit') AND "
	                                 "(detail->>'count')::int = 2",
	                                 NULL),
	                 1);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.audit_events a JOIN "
	                                 "hookrun.deliveries d ON d.id = a.delivery_id WHERE "
	                                 "a.kind = 'delivery.accepted' AND a.actor = 'source:open' "
	                                 "AND (a.detail->>'bytes')::int = 7",
	                                 NULL),
	                 2);
	/* How each was verified, as the delivery row says. */
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.audit_events a JOIN "
	                                 "hookrun.deliveries d ON d.id = a.delivery_id WHERE "
	                                 "a.kind = 'delivery.accepted' AND "
	                                 "a.detail->>'verified_by' = d.verified_by AND "
	                                 "a.detail->>'source' = d.source",
	                                 NULL),
	                 2);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                                 "'config.loaded' AND actor LIKE 'ingress-%' AND "
	                                 "detail->>'service' = 'hookrun-ingress' AND "
	                                 "detail->>'config_sha256' ~ '^[0-9a-f]{64}$'",
	                                 NULL),
	                 1);
}

/* With a period of a second, the tallies are written while the ingress runs, a row per
 * period and key; the events pass the append-only checks and seal like any other. */
static void test_events_recorded(void **state)
{
	struct harness_db *db;
	_cleanup_free_ char *token = NULL;
	struct harness_service *in;
	PGconn *c;
	long long deadline;

	HARNESS_REQUIRE_DB();
	c = fresh_db(&db);
	in = events_ingress(db, "1s", &token);
	deadline = harness_now_ms() + 15000;
	while (harness_now_ms() < deadline &&
	       harness_sql_int(c,
	                       "SELECT count(*) FROM hookrun.audit_events WHERE kind IN "
	                       "('delivery.rejected', 'token.used')",
	                       NULL) < 4)
		harness_poll_pause();
	expect_events(c);
	/* A row per period and key: never more rows than periods the events spanned. */
	assert_true(harness_sql_int(c,
	                            "SELECT count(*) FROM hookrun.audit_events WHERE actor = "
	                            "'source:key' AND kind = 'delivery.rejected' AND "
	                            "detail->>'period_s' = '1'",
	                            NULL) >= 2);
	assert_int_equal(harness_service_stop(in, 10000), 0);
	harness_service_free(in, false);
	seal_until(c, 1000, harness_sql_int(c, "SELECT count(*) FROM hookrun.audit_events", NULL));
	expect_verify(db, 0, "intact");
	fresh_db_close(db, c);
}

/* With a period of an hour, nothing is due while the ingress runs; stopping it (SIGTERM)
 * writes the period's tallies before it exits. */
static void test_tallies_written_at_stop(void **state)
{
	struct harness_db *db;
	_cleanup_free_ char *token = NULL;
	struct harness_service *in;
	PGconn *c;

	HARNESS_REQUIRE_DB();
	c = fresh_db(&db);
	in = events_ingress(db, "1h", &token);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                                 "'delivery.rejected'",
	                                 NULL),
	                 0);
	assert_int_equal(harness_service_stop(in, 10000), 0);
	harness_service_free(in, false);
	expect_events(c);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                                 "'delivery.rejected' AND detail->>'period_s' = '3600'",
	                                 NULL),
	                 3);
	fresh_db_close(db, c);
}

/* record_audit_events() writes a batch once (the same id again writes nothing) and only the
 * kinds a service may write; the service's role may call it. */
static void test_record_batches(void **state)
{
	static const char batch[] =
	    "[{\"kind\":\"delivery.rejected\",\"actor\":\"source:x\",\"detail\":{\"count\":3}}]";
	struct harness_db *db;
	PGconn *c;
	_cleanup_free_ char *err = NULL, *err2 = NULL;

	HARNESS_REQUIRE_DB();
	c = fresh_db(&db);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT hookrun.record_audit_events("
	                                 "'0190f3c4-0000-7000-8000-000000000001', $1)",
	                                 batch, NULL),
	                 1);
	assert_int_equal(harness_sql_int(c,
	                                 "SELECT hookrun.record_audit_events("
	                                 "'0190f3c4-0000-7000-8000-000000000001', $1)",
	                                 batch, NULL),
	                 0);
	err = harness_sql_error(c,
	                        "SELECT hookrun.record_audit_events(gen_random_uuid(), "
	                        "'[{\"kind\":\"job.submitted\",\"actor\":\"x\"}]')",
	                        NULL);
	assert_non_null(err);
	assert_non_null(strstr(err, "may not record an event of kind job.submitted"));
	err2 = harness_sql_error(c,
	                         "SELECT hookrun.record_audit_events(gen_random_uuid(), "
	                         "'[{\"kind\":\"token.used\"}]')",
	                         NULL);
	assert_non_null(err2);
	assert_int_equal(harness_sql_int(c, "SELECT count(*) FROM hookrun.audit_events", NULL), 1);
	fresh_db_close(db, c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_append_only, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_roles, harness_test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_tamper, harness_test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_head_and_from, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_late_commit, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_block_limit, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_views_never_fail, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_ingress_seals, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_events_recorded, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_tallies_written_at_stop, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_record_batches, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_partitions, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_head_posted, harness_test_setup,
	                                    harness_test_teardown),
	};

	harness_init();
	return cmocka_run_group_tests_name("audit", tests, group_setup, harness_group_teardown);
}
