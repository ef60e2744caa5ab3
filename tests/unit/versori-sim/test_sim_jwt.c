/* Unit tests for versori-sim's signing-key JWT auth: RS256 tokens minted with key pairs
 * generated here, checked through the organisation's public key, exp/nbf, issuer and org. */
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "signing_key.h"
#include "sim.h"
#include "sim_test.h"
#include "test_keys.h"

#define KEY1  "01J0S8K4E2W6R9T3Y7P5M1N0BQ"
#define KEY2  "01J0S8K4E2W6R9T3Y7P5M1N0BR"
#define NOW_S (NOW_MS / 1000)

/* Key material every test uses, generated once. */
static struct {
	char *priv1, *pub1; /* the organisation's key */
	char *priv2, *pub2; /* the other organisation's key */
	char *priv3;        /* registered nowhere */
	struct sim *sim;
} K;

/* A fresh RSA key pair as PKCS#8 private and SubjectPublicKeyInfo public PEM. */
static void keypair(char **ret_priv, char **ret_pub)
{
	assert_int_equal(test_keys_rsa_pair(2048, ret_priv, ret_pub), 0);
}

/* Keys and a simulator whose two organisations hold KEY1 and KEY2. */
static int setup(void **state)
{
	json_auto_t *doc = test_fixture("conformance.json");
	json_t *orgs = json_object_get(doc, "organisations");
	char err[256] = "";

	keypair(&K.priv1, &K.pub1);
	keypair(&K.priv2, &K.pub2);
	keypair(&K.priv3, NULL);
	json_object_set_new(
	    json_array_get(orgs, 0), "signingKeys",
	    json_pack("[{s:s,s:s,s:s}]", "id", KEY1, "name", "main", "publicKey", K.pub1));
	json_object_set_new(json_array_get(orgs, 1), "signingKeys",
	                    json_pack("[{s:s,s:s}]", "id", KEY2, "publicKey", K.pub2));
	if (sim_new(doc, &K.sim, err, sizeof(err)) < 0)
		fail_msg("fixture rejected: %s", err);
	return 0;
}

/* Free everything. */
static int teardown(void **state)
{
	sim_free(K.sim);
	free(K.priv1);
	free(K.pub1);
	free(K.priv2);
	free(K.pub2);
	free(K.priv3);
	return 0;
}

/* "JWT <token>" signed with priv for issuer key_id and the given claims (static storage). */
static const char *jwt(const char *priv, const char *key_id, int64_t exp, int64_t nbf)
{
	static char header[8192];
	struct signing_key *k = NULL;
	_cleanup_free_ char *iss =
	    key_id ? signing_key_issuer(key_id) : xstrdup("https://example.com/not-versori");
	struct signing_key_claims c = {
	    .iss = iss, .sub = (char *)"acme-retailer-42", .iat = NOW_S, .exp = exp, .nbf = nbf};
	_cleanup_free_ char *token = NULL;

	assert_int_equal(signing_key_new(priv, strlen(priv), &k), 0);
	assert_int_equal(signing_key_mint(k, &c, &token), 0);
	signing_key_free(k);
	snprintf(header, sizeof(header), "JWT %s", token);
	return header;
}

/* A valid token (with or without exp) authenticates for its organisation. */
static void test_jwt_valid(void **state)
{
	struct test_resp r;

	test_auth = jwt(K.priv1, KEY1, NOW_S + 3600, 0);
	json_decref(test_expect(K.sim, HTTP_METHOD_POST, V2 "/users",
	                        "{\"externalId\":\"acme-retailer-42\"}", 201));
	test_auth = jwt(K.priv1, KEY1, 0, NOW_S - 10);
	r = test_call(K.sim, HTTP_METHOD_GET, V2 "/users/acme-retailer-42", NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.org, ORG);
	json_decref(r.body);
	r = test_call(K.sim, HTTP_METHOD_GET,
	              "/api/embedded/v1/activations/01HQ7E2F4H6K8M0P2R4T6V8X0Z", NULL);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.org, ORG);
	json_decref(r.body);
	test_auth = API_KEY;
}

/* Expired, not yet valid, wrong signature, unknown or foreign issuer: 401. */
static void test_jwt_rejected(void **state)
{
	test_auth = jwt(K.priv1, KEY1, NOW_S - 1, 0);
	test_expect_error(K.sim, HTTP_METHOD_GET, V2 "/users", NULL, 401, NULL);
	test_auth = jwt(K.priv1, KEY1, NOW_S + 3600, NOW_S + 60);
	test_expect_error(K.sim, HTTP_METHOD_GET, V2 "/users", NULL, 401, NULL);
	test_auth = jwt(K.priv3, KEY1, NOW_S + 3600, 0);
	test_expect_error(K.sim, HTTP_METHOD_GET, V2 "/users", NULL, 401, NULL);
	test_auth = jwt(K.priv1, "01J0S8K4E2W6R9T3Y7P5M1NZZZ", NOW_S + 3600, 0);
	test_expect_error(K.sim, HTTP_METHOD_GET, V2 "/users", NULL, 401, NULL);
	test_auth = jwt(K.priv1, NULL, NOW_S + 3600, 0);
	test_expect_error(K.sim, HTTP_METHOD_GET, V2 "/users", NULL, 401, NULL);
	test_auth =
	    "JWT "
	    "eyJhbGciOiJub25lIn0."
	    "eyJpc3MiOiJodHRwczovL3ZlcnNvcmkuY29tL3NrLzAxSjBTOEs0RTJXNlI5VDNZN1A1TTFOMEJRIn0.";
	test_expect_error(K.sim, HTTP_METHOD_GET, V2 "/users", NULL, 401, NULL);
	test_auth = API_KEY;
}

/* Another organisation's valid token on this organisation's path: 403. */
static void test_jwt_other_org(void **state)
{
	test_auth = jwt(K.priv2, KEY2, NOW_S + 3600, 0);
	test_expect_error(K.sim, HTTP_METHOD_GET, V2 "/users", NULL, 403, NULL);
	json_decref(test_expect(K.sim, HTTP_METHOD_GET, "/api/v2/o/" ORG2 "/users", NULL, 200));
	test_auth = API_KEY;
}

/* The public key is served without a credential; the org lists its keys. */
static void test_public_key(void **state)
{
	json_auto_t *k = NULL, *list = NULL;

	test_auth = NULL;
	k = test_expect(K.sim, HTTP_METHOD_GET, "/api/organisations/v1/keys/" KEY1, NULL, 200);
	assert_string_equal(test_str(k, "id"), KEY1);
	assert_string_equal(test_str(k, "name"), "main");
	assert_string_equal(test_str(k, "publicKey"), K.pub1);
	assert_true(json_is_string(json_object_get(k, "createdAt")));
	test_auth = jwt(K.priv1, KEY1, NOW_S + 3600, 0);
	list = test_expect(K.sim, HTTP_METHOD_GET,
	                   "/api/organisations/v1/organisations/" ORG "/keys", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(list, "keys")), 1);
	test_auth = API_KEY;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jwt_valid),
	    cmocka_unit_test(test_jwt_rejected),
	    cmocka_unit_test(test_jwt_other_org),
	    cmocka_unit_test(test_public_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
