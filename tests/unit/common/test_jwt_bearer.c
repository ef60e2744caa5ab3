/* Unit tests for common/jwt_bearer: tokens minted by an independent implementation (PyJWT 2.6,
 * Debian's python3-jwt; the claims are below) against
 * every algorithm, key rotation, the pinned algorithm ("none" and HS256 keyed with the RSA
 * public key refused), time and identity claims, and the configuration checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "crypto.h"
#include "jwt_bearer.h"
#include "source.h"
#include "xalloc.h"

#define MUT(s) ((char *)(s))

#include "jwt_vectors.h"

/* A jwt-bearer source for alg with up to two secrets and the defaults of the configuration. */
static void source(struct source_config *src, enum jwt_algorithm alg, const char *s1,
                   const char *s2)
{
	memset(src, 0, sizeof(*src));
	src->name = MUT("flows");
	src->auth = AUTH_SCHEME_JWT_BEARER;
	src->jwt_algorithm = alg;
	src->jwt_secret_encoding = JWT_SECRET_ENCODING_BASE64;
	src->jwt_header_prefix = MUT("Bearer");
	src->jwt_leeway_s = 30;
	src->jwt_require_exp = true;
	src->secrets[src->n_secrets++] = MUT(s1);
	if (s2)
		src->secrets[src->n_secrets++] = MUT(s2);
}

/* Assert the outcome of verifying token at now. */
static void expect(const struct source_config *src, const char *token, long long now,
                   const char *want_reason)
{
	const char *reason = NULL;
	int r = jwt_bearer_verify(src, token, strlen(token), now, &reason);

	if (!want_reason) {
		if (r != 0)
			fail_msg("refused: %s", reason ? reason : "(no reason)");
		return;
	}
	assert_int_equal(r, -EACCES);
	assert_non_null(reason);
	assert_string_equal(reason, want_reason);
}

/* Every algorithm verifies the independent implementation's token. */
static void test_algorithms(_unused_ void **state)
{
	static const struct {
		enum jwt_algorithm alg;
		const char *key, *token;
	} v[] = {
	    {JWT_ALGORITHM_HS256, JB_S32, JB_HS256},    {JWT_ALGORITHM_HS384, JB_S48, JB_HS384},
	    {JWT_ALGORITHM_HS512, JB_S64, JB_HS512},    {JWT_ALGORITHM_RS256, JB_PUB_K1, JB_RS256},
	    {JWT_ALGORITHM_RS384, JB_PUB_K1, JB_RS384}, {JWT_ALGORITHM_RS512, JB_PUB_K1, JB_RS512},
	};
	struct source_config src;

	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		print_message("# %s\n", jwt_algorithm_to_string(v[i].alg));
		source(&src, v[i].alg, v[i].key, NULL);
		assert_null(jwt_bearer_source_problem(&src));
		expect(&src, v[i].token, JB_NOW, NULL);
		/* Every other algorithm's token is refused by its header, before any key. */
		for (size_t j = 0; j < ELEMENTSOF(v); j++)
			if (j != i)
				expect(&src, v[j].token, JB_NOW, "alg_not_allowed");
	}
	source(&src, JWT_ALGORITHM_HS256, JB_S32, NULL);
	expect(&src, JB_HS256_KID, JB_NOW, NULL);
}

/* Two keys at once: tokens of either verify; a third key's do not. */
static void test_rotation(_unused_ void **state)
{
	struct source_config src;

	source(&src, JWT_ALGORITHM_HS256, JB_S32, JB_S32_OLD);
	expect(&src, JB_HS256, JB_NOW, NULL);
	expect(&src, JB_HS256_OLD, JB_NOW, NULL);
	source(&src, JWT_ALGORITHM_HS256, JB_S32_OLD, NULL);
	expect(&src, JB_HS256, JB_NOW, "bad_signature");

	source(&src, JWT_ALGORITHM_RS256, JB_PUB_K2, JB_PUB_K1);
	expect(&src, JB_RS256, JB_NOW, NULL);
	expect(&src, JB_RS256_K2, JB_NOW, NULL);
	source(&src, JWT_ALGORITHM_RS256, JB_PUB_K2, NULL);
	expect(&src, JB_RS256, JB_NOW, "bad_signature");
}

