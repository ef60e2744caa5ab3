/* Versori signing-key JWTs: RS256 minting and verification over libjwt. */
#include "signing_key.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>

#include "crypto.h"
#include "xalloc.h"

#define SIGNING_KEY_TOKEN_MAX     16384 /* longer tokens are refused before any decoding */
#define SIGNING_KEY_MIN_SIG_BYTES 256   /* an RS256 signature is as long as the modulus */
#define SIGNING_KEY_PEM_MAX       65536

struct signing_key {
	char *pem; /* secret: wiped on free */
	size_t len;
};

/* Free a libjwt object through a cleanup attribute. */
static inline void jwt_freep(jwt_t **p)
{
	jwt_free(*p);
}
#define _cleanup_jwt_ _cleanup_(jwt_freep)

/* Whether the n bytes at s contain needle (PEM text is not necessarily NUL-terminated). */
static bool mem_contains(const char *s, size_t n, const char *needle)
{
	return memmem(s, n, needle, strlen(needle)) != NULL;
}

/* Whether pem, after leading whitespace, opens with the PEM boundary line for label. */
static bool pem_starts_with(const char *pem, size_t len, const char *label)
{
	_cleanup_free_ char *line = xasprintf("-----BEGIN %s-----", label);
	size_t n = strlen(line);

	while (len > 0 && (*pem == ' ' || *pem == '\t' || *pem == '\r' || *pem == '\n')) {
		pem++;
		len--;
	}
	return len >= n && memcmp(pem, line, n) == 0;
}

/* A PEM OpenSSL can read without a passphrase prompt: it never contains an encrypted block,
 * since the default passphrase callback would read the terminal (and block). */
static bool pem_is_plain(const char *pem, size_t len)
{
	return len > 0 && len <= SIGNING_KEY_PEM_MAX && !memchr(pem, '\0', len) &&
	       !mem_contains(pem, len, "ENCRYPTED");
}

/* Number of signature bytes of a minted token: its third part decoded. */
static int token_signature_bytes(const char *token, size_t *ret)
{
	const char *dot = strrchr(token, '.');
	_cleanup_free_ unsigned char *sig = NULL;
	size_t n = 0;
	int r;

	if (!dot)
		return -EBADMSG;
	r = crypto_base64url_decode(dot + 1, strlen(dot + 1), &sig, &n);
	if (r < 0)
		return r;
	*ret = n;
	return 0;
}

/* Parse an RSA private key PEM; the key is checked by signing a probe token with it. */
int signing_key_new(const char *pem, size_t len, struct signing_key **ret)
{
	struct signing_key probe = {.pem = (char *)pem, .len = len};
	struct signing_key_claims c = {.iss = (char *)"probe", .iat = 1};
	_cleanup_free_ char *token = NULL;
	struct signing_key *k;
	size_t sig_bytes = 0;

	if (!pem || !pem_is_plain(pem, len))
		return -EINVAL;
	if (!pem_starts_with(pem, len, "PRIVATE KEY") &&
	    !pem_starts_with(pem, len, "RSA PRIVATE KEY"))
		return -EINVAL;
	if (signing_key_mint(&probe, &c, &token) < 0)
		return -EINVAL;
	if (token_signature_bytes(token, &sig_bytes) < 0 || sig_bytes < SIGNING_KEY_MIN_SIG_BYTES)
		return -EINVAL;

	k = xcalloc(1, sizeof(*k));
	k->pem = xmemdup(pem, len);
	k->len = len;
	*ret = k;
	return 0;
}

/* Wipe and free the key; takes NULL. */
void signing_key_free(struct signing_key *k)
{
	if (!k)
		return;
	explicit_bzero(k->pem, k->len);
	free(k->pem);
	free(k);
}

/* Add the non-zero claims of c to jwt; 0 or -ENOMEM/-EINVAL from libjwt. */
static int jwt_add_claims(jwt_t *jwt, const struct signing_key_claims *c)
{
	const struct {
		const char *name;
		int64_t value;
	} times[] = {{"iat", c->iat}, {"nbf", c->nbf}, {"exp", c->exp}};

	if (c->iss && jwt_add_grant(jwt, "iss", c->iss) != 0)
		return -EINVAL;
	if (c->sub && jwt_add_grant(jwt, "sub", c->sub) != 0)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(times); i++)
		if (times[i].value != 0 &&
		    jwt_add_grant_int(jwt, times[i].name, times[i].value) != 0)
			return -EINVAL;
	return 0;
}

/* Mint an RS256 token with header {"alg":"RS256","typ":"JWT"} and the claims of c. */
int signing_key_mint(const struct signing_key *k, const struct signing_key_claims *c, char **ret)
{
	_cleanup_jwt_ jwt_t *jwt = NULL;
	char *token;
	int r;

	if (!k || !c || k->len > INT32_MAX)
		return -EINVAL;
	if (jwt_new(&jwt) != 0)
		return -ENOMEM;
	r = jwt_add_claims(jwt, c);
	if (r < 0)
		return r;
	if (jwt_add_header(jwt, "typ", "JWT") != 0)
		return -ENOMEM;
	if (jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)k->pem, (int)k->len) != 0)
		return -EINVAL;
	token = jwt_encode_str(jwt);
	if (!token)
		return errno == ENOMEM ? -ENOMEM : -EINVAL;
	*ret = token;
	return 0;
}

/* The issuer claim for a key id. */
char *signing_key_issuer(const char *key_id)
{
	return xasprintf("%s%s", SIGNING_KEY_ISSUER_PREFIX, key_id);
}

