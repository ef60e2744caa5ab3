/* Unit tests for common/db/db.c that need no server: db_url_mask, the session options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "db.h"

#define MASK        "********"
#define UNPARSEABLE "(unparseable connection string, not shown)"
#define AMBIGUOUS   "(connection URI with an '@' outside its user info, not shown)"

struct mask_case {
	const char *url;
	const char *masked;
	const char *secrets[4]; /* none of these may appear in the output */
};

static const struct mask_case mask_cases[] = {
    /* URIs: password in the user info. */
    {"postgresql://u:S3cr3t@h/db", "postgresql://u:" MASK "@h/db", {"S3cr3t"}},
    {"postgres://u:S3cr3t@h:5432/db?sslmode=require",
     "postgres://u:" MASK "@h:5432/db?sslmode=require",
     {"S3cr3t"}},
    {"postgresql://us%40er:p%40ss%3Aw%2Frd@h/db",
     "postgresql://us%40er:" MASK "@h/db",
     {"p%40ss", "p@ss", "w%2Frd", "w/rd"}},
    {"postgresql://u:p:a?ss@h/db", "postgresql://u:" MASK "@h/db", {"p:a", "a?ss"}},
    {"postgresql://:S3cr3t@h/db", "postgresql://h/db?password=" MASK, {"S3cr3t"}},
    /* URIs: password in the query, percent-encoded keys and values. */
    {"postgresql://u@h/db?pass%77ord=S3cr3t", "postgresql://u:" MASK "@h/db", {"S3cr3t"}},
    {"postgresql://h/db?%70assword=S%33cr%33t&application_name=a%20b",
     "postgresql://h/db?password=" MASK "&application_name=a%20b",
     {"S%33cr", "S3cr3t", "cr%33t"}},
    {"postgresql://h/db?password=a%26b%3Dc", "postgresql://h/db?password=" MASK, {"a%26b", "a&b"}},
    {"postgresql://u@h/db?password=first&password=S3cr3t",
     "postgresql://u:" MASK "@h/db",
     {"first", "S3cr3t"}},
    /* URIs: several hosts, IPv6, sockets, and what is not a secret. */
    {"postgresql://u:S3cr3t@h1:5432,h2:5433,[::1]:5434/db?target_session_attrs=read-write",
     "postgresql://u:" MASK "@h1:5432,h2:5433,[::1]:5434/db?target_session_attrs=read-write",
     {"S3cr3t"}},
    {"postgresql://u:S3cr3t@h1,h2/db", "postgresql://u:" MASK "@h1,h2/db", {"S3cr3t"}},
    {"postgresql:///db?host=h1,h2&port=5432&password=S3cr3t",
     "postgresql:///db?password=" MASK "&host=h1%2Ch2&port=5432",
     {"S3cr3t"}},
    {"postgresql://[fe80::1%25eth0]:5432/db", "postgresql://[fe80::1%25eth0]:5432/db", {NULL}},
    {"postgresql://%2Fvar%2Frun%2Fpostgresql/db",
     "postgresql://%2Fvar%2Frun%2Fpostgresql/db",
     {NULL}},
    {"postgresql://u@h/db?passfile=%2Fhome%2Fu%2F.pgpass",
     "postgresql://u@h/db?passfile=%2Fhome%2Fu%2F.pgpass",
     {NULL}},
    {"postgresql://u@h/db?sslpassword=K3yPass&sslkey=%2Fk.pem",
     "postgresql://u@h/db?sslkey=%2Fk.pem&sslpassword=" MASK,
     {"K3yPass"}},
    {"postgresql://%C3%A9@h/db", "postgresql://%C3%A9@h/db", {NULL}},
    {"postgresql://h/db?ssl=true", "postgresql://h/db?sslmode=require", {NULL}},
    {"postgresql://", "postgresql://", {NULL}},
    /* An '@' libpq does not read as the end of the user info: probably an unencoded
     * password, of which libpq would show a part as a host, port or database. */
    {"postgres://u:p@ss:w/rd@h:5432/db", AMBIGUOUS, {"ss:w", "rd"}},
    {"postgresql://u:pa/ss@h/db", AMBIGUOUS, {"pa", "ss"}},
    {"postgresql://u:a?sslmode=b/c@h", AMBIGUOUS, {"b/c", "b%2Fc"}},
    {"postgresql://u:S3cr3t@h/db?application_name=a@b", AMBIGUOUS, {"S3cr3t"}},
    /* A dbname that is itself a connection string: it may carry a password of its own. */
    {"dbname=postgresql://u:p4ss@h/db", "dbname=" MASK, {"p4ss"}},
    {"host=h dbname='postgres://u:p4ss@h/db'", "host=h dbname=" MASK, {"p4ss"}},
    {"host=h dbname='user=u password=p4ss'", "host=h dbname=" MASK, {"p4ss"}},
    {"postgresql://h/postgresql%3A%2F%2Fu%3Ap4ss%40h%2Fdb", "postgresql://h/" MASK, {"p4ss"}},
    /* key=value strings: quotes, backslash escapes, order. */
    {"host=h dbname=db password=S3cr3t user=u",
     "host=h dbname=db user=u password=" MASK,
     {"S3cr3t"}},
    {"host=h password = 'p w\\'S3cr3t\\\\x' user=u",
     "host=h user=u password=" MASK,
     {"p w", "S3cr3t"}},
    {"password=first password=S3cr3t host=h", "host=h password=" MASK, {"first", "S3cr3t"}},
    {"host='my host' port=5432 dbname='d\\'b' application_name='a b' sslpassword=K3y "
     "passfile=/p/.pgpass options=''",
     "host='my host' port=5432 dbname='d\\'b' passfile=/p/.pgpass options='' "
     "application_name='a b' sslpassword=" MASK,
     {"K3y"}},
    {"dbname=a\\ b", "dbname='a b'", {NULL}},
    {"", "", {NULL}},
    /* Not a connection string libpq accepts: never echoed. */
    {"postgresql://u@h/db?password=S3cr3t&x=1", UNPARSEABLE, {"S3cr3t"}},
    {"postgresql://u:S3cr3t@h/db?sslmode", UNPARSEABLE, {"S3cr3t"}},
    {"postgresql://u:S3cr3t@[::1/db", UNPARSEABLE, {"S3cr3t"}},
    {"host=h password=S3cr3t junk", UNPARSEABLE, {"S3cr3t", "junk"}},
    {"host=h password='S3cr3t", UNPARSEABLE, {"S3cr3t"}},
    {"host=h passwd=S3cr3t", UNPARSEABLE, {"S3cr3t"}},
    {"S3cr3t", UNPARSEABLE, {"S3cr3t"}},
};

