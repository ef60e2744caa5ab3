/* Unit tests for common/signing_key: RS256 minting checked with signing_key_verify and,
 * independently, with libcrypto; verification refusing none, HS256, wrong keys and bad times. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "crypto.h"
#include "signing_key.h"
#include "test_keys.h"
#include "xalloc.h"

#define NOW 1760000000

/* PEM texts of the keys every test uses, generated once. */
struct keys {
	char *priv_pkcs8;
	char *priv_pkcs1;
	char *pub;
	char *other_pub;
	char *small_priv;
	char *ec_priv;
	char *encrypted_priv;
	EVP_PKEY *pkey;
};

static struct keys K;

/* PKCS#8 PEM of a private key, optionally encrypted with a passphrase. */
static char *pem_private(EVP_PKEY *p, const char *pass)
{
	BIO *b = BIO_new(BIO_s_mem());

	assert_non_null(b);
	assert_int_equal(PEM_write_bio_PrivateKey(b, p, pass ? EVP_aes_128_cbc() : NULL,
	                                          (const unsigned char *)pass, pass ? 4 : 0, NULL,
	                                          NULL),
	                 1);
	return test_keys_bio_text(b);
}

/* PKCS#1 ("BEGIN RSA PRIVATE KEY") PEM of a private key. */
static char *pem_private_traditional(EVP_PKEY *p)
{
	BIO *b = BIO_new(BIO_s_mem());

	assert_int_equal(PEM_write_bio_PrivateKey_traditional(b, p, NULL, NULL, 0, NULL, NULL), 1);
	return test_keys_bio_text(b);
}

/* SubjectPublicKeyInfo ("BEGIN PUBLIC KEY") PEM of a key. */
static char *pem_public(EVP_PKEY *p)
{
	BIO *b = BIO_new(BIO_s_mem());

	assert_int_equal(PEM_write_bio_PUBKEY(b, p), 1);
	return test_keys_bio_text(b);
}

/* Generate the RSA keys once for the whole binary. */
static int keys_setup(void **state)
{
	EVP_PKEY *other = EVP_RSA_gen(2048);
	EVP_PKEY *small = EVP_RSA_gen(1024);
	EVP_PKEY *ec = EVP_EC_gen("P-256");

	K.pkey = EVP_RSA_gen(2048);
	if (!K.pkey || !other || !small || !ec)
		return -1;
	K.priv_pkcs8 = pem_private(K.pkey, NULL);
	K.priv_pkcs1 = pem_private_traditional(K.pkey);
	K.pub = pem_public(K.pkey);
	K.other_pub = pem_public(other);
	K.small_priv = pem_private(small, NULL);
	K.ec_priv = pem_private(ec, NULL);
	K.encrypted_priv = pem_private(K.pkey, "pass");
	EVP_PKEY_free(other);
	EVP_PKEY_free(small);
	EVP_PKEY_free(ec);
	return 0;
}

/* Free the keys. */
static int keys_teardown(void **state)
{
	free(K.priv_pkcs8);
	free(K.priv_pkcs1);
	free(K.pub);
	free(K.other_pub);
	free(K.small_priv);
	free(K.ec_priv);
	free(K.encrypted_priv);
	EVP_PKEY_free(K.pkey);
	return 0;
}

/* Mint a token with the test key and the given claims. */
static char *mint(const char *pem, const char *sub, int64_t iat, int64_t exp, int64_t nbf)
{
	struct signing_key *k = NULL;
	_cleanup_free_ char *iss = signing_key_issuer("01J0S8K4E2W6R9T3Y7P5M1N0BQ");
	struct signing_key_claims c = {
	    .iss = iss, .sub = (char *)sub, .iat = iat, .exp = exp, .nbf = nbf};
	char *token = NULL;

	assert_int_equal(signing_key_new(pem, strlen(pem), &k), 0);
	assert_int_equal(signing_key_mint(k, &c, &token), 0);
	signing_key_free(k);
	return token;
}