/* The key id inside an issuer claim, borrowed, or NULL without the prefix or with nothing after. */
const char *signing_key_issuer_key_id(const char *iss)
{
	size_t n = strlen(SIGNING_KEY_ISSUER_PREFIX);

	if (!iss || strncmp(iss, SIGNING_KEY_ISSUER_PREFIX, n) != 0 || iss[n] == '\0')
		return NULL;
	return iss + n;
}

/* Decode one base64url JWT segment of n bytes into a JSON object; -EBADMSG otherwise. */
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

/* Split "<header>.<payload>.<signature>" and decode the first two parts. */
static int token_decode(const char *token, json_t **ret_header, json_t **ret_payload)
{
	const char *d1, *d2;
	json_t *h = NULL, *p = NULL;
	size_t len;

	if (!token)
		return -EBADMSG;
	len = strnlen(token, SIGNING_KEY_TOKEN_MAX + 1);
	if (len > SIGNING_KEY_TOKEN_MAX)
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

/* Read an optional string claim into *ret (new string, or NULL when absent). */
static int claim_string(const json_t *payload, const char *name, char **ret)
{
	const json_t *v = json_object_get(payload, name);

	if (!v) {
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return -EBADMSG;
	*ret = xstrdup(json_string_value(v));
	return 0;
}

/* Read an optional NumericDate claim: a positive integer (0 when absent). */
static int claim_time(const json_t *payload, const char *name, int64_t *ret)
{
	const json_t *v = json_object_get(payload, name);

	if (!v) {
		*ret = 0;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return -EBADMSG;
	*ret = (int64_t)json_integer_value(v);
	return 0;
}

/* Fill ret from a decoded payload; -EBADMSG when a claim has the wrong type. */
static int claims_from_payload(const json_t *payload, struct signing_key_claims *ret)
{
	struct signing_key_claims c = {};

	if (claim_string(payload, "iss", &c.iss) < 0 || claim_string(payload, "sub", &c.sub) < 0 ||
	    claim_time(payload, "iat", &c.iat) < 0 || claim_time(payload, "exp", &c.exp) < 0 ||
	    claim_time(payload, "nbf", &c.nbf) < 0) {
		signing_key_claims_fini(&c);
		return -EBADMSG;
	}
	*ret = c;
	return 0;
}

/* Read the claims of a token without checking its signature. */
int signing_key_peek(const char *token, struct signing_key_claims *ret)
{
	json_auto_t *header = NULL;
	json_auto_t *payload = NULL;
	int r;

	r = token_decode(token, &header, &payload);
	if (r < 0)
		return r;
	return claims_from_payload(payload, ret);
}

/* Check the signature with libjwt, refusing anything but RS256 before libjwt sees the token. */
static int token_signature_check(const char *token, const json_t *header, const char *public_pem,
                                 const char **ret_reason)
{
	const char *alg = json_string_value(json_object_get(header, "alg"));
	_cleanup_jwt_ jwt_t *jwt = NULL;

	/* Deciding on the header's alg ourselves closes "none" and HS256-with-the-public-key. */
	if (!alg || strcmp(alg, "RS256") != 0) {
		*ret_reason = "alg_not_rs256";
		return -EACCES;
	}
	if (jwt_decode(&jwt, token, (const unsigned char *)public_pem, (int)strlen(public_pem)) !=
	        0 ||
	    !jwt || jwt_get_alg(jwt) != JWT_ALG_RS256) {
		*ret_reason = "bad_signature";
		return -EACCES;
	}
	return 0;
}

/* Check exp and nbf of verified claims against now_s with leeway_s of skew. */
static int claims_time_check(const struct signing_key_claims *c, int64_t now_s, int64_t leeway_s,
                             const char **ret_reason)
{
	if (c->exp != 0 && now_s - leeway_s >= c->exp) {
		*ret_reason = "expired";
		return -EACCES;
	}
	if (c->nbf != 0 && now_s + leeway_s < c->nbf) {
		*ret_reason = "not_yet_valid";
		return -EACCES;
	}
	return 0;
}

/* Verify an RS256 token against a public key, then its time claims. */
int signing_key_verify(const char *token, const char *public_pem, int64_t now_s, int64_t leeway_s,
                       struct signing_key_claims *ret, const char **ret_reason)
{
	struct signing_key_claims c = {};
	json_auto_t *header = NULL;
	json_auto_t *payload = NULL;
	const char *reason = NULL;
	int r;

	if (!public_pem || !pem_is_plain(public_pem, strlen(public_pem)) ||
	    !pem_starts_with(public_pem, strlen(public_pem), "PUBLIC KEY"))
		return -EINVAL;
	r = token_decode(token, &header, &payload);
	if (r < 0)
		return r;
	r = claims_from_payload(payload, &c);
	if (r < 0)
		return r;
	r = token_signature_check(token, header, public_pem, &reason);
	if (r >= 0)
		r = claims_time_check(&c, now_s, leeway_s, &reason);
	if (r < 0) {
		signing_key_claims_fini(&c);
		if (ret_reason)
			*ret_reason = reason;
		return r;
	}
	*ret = c;
	return 0;
}

/* Free the strings of claims filled by peek or verify. */
void signing_key_claims_fini(struct signing_key_claims *c)
{
	if (!c)
		return;
	free(c->iss);
	free(c->sub);
	c->iss = c->sub = NULL;
}