/* The token never chooses the algorithm: "none", and HS256 keyed with the public key. */
static void test_pinned_algorithm(_unused_ void **state)
{
	struct source_config src;

	source(&src, JWT_ALGORITHM_RS256, JB_PUB_K1, NULL);
	expect(&src, JB_CONFUSED, JB_NOW, "alg_not_allowed");
	expect(&src, JB_NONE, JB_NOW, "alg_not_allowed");
	source(&src, JWT_ALGORITHM_HS256, JB_S32, NULL);
	expect(&src, JB_NONE, JB_NOW, "alg_not_allowed");
}

/* Tampering with any part, or a broken shape, is refused. */
static void test_tamper_and_shape(_unused_ void **state)
{
	static const struct {
		const char *token, *reason;
	} shapes[] = {
	    {"", "malformed_token"},
	    {"a", "malformed_token"},
	    {"a.b", "malformed_token"},
	    {"a.b.c.d", "malformed_token"},
	    {"..", "malformed_token"},
	    {"eyJ.e30.x", "malformed_token"},
	    {"W10.e30.x", "malformed_token"} /* header [] */,
	    {"e30.W10.x", "malformed_token"} /* payload [] */,
	    {"e30.e30.", "alg_not_allowed"} /* header {}: no alg */,
	};
	const char *other = "{\"iss\":\"versori\",\"exp\":1760001800}";
	_cleanup_free_ char *t = xstrdup(JB_HS256), *payload = NULL, *swapped = NULL;
	const char *dot1 = strchr(JB_HS256, '.'), *dot2 = strrchr(JB_HS256, '.');
	char *sig = strrchr(t, '.') + 1;
	struct source_config src;
	const char *reason = NULL;
	size_t n = 20000;
	_cleanup_free_ char *big = xmalloc(n + 1);

	source(&src, JWT_ALGORITHM_HS256, JB_S32, NULL);
	sig[0] = sig[0] == 'A' ? 'B' : 'A';
	expect(&src, t, JB_NOW, "bad_signature");
	/* Another payload under the original signature. */
	payload = crypto_base64url_encode(other, strlen(other));
	swapped = xasprintf("%.*s.%s%s", (int)(dot1 - JB_HS256), JB_HS256, payload, dot2);
	expect(&src, swapped, JB_NOW, "bad_signature");
	for (size_t i = 0; i < ELEMENTSOF(shapes); i++) {
		print_message("# shape %zu\n", i);
		expect(&src, shapes[i].token, JB_NOW, shapes[i].reason);
	}
	/* A NUL inside the token, and a token longer than the limit. */
	assert_int_equal(jwt_bearer_verify(&src, JB_HS256, strlen(JB_HS256) + 1, JB_NOW, &reason),
	                 -EACCES);
	assert_string_equal(reason, "malformed_token");
	memset(big, 'A', n);
	big[n] = '\0';
	expect(&src, big, JB_NOW, "malformed_token");
}

/* exp, nbf and iat with the leeway; exp required unless configured otherwise. */
static void test_times(_unused_ void **state)
{
	struct source_config src;

	source(&src, JWT_ALGORITHM_HS256, JB_S32, NULL);
	/* exp = JB_NOW + 1800, leeway 30 s: accepted until JB_NOW + 1829, refused from JB_NOW +
	 * 1830. */
	expect(&src, JB_HS256, JB_NOW + 1829, NULL);
	expect(&src, JB_HS256, JB_NOW + 1830, "token_expired");
	/* nbf = iat = JB_NOW - 10: refused before JB_NOW - 40, accepted from it. */
	expect(&src, JB_HS256, JB_NOW - 40, NULL);
	expect(&src, JB_HS256, JB_NOW - 41, "token_not_yet_valid");
	src.jwt_leeway_s = 0;
	expect(&src, JB_HS256, JB_NOW + 1800, "token_expired");
	expect(&src, JB_HS256, JB_NOW + 1799, NULL);
	expect(&src, JB_HS256, JB_NOW - 11, "token_not_yet_valid");
	/* Fractional NumericDates (exp JB_NOW + 0.5, iat JB_NOW - 0.25). */
	expect(&src, JB_FRACTION, JB_NOW, NULL);
	expect(&src, JB_FRACTION, JB_NOW + 1, "token_expired");
	/* iat in the future, without nbf: FRACTION's iat is JB_NOW - 0.25. */
	expect(&src, JB_FRACTION, JB_NOW - 1, "token_issued_in_future");
	/* No exp. */
	expect(&src, JB_NO_EXP, JB_NOW, "token_missing_exp");
	src.jwt_require_exp = false;
	expect(&src, JB_NO_EXP, JB_NOW, NULL);
	/* exp of the wrong type. */
	expect(&src, JB_EXP_STRING, JB_NOW, "malformed_token");
}