/* Decode one base64url part of a token (index 0..2) into JSON. */
static json_t *token_part_json(const char *token, int part)
{
	const char *start = token;
	unsigned char *raw = NULL;
	size_t raw_len = 0;
	json_t *v;

	for (int i = 0; i < part; i++)
		start = strchr(start, '.') + 1;
	assert_int_equal(crypto_base64url_decode(start, strcspn(start, "."), &raw, &raw_len), 0);
	v = json_loadb((const char *)raw, raw_len, 0, NULL);
	free(raw);
	assert_non_null(v);
	return v;
}

/* Check an RS256 signature over header.payload with libcrypto alone. */
static int evp_verify(const char *token, EVP_PKEY *pkey)
{
	const char *dot = strrchr(token, '.');
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	assert_int_equal(crypto_base64url_decode(dot + 1, strlen(dot + 1), &sig, &sig_len), 0);
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey), 1);
	ok = EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)token,
	                      (size_t)(dot - token));
	EVP_MD_CTX_free(ctx);
	free(sig);
	return ok;
}

/* A minted token has the RS256 header, the claims, and verifies both ways. */
static void test_mint_verify(void **state)
{
	_cleanup_free_ char *token = mint(K.priv_pkcs8, "acme-retailer-42", NOW, NOW + 3600, 0);
	json_t *header = token_part_json(token, 0);
	json_t *payload = token_part_json(token, 1);
	struct signing_key_claims c = {};
	const char *reason = NULL;

	assert_string_equal(json_string_value(json_object_get(header, "alg")), "RS256");
	assert_string_equal(json_string_value(json_object_get(header, "typ")), "JWT");
	assert_string_equal(json_string_value(json_object_get(payload, "iss")),
	                    "https://versori.com/sk/01J0S8K4E2W6R9T3Y7P5M1N0BQ");
	assert_string_equal(json_string_value(json_object_get(payload, "sub")), "acme-retailer-42");
	assert_int_equal(json_integer_value(json_object_get(payload, "iat")), NOW);
	assert_int_equal(json_integer_value(json_object_get(payload, "exp")), NOW + 3600);
	assert_null(json_object_get(payload, "nbf"));
	json_decref(header);
	json_decref(payload);

	assert_int_equal(evp_verify(token, K.pkey), 1);
	assert_int_equal(signing_key_verify(token, K.pub, NOW + 10, 0, &c, &reason), 0);
	assert_string_equal(c.iss, "https://versori.com/sk/01J0S8K4E2W6R9T3Y7P5M1N0BQ");
	assert_string_equal(c.sub, "acme-retailer-42");
	assert_int_equal(c.iat, NOW);
	assert_int_equal(c.exp, NOW + 3600);
	assert_int_equal(c.nbf, 0);
	signing_key_claims_fini(&c);
}

/* PKCS#1 keys are accepted as well and sign the same way. */
static void test_mint_pkcs1(void **state)
{
	_cleanup_free_ char *token = mint(K.priv_pkcs1, "u1", NOW, NOW + 3600, 0);
	struct signing_key_claims c = {};

	assert_int_equal(evp_verify(token, K.pkey), 1);
	assert_int_equal(signing_key_verify(token, K.pub, NOW, 0, &c, NULL), 0);
	signing_key_claims_fini(&c);
}

/* Keys that are not plain RSA private keys of 2048 bits or more are refused. */
static void test_new_refuses(void **state)
{
	const char *bad[] = {"",
	                     "garbage",
	                     K.pub,
	                     K.small_priv,
	                     K.ec_priv,
	                     K.encrypted_priv,
	                     "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"};
	struct signing_key *k = NULL;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_int_equal(signing_key_new(bad[i], strlen(bad[i]), &k), -EINVAL);
	assert_null(k);
	assert_int_equal(signing_key_new(NULL, 0, &k), -EINVAL);
	signing_key_free(NULL);
}

