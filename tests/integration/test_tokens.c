/* API tokens (migration 0012) through the real hookrun CLI: `tokens create` prints a token
 * once and stores only its SHA-256, scoped to organisations and read or write; use_token()
 * accepts it while it is live, counting each use, and refuses it once revoked or expired;
 * `tokens list` (and --json) shows scope and state, never the token or its hash; bad
 * arguments are refused with the reason, storing nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "crypto.h"
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

/* Per-test setup: no tokens left from the test before. */
static int test_setup(void **state)
{
	struct suite *s = *state;

	harness_test_setup(state);
	/* audit_events is append-only (migration 0020): its triggers refuse a TRUNCATE unless a
	 * superuser turns them off, as the test's own role (the cluster's owner) does here. */
	if (s->g.db && !harness_sql_exec(s->g.conn, "SET session_replication_role = replica; "
	                                            "TRUNCATE hookrun.api_tokens, "
	                                            "hookrun.audit_events; "
	                                            "RESET session_replication_role"))
		return -1;
	return 0;
}

/* Run `hookrun tokens ARGS...` (NULL-terminated, at most 13); its exit code, with stdout and
 * stderr in *out and *err (new strings, replacing what they held). */
static int tokens(struct suite *s, char **out, char **err, ...)
{
	_cleanup_free_ char *db_env = xasprintf("HOOKRUN_DB_URL=%s", s->g.db->url);
	const char *argv[16] = {harness_cli_bin(), "tokens"};
	const char *env[] = {db_env, NULL};
	size_t n = 2;
	va_list ap;

	va_start(ap, err);
	for (const char *a; n < 15 && (a = va_arg(ap, const char *));)
		argv[n++] = a;
	va_end(ap);
	free(*out);
	free(*err);
	*out = *err = NULL;
	return harness_run(argv, env, 30000, out, err);
}

/* The token printed by `tokens create` (its second line of stdout), a new string. */
static char *printed_token(const char *out)
{
	const char *nl = strchr(out, '\n');
	const char *end;

	assert_non_null(nl);
	end = strchr(nl + 1, '\n');
	assert_non_null(end);
	return xstrndup(nl + 1, (size_t)(end - nl - 1));
}

/* The token's SHA-256 as bytea text ("\x..."), a new string. */
static char *token_hash(const char *token)
{
	char hex[CRYPTO_SHA256_HEX_SIZE];

	assert_int_equal(crypto_sha256_hex(token, strlen(token), hex), 0);
	return xasprintf("\\x%s", hex);
}

/* use_token() for token: "organisations access" of the row, or NULL when refused. */
static char *use(struct suite *s, const char *token)
{
	_cleanup_free_ char *hash = token_hash(token);

	return harness_sql_text(
	    s->g.conn,
	    "SELECT coalesce((SELECT array_to_string(organisations, ',') || ' ' "
	    "|| access FROM hookrun.use_token($1::bytea)), 'refused')",
	    hash, NULL);
}

