/* Verification of inbound webhook requests: hmac, Standard Webhooks, api-key, bearer, basic. */
#include "webhook_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "http_tls.h"
#include "jwt_bearer.h"
#include "oauth2_token.h"
#include "xalloc.h"

#define R_MISSING_SIGNATURE           "missing_signature"
#define R_MALFORMED_SIGNATURE         "malformed_signature"
#define R_BAD_SIGNATURE               "bad_signature"
#define R_MISSING_MESSAGE_ID          "missing_message_id"
#define R_MISSING_TIMESTAMP           "missing_timestamp"
#define R_MALFORMED_TIMESTAMP         "malformed_timestamp"
#define R_TIMESTAMP_TOO_OLD           "timestamp_too_old"
#define R_TIMESTAMP_TOO_NEW           "timestamp_too_new"
#define R_MISSING_CREDENTIALS         "missing_credentials"
#define R_MALFORMED_CREDENTIALS       "malformed_credentials"
#define R_BAD_CREDENTIALS             "bad_credentials"
#define R_UNAUTHENTICATED_NOT_ALLOWED "unauthenticated_not_allowed"
#define R_SOURCE_MISCONFIGURED        "source_misconfigured"
#define R_INTERNAL_ERROR              "internal_error"

static const char *const webhook_auth_reason_list[] = {
    R_MISSING_SIGNATURE,    R_MALFORMED_SIGNATURE,
    R_BAD_SIGNATURE,        R_MISSING_MESSAGE_ID,
    R_MISSING_TIMESTAMP,    R_MALFORMED_TIMESTAMP,
    R_TIMESTAMP_TOO_OLD,    R_TIMESTAMP_TOO_NEW,
    R_MISSING_CREDENTIALS,  R_MALFORMED_CREDENTIALS,
    R_BAD_CREDENTIALS,      R_UNAUTHENTICATED_NOT_ALLOWED,
    R_SOURCE_MISCONFIGURED, R_INTERNAL_ERROR,
    JWT_BEARER_REASONS,     NULL,
};

/* Headers that carry credentials whatever the source's configuration. */
static const char *const always_secret_headers[] = {
    "authorization", "proxy-authorization", "cookie",
    "set-cookie",    "webhook-signature",   "svix-signature",
};

/* The HMAC keys to try, one per configured secret, and the buffers owning decoded ones. */
struct key_set {
	struct crypto_piece keys[SOURCE_MAX_SECRETS];
	unsigned char *owned[SOURCE_MAX_SECRETS];
	size_t n;
};

/* The expected MAC of one message under every key of a key_set. */
struct mac_set {
	unsigned char mac[SOURCE_MAX_SECRETS][CRYPTO_HMAC_MAX_SIZE];
	size_t len;
	size_t n;
};

/* The Standard Webhooks headers of one request, trimmed; NULL when absent or empty. */
struct standard_headers {
	const char *id, *ts, *sig;
	size_t id_len, ts_len, sig_len;
};

/* The failure reason codes, NULL-terminated. */
const char *const *webhook_auth_reasons(void)
{
	return webhook_auth_reason_list;
}

/* Record the reason and return r, so every verification step ends in one statement. */
static int verdict(const char **ret_reason, const char *reason, int r)
{
	*ret_reason = reason;
	return r;
}

/* A header's value with surrounding spaces and tabs trimmed; NULL when absent or empty. */
static const char *header_get(const struct http_req *req, const char *name, size_t *ret_len)
{
	const char *v = http_req_header(req, name);
	size_t len;

	if (!v)
		return NULL;
	v += strspn(v, " \t");
	len = strlen(v);
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	if (len == 0)
		return NULL;
	*ret_len = len;
	return v;
}

/* Free the decoded keys of a key_set. */
static void key_set_fini(struct key_set *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		free(ks->owned[i]);
	ks->n = 0;
}

/* Fill ks with the configured secrets used as keys byte for byte. */
static void key_set_raw(struct key_set *ks, const struct source_config *src)
{
	for (size_t i = 0; i < src->n_secrets; i++) {
		ks->keys[i] = (struct crypto_piece){src->secrets[i], strlen(src->secrets[i])};
		ks->owned[i] = NULL;
	}
	ks->n = src->n_secrets;
}

/* Decode a Standard Webhooks secret, "whsec_<base64>" or bare base64 with or without its
 * padding (as config.c accepts it), to a non-empty key. */
