/* The client credentials grant's clients and access tokens for oauth2 sources. */
#include "oauth2_token.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "crypto.h"
#include "jws.h"
#include "xalloc.h"

#define TOKEN_KEY_LABEL "hookrun oauth2 access token v1"
#define TOKEN_ISSUER    "hookrun"

/* The client id of a "client_id:client_secret" secret, and where its secret starts; false
 * when there is no ':'. */
static bool client_split(const char *pair, size_t *ret_id_len, const char **ret_secret)
{
	const char *colon = strchr(pair, ':');

	if (!colon)
		return false;
	*ret_id_len = (size_t)(colon - pair);
	*ret_secret = colon + 1;
	return true;
}

/* Whether the id is printable ASCII without ':' or spaces. */
static bool client_id_ok(const char *id, size_t len)
{
	if (len == 0 || len > 128)
		return false;
	for (size_t i = 0; i < len; i++)
		if (id[i] <= ' ' || id[i] > '~' || id[i] == ':')
			return false;
	return true;
}

/* Why src's clients are unusable, or NULL. */
const char *oauth2_source_problem(const struct source_config *src)
{
	for (size_t i = 0; i < src->n_secrets; i++) {
		const char *secret;
		size_t id_len;

		if (!client_split(src->secrets[i], &id_len, &secret) ||
		    !client_id_ok(src->secrets[i], id_len))
			return "oauth2 secrets are client_id:client_secret, the id printable ASCII "
			       "without ':' or spaces";
		if (strlen(secret) < OAUTH2_CLIENT_SECRET_MIN)
			return "an oauth2 client secret needs at least 16 characters";
	}
	return NULL;
}

/* Find the client among every oauth2 source, comparing them all. */
const struct source_config *oauth2_client_authenticate(const struct source_config *sources,
                                                       size_t n, const char *id, size_t id_len,
                                                       const char *secret, size_t secret_len,
                                                       size_t *ret_index)
{
	const struct source_config *found = NULL;

	for (size_t s = 0; s < n; s++) {
		if (sources[s].auth != AUTH_SCHEME_OAUTH2)
			continue;
		for (size_t i = 0; i < sources[s].n_secrets; i++) {
			const char *pair = sources[s].secrets[i], *their_secret;
			size_t their_id_len;
			bool match;

			if (!client_split(pair, &their_id_len, &their_secret))
				continue;
			match = crypto_equal(id, id_len, pair, their_id_len);
			match &=
			    crypto_equal(secret, secret_len, their_secret, strlen(their_secret));
			if (match && !found) {
				found = &sources[s];
				*ret_index = i;
			}
		}
	}
	return found;
}

/* The signing key of a client's tokens: HMAC-SHA256 of the label under its secret. */
static int token_key(const char *pair, unsigned char key[static CRYPTO_HMAC_MAX_SIZE])
{
	const char *secret;
	size_t id_len;
	struct crypto_piece label = {TOKEN_KEY_LABEL, strlen(TOKEN_KEY_LABEL)};

	if (!client_split(pair, &id_len, &secret))
		return -EINVAL;
	return crypto_hmac(CRYPTO_HASH_SHA256, secret, strlen(secret), &label, 1, key);
}

/* Issue an access token for one client of src. */
char *oauth2_token_issue(const struct source_config *src, size_t index, long long now_s)
{
	unsigned char key[CRYPTO_HMAC_MAX_SIZE], jti[16];
	_cleanup_free_ char *jti_hex = NULL;
	const char *pair, *secret;
	json_auto_t *claims = NULL;
	char *token = NULL;
	size_t id_len;
	int n;

	if (index >= src->n_secrets)
		return NULL;
	pair = src->secrets[index];
	if (!client_split(pair, &id_len, &secret) || crypto_random_bytes(jti, sizeof(jti)) < 0)
		return NULL;
	n = token_key(pair, key);
	if (n < 0)
		return NULL;
	jti_hex = crypto_hex_encode(jti, sizeof(jti));
	claims = json_pack("{s:s, s:s, s:s%, s:I, s:I, s:s}", "iss", TOKEN_ISSUER, "aud", src->name,
	                   "sub", pair, id_len, "iat", (json_int_t)now_s, "exp",
	                   (json_int_t)(now_s + src->oauth2_token_lifetime_s), "jti", jti_hex);
	if (!claims || jws_mint("HS256", key, (size_t)n, claims, &token) < 0)
		token = NULL;
	explicit_bzero(key, sizeof(key));
	return token;
}

/* Try the token's signature under the key of every secret of src for its client. */
static bool token_signed(const struct source_config *src, const char *token, const json_t *header,
                         const char *client)
{
	bool ok = false;

	for (size_t i = 0; i < src->n_secrets; i++) {
		unsigned char key[CRYPTO_HMAC_MAX_SIZE];
		const char *reason = NULL, *secret;
		size_t id_len;
		int n;

		if (!client_split(src->secrets[i], &id_len, &secret) || strlen(client) != id_len ||
		    memcmp(client, src->secrets[i], id_len) != 0)
			continue;
		n = token_key(src->secrets[i], key);
		ok |= n > 0 && jws_verify(token, header, "HS256", key, (size_t)n, &reason) == 0;
		explicit_bzero(key, sizeof(key));
	}
	return ok;
}

/* Verify an access token for src. */
int oauth2_token_verify(const struct source_config *src, const char *token, size_t len,
                        long long now_s, const char **ret_reason)
{
	_cleanup_free_ char *copy = NULL;
	json_auto_t *header = NULL;
	json_auto_t *payload = NULL;
	const char *alg, *aud, *sub;
	const json_t *exp;

	*ret_reason = "malformed_token";
	if (len > JWS_TOKEN_MAX || memchr(token, '\0', len))
		return -EACCES;
	copy = xstrndup(token, len);
	if (jws_decode(copy, &header, &payload) < 0)
		return -EACCES;
	alg = json_string_value(json_object_get(header, "alg"));
	aud = json_string_value(json_object_get(payload, "aud"));
	sub = json_string_value(json_object_get(payload, "sub"));
	exp = json_object_get(payload, "exp");
	if (!alg || strcmp(alg, "HS256") != 0) {
		*ret_reason = "alg_not_allowed";
		return -EACCES;
	}
	if (!aud || !sub || !json_is_number(exp) || !isfinite(json_number_value(exp)))
		return -EACCES;
	if (strcmp(aud, src->name) != 0) {
		*ret_reason = "bad_audience";
		return -EACCES;
	}
	if (!token_signed(src, copy, header, sub)) {
		*ret_reason = "bad_signature";
		return -EACCES;
	}
	/* No leeway: the token comes from this clock (or a peer's), and a refused one is
	 * replaced at once by the client (RFC 6750 §3.1: invalid_token). */
	if ((double)now_s >= json_number_value(exp)) {
		*ret_reason = "token_expired";
		return -EACCES;
	}
	return 0;
}
