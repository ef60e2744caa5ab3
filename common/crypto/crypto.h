/* Cryptographic primitives over OpenSSL (the only module that includes it): HMAC, SHA-256,
 * constant-time comparison, hex and base64 codecs, random bytes. Used by the ingress (webhook
 * verification), the migration runner (checksums) and the CLI. Pure CPU work; never blocks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "xalloc.h"

/* The hash functions an HMAC may use. */
enum crypto_hash {
	CRYPTO_HASH_SHA1,
	CRYPTO_HASH_SHA256,
	CRYPTO_HASH_SHA512,
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

/* Size in bytes of the MAC the algorithm produces (20, 32 or 64); 0 for an unknown algorithm. */
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

/* Fill buf with len cryptographically strong random bytes.
 * Returns 0 or -EIO when the system's random generator fails. */
int crypto_random_bytes(void *buf, size_t len) _warn_unused_result_;