/* Whether libpq would hide an option (the rule db_url_mask follows), or it is a dbname that is
 * a connection string of its own. */
static bool is_secret(const PQconninfoOption *o)
{
	if (strcmp(o->keyword, "dbname") == 0)
		return strchr(o->val, '=') || strstr(o->val, "://");
	return strcmp(o->keyword, "password") == 0 || o->dispchar[0] == '*';
}

/* Parse masked back with libpq: every non-secret option of url has the same value, every
 * secret that url sets is the mask, and nothing else is set. */
static void assert_same_options(const char *url, const char *masked)
{
	PQconninfoOption *a = PQconninfoParse(url, NULL), *b = PQconninfoParse(masked, NULL);

	if (!a || !b)
		fail_msg("'%s' or its mask '%s' does not parse", url, masked);
	for (size_t i = 0; a[i].keyword; i++) {
		const char *want = a[i].val && is_secret(&a[i]) ? MASK : a[i].val;

		assert_string_equal(a[i].keyword, b[i].keyword);
		if (!want != !b[i].val || (want && strcmp(want, b[i].val) != 0))
			fail_msg("'%s' masked as '%s': %s is '%s', not '%s'", url, masked,
			         a[i].keyword, b[i].val ? b[i].val : "(unset)",
			         want ? want : "(unset)");
	}
	PQconninfoFree(a);
	PQconninfoFree(b);
}

