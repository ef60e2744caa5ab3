/* jwt-bearer verification: pinned algorithm, key rotation, time and identity claims. */
#include "jwt_bearer.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "crypto.h"
#include "jws.h"
#include "xalloc.h"

#define JWT_BEARER_RSA_MIN_BITS 2048

/* One decoded key; the buffer is owned when the secret had to be decoded. */
struct jwt_key {
	const void *data;
	size_t len;
	unsigned char *owned;
};

/* The hash size of an HS* algorithm in bytes: its smallest key (RFC 7518 §3.2). */
static size_t hmac_min_key(enum jwt_algorithm a)
{
	switch (a) {
	case JWT_ALGORITHM_HS256:
		return 32;
	case JWT_ALGORITHM_HS384:
		return 48;
	default:
		return 64;
	}
}

/* The key bytes of one configured secret: an HS* secret decoded per jwt_secret_encoding
 * (base64, padded or not, standard or URL alphabet), an RS* PEM as it is. -EINVAL when it does
 * not decode. */
static int key_get(const struct source_config *src, const char *secret, struct jwt_key *ret)
{
	size_t n = strlen(secret);

	*ret = (struct jwt_key){.data = secret, .len = n};
	if (!jwt_algorithm_is_hmac(src->jwt_algorithm) ||
	    src->jwt_secret_encoding == JWT_SECRET_ENCODING_RAW)
		return 0;
	if (crypto_base64_decode(secret, n, &ret->owned, &ret->len) < 0 &&
	    crypto_base64url_decode(secret, n, &ret->owned, &ret->len) < 0)
		return -EINVAL;
	ret->data = ret->owned;
	return 0;
}

/* Wipe and free a decoded key. */
static void key_fini(struct jwt_key *k)
{
	if (k->owned) {
		explicit_bzero(k->owned, k->len);
		free(k->owned);
	}
	k->owned = NULL;
}

/* Why one configured key is unusable, or NULL. */
static const char *key_problem(const struct source_config *src, const char *secret)
{
	struct jwt_key k;
	const char *problem = NULL;
	int bits;

	if (!jwt_algorithm_is_hmac(src->jwt_algorithm)) {
		bits = crypto_rsa_public_key_bits(secret, strlen(secret));
		if (bits < 0)
			return "jwt-bearer RS* keys must be RSA public keys (BEGIN PUBLIC KEY) "
			       "from "
			       "jwt_public_key_file";
		return bits < JWT_BEARER_RSA_MIN_BITS ? "jwt-bearer RSA keys need 2048 bits or more"
		                                      : NULL;
	}
	if (strstr(secret, "-----BEGIN"))
		return "jwt-bearer HS* takes a shared secret, not a PEM key";
	if (key_get(src, secret, &k) < 0)
		return "jwt-bearer secret is not base64 (set jwt_secret_encoding = raw for a plain "
		       "secret)";
	if (k.len < hmac_min_key(src->jwt_algorithm))
		problem =
		    "jwt-bearer secret is shorter than its algorithm's hash (RFC 7518 3.2: 32 "
		    "bytes for HS256, 48 for HS384, 64 for HS512)";
	key_fini(&k);
	return problem;
}

/* Why src's jwt-bearer settings are unusable, or NULL. */
const char *jwt_bearer_source_problem(const struct source_config *src)
{
	const char *p = src->jwt_header_prefix;

	if ((unsigned)src->jwt_algorithm >= _JWT_ALGORITHM_MAX)
		return "unknown jwt algorithm";
	if ((unsigned)src->jwt_secret_encoding >= _JWT_SECRET_ENCODING_MAX)
		return "unknown jwt secret encoding";
	if (!p || !*p || strpbrk(p, " \t\r\n"))
		return "jwt_header_prefix must be one word, such as Bearer or JWT";
	if (src->jwt_leeway_s < 0)
		return "negative jwt leeway";
	for (size_t i = 0; i < src->n_secrets; i++) {
		const char *problem = key_problem(src, src->secrets[i]);

		if (problem)
			return problem;
	}
	return NULL;
}

/* An optional NumericDate claim (RFC 7519 §2: a JSON number, fractions allowed): *present
 * says whether it is there. -EBADMSG when it is not a finite number. */
static int claim_time(const json_t *payload, const char *name, double *ret, bool *present)
{
	const json_t *v = json_object_get(payload, name);

	*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_number(v) || !isfinite(json_number_value(v)))
		return -EBADMSG;
	*ret = json_number_value(v);
	return 0;
}

