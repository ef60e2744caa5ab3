/* Cryptographic primitives over OpenSSL (the only module that includes it): HMAC, SHA-256,
 * AES-256-GCM, constant-time comparison, hex and base64 codecs, random bytes. Used by the ingress
 * (webhook verification), the migration runner (checksums) and the CLI. Pure CPU work; never
 * blocks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "xalloc.h"

/* The hash functions an HMAC (or an RSA signature) may use. */
enum crypto_hash {
	CRYPTO_HASH_SHA1,
	CRYPTO_HASH_SHA256,
	CRYPTO_HASH_SHA512,
	CRYPTO_HASH_SHA384,
	_CRYPTO_HASH_MAX,
};

#define CRYPTO_HMAC_MAX_SIZE   64 /* SHA-512 */
#define CRYPTO_SHA256_SIZE     32
#define CRYPTO_SHA256_HEX_SIZE 65 /* 64 lowercase hex digits and a NUL */

/* One piece of a message that is hashed as the concatenation of all pieces, in order.
 * Borrowed: data belongs to the caller and must live until the call returns. */
struct crypto_piece {
	const void *data;
	size_t len;
};

/* Size in bytes of the MAC the algorithm produces (20, 32, 48 or 64); 0 for an unknown
 * algorithm. */
size_t crypto_hmac_size(enum crypto_hash alg);

/* HMAC of the concatenation of pieces[0..n) under key, written to out, which must hold
 * CRYPTO_HMAC_MAX_SIZE bytes. Returns the MAC's length (crypto_hmac_size(alg): 20, 32 or 64),
 * -EINVAL for an unknown algorithm, or -ENOMEM when OpenSSL fails. */
int crypto_hmac(enum crypto_hash alg, const void *key, size_t keylen,
                const struct crypto_piece *pieces, size_t n,
                unsigned char out[static CRYPTO_HMAC_MAX_SIZE]) _warn_unused_result_;

/* SHA-256 of data: raw into out, or as lowercase hex (NUL-terminated) into out_hex.
 * Returns 0 or -ENOMEM when OpenSSL fails. */
int crypto_sha256(const void *data, size_t len,
                  unsigned char out[static CRYPTO_SHA256_SIZE]) _warn_unused_result_;
int crypto_sha256_hex(const void *data, size_t len,
                      char out_hex[static CRYPTO_SHA256_HEX_SIZE]) _warn_unused_result_;

/* Constant-time equality of two byte strings. Different lengths compare unequal, but the
 * content is still scanned: the running time depends on alen only, so pass the untrusted
 * value (e.g. the signature from the request) as a and the secret-derived one as b. */
bool crypto_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Encoders return a new NUL-terminated string the caller frees; they abort on OOM.
 * hex: lowercase. base64: RFC 4648 §4 with padding. base64url: RFC 4648 §5 without padding. */
char *crypto_hex_encode(const void *data, size_t len);
char *crypto_base64_encode(const void *data, size_t len);
char *crypto_base64url_encode(const void *data, size_t len);

/* Decoders read exactly len characters of s (no NUL needed) and on success set *ret to a new
 * buffer (NUL-terminated for convenience, not counted in *ret_len) the caller frees.
 * hex: upper or lower case, even length. base64: padding required. base64url: padding
 * optional. No whitespace is accepted, and non-zero unused trailing bits are rejected.
 * Returns 0 or -EBADMSG on invalid input; *ret and *ret_len are untouched on failure. */
int crypto_hex_decode(const char *s, size_t len, unsigned char **ret,
                      size_t *ret_len) _warn_unused_result_;
int crypto_base64_decode(const char *s, size_t len, unsigned char **ret,
                         size_t *ret_len) _warn_unused_result_;
int crypto_base64url_decode(const char *s, size_t len, unsigned char **ret,
                            size_t *ret_len) _warn_unused_result_;

/* The size in bits of the RSA public key in a "BEGIN PUBLIC KEY" PEM of len bytes (no NUL
 * needed), or -EINVAL when it holds no RSA public key. */
int crypto_rsa_public_key_bits(const char *pem, size_t len) _warn_unused_result_;

/* Whether sig (sig_len bytes) is the RSASSA-PKCS1-v1_5 signature (RS256/384/512 of JWS) of
 * msg under the RSA public key in pem ("BEGIN PUBLIC KEY", len bytes) with hash alg (SHA-256,
 * -384 or -512). OpenSSL 3 takes about 0.6 ms to decode a PEM and 25 us to verify, so the key
 * is decoded once and kept: the last 16 keys used, found again by their SHA-256 (not
 * thread-safe: every process here runs one thread). Returns 0 when it holds, -EACCES when it
 * does not, -EINVAL for another hash or a key that is not an RSA public key, -ENOMEM. */
int crypto_rsa_verify(enum crypto_hash alg, const char *pem, size_t len, const void *msg,
                      size_t msg_len, const unsigned char *sig,
                      size_t sig_len) _warn_unused_result_;

/* AES-256-GCM, for values kept encrypted at rest (secret_value). A sealed message is
 * nonce (12 bytes) | ciphertext (as long as the plaintext) | tag (16 bytes); aad is
 * authenticated, not encrypted. */
#define CRYPTO_AEAD_KEY_SIZE   32
#define CRYPTO_AEAD_NONCE_SIZE 12
#define CRYPTO_AEAD_TAG_SIZE   16
#define CRYPTO_AEAD_OVERHEAD   (CRYPTO_AEAD_NONCE_SIZE + CRYPTO_AEAD_TAG_SIZE)

/* Seal len bytes of plain under key with a fresh random nonce: *ret a new buffer of
 * len + CRYPTO_AEAD_OVERHEAD bytes. 0, -EIO (no randomness) or -ENOMEM (OpenSSL failed). */
int crypto_aead_seal(const unsigned char key[static CRYPTO_AEAD_KEY_SIZE], const void *aad,
                     size_t aad_len, const void *plain, size_t len, unsigned char **ret,
                     size_t *ret_len) _warn_unused_result_;
/* The same with the nonce given: for known-answer tests only (a nonce must never repeat
 * under one key). */
int crypto_aead_seal_with_nonce(const unsigned char key[static CRYPTO_AEAD_KEY_SIZE],
                                const unsigned char nonce[static CRYPTO_AEAD_NONCE_SIZE],
                                const void *aad, size_t aad_len, const void *plain, size_t len,
                                unsigned char **ret, size_t *ret_len) _warn_unused_result_;
/* Open a sealed message: *ret a new buffer (NUL-terminated, not counted) of the plaintext.
 * 0, -EBADMSG when it is too short or was not sealed under key with aad (altered, another
 * key), -ENOMEM. */
int crypto_aead_open(const unsigned char key[static CRYPTO_AEAD_KEY_SIZE], const void *aad,
                     size_t aad_len, const void *sealed, size_t len, unsigned char **ret,
                     size_t *ret_len) _warn_unused_result_;

/* Fill buf with len cryptographically strong random bytes.
 * Returns 0 or -EIO when the system's random generator fails. */
int crypto_random_bytes(void *buf, size_t len) _warn_unused_result_;