static int standard_key_decode(const char *secret, unsigned char **ret, size_t *ret_len)
{
	_cleanup_free_ char *padded = NULL;
	unsigned char *key = NULL;
	size_t n, len = 0;

	if (strncmp(secret, "whsec_", 6) == 0)
		secret += 6;
	n = strlen(secret);
	padded = xmalloc(n + 3);
	memcpy(padded, secret, n);
	while (n % 4 != 0)
		padded[n++] = '=';
	if (crypto_base64_decode(padded, n, &key, &len) < 0)
		return -EINVAL;
	if (len == 0) {
		free(key);
		return -EINVAL;
	}
	*ret = key;
	*ret_len = len;
	return 0;
}

/* Fill ks with the configured secrets decoded as Standard Webhooks keys. */
static int key_set_standard(struct key_set *ks, const struct source_config *src)
{
	for (size_t i = 0; i < src->n_secrets; i++) {
		unsigned char *key;
		size_t len;

		if (standard_key_decode(src->secrets[i], &key, &len) < 0)
			return -EINVAL;
		ks->owned[i] = key;
		ks->keys[i] = (struct crypto_piece){key, len};
		ks->n = i + 1;
	}
	return 0;
}

/* The hash function of a configured hmac algorithm; _CRYPTO_HASH_MAX for an unknown one. */
static enum crypto_hash hmac_hash(enum hmac_algorithm alg)
{
	switch (alg) {
	case HMAC_ALGORITHM_SHA1:
		return CRYPTO_HASH_SHA1;
	case HMAC_ALGORITHM_SHA256:
		return CRYPTO_HASH_SHA256;
	case HMAC_ALGORITHM_SHA512:
		return CRYPTO_HASH_SHA512;
	default:
		return _CRYPTO_HASH_MAX;
	}
}

/* Compute the MAC of the message under every key of ks. */
static int mac_set_compute(struct mac_set *ms, enum crypto_hash alg, const struct key_set *ks,
                           const struct crypto_piece *msg, size_t n_msg)
{
	ms->n = 0;
	ms->len = 0;
	for (size_t i = 0; i < ks->n; i++) {
		int r = crypto_hmac(alg, ks->keys[i].data, ks->keys[i].len, msg, n_msg, ms->mac[i]);

		if (r < 0)
			return r;
		ms->len = (size_t)r;
		ms->n = i + 1;
	}
	return 0;
}

/* Whether sig equals any MAC of the set; compares against all of them, in constant time. */
static bool mac_set_match(const struct mac_set *ms, const unsigned char *sig, size_t len)
{
	bool match = false;

	for (size_t i = 0; i < ms->n; i++)
		match |= crypto_equal(sig, len, ms->mac[i], ms->len);
	return match;
}

/* Whether value equals any configured secret; compares against all of them. */
static bool secrets_match(const struct source_config *src, const void *value, size_t len)
{
	bool match = false;

	for (size_t i = 0; i < src->n_secrets; i++)
		match |= crypto_equal(value, len, src->secrets[i], strlen(src->secrets[i]));
	return match;
}

/* Why src's hmac algorithm, inputs or encoding are unusable, or NULL when they are fine. */
static const char *hmac_params_problem(const struct source_config *src)
{
	if ((unsigned)src->hmac_algorithm >= _HMAC_ALGORITHM_MAX)
		return "unknown hmac algorithm";
	if ((unsigned)src->hmac_encoding >= _SIG_ENCODING_MAX)
		return "unknown signature encoding";
	if (src->n_hmac_inputs == 0 || src->n_hmac_inputs > SOURCE_MAX_SIG_INPUTS)
		return "hmac needs one or two signed inputs";
	for (size_t i = 0; i < src->n_hmac_inputs; i++)
		if ((unsigned)src->hmac_inputs[i] >= _SIG_INPUT_MAX)
			return "unknown hmac input";
	return NULL;
}

