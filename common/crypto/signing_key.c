/* Versori signing-key JWTs: RS256 minting and verification over the jws module. */
#include "signing_key.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "crypto.h"
#include "jws.h"
#include "xalloc.h"

#define SIGNING_KEY_MIN_SIG_BYTES 256 /* an RS256 signature is as long as the modulus */
#define SIGNING_KEY_PEM_MAX       65536

struct signing_key {
	char *pem; /* secret: wiped on free */
	size_t len;
};

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

/* The non-zero claims of c as a JSON object (a new reference), NULL on OOM. */
static json_t *claims_json(const struct signing_key_claims *c)
{
	const struct {
		const char *name;
		int64_t value;
	} times[] = {{"iat", c->iat}, {"nbf", c->nbf}, {"exp", c->exp}};
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (c->iss && json_object_set_new(o, "iss", json_string(c->iss)) < 0)
		goto fail;
	if (c->sub && json_object_set_new(o, "sub", json_string(c->sub)) < 0)
		goto fail;
	for (size_t i = 0; i < ELEMENTSOF(times); i++)
		if (times[i].value != 0 &&
		    json_object_set_new(o, times[i].name, json_integer(times[i].value)) < 0)
			goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* Mint an RS256 token with header {"alg":"RS256","typ":"JWT"} and the claims of c. */
int signing_key_mint(const struct signing_key *k, const struct signing_key_claims *c, char **ret)
{
	json_auto_t *claims = NULL;

	if (!k || !c)
		return -EINVAL;
	claims = claims_json(c);
	if (!claims)
		return -ENOMEM;
	return jws_mint("RS256", k->pem, k->len, claims, ret);
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

	r = jws_decode(token, &header, &payload);
	if (r < 0)
		return r;
	return claims_from_payload(payload, ret);
}

/* Check the signature as RS256, whatever the header says ("alg_not_rs256" when it names
 * another algorithm). */
static int token_signature_check(const char *token, const json_t *header, const char *public_pem,
                                 const char **ret_reason)
{
	int r = jws_verify(token, header, "RS256", public_pem, strlen(public_pem), ret_reason);

	if (r == -EINVAL) {
		*ret_reason = "bad_signature";
		return -EACCES;
	}
	if (r == -EACCES && strcmp(*ret_reason, "alg_not_allowed") == 0)
		*ret_reason = "alg_not_rs256";
	return r;
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
	r = jws_decode(token, &header, &payload);
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