/* Created, used, listed, revoked: the token itself is never stored or listed. */
static void test_lifecycle(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *out = NULL, *err = NULL, *token = NULL, *got = NULL, *id = NULL;
	_cleanup_free_ char *dump = NULL, *hash = NULL;
	json_t *list;

	HARNESS_REQUIRE_DB();
	assert_int_equal(tokens(s, &out, &err, "create", "--name", "ci", "--org", "acme,globex",
	                        "--access", "read", "--expires", "30 days", NULL),
	                 0);
	token = printed_token(out);
	assert_int_equal(strncmp(token, "hrt_", 4), 0);
	assert_int_equal(strlen(token), 4 + 43);
	assert_non_null(strstr(err, "shown this once"));
	got = use(s, token);
	assert_string_equal(got, "acme,globex read");
	free(got);
	got = use(s, token);
	assert_string_equal(got, "acme,globex read");
	assert_int_equal(harness_sql_int(s->g.conn, "SELECT uses FROM hookrun.api_tokens", NULL),
	                 2);
	/* Neither the token nor anything but its hash reaches a table. */
	dump =
	    harness_sql_text(s->g.conn,
	                     "SELECT (SELECT string_agg(t::text, ' ') FROM hookrun.api_tokens t) "
	                     "|| (SELECT string_agg(a::text, ' ') FROM hookrun.audit_events a)",
	                     NULL);
	assert_null(strstr(dump, token + 4));
	hash = token_hash(token);
	assert_int_equal(tokens(s, &out, &err, "list", "--json", NULL), 0);
	assert_null(strstr(out, token + 4));
	assert_null(strstr(out, hash + 2));
	list = json_loads(out, 0, NULL);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "access")),
	                    "read");
	id = xstrdup(json_string_value(json_object_get(json_array_get(list, 0), "id")));
	json_decref(list);
	assert_int_equal(tokens(s, &out, &err, "list", NULL), 0);
	assert_non_null(strstr(out, "live"));
	assert_null(strstr(out, token + 4));
	assert_int_equal(tokens(s, &out, &err, "revoke", id, NULL), 0);
	free(got);
	got = use(s, token);
	assert_string_equal(got, "refused");
	assert_int_equal(tokens(s, &out, &err, "revoke", id, NULL), 1);
	assert_non_null(strstr(err, "no live token"));
	assert_int_equal(tokens(s, &out, &err, "list", NULL), 0);
	assert_non_null(strstr(out, "revoked"));
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE actor = "
	                                 "'cli' AND kind IN ('token.created', 'token.revoked')",
	                                 NULL),
	                 2);
	s->g.passed = true;
}

/* A token past its expiry is refused; one without expiry is write by default. */
static void test_expiry(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *out = NULL, *err = NULL, *a = NULL, *b = NULL, *got = NULL;

	HARNESS_REQUIRE_DB();
	assert_int_equal(tokens(s, &out, &err, "create", "--name", "a", "--org", "acme",
	                        "--expires", "1 hour", NULL),
	                 0);
	a = printed_token(out);
	assert_int_equal(tokens(s, &out, &err, "create", "--name", "b", "--org", "acme", NULL), 0);
	b = printed_token(out);
	assert_string_not_equal(a, b);
	assert_true(harness_sql_exec(s->g.conn, "UPDATE hookrun.api_tokens SET expires_at = "
	                                        "now() - interval '1 second' WHERE name = 'a'"));
	got = use(s, a);
	assert_string_equal(got, "refused");
	free(got);
	got = use(s, b);
	assert_string_equal(got, "acme write");
	assert_int_equal(tokens(s, &out, &err, "list", NULL), 0);
	assert_non_null(strstr(out, "expired"));
	s->g.passed = true;
}

/* Each bad argument: the reason, a usage error's exit code 2 (1 for a bad value the
 * database judged), and no token stored. */
static void test_refusals(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *out = NULL, *err = NULL;

	HARNESS_REQUIRE_DB();
	assert_int_equal(tokens(s, &out, &err, "create", "--name", "x", NULL), 2);
	assert_non_null(strstr(err, "usage"));
	assert_int_equal(tokens(s, &out, &err, "create", "--name", "x", "--org", "a,,b", NULL), 2);
	assert_non_null(strstr(err, "--org takes organisation names"));
	assert_int_equal(
	    tokens(s, &out, &err, "create", "--name", "x", "--org", "a", "--access", "admin", NULL),
	    2);
	assert_non_null(strstr(err, "--access is read or write"));
	assert_int_equal(
	    tokens(s, &out, &err, "create", "--name", "x", "--org", "a", "--expires", "soon", NULL),
	    1);
	assert_non_null(strstr(err, "is not an interval"));
	assert_int_equal(tokens(s, &out, &err, "create", "--name", "x", "--org", "a", "--expires",
	                        "-1 day", NULL),
	                 1);
	assert_int_equal(tokens(s, &out, &err, "revoke", "not-a-uuid", NULL), 1);
	assert_non_null(strstr(err, "not a token id"));
	assert_int_equal(tokens(s, &out, &err, "frobnicate", NULL), 2);
	assert_int_equal(
	    harness_sql_int(s->g.conn, "SELECT count(*) FROM hookrun.api_tokens", NULL), 0);
	s->g.passed = true;
}

/* Run the token tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lifecycle, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_expiry, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, test_setup, harness_test_teardown),
	};

	harness_init();
	return cmocka_run_group_tests_name("tokens", tests, group_setup, harness_group_teardown);
}