/* Why src's auth settings are unusable, or NULL; standard-webhooks keys are not decoded. */
static const char *source_problem(const struct source_config *src)
{
	if ((unsigned)src->auth >= _AUTH_SCHEME_MAX)
		return "unknown auth scheme";
	if (src->auth == AUTH_SCHEME_NONE)
		return NULL;
	if (src->auth == AUTH_SCHEME_CERTIFICATE)
		return src->certificate_ca_file ? NULL : "certificate needs certificate_ca_file";
	if (src->n_secrets == 0)
		return "no secret configured";
	if (src->n_secrets > SOURCE_MAX_SECRETS)
		return "too many secrets";
	for (size_t i = 0; i < src->n_secrets; i++)
		if (!src->secrets[i] || !src->secrets[i][0])
			return "empty secret";
	if (src->auth == AUTH_SCHEME_HMAC) {
		if (!src->signature_header && !src->signature_query)
			return "hmac needs signature_header or signature_query";
		return hmac_params_problem(src);
	}
	if (src->auth == AUTH_SCHEME_API_KEY && !src->api_key_header && !src->api_key_query &&
	    !src->api_key_cookie)
		return "api-key needs api_key_header, api_key_query or api_key_cookie";
	if (src->auth == AUTH_SCHEME_STANDARD_WEBHOOKS && src->tolerance_s < 0)
		return "negative timestamp tolerance";
	if (src->auth == AUTH_SCHEME_JWT_BEARER &&
	    ((unsigned)src->jwt_algorithm >= _JWT_ALGORITHM_MAX || !src->jwt_header_prefix))
		return "jwt-bearer needs jwt_algorithm and jwt_header_prefix";
	return NULL;
}

/* Check that src's auth settings are usable, decoding standard-webhooks secrets too. */
int webhook_auth_source_check(const struct source_config *src, const char **ret_problem)
{
	const char *problem = source_problem(src);

	if (!problem && src->auth == AUTH_SCHEME_STANDARD_WEBHOOKS) {
		_cleanup_(key_set_fini) struct key_set ks = {};

		if (key_set_standard(&ks, src) < 0)
			problem = "standard-webhooks secret is not whsec_<base64>";
	}
	if (!problem && src->auth == AUTH_SCHEME_JWT_BEARER)
		problem = jwt_bearer_source_problem(src);
	if (!problem && src->auth == AUTH_SCHEME_OAUTH2)
		problem = oauth2_source_problem(src);
	if (!problem && src->auth == AUTH_SCHEME_CERTIFICATE &&
	    http_tls_ca_load(src->certificate_ca_file, &problem) < 0 && !problem)
		problem = "certificate_ca_file cannot be loaded";
	if (!problem)
		return 0;
	if (ret_problem)
		*ret_problem = problem;
	return -EINVAL;
}

/* The URI as the sender signed it: uri without any `param` query parameter (nor a '?' left
 * with nothing after it), as a new string; param NULL copies uri. */
static char *signed_url(const char *uri, const char *param)
{
	const char *q = strchr(uri, '?'), *cursor;
	struct http_query_param qp;
	size_t nl, o;
	bool first = true;
	char *out;

	if (!q || !param)
		return xstrdup(uri);
	nl = strlen(param);
	out = xmalloc(strlen(uri) + 1);
	o = (size_t)(q - uri);
	memcpy(out, uri, o);
	for (cursor = q + 1; http_query_next(&cursor, &qp);) {
		if (qp.name_len == nl && memcmp(qp.name, param, nl) == 0)
			continue;
		out[o++] = first ? '?' : '&';
		memcpy(out + o, qp.name, qp.len);
		o += qp.len;
		first = false;
	}
	out[o] = '\0';
	return out;
}

/* Whether a query parameter's name, as written or percent/plus-decoded, is name. */
static bool query_name_is(const struct http_query_param *qp, const char *name)
{
	size_t nl = strlen(name), dl;
	_cleanup_free_ char *decoded = NULL;

	if (qp->name_len == nl && memcmp(qp->name, name, nl) == 0)
		return true;
	if (!memchr(qp->name, '%', qp->name_len) && !memchr(qp->name, '+', qp->name_len))
		return false;
	decoded = http_query_decode(qp->name, qp->name_len, &dl);
	return dl == nl && memcmp(decoded, name, nl) == 0;
}

/* Whether a query parameter carries src's credential or signature. */
static bool query_param_is_secret(const struct source_config *src,
                                  const struct http_query_param *qp)
{
	return (src->api_key_query && query_name_is(qp, src->api_key_query)) ||
	       (src->signature_query && query_name_is(qp, src->signature_query));
}

/* uri with the value of every query parameter that carries src's credential or signature
 * replaced by "********". */
