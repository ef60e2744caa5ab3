/* Unit tests for AES-256-GCM (crypto_aead_*) and secret_value: the GCM specification's test
 * case 16, a value sealed by an independent implementation (Python's cryptography package)
 * opened here, round trips of every kind of JSON value, rotation, and every way opening
 * fails (altered, another key, malformed) named without the value. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "crypto.h"
#include "secret_value.h"
#include "xalloc.h"

/* bytes 0..31, and 31..0. */
#define KEY_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_B "Hx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA="

/* Python: AESGCM(bytes(range(32))).encrypt(bytes.fromhex("000102030405060708090a0b"),
 * b'{"password":"hunter2"}', b"hookrun secret v1"), nonce first, base64url, key id the
 * first 8 hex digits of sha256(key). */
#define PY_SEALED "v1.630dcd29.AAECAwQFBgcICQoLPCCmeraWtXT_JbWxk4ENA_ez9QbSBtRzsBun2zHQ4cLj1a3G_kI"

/* Bytes from hex, a new buffer. */
static unsigned char *unhex(const char *s, size_t *len)
{
	unsigned char *b = NULL;

	assert_int_equal(crypto_hex_decode(s, strlen(s), &b, len), 0);
	return b;
}

/* The GCM specification (McGrew and Viega), test case 16: AES-256, 96-bit IV, with AAD. */
static void test_gcm_known_answer(void **state)
{
	size_t klen, nlen, plen, alen, wlen, len, olen;
	_cleanup_free_ unsigned char *key =
	    unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", &klen);
	_cleanup_free_ unsigned char *nonce = unhex("cafebabefacedbaddecaf888", &nlen);
	_cleanup_free_ unsigned char *plain =
	    unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c959568"
	          "09532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	          &plen);
	_cleanup_free_ unsigned char *aad =
	    unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", &alen);
	_cleanup_free_ unsigned char *want =
	    unhex("cafebabefacedbaddecaf888"
	          "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3d"
	          "a7b08b1056828838c5f61e6393ba7a0abcc9f662"
	          "76fc6ece0f4e1768cddf8853bb2d551b",
	          &wlen);
	_cleanup_free_ unsigned char *got = NULL, *opened = NULL;

	assert_int_equal(
	    crypto_aead_seal_with_nonce(key, nonce, aad, alen, plain, plen, &got, &len), 0);
	assert_int_equal(len, wlen);
	assert_memory_equal(got, want, wlen);
	assert_int_equal(crypto_aead_open(key, aad, alen, got, len, &opened, &olen), 0);
	assert_int_equal(olen, plen);
	assert_memory_equal(opened, plain, plen);
	free(opened);
	opened = NULL;
	got[len - 1] ^= 1; /* the tag */
	assert_int_equal(crypto_aead_open(key, aad, alen, got, len, &opened, &olen), -EBADMSG);
	got[len - 1] ^= 1;
	assert_int_equal(crypto_aead_open(key, aad, alen - 1, got, len, &opened, &olen), -EBADMSG);
	assert_int_equal(
	    crypto_aead_open(key, aad, alen, got, CRYPTO_AEAD_OVERHEAD - 1, &opened, &olen),
	    -EBADMSG);
}

/* Keys from their base64 text. */
static struct secret_keys *keys(const char *first, const char *second)
{
	const char *k[2] = {first, second};
	struct secret_keys *ks = NULL;
	_cleanup_free_ char *err = NULL;

	assert_int_equal(secret_keys_new(k, second ? 2 : 1, &ks, &err), 0);
	return ks;
}

/* A value Python sealed opens here. */
static void test_open_python(void **state)
{
	struct secret_keys *k = keys(KEY_A, NULL);
	json_t *v = json_pack("{s:[{s:s}]}", "x", SECRET_VALUE_MEMBER, PY_SEALED);
	_cleanup_free_ char *err = NULL, *text = NULL;

	assert_string_equal(secret_keys_current_id(k), "630dcd29");
	assert_int_equal(secret_value_open_all(k, &v, &err), 0);
	text = json_dumps(v, JSON_COMPACT);
	assert_string_equal(text, "{\"x\":[{\"password\":\"hunter2\"}]}");
	json_decref(v);
	secret_keys_free(k);
}

