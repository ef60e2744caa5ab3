/* Compact JWS over libjwt: decoding, verification under a pinned algorithm, minting. */
#include "jws.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <jwt.h>

#include "crypto.h"
#include "xalloc.h"

/* Free a libjwt object through a cleanup attribute. */
static inline void jwt_freep(jwt_t **p)
{
	jwt_free(*p);
}
#define _cleanup_jwt_ _cleanup_(jwt_freep)

/* libjwt's number for a JOSE algorithm name, or JWT_ALG_INVAL for "none" and the unknown. */
static jwt_alg_t alg_of(const char *name)
{
	jwt_alg_t a = name ? jwt_str_alg(name) : JWT_ALG_INVAL;

	return a == JWT_ALG_NONE ? JWT_ALG_INVAL : a;
}

/* Decode one base64url segment of n bytes into a JSON object; -EBADMSG otherwise. */
static int segment_decode(const char *s, size_t n, json_t **ret)
{
	_cleanup_free_ unsigned char *raw = NULL;
	size_t raw_len = 0;
	json_t *v;

	if (n == 0 || crypto_base64url_decode(s, n, &raw, &raw_len) < 0)
		return -EBADMSG;
	v = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
	if (!v)
		return -EBADMSG;
	if (!json_is_object(v)) {
		json_decref(v);
		return -EBADMSG;
	}
	*ret = v;
	return 0;
}

/* Split a compact token and decode its header and payload. */
int jws_decode(const char *token, json_t **ret_header, json_t **ret_payload)
{
	const char *d1, *d2;
	json_t *h = NULL, *p = NULL;
	size_t len;

	if (!token)
		return -EBADMSG;
	len = strnlen(token, JWS_TOKEN_MAX + 1);
	if (len > JWS_TOKEN_MAX)
		return -EBADMSG;
	d1 = strchr(token, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d2 || strchr(d2 + 1, '.'))
		return -EBADMSG;
	if (segment_decode(token, (size_t)(d1 - token), &h) < 0)
		return -EBADMSG;
	if (segment_decode(d1 + 1, (size_t)(d2 - d1 - 1), &p) < 0) {
		json_decref(h);
		return -EBADMSG;
	}
	*ret_header = h;
	*ret_payload = p;
	return 0;
}

/* The hash of an RS* algorithm, or -EINVAL for the others. */
static int rsa_hash(jwt_alg_t a, enum crypto_hash *ret)
{
	switch (a) {
	case JWT_ALG_RS256:
		*ret = CRYPTO_HASH_SHA256;
		return 0;
	case JWT_ALG_RS384:
		*ret = CRYPTO_HASH_SHA384;
		return 0;
	case JWT_ALG_RS512:
		*ret = CRYPTO_HASH_SHA512;
		return 0;
	default:
		return -EINVAL;
	}
}

/* RS*: the signature over "<header>.<payload>" under the public key, decoded once (crypto). */
static int rsa_check(const char *token, enum crypto_hash hash, const void *key, size_t key_len)
{
	const char *dot = strrchr(token, '.');
	_cleanup_free_ unsigned char *sig = NULL;
	size_t sig_len = 0;
	int r;

	if (!dot || crypto_base64url_decode(dot + 1, strlen(dot + 1), &sig, &sig_len) < 0)
		return -EACCES;
	r = crypto_rsa_verify(hash, key, key_len, token, (size_t)(dot - token), sig, sig_len);
	return r == -ENOMEM ? r : (r < 0 ? -EACCES : 0);
}

/* Check the signature, refusing any algorithm but alg before any key is used. */
int jws_verify(const char *token, const json_t *header, const char *alg, const void *key,
               size_t key_len, const char **ret_reason)
{
	const char *named = json_string_value(json_object_get(header, "alg"));
	jwt_alg_t want = alg_of(alg);
	_cleanup_jwt_ jwt_t *jwt = NULL;
	enum crypto_hash hash;
	int r;

	if (want == JWT_ALG_INVAL || !key || key_len == 0 || key_len > INT32_MAX)
		return -EINVAL;
	/* Deciding on the header's alg ourselves closes "none" and HS256 keyed with an RSA public
	 * key: libjwt would follow the header. */
	if (!named || strcmp(named, alg) != 0) {
		*ret_reason = "alg_not_allowed";
		return -EACCES;
	}
	if (rsa_hash(want, &hash) == 0) {
		r = rsa_check(token, hash, key, key_len);
		if (r == -EACCES)
			*ret_reason = "bad_signature";
		return r;
	}
	if (jwt_decode(&jwt, token, key, (int)key_len) != 0 || !jwt || jwt_get_alg(jwt) != want) {
		*ret_reason = "bad_signature";
		return -EACCES;
	}
	return 0;
}

/* Mint a token of claims under alg and key. */
int jws_mint(const char *alg, const void *key, size_t key_len, const json_t *claims, char **ret)
{
	jwt_alg_t a = alg_of(alg);
	_cleanup_jwt_ jwt_t *jwt = NULL;
	_cleanup_free_ char *text = NULL;
	char *token;

	if (a == JWT_ALG_INVAL || !key || key_len == 0 || key_len > INT32_MAX ||
	    !json_is_object(claims))
		return -EINVAL;
	if (jwt_new(&jwt) != 0)
		return -ENOMEM;
	text = json_dumps(claims, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	if (json_object_size(claims) > 0 && jwt_add_grants_json(jwt, text) != 0)
		return -EINVAL;
	if (jwt_add_header(jwt, "typ", "JWT") != 0)
		return -ENOMEM;
	if (jwt_set_alg(jwt, a, key, (int)key_len) != 0)
		return -EINVAL;
	token = jwt_encode_str(jwt);
	if (!token)
		return errno == ENOMEM ? -ENOMEM : -EINVAL;
	*ret = token;
	return 0;
}
