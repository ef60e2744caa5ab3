/* HMAC, SHA-256, constant-time comparison, hex/base64 codecs and random bytes over OpenSSL. */
#include "crypto.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "xalloc.h"

static const char *const hmac_digest_names[_CRYPTO_HASH_MAX] = {
    [CRYPTO_HASH_SHA1] = "SHA1",
    [CRYPTO_HASH_SHA256] = "SHA256",
    [CRYPTO_HASH_SHA512] = "SHA512",
    [CRYPTO_HASH_SHA384] = "SHA384",
};

static const size_t hmac_sizes[_CRYPTO_HASH_MAX] = {
    [CRYPTO_HASH_SHA1] = 20,
    [CRYPTO_HASH_SHA256] = 32,
    [CRYPTO_HASH_SHA512] = 64,
    [CRYPTO_HASH_SHA384] = 48,
};

static const char hex_digits[] = "0123456789abcdef";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Size in bytes of the MAC the algorithm produces; 0 for an unknown algorithm. */
size_t crypto_hmac_size(enum crypto_hash alg)
{
	return (unsigned)alg < _CRYPTO_HASH_MAX ? hmac_sizes[alg] : 0;
}

/* HMAC of the concatenation of the pieces under key, through EVP_MAC; returns its length. */
int crypto_hmac(enum crypto_hash alg, const void *key, size_t keylen,
                const struct crypto_piece *pieces, size_t n,
                unsigned char out[static CRYPTO_HMAC_MAX_SIZE])
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t outlen = 0;
	int r = -ENOMEM;

	if ((unsigned)alg >= _CRYPTO_HASH_MAX)
		return -EINVAL;

	mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	if (!mac)
		goto out;
	ctx = EVP_MAC_CTX_new(mac);
	if (!ctx)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	                                             (char *)hmac_digest_names[alg], 0);
	params[1] = OSSL_PARAM_construct_end();
	/* A NULL key would mean "keep the previous key"; an empty key is a valid HMAC key. */
	if (!EVP_MAC_init(ctx, key ? key : (const void *)"", keylen, params))
		goto out;
	for (size_t i = 0; i < n; i++)
		if (pieces[i].len > 0 && !EVP_MAC_update(ctx, pieces[i].data, pieces[i].len))
			goto out;
	if (!EVP_MAC_final(ctx, out, &outlen, CRYPTO_HMAC_MAX_SIZE) || outlen != hmac_sizes[alg])
		goto out;

	r = (int)outlen;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return r;
}

/* SHA-256 of data into out. */
int crypto_sha256(const void *data, size_t len, unsigned char out[static CRYPTO_SHA256_SIZE])
{
	unsigned int n = 0;

	if (!EVP_Digest(len > 0 ? data : "", len, out, &n, EVP_sha256(), NULL) ||
	    n != CRYPTO_SHA256_SIZE)
		return -ENOMEM;
	return 0;
}

/* Write len bytes as lowercase hex plus a NUL into out, which holds 2 * len + 1 bytes. */
static void hex_write(char *out, const unsigned char *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex_digits[in[i] >> 4];
		out[2 * i + 1] = hex_digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

/* SHA-256 of data as lowercase hex into out_hex. */
int crypto_sha256_hex(const void *data, size_t len, char out_hex[static CRYPTO_SHA256_HEX_SIZE])
{
	unsigned char md[CRYPTO_SHA256_SIZE];
	int r;

	r = crypto_sha256(data, len, md);
	if (r < 0)
		return r;
	hex_write(out_hex, md, sizeof(md));
	return 0;
}

/* Constant-time equality; time depends on alen only, whatever the content or blen. */
bool crypto_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	/* On a length mismatch, scan a against itself so the work done is the same. */
	const void *other = alen == blen ? b : a;
	int diff = alen > 0 ? CRYPTO_memcmp(a, other, alen) : 0;

	return (alen == blen) & (diff == 0);
}

/* Lowercase hex encoding of data as a new string. */
char *crypto_hex_encode(const void *data, size_t len)
{
	char *out;

	assert(len < SIZE_MAX / 2);
	out = xmalloc(2 * len + 1);
	hex_write(out, data, len);
	return out;
}

/* Value of one hex digit of either case, or -1. */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode len hex digits of either case into a new buffer. */
int crypto_hex_decode(const char *s, size_t len, unsigned char **ret, size_t *ret_len)
{
	_cleanup_free_ unsigned char *buf = NULL;

	if (len % 2 != 0)
		return -EBADMSG;
	buf = xmalloc(len / 2 + 1);
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EBADMSG;
		buf[i] = (unsigned char)(hi << 4 | lo);
	}
	buf[len / 2] = '\0';
	*ret_len = len / 2;
	*ret = TAKE_PTR(buf);
	return 0;
}