char *webhook_auth_uri_redact(const struct source_config *src, const char *uri)
{
	const char *q = strchr(uri, '?'), *cursor;
	struct http_query_param qp;
	size_t o;
	char *out;

	if (!q || (!src->api_key_query && !src->signature_query))
		return xstrdup(uri);
	/* A masked value is at most 8 bytes longer than an empty one: room for all of them. */
	out = xmalloc(strlen(uri) * 9 + 9);
	o = (size_t)(q - uri) + 1;
	memcpy(out, uri, o);
	for (cursor = q + 1; http_query_next(&cursor, &qp);) {
		bool secret = query_param_is_secret(src, &qp);

		memcpy(out + o, qp.name, secret ? qp.name_len : qp.len);
		o += secret ? qp.name_len : qp.len;
		if (secret && qp.value) {
			memcpy(out + o, "=" WEBHOOK_AUTH_MASK, strlen(WEBHOOK_AUTH_MASK) + 1);
			o += strlen(WEBHOOK_AUTH_MASK) + 1;
		}
		if (cursor)
			out[o++] = '&';
	}
	out[o] = '\0';
	return out;
}

/* Point msg at the inputs the hmac scheme signs, in the configured order; returns how many. */
static size_t hmac_message(const struct source_config *src, const char *url, const void *body,
                           size_t len, struct crypto_piece *msg)
{
	for (size_t i = 0; i < src->n_hmac_inputs; i++)
		msg[i] = src->hmac_inputs[i] == SIG_INPUT_BODY
		             ? (struct crypto_piece){body, len}
		             : (struct crypto_piece){url, strlen(url)};
	return src->n_hmac_inputs;
}

/* The hmac signature from the configured header or query parameter; NULL when absent or
 * empty. A query value is percent-decoded into a new string stored in *ret_owned. */
static const char *hmac_signature_find(const struct source_config *src, const struct http_req *req,
                                       char **ret_owned, size_t *ret_len)
{
	char *q;

	if (src->signature_header)
		return header_get(req, src->signature_header, ret_len);
	q = http_req_query_param(req, src->signature_query, ret_len);
	if (!q)
		return NULL;
	*ret_owned = q;
	/* A '+' the sender forgot to escape decodes to ' ', which base64 never contains. A decoded
	 * NUL stays inside the length, so no encoding decodes it. */
	if (src->hmac_encoding == SIG_ENCODING_BASE64)
		for (size_t i = 0; i < *ret_len; i++)
			if (q[i] == ' ')
				q[i] = '+';
	return *ret_len > 0 ? q : NULL;
}

/* Strip the configured prefix (case-insensitive) and decode the signature to raw bytes. */
static int hmac_signature_decode(const struct source_config *src, const char *s, size_t len,
                                 unsigned char **ret, size_t *ret_len)
{
	const char *prefix = src->signature_prefix ? src->signature_prefix : "";
	size_t pl = strlen(prefix);

	if (len < pl || strncasecmp(s, prefix, pl) != 0)
		return -EBADMSG;
	s += pl;
	len -= pl;
	switch (src->hmac_encoding) {
	case SIG_ENCODING_HEX:
		return crypto_hex_decode(s, len, ret, ret_len);
	case SIG_ENCODING_BASE64:
		return crypto_base64_decode(s, len, ret, ret_len);
	case SIG_ENCODING_BASE64URL:
		return crypto_base64url_decode(s, len, ret, ret_len);
	default:
		return -EINVAL;
	}
}

/* Verify the hmac scheme: the configured inputs, signed with any secret, give the signature. */
static int verify_hmac(const struct source_config *src, const struct http_req *req,
                       const char **ret_reason)
{
	_cleanup_free_ char *owned_value = NULL, *url = NULL;
	_cleanup_free_ unsigned char *sig = NULL;
	struct crypto_piece msg[SOURCE_MAX_SIG_INPUTS];
	struct key_set ks;
	struct mac_set ms;
	const char *value;
	size_t value_len = 0, sig_len = 0, n_msg;

	value = hmac_signature_find(src, req, &owned_value, &value_len);
	if (!value)
		return verdict(ret_reason, R_MISSING_SIGNATURE, -EACCES);
	if (hmac_signature_decode(src, value, value_len, &sig, &sig_len) < 0 ||
	    sig_len != crypto_hmac_size(hmac_hash(src->hmac_algorithm)))
		return verdict(ret_reason, R_MALFORMED_SIGNATURE, -EACCES);

	url = signed_url(req->uri ? req->uri : "",
	                 src->signature_header ? NULL : src->signature_query);
	n_msg = hmac_message(src, url, req->body, req->body_len, msg);
	key_set_raw(&ks, src);
	if (mac_set_compute(&ms, hmac_hash(src->hmac_algorithm), &ks, msg, n_msg) < 0)
		return verdict(ret_reason, R_INTERNAL_ERROR, -ENOMEM);
	if (!mac_set_match(&ms, sig, sig_len))
		return verdict(ret_reason, R_BAD_SIGNATURE, -EACCES);
	return verdict(ret_reason, "hmac", 0);
}