/* Expiry and not-before are checked against the injected clock, with leeway. */
static void test_verify_times(void **state)
{
	_cleanup_free_ char *token = mint(K.priv_pkcs8, "u1", NOW, NOW + 3600, NOW + 60);
	struct signing_key_claims c = {};
	const char *reason = NULL;

	assert_int_equal(signing_key_verify(token, K.pub, NOW + 3600, 0, &c, &reason), -EACCES);
	assert_string_equal(reason, "expired");
	reason = NULL;
	assert_int_equal(signing_key_verify(token, K.pub, NOW + 3599, 0, &c, &reason), 0);
	assert_int_equal(c.nbf, NOW + 60);
	signing_key_claims_fini(&c);
	assert_int_equal(signing_key_verify(token, K.pub, NOW + 3610, 30, &c, &reason), 0);
	signing_key_claims_fini(&c);
	assert_int_equal(signing_key_verify(token, K.pub, NOW + 59, 0, &c, &reason), -EACCES);
	assert_string_equal(reason, "not_yet_valid");
	assert_int_equal(signing_key_verify(token, K.pub, NOW + 59, 5, &c, &reason), 0);
	signing_key_claims_fini(&c);
}

/* A token signed by another key, or altered after signing, is a bad signature. */
static void test_verify_wrong_key_and_tamper(void **state)
{
	_cleanup_free_ char *token = mint(K.priv_pkcs8, "u1", NOW, NOW + 3600, 0);
	_cleanup_free_ char *payload =
	    xasprintf("{\"iss\":\"x\",\"sub\":\"admin\",\"iat\":%d}", NOW);
	_cleanup_free_ char *p64 = crypto_base64url_encode(payload, strlen(payload));
	_cleanup_free_ char *forged = NULL;
	const char *d1 = strchr(token, '.'), *d2 = strrchr(token, '.');
	struct signing_key_claims c = {};
	const char *reason = NULL;

	assert_int_equal(signing_key_verify(token, K.other_pub, NOW, 0, &c, &reason), -EACCES);
	assert_string_equal(reason, "bad_signature");
	forged = xasprintf("%.*s.%s%s", (int)(d1 - token), token, p64, d2);
	reason = NULL;
	assert_int_equal(signing_key_verify(forged, K.pub, NOW, 0, &c, &reason), -EACCES);
	assert_string_equal(reason, "bad_signature");
	assert_int_equal(evp_verify(forged, K.pkey), 0);
	assert_int_equal(signing_key_verify(token, "not a key", NOW, 0, &c, &reason), -EINVAL);
}

/* Build "<b64(header)>.<b64(payload)>.<sig>" from texts. */
static char *token_from(const char *header, const char *payload, const char *sig)
{
	_cleanup_free_ char *h = crypto_base64url_encode(header, strlen(header));
	_cleanup_free_ char *p = crypto_base64url_encode(payload, strlen(payload));

	return xasprintf("%s.%s.%s", h, p, sig);
}

