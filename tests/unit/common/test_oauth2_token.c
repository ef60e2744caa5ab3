/* Unit tests for common/oauth2_token: client authentication over every oauth2 source, tokens
 * issued and verified (audience, expiry, rotation of the client's secret, tampering), the
 * token's claims as PyJWT-style decoding sees them, and the configuration check. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "crypto.h"
#include "oauth2_token.h"
#include "source.h"
#include "xalloc.h"

#define MUT(s) ((char *)(s))
#define NOW    1760000000LL

/* An oauth2 source named name with up to two clients and a 900 s lifetime. */
static void source(struct source_config *src, const char *name, const char *c1, const char *c2)
{
	memset(src, 0, sizeof(*src));
	src->name = MUT(name);
	src->auth = AUTH_SCHEME_OAUTH2;
	src->oauth2_token_lifetime_s = 900;
	src->secrets[src->n_secrets++] = MUT(c1);
	if (c2)
		src->secrets[src->n_secrets++] = MUT(c2);
}

/* Assert the verdict on token for src at now. */
static void expect(const struct source_config *src, const char *token, long long now,
                   const char *want_reason)
{
	const char *reason = NULL;
	int r = oauth2_token_verify(src, token, strlen(token), now, &reason);

	if (!want_reason) {
		if (r != 0)
			fail_msg("refused: %s", reason);
		return;
	}
	assert_int_equal(r, -EACCES);
	assert_string_equal(reason, want_reason);
}

/* The payload of a token, decoded without checking anything. */
static json_t *payload_of(const char *token)
{
	const char *a = strchr(token, '.'), *b = strrchr(token, '.');
	_cleanup_free_ unsigned char *raw = NULL;
	size_t n = 0;

	assert_int_equal(crypto_base64url_decode(a + 1, (size_t)(b - a - 1), &raw, &n), 0);
	return json_loadb((const char *)raw, n, 0, NULL);
}

/* Clients are found over every oauth2 source by id and secret; nothing else matches. */
static void test_authenticate(_unused_ void **state)
{
	struct source_config s[3];
	size_t index = 99;

	source(&s[0], "a", "flows:0123456789abcdef", "flows:the-previous-secret");
	memset(&s[1], 0, sizeof(s[1]));
	s[1].name = MUT("b");
	s[1].auth = AUTH_SCHEME_BASIC; /* same shape of secret, another scheme: never a client */
	s[1].secrets[0] = MUT("other:0123456789abcdef");
	s[1].n_secrets = 1;
	source(&s[2], "c", "other:fedcba9876543210", NULL);

	assert_ptr_equal(
	    oauth2_client_authenticate(s, 3, "flows", 5, "0123456789abcdef", 16, &index), &s[0]);
	assert_int_equal(index, 0);
	assert_ptr_equal(
	    oauth2_client_authenticate(s, 3, "flows", 5, "the-previous-secret", 19, &index), &s[0]);
	assert_int_equal(index, 1);
	assert_ptr_equal(
	    oauth2_client_authenticate(s, 3, "other", 5, "fedcba9876543210", 16, &index), &s[2]);
	assert_null(oauth2_client_authenticate(s, 3, "other", 5, "0123456789abcdef", 16, &index));
	assert_null(oauth2_client_authenticate(s, 3, "flows", 5, "0123456789abcde", 15, &index));
	assert_null(oauth2_client_authenticate(s, 3, "flow", 4, "0123456789abcdef", 16, &index));
	/* A NUL inside the secret (decoded from %00) never matches a prefix. */
	assert_null(
	    oauth2_client_authenticate(s, 3, "flows", 5, "0123456789abcdef\0x", 18, &index));
}