/* Encode data with a 64-character alphabet, padding the last group with '=' if asked. */
static char *b64_encode(const char *alphabet, bool pad, const unsigned char *in, size_t len)
{
	char *out, *o;
	size_t i = 0;

	assert(len < SIZE_MAX / 2);
	out = o = xmalloc(len / 3 * 4 + 5);
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = alphabet[v >> 6 & 63];
		*o++ = alphabet[v & 63];
	}
	if (i < len) {
		bool two = len - i == 2;
		uint32_t v = (uint32_t)in[i] << 16 | (two ? (uint32_t)in[i + 1] << 8 : 0);

		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		if (two)
			*o++ = alphabet[v >> 6 & 63];
		else if (pad)
			*o++ = '=';
		if (pad)
			*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* Standard base64 (with padding) of data as a new string. */
char *crypto_base64_encode(const void *data, size_t len)
{
	return b64_encode(b64_alphabet, true, data, len);
}

/* base64url (without padding) of data as a new string. */
char *crypto_base64url_encode(const void *data, size_t len)
{
	return b64_encode(b64url_alphabet, false, data, len);
}

/* Value of one base64 or base64url character, or -1 when not in that alphabet. */
static int b64_value(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Decode n characters (padding already removed) into out; false on a bad character or
 * non-zero unused bits in the last group. out holds n / 4 * 3 + 2 bytes. */
static bool b64_decode_groups(const char *s, size_t n, bool url, unsigned char *out,
                              size_t *ret_len)
{
	uint32_t acc = 0;
	size_t o = 0, i;

	for (i = 0; i < n; i++) {
		int v = b64_value(s[i], url);

		if (v < 0)
			return false;
		acc = acc << 6 | (uint32_t)v;
		if (i % 4 == 3) {
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
		}
	}
	if (n % 4 == 2) {
		if (acc & 0x0f)
			return false;
		out[o++] = (unsigned char)(acc >> 4);
	} else if (n % 4 == 3) {
		if (acc & 0x03)
			return false;
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
	}
	*ret_len = o;
	return true;
}

/* Decode base64 (padding required) or base64url (padding optional) into a new buffer. */
static int b64_decode(const char *s, size_t len, bool url, unsigned char **ret, size_t *ret_len)
{
	_cleanup_free_ unsigned char *buf = NULL;
	size_t pad = 0, n, outlen;

	while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
		pad++;
	n = len - pad;
	/* Padded input is whole groups; unpadded input may end in a 2- or 3-character group. */
	if (n % 4 == 1 || ((pad > 0 || !url) && len % 4 != 0))
		return -EBADMSG;
	buf = xmalloc(n / 4 * 3 + 3);
	if (!b64_decode_groups(s, n, url, buf, &outlen))
		return -EBADMSG;
	buf[outlen] = '\0';
	*ret_len = outlen;
	*ret = TAKE_PTR(buf);
	return 0;
}

/* Decode standard base64 with padding into a new buffer. */
int crypto_base64_decode(const char *s, size_t len, unsigned char **ret, size_t *ret_len)
{
	return b64_decode(s, len, false, ret, ret_len);
}

/* Decode base64url, padded or not, into a new buffer. */
int crypto_base64url_decode(const char *s, size_t len, unsigned char **ret, size_t *ret_len)
{
	return b64_decode(s, len, true, ret, ret_len);
}

/* Fill buf with strong random bytes, in chunks RAND_bytes can take. */
int crypto_random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		int chunk = len > INT_MAX ? INT_MAX : (int)len;

		if (RAND_bytes(p, chunk) != 1)
			return -EIO;
		p += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

int crypto_aead_seal_with_nonce(const unsigned char key[static CRYPTO_AEAD_KEY_SIZE],
                                const unsigned char nonce[static CRYPTO_AEAD_NONCE_SIZE],
                                const void *aad, size_t aad_len, const void *plain, size_t len,
                                unsigned char **ret, size_t *ret_len)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	unsigned char *out = xmalloc(len + CRYPTO_AEAD_OVERHEAD);
	int n = 0, tail = 0, ok;

	memcpy(out, nonce, CRYPTO_AEAD_NONCE_SIZE);
	ok = ctx && len <= INT_MAX && aad_len <= INT_MAX &&
	     EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) &&
	     (aad_len == 0 || EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len)) &&
	     (len == 0 ||
	      EVP_EncryptUpdate(ctx, out + CRYPTO_AEAD_NONCE_SIZE, &n, plain, (int)len)) &&
	     EVP_EncryptFinal_ex(ctx, out + CRYPTO_AEAD_NONCE_SIZE + (len ? n : 0), &tail) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CRYPTO_AEAD_TAG_SIZE,
	                         out + CRYPTO_AEAD_NONCE_SIZE + len);
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		free(out);
		return -ENOMEM;
	}
	*ret = out;
	*ret_len = len + CRYPTO_AEAD_OVERHEAD;
	return 0;
}

int crypto_aead_seal(const unsigned char key[static CRYPTO_AEAD_KEY_SIZE], const void *aad,
                     size_t aad_len, const void *plain, size_t len, unsigned char **ret,
                     size_t *ret_len)
{
	unsigned char nonce[CRYPTO_AEAD_NONCE_SIZE];

	if (crypto_random_bytes(nonce, sizeof(nonce)) < 0)
		return -EIO;
	return crypto_aead_seal_with_nonce(key, nonce, aad, aad_len, plain, len, ret, ret_len);
}