/* No form shows any part of a secret; every leak is listed before the test fails. */
static void test_mask_never_shows_secrets(void **state)
{
	size_t leaks = 0;

	for (size_t i = 0; i < ELEMENTSOF(mask_cases); i++) {
		const struct mask_case *c = &mask_cases[i];
		char *masked = db_url_mask(c->url);

		for (size_t j = 0; j < ELEMENTSOF(c->secrets) && c->secrets[j]; j++)
			if (strstr(masked, c->secrets[j])) {
				print_message("'%s' masked as '%s' shows '%s'\n", c->url, masked,
				              c->secrets[j]);
				leaks++;
			}
		free(masked);
	}
	assert_int_equal(leaks, 0);
}

/* Every form masks to the expected string: readable, in the input's form (URI or
 * key=value), or a placeholder. */
static void test_mask_forms(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(mask_cases); i++) {
		const struct mask_case *c = &mask_cases[i];
		char *masked = db_url_mask(c->url);

		if (strcmp(masked, c->masked) != 0)
			fail_msg("'%s' masked as '%s', not '%s'", c->url, masked, c->masked);
		free(masked);
	}
}

/* A mask that is not a placeholder parses back to the same non-secret values. */
static void test_mask_round_trip(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(mask_cases); i++) {
		const struct mask_case *c = &mask_cases[i];
		char *masked = db_url_mask(c->url);

		if (strcmp(masked, UNPARSEABLE) != 0 && strcmp(masked, AMBIGUOUS) != 0)
			assert_same_options(c->url, masked);
		free(masked);
	}
}

/* Whatever libpq hides in a connect dialog (dispchar "*") is masked, not only "password". */
static void test_mask_every_hidden_option(void **state)
{
	PQconninfoOption *defaults = PQconndefaults();
	size_t hidden = 0;

	assert_non_null(defaults);
	for (const PQconninfoOption *o = defaults; o->keyword; o++) {
		char *url, *masked;

		if (o->dispchar[0] != '*')
			continue;
		hidden++;
		url = xasprintf("host=h %s=Hidd3n", o->keyword);
		masked = db_url_mask(url);
		assert_null(strstr(masked, "Hidd3n"));
		assert_non_null(strstr(masked, MASK));
		free(masked);
		free(url);
		url = xasprintf("postgresql://h/db?%s=Hidd3n", o->keyword);
		masked = db_url_mask(url);
		assert_null(strstr(masked, "Hidd3n"));
		free(masked);
		free(url);
	}
	PQconninfoFree(defaults);
	assert_true(hidden >= 2); /* password and sslpassword */
}

/* statement_timeout_ms 0 sends no statement_timeout at all (so a role's or database's default
 * applies; "statement_timeout=0" would switch it off); settings are each their own -c, with
 * blanks and backslashes escaped. */
static void test_session_options(void **state)
{
	static const char *const settings[] = {"plan_cache_mode=force_generic_plan",
	                                       "application_name=a b\\c", NULL};
	struct db_async_options o = {0};
	char *got = db_async_session_options(&o);

	assert_null(got);
	o.statement_timeout_ms = 1500;
	got = db_async_session_options(&o);
	assert_string_equal(got, "-c statement_timeout=1500");
	free(got);
	o.settings = settings;
	got = db_async_session_options(&o);
	assert_string_equal(got, "-c plan_cache_mode=force_generic_plan "
	                         "-c application_name=a\\ b\\\\c -c statement_timeout=1500");
	free(got);
	o.statement_timeout_ms = 0;
	got = db_async_session_options(&o);
	assert_null(strstr(got, "statement_timeout"));
	free(got);
}

/* Run the db tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_session_options),
	    cmocka_unit_test(test_mask_never_shows_secrets),
	    cmocka_unit_test(test_mask_forms),
	    cmocka_unit_test(test_mask_round_trip),
	    cmocka_unit_test(test_mask_every_hidden_option),
	};

	return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}