/* Check exp, nbf and iat against now_s with src's leeway. */
static const char *times_problem(const struct source_config *src, const json_t *payload,
                                 long long now_s)
{
	double exp = 0, nbf = 0, iat = 0, now = (double)now_s, skew = (double)src->jwt_leeway_s;
	bool has_exp, has_nbf, has_iat;

	if (claim_time(payload, "exp", &exp, &has_exp) < 0 ||
	    claim_time(payload, "nbf", &nbf, &has_nbf) < 0 ||
	    claim_time(payload, "iat", &iat, &has_iat) < 0)
		return "malformed_token";
	if (!has_exp && src->jwt_require_exp)
		return "token_missing_exp";
	/* RFC 7519 §4.1.4: the token must not be accepted on or after exp. */
	if (has_exp && now >= exp + skew)
		return "token_expired";
	if (has_nbf && now + skew < nbf)
		return "token_not_yet_valid";
	if (has_iat && iat > now + skew)
		return "token_issued_in_future";
	return NULL;
}

/* Whether claim is a string equal to want; -EBADMSG when it is there but not a string. */
static int claim_is(const json_t *payload, const char *name, const char *want, bool *ret)
{
	const json_t *v = json_object_get(payload, name);

	if (v && !json_is_string(v))
		return -EBADMSG;
	*ret = v && strcmp(json_string_value(v), want) == 0;
	return 0;
}

/* Whether aud (a string or an array of strings, RFC 7519 §4.1.3) holds want. */
static int audience_has(const json_t *payload, const char *want, bool *ret)
{
	const json_t *aud = json_object_get(payload, "aud");
	const json_t *v;
	size_t i;

	*ret = false;
	if (!aud || json_is_string(aud))
		return claim_is(payload, "aud", want, ret);
	if (!json_is_array(aud))
		return -EBADMSG;
	json_array_foreach (aud, i, v) {
		if (!json_is_string(v))
			return -EBADMSG;
		*ret |= strcmp(json_string_value(v), want) == 0;
	}
	return 0;
}

/* Check the identity claims that src requires, and the types of those it does not. */
static const char *identity_problem(const struct source_config *src, const json_t *payload)
{
	bool iss = true, aud = true, sub = true;

	if (claim_is(payload, "iss", src->jwt_issuer ? src->jwt_issuer : "", &iss) < 0 ||
	    audience_has(payload, src->jwt_audience ? src->jwt_audience : "", &aud) < 0 ||
	    claim_is(payload, "sub", src->jwt_subject ? src->jwt_subject : "", &sub) < 0)
		return "malformed_token";
	if (src->jwt_issuer && !iss)
		return "bad_issuer";
	if (src->jwt_audience && !aud)
		return "bad_audience";
	if (src->jwt_subject && !sub)
		return "bad_subject";
	return NULL;
}

/* Try the signature under every key (all of them, so the time taken does not say which one
 * matched); "alg_not_allowed" is decided before any key. */
static int signature_check(const struct source_config *src, const char *token, const json_t *header,
                           const char **ret_reason)
{
	const char *alg = jwt_algorithm_to_string(src->jwt_algorithm);
	const char *reason = "bad_signature";
	bool verified = false;

	for (size_t i = 0; i < src->n_secrets; i++) {
		struct jwt_key k;
		int r;

		if (key_get(src, src->secrets[i], &k) < 0)
			return -EINVAL;
		r = jws_verify(token, header, alg, k.data, k.len, &reason);
		key_fini(&k);
		if (r == -EINVAL)
			return r;
		if (r == -EACCES && strcmp(reason, "alg_not_allowed") == 0)
			break;
		verified |= r == 0;
	}
	if (verified)
		return 0;
	*ret_reason = strcmp(reason, "alg_not_allowed") == 0 ? "alg_not_allowed" : "bad_signature";
	return -EACCES;
}

/* Verify a token for src. */
int jwt_bearer_verify(const struct source_config *src, const char *token, size_t len,
                      long long now_s, const char **ret_reason)
{
	_cleanup_free_ char *copy = NULL;
	json_auto_t *header = NULL;
	json_auto_t *payload = NULL;
	const char *problem;
	int r;

	if (src->n_secrets == 0 || (unsigned)src->jwt_algorithm >= _JWT_ALGORITHM_MAX)
		return -EINVAL;
	if (len > JWS_TOKEN_MAX || memchr(token, '\0', len)) {
		*ret_reason = "malformed_token";
		return -EACCES;
	}
	copy = xstrndup(token, len);
	if (jws_decode(copy, &header, &payload) < 0) {
		*ret_reason = "malformed_token";
		return -EACCES;
	}
	r = signature_check(src, copy, header, ret_reason);
	if (r < 0)
		return r;
	problem = times_problem(src, payload, now_s);
	if (!problem)
		problem = identity_problem(src, payload);
	if (problem) {
		*ret_reason = problem;
		return -EACCES;
	}
	return 0;
}

/* Mint a token src accepts. */
char *jwt_bearer_mint(const struct source_config *src, const char *secret, const json_t *claims)
{
	const char *alg = jwt_algorithm_to_string(src->jwt_algorithm);
	struct jwt_key k;
	char *token = NULL;

	if (!alg || !secret || key_get(src, secret, &k) < 0)
		return NULL;
	if (jws_mint(alg, k.data, k.len, claims, &token) < 0)
		token = NULL;
	key_fini(&k);
	return token;
}