int crypto_aead_open(const unsigned char key[static CRYPTO_AEAD_KEY_SIZE], const void *aad,
                     size_t aad_len, const void *sealed, size_t len, unsigned char **ret,
                     size_t *ret_len)
{
	const unsigned char *in = sealed;
	size_t plain_len;
	EVP_CIPHER_CTX *ctx;
	unsigned char *out;
	int n = 0, tail = 0, r;

	if (len < CRYPTO_AEAD_OVERHEAD || len - CRYPTO_AEAD_OVERHEAD > INT_MAX || aad_len > INT_MAX)
		return -EBADMSG;
	plain_len = len - CRYPTO_AEAD_OVERHEAD;
	ctx = EVP_CIPHER_CTX_new();
	out = xmalloc(plain_len + 1);
	if (!ctx || !EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in) ||
	    (aad_len > 0 && !EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len)) ||
	    (plain_len > 0 &&
	     !EVP_DecryptUpdate(ctx, out, &n, in + CRYPTO_AEAD_NONCE_SIZE, (int)plain_len)) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CRYPTO_AEAD_TAG_SIZE,
	                         (void *)(in + CRYPTO_AEAD_NONCE_SIZE + plain_len))) {
		r = -ENOMEM;
		goto out;
	}
	/* The tag is checked here: a failure is a message not sealed under this key and aad. */
	if (EVP_DecryptFinal_ex(ctx, out + (plain_len ? n : 0), &tail) != 1) {
		r = -EBADMSG;
		goto out;
	}
	out[plain_len] = '\0';
	*ret = out;
	*ret_len = plain_len;
	out = NULL;
	r = 0;
out:
	if (out)
		OPENSSL_cleanse(out, plain_len + 1);
	free(out);
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

/* An RSA public key decoded once, found again by the SHA-256 of its PEM. */
struct rsa_key_slot {
	unsigned char digest[CRYPTO_SHA256_SIZE];
	EVP_PKEY *key;
	uint64_t used; /* the slot least recently used is taken for a new key */
};

#define RSA_KEY_CACHE 16
static struct rsa_key_slot rsa_keys[RSA_KEY_CACHE];
static uint64_t rsa_keys_clock;

/* Decode an RSA public key PEM; NULL when it is not one. */
static EVP_PKEY *rsa_public_key_read(const char *pem, size_t len)
{
	EVP_PKEY *key;
	BIO *bio;

	if (!pem || len == 0 || len > INT_MAX)
		return NULL;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return NULL;
	/* No passphrase callback can prompt: a public key is never encrypted. */
	key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (key && EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	return key;
}

/* The decoded key of pem, from the cache or decoded now (and kept); NULL when it is not an
 * RSA public key. Borrowed: valid until RSA_KEY_CACHE other keys have been used. */
static EVP_PKEY *rsa_public_key_get(const char *pem, size_t len)
{
	unsigned char digest[CRYPTO_SHA256_SIZE];
	struct rsa_key_slot *victim = &rsa_keys[0];
	EVP_PKEY *key;

	if (crypto_sha256(pem, len, digest) < 0)
		return NULL;
	for (size_t i = 0; i < RSA_KEY_CACHE; i++) {
		struct rsa_key_slot *s = &rsa_keys[i];

		if (s->key && memcmp(s->digest, digest, sizeof(digest)) == 0) {
			s->used = ++rsa_keys_clock;
			return s->key;
		}
		if (!s->key || s->used < victim->used)
			victim = s;
	}
	key = rsa_public_key_read(pem, len);
	if (!key)
		return NULL;
	EVP_PKEY_free(victim->key);
	memcpy(victim->digest, digest, sizeof(digest));
	victim->key = key;
	victim->used = ++rsa_keys_clock;
	return key;
}

/* Verify an RSASSA-PKCS1-v1_5 signature with a cached key. */
int crypto_rsa_verify(enum crypto_hash alg, const char *pem, size_t len, const void *msg,
                      size_t msg_len, const unsigned char *sig, size_t sig_len)
{
	const EVP_MD *md;
	EVP_MD_CTX *ctx;
	EVP_PKEY *key;
	int ok;

	switch (alg) {
	case CRYPTO_HASH_SHA256:
		md = EVP_sha256();
		break;
	case CRYPTO_HASH_SHA384:
		md = EVP_sha384();
		break;
	case CRYPTO_HASH_SHA512:
		md = EVP_sha512();
		break;
	default:
		return -EINVAL;
	}
	key = rsa_public_key_get(pem, len);
	if (!key)
		return -EINVAL;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	/* EVP_PKEY_RSA keys default to PKCS #1 v1.5 padding: what RS256/384/512 use. */
	ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
	     EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EACCES;
}

/* Read an RSA public key PEM and tell its size. */
int crypto_rsa_public_key_bits(const char *pem, size_t len)
{
	EVP_PKEY *key = rsa_public_key_read(pem, len);
	int bits;

	if (!key)
		return -EINVAL;
	bits = EVP_PKEY_get_bits(key);
	EVP_PKEY_free(key);
	return bits;
}
