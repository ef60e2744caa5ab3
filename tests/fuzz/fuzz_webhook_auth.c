/* libFuzzer target for webhook_auth_verify. The input is a flags byte, then '\n'-separated
 * fields (URI, X-Signature, id, timestamp, signature list, Authorization, X-Api-Key, Cookie) and
 * the body (the rest, any bytes). Each request is verified against one source of every scheme, and
 * signatures made by the signing helpers must verify on the fuzzed URI, body and id; the URI is
 * also redacted for the sources that carry a credential in the query. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http_req.h"
#include "webhook_auth.h"
#include "xalloc.h"

#define MUT(s)     ((char *)(s))
#define NOW        1614265330LL
#define SW_SECRET  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_SECRET2 "whsec_YSBicmFuZCBuZXcga2V5IGZvciByb3RhdGlvbiEhISE="

enum {
	FIELD_URI,
	FIELD_SIGNATURE,
	FIELD_ID,
	FIELD_TIMESTAMP,
	FIELD_SIGNATURE_LIST,
	FIELD_AUTHORIZATION,
	FIELD_API_KEY,
	FIELD_COOKIE,
	N_FIELDS,
};

/* One fuzzed request: the copied input split into fields, and the request over them. */
struct fuzz_req {
	char *copy;
	const char *field[N_FIELDS];
	struct http_header headers[N_FIELDS];
	struct http_req req;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The sources every input is verified against: every scheme, and hmac in several shapes. */
static const struct source_config sources[] = {
    {.name = MUT("hmac-sha256-hex"),
     .auth = AUTH_SCHEME_HMAC,
     .secrets = {MUT("topsecret"), MUT("oldsecret")},
     .n_secrets = 2,
     .hmac_algorithm = HMAC_ALGORITHM_SHA256,
     .hmac_inputs = {SIG_INPUT_BODY},
     .n_hmac_inputs = 1,
     .hmac_encoding = SIG_ENCODING_HEX,
     .signature_header = MUT("X-Signature"),
     .signature_prefix = MUT("sha256=")},
    {.name = MUT("hmac-sha1-b64-query"),
     .auth = AUTH_SCHEME_HMAC,
     .secrets = {MUT("topsecret")},
     .n_secrets = 1,
     .hmac_algorithm = HMAC_ALGORITHM_SHA1,
     .hmac_inputs = {SIG_INPUT_URL, SIG_INPUT_BODY},
     .n_hmac_inputs = 2,
     .hmac_encoding = SIG_ENCODING_BASE64,
     .signature_query = MUT("sig")},
    {.name = MUT("hmac-sha512-b64url"),
     .auth = AUTH_SCHEME_HMAC,
     .secrets = {MUT("topsecret")},
     .n_secrets = 1,
     .hmac_algorithm = HMAC_ALGORITHM_SHA512,
     .hmac_inputs = {SIG_INPUT_BODY, SIG_INPUT_URL},
     .n_hmac_inputs = 2,
     .hmac_encoding = SIG_ENCODING_BASE64URL,
     .signature_header = MUT("X-Signature")},
    {.name = MUT("standard"),
     .auth = AUTH_SCHEME_STANDARD_WEBHOOKS,
     .secrets = {MUT(SW_SECRET), MUT(SW_SECRET2)},
     .n_secrets = 2,
     .tolerance_s = 300},
    {.name = MUT("api-key-header"),
     .auth = AUTH_SCHEME_API_KEY,
     .secrets = {MUT("k-new"), MUT("k-old")},
     .n_secrets = 2,
     .api_key_header = MUT("X-Api-Key")},
    {.name = MUT("api-key-query"),
     .auth = AUTH_SCHEME_API_KEY,
     .secrets = {MUT("k-new")},
     .n_secrets = 1,
     .api_key_query = MUT("key")},
    {.name = MUT("api-key-cookie"),
     .auth = AUTH_SCHEME_API_KEY,
     .secrets = {MUT("k-new")},
     .n_secrets = 1,
     .api_key_cookie = MUT("hk")},
    {.name = MUT("bearer"), .auth = AUTH_SCHEME_BEARER, .secrets = {MUT("tok")}, .n_secrets = 1},
    {.name = MUT("basic"),
     .auth = AUTH_SCHEME_BASIC,
     .secrets = {MUT("alice:wonderland")},
     .n_secrets = 1},
    {.name = MUT("open"), .auth = AUTH_SCHEME_NONE, .allow_unauthenticated = true},
    {.name = MUT("closed"), .auth = AUTH_SCHEME_NONE},
};

/* Split the input into fields and a body, and build the request over them. */
static void fuzz_req_init(struct fuzz_req *f, const uint8_t *data, size_t size)
{
	static const char *const names[2][N_FIELDS] = {
	    {NULL, "X-Signature", "webhook-id", "webhook-timestamp", "webhook-signature",
	     "Authorization", "X-Api-Key", "Cookie"},
	    {NULL, "X-Signature", "svix-id", "svix-timestamp", "svix-signature", "Authorization",
	     "X-Api-Key", "Cookie"},
	};
	bool svix = size > 0 && (data[0] & 1);
	size_t n = size > 0 ? size - 1 : 0;
	char *p, *end;

	memset(f, 0, sizeof(*f));
	f->copy = xmalloc(n + 1);
	if (n > 0)
		memcpy(f->copy, data + 1, n);
	f->copy[n] = '\0';
	p = f->copy;
	end = f->copy + n;
	for (size_t i = 0; i < N_FIELDS && p < end; i++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));