/* Every kind of value comes back as it was, also as the root, and a sealed value never
 * holds its plaintext. */
static void test_round_trip(void **state)
{
	struct secret_keys *k = keys(KEY_A, NULL);
	json_t *values =
	    json_loads("[\"s3cret\", 42, 1.5, true, null, [1, \"é\"], {\"a\": {}}]", 0, NULL);
	size_t i;
	json_t *v;

	json_array_foreach (values, i, v) {
		json_t *sealed = secret_value_seal(k, v), *root;
		_cleanup_free_ char *text = json_dumps(sealed, JSON_COMPACT), *err = NULL;

		assert_true(secret_value_is_sealed(sealed));
		assert_null(strstr(text, "s3cret"));
		root = json_pack("{s:o}", "v", sealed);
		assert_int_equal(secret_value_open_all(k, &root, &err), 0);
		assert_true(json_equal(json_object_get(root, "v"), v));
		json_decref(root);
		root = secret_value_seal(k, v);
		assert_int_equal(secret_value_open_all(k, &root, &err), 0);
		assert_true(json_equal(root, v));
		json_decref(root);
	}
	/* Two seals of one value differ (a fresh nonce each). */
	{
		json_t *a = secret_value_seal(k, json_array_get(values, 0));
		json_t *b = secret_value_seal(k, json_array_get(values, 0));

		assert_false(json_equal(a, b));
		json_decref(a);
		json_decref(b);
	}
	json_decref(values);
	secret_keys_free(k);
}

/* The current key seals; an older one still opens what it sealed; without it, the value
 * names its key. */
static void test_rotation(void **state)
{
	struct secret_keys *a = keys(KEY_A, NULL), *ba = keys(KEY_B, KEY_A), *b = keys(KEY_B, NULL);
	json_t *v = json_string("s3cret"), *sealed = secret_value_seal(a, v), *copy;
	_cleanup_free_ char *err = NULL;

	copy = json_deep_copy(sealed);
	assert_int_equal(secret_value_open_all(ba, &copy, &err), 0);
	assert_true(json_equal(copy, v));
	json_decref(copy);
	copy = json_deep_copy(sealed);
	assert_int_equal(secret_value_open_all(b, &copy, &err), -ENOKEY);
	assert_non_null(strstr(err, "630dcd29"));
	json_decref(copy);
	free(err);
	err = NULL;
	copy = json_deep_copy(sealed);
	assert_int_equal(secret_value_open_all(NULL, &copy, &err), -ENOKEY);
	json_decref(copy);
	json_decref(sealed);
	json_decref(v);
	secret_keys_free(a);
	secret_keys_free(ba);
	secret_keys_free(b);
}

/* Altered and malformed values do not open; a key that is not 32 bytes is refused. */
static void test_refusals(void **state)
{
	struct secret_keys *k = keys(KEY_A, NULL), *none = NULL;
	static const char *const bad[] = {
	    "v1.630dcd29.AAECAwQFBgcICQoLPCCmeraWtXT_JbWxk4ENA_ez9QbSBtRzsBun2zHQ4cLj1a3G_kJ",
	    "v2.630dcd29.AAECAwQFBgcICQoLPCCmeraWtXT_JbWxk4ENA_ez9QbSBtRzsBun2zHQ4cLj1a3G_kI",
	    "v1.630dcd29",
	    "v1.630dcd29.!!",
	    "",
	};
	const char *short_key = "AAEC";
	_cleanup_free_ char *err = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		json_t *v = json_pack("{s:s}", SECRET_VALUE_MEMBER, bad[i]);

		assert_int_equal(secret_value_open_all(k, &v, &err), -EBADMSG);
		assert_non_null(err);
		free(err);
		err = NULL;
		json_decref(v);
	}
	assert_int_equal(secret_keys_new(&short_key, 1, &none, &err), -EINVAL);
	assert_null(strstr(err, short_key));
	assert_non_null(strstr(err, "key 1"));
	secret_keys_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gcm_known_answer), cmocka_unit_test(test_open_python),
	    cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_rotation),
	    cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests_name("secret_value", tests, NULL, NULL);
}