/* An issued token verifies for its source until it expires, and says who it is for. */
static void test_issue_verify(_unused_ void **state)
{
	struct source_config a, b;
	_cleanup_free_ char *t = NULL, *t2 = NULL;
	json_auto_t *p = NULL;

	source(&a, "a", "flows:0123456789abcdef", NULL);
	source(&b, "b", "flows:0123456789abcdef", NULL);
	t = oauth2_token_issue(&a, 0, NOW);
	assert_non_null(t);
	p = payload_of(t);
	assert_string_equal(json_string_value(json_object_get(p, "iss")), "hookrun");
	assert_string_equal(json_string_value(json_object_get(p, "aud")), "a");
	assert_string_equal(json_string_value(json_object_get(p, "sub")), "flows");
	assert_int_equal(json_integer_value(json_object_get(p, "exp")), NOW + 900);
	assert_int_equal(strlen(json_string_value(json_object_get(p, "jti"))), 32);
	/* The secret is nowhere in the token. */
	assert_null(strstr(t, "0123456789abcdef"));
	expect(&a, t, NOW, NULL);
	expect(&a, t, NOW + 899, NULL);
	expect(&a, t, NOW + 900, "token_expired");
	/* Another source's token, even for a client of the same id and secret. */
	expect(&b, t, NOW, "bad_audience");
	/* Two tokens differ (jti). */
	t2 = oauth2_token_issue(&a, 0, NOW);
	assert_string_not_equal(t, t2);
	assert_null(oauth2_token_issue(&a, 1, NOW));
}

/* Replacing the client's secret ends its tokens; during a rotation both secrets' tokens hold. */
static void test_rotation(_unused_ void **state)
{
	struct source_config old, both, next;
	_cleanup_free_ char *t = NULL;

	source(&old, "a", "flows:the-old-secret-0000", NULL);
	source(&both, "a", "flows:the-new-secret-1111", "flows:the-old-secret-0000");
	source(&next, "a", "flows:the-new-secret-1111", NULL);
	t = oauth2_token_issue(&old, 0, NOW);
	expect(&both, t, NOW, NULL);
	expect(&next, t, NOW, "bad_signature");
	/* A client that is gone. */
	source(&next, "a", "someone:the-old-secret-0000", NULL);
	expect(&next, t, NOW, "bad_signature");
}

/* Tampering and foreign tokens. */
static void test_tamper(_unused_ void **state)
{
	struct source_config a;
	_cleanup_free_ char *t = NULL, *forged = NULL, *payload = NULL;
	const char *claims =
	    "{\"iss\":\"hookrun\",\"aud\":\"a\",\"sub\":\"flows\",\"exp\":9999999999}";
	char *sig;

	source(&a, "a", "flows:0123456789abcdef", NULL);
	t = oauth2_token_issue(&a, 0, NOW);
	/* Another payload under the issued signature (a later exp). */
	payload = crypto_base64url_encode(claims, strlen(claims));
	forged = xasprintf("%.*s.%s%s", (int)(strchr(t, '.') - t), t, payload, strrchr(t, '.'));
	expect(&a, forged, NOW + 1000, "bad_signature");
	sig = strrchr(t, '.') + 1;
	sig[0] = sig[0] == 'A' ? 'B' : 'A';
	expect(&a, t, NOW, "bad_signature");
	expect(&a, "e30.e30.", NOW, "alg_not_allowed");
	expect(&a, "not a token", NOW, "malformed_token");
	/* alg HS256, but no aud/sub/exp. */
	expect(&a, "eyJhbGciOiJIUzI1NiJ9.e30.x", NOW, "malformed_token");
}

/* The configuration check. */
static void test_source_problem(_unused_ void **state)
{
	struct source_config a;

	source(&a, "a", "flows:0123456789abcdef", NULL);
	assert_null(oauth2_source_problem(&a));
	source(&a, "a", "flows:short", NULL);
	assert_non_null(strstr(oauth2_source_problem(&a), "16 characters"));
	source(&a, "a", "no-colon-0123456789abcdef", NULL);
	assert_non_null(oauth2_source_problem(&a));
	source(&a, "a", "with space:0123456789abcdef", NULL);
	assert_non_null(oauth2_source_problem(&a));
	source(&a, "a", ":0123456789abcdef", NULL);
	assert_non_null(oauth2_source_problem(&a));
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_authenticate),   cmocka_unit_test(test_issue_verify),
	    cmocka_unit_test(test_rotation),       cmocka_unit_test(test_tamper),
	    cmocka_unit_test(test_source_problem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
