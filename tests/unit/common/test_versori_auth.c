/* Unit tests for common/versori_auth: header values per credential kind, minted JWTs checked
 * with the public key (claims, exp = iat + 3600), cache reuse, expiry, invalidation and LRU. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "signing_key.h"
#include "test_keys.h"
#include "versori_auth.h"
#include "xalloc.h"

#define NOW    1760000000
#define KEY_ID "01J0S8K4E2W6R9T3Y7P5M1N0BQ"

static char *priv_pem;
static char *pub_pem;

/* One RSA key pair for the binary. */
static int keys_setup(void **state)
{
	return test_keys_rsa_pair(2048, &priv_pem, &pub_pem) == 0 ? 0 : -1;
}

/* Free the key pair. */
static int keys_teardown(void **state)
{
	free(priv_pem);
	free(pub_pem);
	return 0;
}

/* A signing-key credential in the given subject mode. */
static struct versori_auth *signing_auth(enum versori_auth_subject_mode mode, const char *subject)
{
	const struct versori_auth_signing_key_options o = {
	    .key_id = KEY_ID,
	    .private_pem = priv_pem,
	    .private_pem_len = strlen(priv_pem),
	    .subject_mode = mode,
	    .subject = subject,
	};
	struct versori_auth *a = NULL;

	assert_int_equal(versori_auth_new_signing_key(&o, &a), 0);
	assert_int_equal(versori_auth_kind(a), VERSORI_AUTH_SIGNING_KEY);
	return a;
}

/* Get a header for subject at now, verify its token with the public key, return its claims. */
static struct signing_key_claims header_claims(struct versori_auth *a, const char *subject,
                                               int64_t now, char **ret_header)
{
	struct signing_key_claims c = {};
	char *h = NULL;

	assert_int_equal(versori_auth_header(a, subject, now, &h), 0);
	assert_memory_equal(h, "JWT ", 4);
	assert_int_equal(signing_key_verify(h + 4, pub_pem, now, 0, &c, NULL), 0);
	assert_string_equal(c.iss, "https://versori.com/sk/" KEY_ID);
	assert_int_equal(c.exp, c.iat + 3600);
	*ret_header = h;
	return c;
}

/* API keys and static JWTs are sent as they are. */
static void test_fixed_credentials(void **state)
{
	struct versori_auth *a = NULL;
	char *h = NULL;

	assert_int_equal(versori_auth_new_api_key("k3y", &a), 0);
	assert_int_equal(versori_auth_header(a, "u1", NOW, &h), 0);
	assert_string_equal(h, "Bearer k3y");
	assert_false(versori_auth_invalidate(a, "u1"));
	free(h);
	versori_auth_free(a);
	assert_int_equal(versori_auth_new_static_jwt("eyJ.x.y", &a), 0);
	assert_int_equal(versori_auth_header(a, NULL, NOW, &h), 0);
	assert_string_equal(h, "JWT eyJ.x.y");
	assert_string_equal(versori_auth_kind_to_string(versori_auth_kind(a)), "static_jwt");
	free(h);
	versori_auth_free(a);
	a = NULL;
	assert_int_equal(versori_auth_new_api_key("", &a), -EINVAL);
	assert_int_equal(versori_auth_new_api_key("a b", &a), -EINVAL);
	assert_int_equal(versori_auth_new_static_jwt("a\r\nX-Evil: 1", &a), -EINVAL);
	assert_int_equal(versori_auth_new_static_jwt(NULL, &a), -EINVAL);
	assert_null(a);
	versori_auth_free(NULL);
}

/* A minted token carries the end user as sub and is reused until 5 minutes before exp. */
static void test_minted_cache(void **state)
{
	struct versori_auth *a = signing_auth(VERSORI_AUTH_SUBJECT_PER_END_USER, NULL);
	char *h1 = NULL, *h2 = NULL, *h3 = NULL;
	struct signing_key_claims c1 = header_claims(a, "acme-retailer-42", NOW, &h1);
	struct signing_key_claims c2 = header_claims(a, "acme-retailer-42", NOW + 3299, &h2);
	struct signing_key_claims c3 = header_claims(a, "acme-retailer-42", NOW + 3300, &h3);

	assert_string_equal(c1.sub, "acme-retailer-42");
	assert_int_equal(c1.iat, NOW);
	assert_int_equal(c1.exp, NOW + 3600);
	assert_string_equal(h1, h2);
	assert_int_equal(c2.iat, NOW);
	assert_string_not_equal(h1, h3);
	assert_int_equal(c3.iat, NOW + 3300);
	assert_int_equal(versori_auth_cache_size(a), 1);
	signing_key_claims_fini(&c1);
	signing_key_claims_fini(&c2);
	signing_key_claims_fini(&c3);
	free(h1);
	free(h2);
	free(h3);
	versori_auth_free(a);
}