/* Find the webhook-* headers, or the svix-* ones when no webhook-* header is present. */
static void standard_headers_find(const struct http_req *req, struct standard_headers *h)
{
	static const char *const names[2][3] = {
	    {"webhook-id", "webhook-timestamp", "webhook-signature"},
	    {"svix-id", "svix-timestamp", "svix-signature"},
	};

	for (size_t set = 0; set < ELEMENTSOF(names); set++) {
		h->id = header_get(req, names[set][0], &h->id_len);
		h->ts = header_get(req, names[set][1], &h->ts_len);
		h->sig = header_get(req, names[set][2], &h->sig_len);
		if (h->id || h->ts || h->sig)
			return;
	}
}

/* The message id the Standard Webhooks verifier reads. */
const char *webhook_auth_message_id(const struct http_req *req, size_t *ret_len)
{
	struct standard_headers h = {0};

	standard_headers_find(req, &h);
	*ret_len = h.id_len;
	return h.id;
}

/* Parse a timestamp of 1 to 18 decimal digits (no sign, no spaces). */
static int timestamp_parse(const char *s, size_t len, long long *ret)
{
	long long v = 0;

	if (len == 0 || len > 18)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

/* Why ts is outside [now - tolerance, now + tolerance], or NULL when inside; no overflow. */
static const char *timestamp_problem(long long ts, long long now, long long tolerance)
{
	unsigned long long tol = tolerance > 0 ? (unsigned long long)tolerance : 0;

	if (ts < now && (unsigned long long)now - (unsigned long long)ts > tol)
		return R_TIMESTAMP_TOO_OLD;
	if (ts > now && (unsigned long long)ts - (unsigned long long)now > tol)
		return R_TIMESTAMP_TOO_NEW;
	return NULL;
}

/* The expected HMAC-SHA256 of "<id>.<ts>.<body>" under every key of ks. The timestamp is
 * signed as re-formatted from its value, as the reference libraries do. */
static int standard_macs(struct mac_set *ms, const struct key_set *ks, struct crypto_piece id,
                         long long ts, struct crypto_piece body)
{
	char ts_str[24];
	int n = snprintf(ts_str, sizeof(ts_str), "%lld", ts);
	const struct crypto_piece msg[] = {
	    id, {".", 1}, {ts_str, (size_t)n}, {".", 1}, body,
	};

	return mac_set_compute(ms, CRYPTO_HASH_SHA256, ks, msg, ELEMENTSOF(msg));
}

/* Check every "v1,<base64>" entry of a space-separated list against every MAC; returns the
 * failure reason, or NULL when some entry matches. Other versions are ignored. */
static const char *standard_signatures_problem(const char *list, size_t len,
                                               const struct mac_set *ms)
{
	bool any_v1 = false, match = false;

	for (size_t i = 0, end; i < len; i = end + 1) {
		_cleanup_free_ unsigned char *sig = NULL;
		size_t sig_len = 0;

		for (end = i; end < len && list[end] != ' ';)
			end++;
		if (end - i <= 3 || memcmp(list + i, "v1,", 3) != 0)
			continue;
		if (crypto_base64_decode(list + i + 3, end - i - 3, &sig, &sig_len) < 0)
			continue;
		any_v1 = true;
		match |= mac_set_match(ms, sig, sig_len);
	}
	if (match)
		return NULL;
	return any_v1 ? R_BAD_SIGNATURE : R_MALFORMED_SIGNATURE;
}

/* Verify the Standard Webhooks scheme: headers present, timestamp in the window, a v1 match. */
static int verify_standard(const struct source_config *src, const struct http_req *req,
                           long long now_s, const char **ret_reason)
{
	_cleanup_(key_set_fini) struct key_set ks = {};
	struct standard_headers h = {};
	struct mac_set ms;
	const char *problem;
	long long ts;

	if (key_set_standard(&ks, src) < 0)
		return verdict(ret_reason, R_SOURCE_MISCONFIGURED, -EINVAL);
	standard_headers_find(req, &h);
	if (!h.sig)
		return verdict(ret_reason, R_MISSING_SIGNATURE, -EACCES);
	if (!h.id)
		return verdict(ret_reason, R_MISSING_MESSAGE_ID, -EACCES);
	if (!h.ts)
		return verdict(ret_reason, R_MISSING_TIMESTAMP, -EACCES);
	if (timestamp_parse(h.ts, h.ts_len, &ts) < 0)
		return verdict(ret_reason, R_MALFORMED_TIMESTAMP, -EACCES);
	problem = timestamp_problem(ts, now_s, src->tolerance_s);
	if (problem)
		return verdict(ret_reason, problem, -EACCES);

	if (standard_macs(&ms, &ks, (struct crypto_piece){h.id, h.id_len}, ts,
	                  (struct crypto_piece){req->body, req->body_len}) < 0)
		return verdict(ret_reason, R_INTERNAL_ERROR, -ENOMEM);
	problem = standard_signatures_problem(h.sig, h.sig_len, &ms);
	if (problem)
		return verdict(ret_reason, problem, -EACCES);
	return verdict(ret_reason, "standard-webhooks", 0);
}

/* The value of cookie name in the request's Cookie header (RFC 6265 §5.4: "a=1; b=2"; a
 * value in double quotes loses them): *ret_len bytes at the result, NULL when absent. A
 * name given twice, or a second Cookie header, is ambiguous: *ret_ambiguous, NULL. */
static const char *cookie_get(const struct http_req *req, const char *name, size_t *ret_len,
                              bool *ret_ambiguous)
{
	size_t n = strlen(name), headers = 0;
	const char *found = NULL, *v = NULL;

	*ret_ambiguous = false;
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, "cookie") == 0 && headers++ == 0)
			v = req->headers[i].value;
	if (headers > 1) {
		*ret_ambiguous = true;
		return NULL;
	}
	for (const char *p = v; p && *p;) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		while (len > 0 && (*p == ' ' || *p == '\t'))
			p++, len--;
		if (len > n && memcmp(p, name, n) == 0 && p[n] == '=') {
			const char *val = p + n + 1;
			size_t vlen = len - n - 1;

			while (vlen > 0 && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
				vlen--;
			if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"')
				val++, vlen -= 2;
			if (found) {
				*ret_ambiguous = true;
				return NULL;
			}
			found = val;
			*ret_len = vlen;
		}
		p = end ? end + 1 : NULL;
	}
	return found;
}

