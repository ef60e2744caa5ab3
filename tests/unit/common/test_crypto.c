/* Unit tests for common/crypto: HMAC and SHA-256 known-answer vectors (RFC 4231, RFC 2202,
 * FIPS 180-2), constant-time comparison, hex, base64 and base64url codecs, random bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "xalloc.h"

/* One HMAC known-answer vector; keys and data given in hex so binary values fit. */
struct hmac_vector {
	const char *name;
	enum crypto_hash alg;
	const char *key_hex;
	const char *data;
	const char *mac_hex;
};

/* Value of one hex digit; test-local so expected values never go through the code under test. */
static unsigned char nibble(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned char)(c - '0');
	return (unsigned char)((c | 0x20) - 'a' + 10);
}

/* Decode a known-good hex string into out; returns the byte count. */
static size_t unhex(const char *hex, unsigned char *out)
{
	size_t n = strlen(hex) / 2;

	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
	return n;
}

#define KEY_0B20 "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
#define KEY_AA131                                                                                  \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_JEFE "4a656665"

/* RFC 4231 (SHA-256/512) and RFC 2202 (SHA-1) vectors, checked with `openssl dgst -hmac`. */
static const struct hmac_vector hmac_vectors[] = {
    {"rfc4231 tc1 sha256", CRYPTO_HASH_SHA256, KEY_0B20, "Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {"rfc4231 tc1 sha512", CRYPTO_HASH_SHA512, KEY_0B20, "Hi There",
     "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
     "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
    {"rfc4231 tc2 sha256", CRYPTO_HASH_SHA256, KEY_JEFE, "what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {"rfc4231 tc2 sha512", CRYPTO_HASH_SHA512, KEY_JEFE, "what do ya want for nothing?",
     "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
     "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
    {"rfc4231 tc6 sha256", CRYPTO_HASH_SHA256, KEY_AA131,
     "Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    {"rfc4231 tc6 sha512", CRYPTO_HASH_SHA512, KEY_AA131,
     "Test Using Larger Than Block-Size Key - Hash Key First",
     "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
     "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"},
    {"rfc2202 tc1 sha1", CRYPTO_HASH_SHA1, KEY_0B20, "Hi There",
     "b617318655057264e28bc0b6fb378c8ef146be00"},
    {"rfc2202 tc2 sha1", CRYPTO_HASH_SHA1, KEY_JEFE, "what do ya want for nothing?",
     "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
    {"empty key and data sha256", CRYPTO_HASH_SHA256, "", "",
     "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"},
};

/* Every known vector matches when the data is given as one piece. */
static void test_hmac_vectors(_unused_ void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(hmac_vectors); i++) {
		const struct hmac_vector *v = &hmac_vectors[i];
		unsigned char key[256], want[CRYPTO_HMAC_MAX_SIZE], got[CRYPTO_HMAC_MAX_SIZE];
		size_t keylen = unhex(v->key_hex, key), wantlen = unhex(v->mac_hex, want);
		struct crypto_piece piece = {v->data, strlen(v->data)};

		print_message("# %s\n", v->name);
		assert_int_equal(crypto_hmac(v->alg, key, keylen, &piece, 1, got), (int)wantlen);
		assert_int_equal(crypto_hmac_size(v->alg), wantlen);
		assert_memory_equal(got, want, wantlen);
	}
}

/* Splitting the data into pieces (including empty ones) gives the same MAC. */
static void test_hmac_pieces(_unused_ void **state)
{
	const struct crypto_piece pieces[] = {
	    {"what do ya", 10}, {NULL, 0}, {" want for ", 10}, {"nothing?", 8}, {"", 0},
	};
	unsigned char want[CRYPTO_HMAC_MAX_SIZE], got[CRYPTO_HMAC_MAX_SIZE];

	unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want);
	assert_int_equal(
	    crypto_hmac(CRYPTO_HASH_SHA256, "Jefe", 4, pieces, ELEMENTSOF(pieces), got), 32);
	assert_memory_equal(got, want, 32);

	/* No pieces at all is the MAC of the empty message. */
	unhex("b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad", want);
	assert_int_equal(crypto_hmac(CRYPTO_HASH_SHA256, NULL, 0, NULL, 0, got), 32);
	assert_memory_equal(got, want, 32);
}

/* An unknown algorithm is refused; sizes are those of the digests. */
static void test_hmac_bad_algorithm(_unused_ void **state)
{
	unsigned char out[CRYPTO_HMAC_MAX_SIZE];
	struct crypto_piece piece = {"x", 1};

	assert_int_equal(crypto_hmac(_CRYPTO_HASH_MAX, "k", 1, &piece, 1, out), -EINVAL);
	assert_int_equal(crypto_hmac_size(_CRYPTO_HASH_MAX), 0);
	assert_int_equal(crypto_hmac_size(CRYPTO_HASH_SHA1), 20);
	assert_int_equal(crypto_hmac_size(CRYPTO_HASH_SHA256), 32);
	assert_int_equal(crypto_hmac_size(CRYPTO_HASH_SHA512), 64);
}

/* SHA-256 known answers (FIPS 180-2 "abc", the two-block message, the empty string). */
static void test_sha256(_unused_ void **state)
{
	static const struct {
		const char *data, *hex;
	} v[] = {
	    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	};

	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		unsigned char raw[CRYPTO_SHA256_SIZE], want[CRYPTO_SHA256_SIZE];
		char hex[CRYPTO_SHA256_HEX_SIZE];

		unhex(v[i].hex, want);
		assert_int_equal(crypto_sha256(v[i].data, strlen(v[i].data), raw), 0);
		assert_memory_equal(raw, want, sizeof(want));
		assert_int_equal(crypto_sha256_hex(v[i].data, strlen(v[i].data), hex), 0);
		assert_string_equal(hex, v[i].hex);
	}
}