/* iss, aud and sub, when the source requires them. */
static void test_identity_claims(_unused_ void **state)
{
	struct source_config src;

	source(&src, JWT_ALGORITHM_HS256, JB_S32, NULL);
	src.jwt_issuer = MUT("versori");
	src.jwt_audience = MUT("hookrun");
	src.jwt_subject = MUT("flows");
	expect(&src, JB_HS256, JB_NOW, NULL);
	src.jwt_issuer = MUT("Versori");
	expect(&src, JB_HS256, JB_NOW, "bad_issuer");
	src.jwt_issuer = NULL;
	src.jwt_audience = MUT("someone-else");
	expect(&src, JB_HS256, JB_NOW, "bad_audience");
	src.jwt_audience = NULL;
	src.jwt_subject = MUT("flow");
	expect(&src, JB_HS256, JB_NOW, "bad_subject");
	/* Absent claims do not satisfy a requirement. */
	src.jwt_subject = NULL;
	src.jwt_issuer = MUT("versori");
	expect(&src, JB_AUD_LIST, JB_NOW, "bad_issuer");
	/* aud as an array: one member is enough; of the wrong type: malformed. */
	src.jwt_issuer = NULL;
	src.jwt_audience = MUT("hookrun");
	expect(&src, JB_AUD_LIST, JB_NOW, NULL);
	src.jwt_audience = MUT("y");
	expect(&src, JB_AUD_LIST, JB_NOW, "bad_audience");
	src.jwt_audience = NULL;
	expect(&src, JB_AUD_NUMBER, JB_NOW, "malformed_token");
}

/* What the configuration check refuses. */
static void test_source_problem(_unused_ void **state)
{
	struct source_config src;

	source(&src, JWT_ALGORITHM_HS256, "c2hvcnQ=", NULL); /* "short" */
	assert_non_null(strstr(jwt_bearer_source_problem(&src), "RFC 7518"));
	source(&src, JWT_ALGORITHM_HS384, JB_S32, NULL); /* 32 bytes for HS384 */
	assert_non_null(strstr(jwt_bearer_source_problem(&src), "shorter"));
	source(&src, JWT_ALGORITHM_HS256, "not base64 at all!", NULL);
	assert_non_null(strstr(jwt_bearer_source_problem(&src), "not base64"));
	src.jwt_secret_encoding = JWT_SECRET_ENCODING_RAW;
	assert_non_null(jwt_bearer_source_problem(&src)); /* 18 bytes, still too short */
	source(&src, JWT_ALGORITHM_HS256, "a raw secret that is long enough to use", NULL);
	src.jwt_secret_encoding = JWT_SECRET_ENCODING_RAW;
	assert_null(jwt_bearer_source_problem(&src));
	source(&src, JWT_ALGORITHM_HS256, JB_PUB_K1, NULL);
	assert_non_null(strstr(jwt_bearer_source_problem(&src), "not a PEM"));
	source(&src, JWT_ALGORITHM_RS256, JB_S32, NULL);
	assert_non_null(strstr(jwt_bearer_source_problem(&src), "RSA public keys"));
	source(&src, JWT_ALGORITHM_RS256, JB_PUB_K0, NULL);
	assert_non_null(strstr(jwt_bearer_source_problem(&src), "2048"));
	source(&src, JWT_ALGORITHM_RS256, JB_PUB_K1, NULL);
	src.jwt_header_prefix = MUT("Bearer token");
	assert_non_null(jwt_bearer_source_problem(&src));
}

/* Minting for a source gives tokens it verifies (the CLI's and the tests' sender). */
static void test_mint(_unused_ void **state)
{
	json_auto_t *claims =
	    json_pack("{s:s, s:I}", "sub", "flows", "exp", (json_int_t)JB_NOW + 60);
	struct source_config src;
	_cleanup_free_ char *t = NULL;

	source(&src, JWT_ALGORITHM_HS512, JB_S64, NULL);
	t = jwt_bearer_mint(&src, JB_S64, claims);
	assert_non_null(t);
	expect(&src, t, JB_NOW, NULL);
	assert_null(jwt_bearer_mint(&src, "%%%", claims));
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_algorithms),
	    cmocka_unit_test(test_rotation),
	    cmocka_unit_test(test_pinned_algorithm),
	    cmocka_unit_test(test_tamper_and_shape),
	    cmocka_unit_test(test_times),
	    cmocka_unit_test(test_identity_claims),
	    cmocka_unit_test(test_source_problem),
	    cmocka_unit_test(test_mint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