/* Verify the api-key scheme: the key from the header, query parameter or cookie is a
 * secret. */
static int verify_api_key(const struct source_config *src, const struct http_req *req,
                          const char **ret_reason)
{
	_cleanup_free_ char *owned = NULL;
	const char *key;
	size_t len = 0;
	bool ambiguous = false;

	if (src->api_key_cookie) {
		key = cookie_get(req, src->api_key_cookie, &len, &ambiguous);
		if (ambiguous)
			return verdict(ret_reason, R_MALFORMED_CREDENTIALS, -EACCES);
	} else if (src->api_key_header) {
		key = header_get(req, src->api_key_header, &len);
	} else {
		/* The decoded length: a key followed by "%00junk" is not the key. */
		owned = http_req_query_param(req, src->api_key_query, &len);
		key = owned;
	}
	if (!key || len == 0)
		return verdict(ret_reason, R_MISSING_CREDENTIALS, -EACCES);
	if (!secrets_match(src, key, len))
		return verdict(ret_reason, R_BAD_CREDENTIALS, -EACCES);
	return verdict(ret_reason, "api-key", 0);
}

/* The credentials of an Authorization header of this scheme (case-insensitive); NULL when
 * absent or of another scheme, *ret_len 0 when the scheme name stands alone. */
static const char *authorization_credentials(const struct http_req *req, const char *scheme,
                                             size_t *ret_len)
{
	size_t sl = strlen(scheme), len = 0;
	const char *v = header_get(req, "authorization", &len);

	if (!v || len < sl || strncasecmp(v, scheme, sl) != 0)
		return NULL;
	if (len > sl && v[sl] != ' ' && v[sl] != '\t')
		return NULL;
	v += sl;
	len -= sl;
	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	*ret_len = len;
	return v;
}