/* Equal content and length compare equal; any difference, including length, does not. */
static void test_equal(_unused_ void **state)
{
	assert_true(crypto_equal("secret", 6, "secret", 6));
	assert_true(crypto_equal("", 0, "", 0));
	assert_true(crypto_equal(NULL, 0, NULL, 0));
	assert_false(crypto_equal("secret", 6, "secreT", 6));
	assert_false(crypto_equal("Secret", 6, "secret", 6));
	assert_false(crypto_equal("secret", 6, "secret!", 7));
	assert_false(crypto_equal("secret!", 7, "secret", 6));
	assert_false(crypto_equal("", 0, "secret", 6));
	assert_false(crypto_equal("secret", 6, "", 0));
	/* Embedded NULs are content, not terminators. */
	assert_true(crypto_equal("a\0b", 3, "a\0b", 3));
	assert_false(crypto_equal("a\0b", 3, "a\0c", 3));
}

/* Hex encodes lowercase and decodes either case; odd lengths and non-digits are refused. */
static void test_hex(_unused_ void **state)
{
	const unsigned char bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
	_cleanup_free_ char *enc = crypto_hex_encode(bytes, sizeof(bytes));
	_cleanup_free_ char *empty = crypto_hex_encode("", 0);
	unsigned char *dec = NULL;
	size_t len = 0;

	assert_string_equal(enc, "00017f80abcdefff");
	assert_string_equal(empty, "");

	assert_int_equal(crypto_hex_decode("00017F80ABcdEFff", 16, &dec, &len), 0);
	assert_int_equal(len, sizeof(bytes));
	assert_memory_equal(dec, bytes, sizeof(bytes));
	free(dec);

	assert_int_equal(crypto_hex_decode("", 0, &dec, &len), 0);
	assert_int_equal(len, 0);
	free(dec);

	dec = NULL;
	assert_int_equal(crypto_hex_decode("abc", 3, &dec, &len), -EBADMSG);
	assert_int_equal(crypto_hex_decode("0g", 2, &dec, &len), -EBADMSG);
	assert_int_equal(crypto_hex_decode("0 ", 2, &dec, &len), -EBADMSG);
	assert_int_equal(crypto_hex_decode("-1", 2, &dec, &len), -EBADMSG);
	assert_null(dec);
	/* Only len characters are read: a valid prefix of a longer string decodes. */
	assert_int_equal(crypto_hex_decode("abzz", 2, &dec, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(dec[0], 0xab);
	free(dec);
}

/* RFC 4648 §10 base64 vectors, both directions. */
static void test_base64_vectors(_unused_ void **state)
{
	static const struct {
		const char *plain, *b64;
	} v[] = {
	    {"", ""},
	    {"f", "Zg=="},
	    {"fo", "Zm8="},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg=="},
	    {"fooba", "Zm9vYmE="},
	    {"foobar", "Zm9vYmFy"},
	};

	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		_cleanup_free_ char *enc = crypto_base64_encode(v[i].plain, strlen(v[i].plain));
		_cleanup_free_ unsigned char *dec = NULL;
		size_t len = 0;

		assert_string_equal(enc, v[i].b64);
		assert_int_equal(crypto_base64_decode(v[i].b64, strlen(v[i].b64), &dec, &len), 0);
		assert_int_equal(len, strlen(v[i].plain));
		assert_memory_equal(dec, v[i].plain, len);
	}
}

/* base64url uses -_ and no padding when encoding, and decodes padded or not. */
static void test_base64url_vectors(_unused_ void **state)
{
	const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
	const unsigned char two[] = {0xfb, 0xff};
	_cleanup_free_ char *std = crypto_base64_encode(bytes, sizeof(bytes));
	_cleanup_free_ char *url = crypto_base64url_encode(bytes, sizeof(bytes));
	_cleanup_free_ char *url2 = crypto_base64url_encode(two, sizeof(two));
	_cleanup_free_ char *f = crypto_base64url_encode("f", 1);
	unsigned char *dec = NULL;
	size_t len = 0;

	assert_string_equal(std, "+/+/");
	assert_string_equal(url, "-_-_");
	assert_string_equal(url2, "-_8");
	assert_string_equal(f, "Zg");

	assert_int_equal(crypto_base64url_decode("-_8", 3, &dec, &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(dec, two, 2);
	free(dec);
	assert_int_equal(crypto_base64url_decode("-_8=", 4, &dec, &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(dec, two, 2);
	free(dec);
	assert_int_equal(crypto_base64url_decode("Zg", 2, &dec, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(dec[0], 'f');
	free(dec);
	assert_int_equal(crypto_base64url_decode("Zg==", 4, &dec, &len), 0);
	assert_int_equal(len, 1);
	free(dec);
}

/* Invalid base64 and base64url is refused with -EBADMSG and leaves the outputs alone. */
static void test_base64_invalid(_unused_ void **state)
{
	static const char *const bad_std[] = {
	    "Zg",       /* padding required */
	    "Zg=",      /* incomplete padding */
	    "Z===",     /* too much padding */
	    "Z",        /* a lone character encodes no byte */
	    "Zm9v!A==", /* not in the alphabet */
	    "Zm 9v",    /* no whitespace */
	    "Zm9v\n",   /* no newlines */
	    "-_8=",     /* base64url characters */
	    "=Zg=",     /* padding first */
	    "Zg==Zg==", /* padding in the middle */
	    "Zh==",     /* non-zero unused bits */
	    "Zm9=",     /* non-zero unused bits */
	};
	static const char *const bad_url[] = {
	    "+/8", "Zm9v!", "Z", "Zg=", "Zg===", "Zh", "Zm 9v", "Zg==Zg",
	};
	unsigned char *dec = NULL;
	size_t len = 777;

	for (size_t i = 0; i < ELEMENTSOF(bad_std); i++) {
		print_message("# base64 #%zu\n", i);
		assert_int_equal(crypto_base64_decode(bad_std[i], strlen(bad_std[i]), &dec, &len),
		                 -EBADMSG);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad_url); i++) {
		print_message("# base64url #%zu\n", i);
		assert_int_equal(
		    crypto_base64url_decode(bad_url[i], strlen(bad_url[i]), &dec, &len), -EBADMSG);
	}
	assert_null(dec);
	assert_int_equal(len, 777);
}

/* Random buffers of every length up to 100 survive both base64 round trips and hex. */
static void test_round_trips(_unused_ void **state)
{
	for (size_t n = 0; n <= 100; n++) {
		unsigned char buf[100];
		_cleanup_free_ char *b64 = NULL, *b64url = NULL, *hex = NULL;
		_cleanup_free_ unsigned char *d1 = NULL, *d2 = NULL, *d3 = NULL;
		size_t l1 = 0, l2 = 0, l3 = 0;

		assert_int_equal(crypto_random_bytes(buf, n), 0);
		b64 = crypto_base64_encode(buf, n);
		b64url = crypto_base64url_encode(buf, n);
		hex = crypto_hex_encode(buf, n);
		assert_int_equal(strlen(b64), (n + 2) / 3 * 4);
		assert_null(strchr(b64url, '='));
		assert_int_equal(crypto_base64_decode(b64, strlen(b64), &d1, &l1), 0);
		assert_int_equal(crypto_base64url_decode(b64url, strlen(b64url), &d2, &l2), 0);
		assert_int_equal(crypto_hex_decode(hex, strlen(hex), &d3, &l3), 0);
		assert_int_equal(l1, n);
		assert_int_equal(l2, n);
		assert_int_equal(l3, n);
		assert_memory_equal(d1, buf, n);
		assert_memory_equal(d2, buf, n);
		assert_memory_equal(d3, buf, n);
	}
}

/* Random bytes fill the buffer and two draws differ; zero bytes is fine. */
static void test_random_bytes(_unused_ void **state)
{
	unsigned char a[32] = {0}, b[32] = {0}, zero[32] = {0};

	assert_int_equal(crypto_random_bytes(a, sizeof(a)), 0);
	assert_int_equal(crypto_random_bytes(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_int_equal(crypto_random_bytes(a, 0), 0);
}

/* Run the crypto tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hmac_vectors),
	    cmocka_unit_test(test_hmac_pieces),
	    cmocka_unit_test(test_hmac_bad_algorithm),
	    cmocka_unit_test(test_sha256),
	    cmocka_unit_test(test_equal),
	    cmocka_unit_test(test_hex),
	    cmocka_unit_test(test_base64_vectors),
	    cmocka_unit_test(test_base64url_vectors),
	    cmocka_unit_test(test_base64_invalid),
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