		f->field[i] = p;
		if (!nl) {
			p = end;
			break;
		}
		*nl = '\0';
		p = nl + 1;
	}
	f->req.method = HTTP_METHOD_POST;
	f->req.uri = f->field[FIELD_URI] ? f->field[FIELD_URI] : "/";
	f->req.path = f->req.uri;
	f->req.query = strchr(f->req.uri, '?') ? strchr(f->req.uri, '?') + 1 : NULL;
	f->req.headers = f->headers;
	for (size_t i = FIELD_SIGNATURE; i < N_FIELDS; i++)
		if (f->field[i])
			f->headers[f->req.n_headers++] =
			    (struct http_header){names[svix][i], f->field[i]};
	f->req.body = (const unsigned char *)p;
	f->req.body_len = (size_t)(end - p);
}

/* Whether reason is a published failure reason. */
static bool reason_listed(const char *reason)
{
	for (const char *const *r = webhook_auth_reasons(); *r; r++)
		if (strcmp(*r, reason) == 0)
			return true;
	return false;
}

/* Verify against one source; the sources are valid, so only 0 or -EACCES may come back. */
static int verify_checked(const struct source_config *src, const struct http_req *req)
{
	const char *reason = NULL;
	int r = webhook_auth_verify(src, req, NOW, &reason);

	if (!reason || (r != 0 && r != -EACCES) || (r < 0 && !reason_listed(reason)))
		__builtin_trap();
	return r;
}

/* A header-carried hmac signature made for the fuzzed URI and body must verify. */
static void roundtrip_hmac_header(const struct fuzz_req *f, const struct source_config *src)
{
	_cleanup_free_ char *sig =
	    webhook_auth_sign_hmac(src, "topsecret", f->req.uri, f->req.body, f->req.body_len);
	struct http_header h;
	struct http_req req = f->req;

	if (!sig)
		__builtin_trap();
	h = (struct http_header){src->signature_header, sig};
	req.headers = &h;
	req.n_headers = 1;
	if (verify_checked(src, &req) != 0)
		__builtin_trap();
}

/* Percent-encode everything but unreserved characters, as a new string. */
static char *pct_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(3 * strlen(s) + 1), *o = out;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    strchr("-._~", c)) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* A query-carried hmac signature appended to the fuzzed URI must verify, unless the URI
 * already has a parameter of that name (which would be read first). */