/* Verify the bearer scheme: "Authorization: Bearer <token>" with a configured token. */
static int verify_bearer(const struct source_config *src, const struct http_req *req,
                         const char **ret_reason)
{
	size_t len = 0;
	const char *token = authorization_credentials(req, "bearer", &len);

	if (!token)
		return verdict(ret_reason, R_MISSING_CREDENTIALS, -EACCES);
	if (len == 0)
		return verdict(ret_reason, R_MALFORMED_CREDENTIALS, -EACCES);
	if (!secrets_match(src, token, len))
		return verdict(ret_reason, R_BAD_CREDENTIALS, -EACCES);
	return verdict(ret_reason, "bearer", 0);
}

/* Verify the basic scheme: "Authorization: Basic base64(user:password)" with a configured
 * "user:password". */
static int verify_basic(const struct source_config *src, const struct http_req *req,
                        const char **ret_reason)
{
	_cleanup_free_ unsigned char *pair = NULL;
	size_t len = 0, pair_len = 0;
	const char *creds = authorization_credentials(req, "basic", &len);

	if (!creds)
		return verdict(ret_reason, R_MISSING_CREDENTIALS, -EACCES);
	if (crypto_base64_decode(creds, len, &pair, &pair_len) < 0 || !memchr(pair, ':', pair_len))
		return verdict(ret_reason, R_MALFORMED_CREDENTIALS, -EACCES);
	if (!secrets_match(src, pair, pair_len))
		return verdict(ret_reason, R_BAD_CREDENTIALS, -EACCES);
	return verdict(ret_reason, "basic", 0);
}

/* Verify the jwt-bearer scheme: "Authorization: <jwt_header_prefix> <JWT>". */
static int verify_jwt_bearer(const struct source_config *src, const struct http_req *req,
                             long long now_s, const char **ret_reason)
{
	size_t len = 0;
	const char *token = authorization_credentials(req, src->jwt_header_prefix, &len);
	const char *reason = R_INTERNAL_ERROR;
	int r;

	if (!token)
		return verdict(ret_reason, R_MISSING_CREDENTIALS, -EACCES);
	if (len == 0)
		return verdict(ret_reason, R_MALFORMED_CREDENTIALS, -EACCES);
	r = jwt_bearer_verify(src, token, len, now_s, &reason);
	if (r == -EINVAL)
		return verdict(ret_reason, R_SOURCE_MISCONFIGURED, r);
	if (r < 0)
		return verdict(ret_reason, reason, r);
	return verdict(ret_reason, "jwt-bearer", 0);
}

/* Verify the oauth2 scheme: "Authorization: Bearer <token from POST /oauth/token>". */
static int verify_oauth2(const struct source_config *src, const struct http_req *req,
                         long long now_s, const char **ret_reason)
{
	size_t len = 0;
	const char *token = authorization_credentials(req, "bearer", &len);
	const char *reason = R_INTERNAL_ERROR;
	int r;

	if (!token)
		return verdict(ret_reason, R_MISSING_CREDENTIALS, -EACCES);
	if (len == 0)
		return verdict(ret_reason, R_MALFORMED_CREDENTIALS, -EACCES);
	r = oauth2_token_verify(src, token, len, now_s, &reason);
	if (r < 0)
		return verdict(ret_reason, reason, r);
	return verdict(ret_reason, "oauth2", 0);
}

/* Verify the certificate scheme: the TLS client certificate chains to the source's CAs. */
static int verify_certificate(const struct source_config *src, const struct http_req *req,
                              const char **ret_reason)
{
	const char *reason = R_INTERNAL_ERROR;
	int r = http_tls_client_verify(req->tls, src->certificate_ca_file, src->certificate_subject,
	                               &reason);

	if (r == -EINVAL)
		return verdict(ret_reason, R_SOURCE_MISCONFIGURED, r);
	if (r == -ENOMEM)
		return verdict(ret_reason, R_INTERNAL_ERROR, r);
	if (r < 0)
		return verdict(ret_reason, reason, r);
	return verdict(ret_reason, "certificate", 0);
}