/* Subjects: per end user (with an optional fallback for org-level calls) or fixed. */
static void test_subject_modes(void **state)
{
	struct versori_auth *a = signing_auth(VERSORI_AUTH_SUBJECT_PER_END_USER, NULL);
	struct versori_auth *fb = signing_auth(VERSORI_AUTH_SUBJECT_PER_END_USER, "ops");
	struct versori_auth *fx = signing_auth(VERSORI_AUTH_SUBJECT_FIXED, "svc");
	struct signing_key_claims c;
	char *h = NULL;
	const struct versori_auth_signing_key_options bad = {.key_id = KEY_ID,
	                                                     .private_pem = priv_pem,
	                                                     .private_pem_len = strlen(priv_pem),
	                                                     .subject_mode =
	                                                         VERSORI_AUTH_SUBJECT_FIXED};
	struct versori_auth *none = NULL;

	assert_int_equal(versori_auth_header(a, NULL, NOW, &h), -EINVAL);
	assert_null(h);
	c = header_claims(fb, NULL, NOW, &h);
	assert_string_equal(c.sub, "ops");
	signing_key_claims_fini(&c);
	free(h);
	c = header_claims(fb, "u2", NOW, &h);
	assert_string_equal(c.sub, "u2");
	signing_key_claims_fini(&c);
	free(h);
	c = header_claims(fx, "u2", NOW, &h);
	assert_string_equal(c.sub, "svc");
	signing_key_claims_fini(&c);
	free(h);
	assert_int_equal(versori_auth_new_signing_key(&bad, &none), -EINVAL);
	versori_auth_free(a);
	versori_auth_free(fb);
	versori_auth_free(fx);
}

/* Invalidation drops one subject's token, so the next header is minted afresh. */
static void test_invalidate(void **state)
{
	struct versori_auth *a = signing_auth(VERSORI_AUTH_SUBJECT_PER_END_USER, NULL);
	char *h1 = NULL, *h2 = NULL, *h3 = NULL;
	struct signing_key_claims c1 = header_claims(a, "u1", NOW, &h1);
	struct signing_key_claims c2 = header_claims(a, "u2", NOW, &h2);
	struct signing_key_claims c3;

	assert_int_equal(versori_auth_cache_size(a), 2);
	assert_true(versori_auth_invalidate(a, "u1"));
	assert_int_equal(versori_auth_cache_size(a), 1);
	c3 = header_claims(a, "u1", NOW + 5, &h3);
	assert_int_equal(c3.iat, NOW + 5);
	signing_key_claims_fini(&c3);
	free(h3);
	c3 = header_claims(a, "u2", NOW + 5, &h3);
	assert_int_equal(c3.iat, NOW);
	assert_string_equal(h2, h3);
	assert_true(versori_auth_invalidate(a, "unknown"));
	signing_key_claims_fini(&c1);
	signing_key_claims_fini(&c2);
	signing_key_claims_fini(&c3);
	free(h1);
	free(h2);
	free(h3);
	versori_auth_free(a);
}

/* The iat of the token a header carries. */
static int64_t header_iat(struct versori_auth *a, const char *subject, int64_t now)
{
	struct signing_key_claims c = {};
	char *h = NULL;
	int64_t iat;

	assert_int_equal(versori_auth_header(a, subject, now, &h), 0);
	assert_int_equal(signing_key_peek(h + 4, &c), 0);
	iat = c.iat;
	signing_key_claims_fini(&c);
	free(h);
	return iat;
}

/* The cache is bounded; the least recently used subject is evicted first. */
static void test_lru(void **state)
{
	struct versori_auth *a = signing_auth(VERSORI_AUTH_SUBJECT_PER_END_USER, NULL);
	char sub[32];

	for (int i = 0; i < VERSORI_AUTH_CACHE_MAX; i++) {
		snprintf(sub, sizeof(sub), "s%d", i);
		assert_int_equal(header_iat(a, sub, NOW), NOW);
	}
	assert_int_equal(versori_auth_cache_size(a), VERSORI_AUTH_CACHE_MAX);
	/* Touch s0: s1 becomes the least recently used. */
	assert_int_equal(header_iat(a, "s0", NOW + 1), NOW);
	assert_int_equal(header_iat(a, "new", NOW + 2), NOW + 2);
	assert_int_equal(versori_auth_cache_size(a), VERSORI_AUTH_CACHE_MAX);
	assert_int_equal(header_iat(a, "s0", NOW + 3), NOW);
	assert_int_equal(header_iat(a, "s2", NOW + 3), NOW);
	assert_int_equal(header_iat(a, "s1", NOW + 4), NOW + 4);
	versori_auth_free(a);
}

/* A signing-key credential with the given token lifetime, or NULL when refused. */
static struct versori_auth *signing_auth_lifetime(int64_t lifetime_s)
{
	const struct versori_auth_signing_key_options o = {
	    .key_id = KEY_ID,
	    .private_pem = priv_pem,
	    .private_pem_len = strlen(priv_pem),
	    .lifetime_s = lifetime_s,
	};
	struct versori_auth *a = NULL;

	if (versori_auth_new_signing_key(&o, &a) < 0)
		return NULL;
	return a;
}

/* A lifetime shorter than twice the refresh margin still caches (for half the lifetime)
 * instead of minting on every call; absurd lifetimes are refused. */
static void test_short_lifetime(void **state)
{
	struct versori_auth *a = signing_auth_lifetime(120);

	assert_non_null(a);
	assert_int_equal(header_iat(a, "u1", NOW), NOW);
	assert_int_equal(header_iat(a, "u1", NOW + 59), NOW);
	assert_int_equal(header_iat(a, "u1", NOW + 60), NOW + 60);
	versori_auth_free(a);
	assert_null(signing_auth_lifetime(-1));
	assert_null(signing_auth_lifetime(INT64_MAX));
	assert_null(signing_auth_lifetime(VERSORI_AUTH_LIFETIME_MAX_S + 1));
	a = signing_auth_lifetime(VERSORI_AUTH_LIFETIME_MAX_S);
	assert_non_null(a);
	versori_auth_free(a);
}

/* Run the versori_auth tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixed_credentials),
	    cmocka_unit_test(test_minted_cache),
	    cmocka_unit_test(test_subject_modes),
	    cmocka_unit_test(test_invalidate),
	    cmocka_unit_test(test_lru),
	    cmocka_unit_test(test_short_lifetime),
	};

	return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