static void roundtrip_hmac_query(const struct fuzz_req *f, const struct source_config *src)
{
	size_t existing_len;
	_cleanup_free_ char *existing =
	    http_req_query_param(&f->req, src->signature_query, &existing_len);
	_cleanup_free_ char *sig = NULL, *enc = NULL, *uri = NULL;
	struct http_req req = f->req;

	if (existing || strchr(f->req.uri, '#'))
		return;
	sig = webhook_auth_sign_hmac(src, "topsecret", f->req.uri, f->req.body, f->req.body_len);
	if (!sig)
		__builtin_trap();
	enc = pct_encode(sig);
	uri = xasprintf("%s%s%s=%s", f->req.uri, strchr(f->req.uri, '?') ? "&" : "?",
	                src->signature_query, enc);
	req.uri = uri;
	req.query = strchr(uri, '?') + 1;
	req.n_headers = 0;
	if (verify_checked(src, &req) != 0)
		__builtin_trap();
}

/* A Standard Webhooks signature for the fuzzed id and body must verify. */
static void roundtrip_standard(const struct fuzz_req *f, const struct source_config *src)
{
	const char *id = f->field[FIELD_ID];
	size_t len = id ? strlen(id) : 0;
	_cleanup_free_ char *sig = NULL;
	struct http_header h[3];
	struct http_req req = f->req;

	/* Header values are trimmed on reading, so only ids without edge blanks round-trip. */
	if (len == 0 || strchr(" \t", id[0]) || strchr(" \t", id[len - 1]))
		return;
	sig = webhook_auth_sign_standard(SW_SECRET2, id, NOW - 7, f->req.body, f->req.body_len);
	if (!sig)
		__builtin_trap();
	h[0] = (struct http_header){"webhook-id", id};
	h[1] = (struct http_header){"webhook-timestamp", "1614265323"};
	h[2] = (struct http_header){"webhook-signature", sig};
	req.headers = h;
	req.n_headers = ELEMENTSOF(h);
	if (verify_checked(src, &req) != 0)
		__builtin_trap();
}

/* Verify one fuzzed request against every source, then check the signing round trips. */
/* The stored URI of a query-credential source: every parameter whose name (as written, or
 * decoded) is the credential's has its value masked; nothing else changes, and a URI without
 * a '?' comes back as it was. The masked value of each such parameter is exactly the mask. */
static void check_uri_redact(const struct source_config *src, const char *uri)
{
	_cleanup_free_ char *out = webhook_auth_uri_redact(src, uri);
	const char *q = strchr(uri, '?'), *oq = strchr(out, '?');
	struct http_req in = {.query = q ? q + 1 : NULL}, red = {.query = oq ? oq + 1 : NULL};
	const char *name = src->api_key_query ? src->api_key_query : src->signature_query;
	size_t len, rlen;
	_cleanup_free_ char *v = http_req_query_param(&in, name, &len);
	_cleanup_free_ char *rv = http_req_query_param(&red, name, &rlen);

	if (!q) {
		if (strcmp(out, uri) != 0)
			__builtin_trap();
		return;
	}
	if ((size_t)(q - uri) != (size_t)(oq - out) || memcmp(uri, out, (size_t)(q - uri)) != 0)
		__builtin_trap(); /* the path is kept */
	if ((v != NULL) != (rv != NULL))
		__builtin_trap(); /* the parameter is still there, or still absent */
	/* The first such parameter now reads as the mask, or as "" when it had no '=' at all. */
	if (rv && *rv && strcmp(rv, WEBHOOK_AUTH_MASK) != 0)
		__builtin_trap();
	if (rv && !*rv && *v)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_req f;

	fuzz_req_init(&f, data, size);
	for (size_t i = 0; i < ELEMENTSOF(sources); i++)
		(void)verify_checked(&sources[i], &f.req);
	for (size_t i = 0; i < ELEMENTSOF(sources) && f.field[FIELD_SIGNATURE]; i++)
		(void)webhook_auth_header_is_secret(&sources[i], f.field[FIELD_SIGNATURE]);

	roundtrip_hmac_header(&f, &sources[0]);
	roundtrip_hmac_header(&f, &sources[2]);
	roundtrip_hmac_query(&f, &sources[1]);
	roundtrip_standard(&f, &sources[3]);
	for (size_t i = 0; i < ELEMENTSOF(sources) && f.field[FIELD_URI]; i++)
		if (sources[i].api_key_query || sources[i].signature_query)
			check_uri_redact(&sources[i], f.field[FIELD_URI]);
	free(f.copy);
	return 0;
}