/* Verify req against its source's auth scheme at time now_s. */
int webhook_auth_verify(const struct source_config *src, const struct http_req *req,
                        long long now_s, const char **ret_reason)
{
	if (source_problem(src))
		return verdict(ret_reason, R_SOURCE_MISCONFIGURED, -EINVAL);

	switch (src->auth) {
	case AUTH_SCHEME_NONE:
		if (!src->allow_unauthenticated)
			return verdict(ret_reason, R_UNAUTHENTICATED_NOT_ALLOWED, -EACCES);
		return verdict(ret_reason, "none", 0);
	case AUTH_SCHEME_HMAC:
		return verify_hmac(src, req, ret_reason);
	case AUTH_SCHEME_STANDARD_WEBHOOKS:
		return verify_standard(src, req, now_s, ret_reason);
	case AUTH_SCHEME_API_KEY:
		return verify_api_key(src, req, ret_reason);
	case AUTH_SCHEME_BEARER:
		return verify_bearer(src, req, ret_reason);
	case AUTH_SCHEME_BASIC:
		return verify_basic(src, req, ret_reason);
	case AUTH_SCHEME_JWT_BEARER:
		return verify_jwt_bearer(src, req, now_s, ret_reason);
	case AUTH_SCHEME_OAUTH2:
		return verify_oauth2(src, req, now_s, ret_reason);
	case AUTH_SCHEME_CERTIFICATE:
		return verify_certificate(src, req, ret_reason);
	default:
		return verdict(ret_reason, R_SOURCE_MISCONFIGURED, -EINVAL);
	}
}

/* Whether a header carries credentials and so must never be stored or logged. */
bool webhook_auth_header_is_secret(const struct source_config *src, const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(always_secret_headers); i++)
		if (strcasecmp(name, always_secret_headers[i]) == 0)
			return true;
	if (!src)
		return false;
	if (src->signature_header && strcasecmp(name, src->signature_header) == 0)
		return true;
	return src->api_key_header && strcasecmp(name, src->api_key_header) == 0;
}

/* Encode a raw MAC the way the hmac scheme's configuration says, as a new string. */
static char *signature_encode(enum sig_encoding enc, const unsigned char *mac, size_t len)
{
	switch (enc) {
	case SIG_ENCODING_BASE64:
		return crypto_base64_encode(mac, len);
	case SIG_ENCODING_BASE64URL:
		return crypto_base64url_encode(mac, len);
	case SIG_ENCODING_HEX:
	default:
		return crypto_hex_encode(mac, len);
	}
}

/* The prefixed, encoded hmac signature a sender would attach for this uri and body. */
char *webhook_auth_sign_hmac(const struct source_config *src, const char *secret, const char *uri,
                             const void *body, size_t len)
{
	_cleanup_free_ char *url = NULL, *enc = NULL;
	struct crypto_piece msg[SOURCE_MAX_SIG_INPUTS];
	unsigned char mac[CRYPTO_HMAC_MAX_SIZE];
	size_t n_msg;
	int r;

	if (!secret || hmac_params_problem(src))
		return NULL;
	url = signed_url(uri ? uri : "", src->signature_header ? NULL : src->signature_query);
	n_msg = hmac_message(src, url, body, len, msg);
	r = crypto_hmac(hmac_hash(src->hmac_algorithm), secret, strlen(secret), msg, n_msg, mac);
	if (r < 0)
		return NULL;
	enc = signature_encode(src->hmac_encoding, mac, (size_t)r);
	return xasprintf("%s%s", src->signature_prefix ? src->signature_prefix : "", enc);
}

/* The Standard Webhooks "v1,<base64>" signature of one message. */
char *webhook_auth_sign_standard(const char *whsec_secret, const char *msg_id, long long ts,
                                 const void *body, size_t len)
{
	_cleanup_(key_set_fini) struct key_set ks = {};
	_cleanup_free_ char *enc = NULL;
	struct mac_set ms;
	unsigned char *key;
	size_t key_len;

	if (!whsec_secret || !msg_id || standard_key_decode(whsec_secret, &key, &key_len) < 0)
		return NULL;
	ks.owned[0] = key;
	ks.keys[0] = (struct crypto_piece){key, key_len};
	ks.n = 1;
	if (standard_macs(&ms, &ks, (struct crypto_piece){msg_id, strlen(msg_id)}, ts,
	                  (struct crypto_piece){body, len}) < 0)
		return NULL;
	enc = crypto_base64_encode(ms.mac[0], ms.len);
	return xasprintf("v1,%s", enc);
}