/* alg none and HS256 keyed with the public key PEM (key confusion) are refused. */
static void test_verify_refuses_other_algs(void **state)
{
	const char *payload = "{\"iss\":\"https://versori.com/sk/K\",\"sub\":\"u1\"}";
	_cleanup_free_ char *none = token_from("{\"alg\":\"none\"}", payload, "");
	_cleanup_free_ char *unsig = token_from("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, "");
	_cleanup_free_ char *sig64 = NULL, *hs = NULL, *noalg = NULL;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	struct signing_key_claims c = {};
	const char *reason = NULL;

	assert_int_equal(signing_key_verify(none, K.pub, NOW, 0, &c, &reason), -EACCES);
	assert_string_equal(reason, "alg_not_rs256");
	/* Sign header.payload with HMAC-SHA256 keyed by the public PEM text. */
	unsig[strlen(unsig) - 1] = '\0';
	assert_non_null(HMAC(EVP_sha256(), K.pub, (int)strlen(K.pub), (unsigned char *)unsig,
	                     strlen(unsig), mac, &mac_len));
	sig64 = crypto_base64url_encode(mac, mac_len);
	hs = xasprintf("%s.%s", unsig, sig64);
	reason = NULL;
	assert_int_equal(signing_key_verify(hs, K.pub, NOW, 0, &c, &reason), -EACCES);
	assert_string_equal(reason, "alg_not_rs256");
	noalg = token_from("{\"typ\":\"JWT\"}", payload, "AAAA");
	assert_int_equal(signing_key_verify(noalg, K.pub, NOW, 0, &c, &reason), -EACCES);
	assert_string_equal(reason, "alg_not_rs256");
}

/* A header with only alg (the jose example) verifies: typ is optional. */
static void test_verify_header_without_typ(void **state)
{
	const char *payload =
	    "{\"iss\":\"https://versori.com/sk/K\",\"sub\":\"u1\",\"exp\":1760003600}";
	_cleanup_free_ char *unsig = token_from("{\"alg\":\"RS256\"}", payload, "");
	_cleanup_free_ char *sig64 = NULL, *token = NULL;
	unsigned char sig[512];
	size_t sig_len = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct signing_key_claims c = {};

	unsig[strlen(unsig) - 1] = '\0';
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, K.pkey), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)unsig, strlen(unsig)),
	                 1);
	EVP_MD_CTX_free(ctx);
	sig64 = crypto_base64url_encode(sig, sig_len);
	token = xasprintf("%s.%s", unsig, sig64);
	assert_int_equal(signing_key_verify(token, K.pub, NOW, 0, &c, NULL), 0);
	assert_string_equal(c.sub, "u1");
	assert_int_equal(c.exp, 1760003600);
	signing_key_claims_fini(&c);
}

/* peek reads claims without a key; malformed tokens are -EBADMSG for peek and verify. */
static void test_peek_and_malformed(void **state)
{
	_cleanup_free_ char *token = mint(K.priv_pkcs8, "u9", NOW, 0, 0);
	_cleanup_free_ char *str_exp =
	    token_from("{\"alg\":\"RS256\"}", "{\"exp\":\"soon\"}", "AA");
	_cleanup_free_ char *zero_exp = token_from("{\"alg\":\"RS256\"}", "{\"exp\":0}", "AA");
	_cleanup_free_ char *arr = token_from("{\"alg\":\"RS256\"}", "[1]", "AA");
	const char *bad[] = {"",          "a.b",   "a.b.c.d", "...", "e30.e30",
	                     "!!.e30.AA", str_exp, zero_exp,  arr};
	struct signing_key_claims c = {};

	assert_int_equal(signing_key_peek(token, &c), 0);
	assert_string_equal(signing_key_issuer_key_id(c.iss), "01J0S8K4E2W6R9T3Y7P5M1N0BQ");
	assert_string_equal(c.sub, "u9");
	assert_int_equal(c.iat, NOW);
	assert_int_equal(c.exp, 0);
	signing_key_claims_fini(&c);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		assert_int_equal(signing_key_peek(bad[i], &c), -EBADMSG);
		assert_int_equal(signing_key_verify(bad[i], K.pub, NOW, 0, &c, NULL), -EBADMSG);
	}
	assert_int_equal(signing_key_peek(NULL, &c), -EBADMSG);
}

/* Issuer helpers round-trip and refuse foreign issuers. */
static void test_issuer(void **state)
{
	_cleanup_free_ char *iss = signing_key_issuer("KEY1");

	assert_string_equal(iss, "https://versori.com/sk/KEY1");
	assert_string_equal(signing_key_issuer_key_id(iss), "KEY1");
	assert_null(signing_key_issuer_key_id("https://versori.com/sk/"));
	assert_null(signing_key_issuer_key_id("https://evil.example/sk/KEY1"));
	assert_null(signing_key_issuer_key_id(NULL));
}

/* Run the signing_key tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mint_verify),
	    cmocka_unit_test(test_mint_pkcs1),
	    cmocka_unit_test(test_new_refuses),
	    cmocka_unit_test(test_verify_times),
	    cmocka_unit_test(test_verify_wrong_key_and_tamper),
	    cmocka_unit_test(test_verify_refuses_other_algs),
	    cmocka_unit_test(test_verify_header_without_typ),
	    cmocka_unit_test(test_peek_and_malformed),
	    cmocka_unit_test(test_issuer),
	};

	return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
