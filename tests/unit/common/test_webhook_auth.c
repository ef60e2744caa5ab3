/* Unit tests for common/webhook_auth: every scheme against known vectors computed with the
 * openssl CLI (never with the code under test), the Standard Webhooks specification example,
 * negative cases with their reason codes, secret headers and the reason vocabulary. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "http_req.h"
#include "jwt_bearer.h"
#include "webhook_auth.h"
#include "xalloc.h"

/* struct source_config holds char * it never writes through; literals are cast to fit. */
#define MUT(s) ((char *)(s))

/* The Standard Webhooks specification's example (also used by the Svix libraries' tests). */
#define SW_SECRET    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID        "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS        "1614265330"
#define SW_NOW       1614265330LL
#define SW_BODY      "{\"test\": 2432232314}"
#define SW_SIG       "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
/* A second key ("a brand new key for rotation!!!!") and the example signed with it:
 * printf %s "$content" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY -binary | base64 */
#define SW_SECRET2   "whsec_YSBicmFuZCBuZXcga2V5IGZvciByb3RhdGlvbiEhISE="
#define SW_SIG2      "v1,8lhFI/d7mV4sM4ztMz2H1OPWrWTYlxWfasGjFZ+dvw4="
#define SW_TOLERANCE 300

/* The hmac matrix: key, body and URL (the request URI as signed). */
#define HM_KEY  "It's a Secret to Everybody"
#define HM_BODY "Hello, World!"
#define HM_URI  "/hooks/gh?team=a%20b&x=1"

/* One hmac known answer: printf %s "$msg" | openssl dgst -$alg -hmac "$HM_KEY" -binary, shown
 * as hex (xxd -p), base64 (base64 -w0) and base64url (tr '+/' '-_' | tr -d =). */
struct hmac_vector {
	enum hmac_algorithm alg;
	const char *prefix;
	enum sig_input inputs[SOURCE_MAX_SIG_INPUTS];
	size_t n_inputs;
	const char *hex, *b64, *b64url;
};

#define BODY_ONLY {SIG_INPUT_BODY}, 1
#define URL_ONLY  {SIG_INPUT_URL}, 1
#define URL_BODY  {SIG_INPUT_URL, SIG_INPUT_BODY}, 2
#define BODY_URL  {SIG_INPUT_BODY, SIG_INPUT_URL}, 2

static const struct hmac_vector hmac_vectors[] = {
    {HMAC_ALGORITHM_SHA1, "sha1=", BODY_ONLY, "01dc10d0c83e72ed246219cdd91669667fe2ca59",
     "AdwQ0Mg+cu0kYhnN2RZpZn/iylk=", "AdwQ0Mg-cu0kYhnN2RZpZn_iylk"},
    {HMAC_ALGORITHM_SHA1, "sha1=", URL_ONLY, "47ce8694787d4e627595be8c0db7f5bea4560abd",
     "R86GlHh9TmJ1lb6MDbf1vqRWCr0=", "R86GlHh9TmJ1lb6MDbf1vqRWCr0"},
    {HMAC_ALGORITHM_SHA1, "sha1=", URL_BODY, "d6d463d499c70b49a5c79ada008abb030d48a15e",
     "1tRj1JnHC0mlx5raAIq7Aw1IoV4=", "1tRj1JnHC0mlx5raAIq7Aw1IoV4"},
    {HMAC_ALGORITHM_SHA1, "sha1=", BODY_URL, "a7e1adc16f42a12424843377a0aabb80977346c9",
     "p+GtwW9CoSQkhDN3oKq7gJdzRsk=", "p-GtwW9CoSQkhDN3oKq7gJdzRsk"},
    /* The body-only SHA-256 value is also GitHub's documented X-Hub-Signature-256 example. */
    {HMAC_ALGORITHM_SHA256, "sha256=", BODY_ONLY,
     "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
     "dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc=", "dXEH6g6yUJ_CESIczphLijdXC211hsIsRvQ3nIsEPhc"},
    {HMAC_ALGORITHM_SHA256, "sha256=", URL_ONLY,
     "812ddd23cd76c906ec2f6ecceee023efdd0d8ca285d2d937a3c12393a7627224",
     "gS3dI812yQbsL27M7uAj790NjKKF0tk3o8Ejk6diciQ=", "gS3dI812yQbsL27M7uAj790NjKKF0tk3o8Ejk6diciQ"},
    {HMAC_ALGORITHM_SHA256, "sha256=", URL_BODY,
     "ac1df820459f66b7a46d399991d9ee85d7413bfe40e05f3e4820b998829a343c",
     "rB34IEWfZrekbTmZkdnuhddBO/5A4F8+SCC5mIKaNDw=", "rB34IEWfZrekbTmZkdnuhddBO_5A4F8-SCC5mIKaNDw"},
    {HMAC_ALGORITHM_SHA256, "sha256=", BODY_URL,
     "d8babd41611dabc3e8170b991956db521473f95f448ace287a8184f672d48d33",
     "2Lq9QWEdq8PoFwuZGVbbUhRz+V9Eis4oeoGE9nLUjTM=", "2Lq9QWEdq8PoFwuZGVbbUhRz-V9Eis4oeoGE9nLUjTM"},
    {HMAC_ALGORITHM_SHA512, "sha512=", BODY_ONLY,
     "11ed355a617e98134e842012a7944ccf59c10256cb182357bd7e3a42013ff07c"
     "376f8c14cf5cc1923da20b51d64256b2fb8ebbf100aa67a61326f61fea8111bc",
     "Ee01WmF+mBNOhCASp5RMz1nBAlbLGCNXvX46QgE/8Hw3b4wUz1zBkj2iC1HWQlay+4678QCqZ6YTJvYf6oERvA==",
     "Ee01WmF-mBNOhCASp5RMz1nBAlbLGCNXvX46QgE_8Hw3b4wUz1zBkj2iC1HWQlay-4678QCqZ6YTJvYf6oERvA"},
    {HMAC_ALGORITHM_SHA512, "sha512=", URL_ONLY,
     "c2f5b0457d947628845c9e3038a5d157b8ddabb215b9054ebbce040738f29c17"
     "d4c72428a61ffc4e031a600b212401b38849bfcd7e51fae817cc668ad8a6bd4a",
     "wvWwRX2UdiiEXJ4wOKXRV7jdq7IVuQVOu84EBzjynBfUxyQoph/8TgMaYAshJAGziEm/zX5R+ugXzGaK2Ka9Sg==",
     "wvWwRX2UdiiEXJ4wOKXRV7jdq7IVuQVOu84EBzjynBfUxyQoph_8TgMaYAshJAGziEm_zX5R-ugXzGaK2Ka9Sg"},
    {HMAC_ALGORITHM_SHA512, "sha512=", URL_BODY,
     "3622dfc6648fb6f7b175a582c5ac636768ede7799a752b00b339ce4af68a5d33"
     "0ab639326ace0ff38d5b9b242487f514d9c0e00a9de9927fabd79c7f7071f566",
     "NiLfxmSPtvexdaWCxaxjZ2jt53madSsAsznOSvaKXTMKtjkyas4P841bmyQkh/UU2cDgCp3pkn+r15x/cHH1Zg==",
     "NiLfxmSPtvexdaWCxaxjZ2jt53madSsAsznOSvaKXTMKtjkyas4P841bmyQkh_UU2cDgCp3pkn-r15x_cHH1Zg"},
    {HMAC_ALGORITHM_SHA512, "sha512=", BODY_URL,
     "ee12aafa9d77cd1eaadc1cce6f16199215c3ef88b462c0e5854b5659bc6565d1"
     "b45b1d1f663e592527e9b87892b5fe70a89c0aa745f7e2f0e8575b40af46fc1b",
     "7hKq+p13zR6q3BzObxYZkhXD74i0YsDlhUtWWbxlZdG0Wx0fZj5ZJSfpuHiStf5wqJwKp0X34vDoV1tAr0b8Gw==",
     "7hKq-p13zR6q3BzObxYZkhXD74i0YsDlhUtWWbxlZdG0Wx0fZj5ZJSfpuHiStf5wqJwKp0X34vDoV1tAr0b8Gw"},
};

/* HMAC-SHA256 of "/hooks/gh" under HM_KEY, hex: the URL once an only query parameter goes. */
#define HM_SHA256_PATH_ONLY  "fd4e2f43b3bb0bba0398cc7aefd5b3364766e2d0ae94f0d4614200b2efcd43db"
/* HMAC-SHA256 of "/hooks/gh?abc=1&sig2=x&x=1" under HM_KEY, hex: parameters that only look
 * like the signature one (same length, same prefix) stay in the signed URL. */
#define HM_SHA256_LOOKALIKES "b250cace72ae5a8600112e5bb886718e197c22d37552e71bd79764275bb73499"
/* HMAC-SHA256 of HM_BODY under "old-secret", hex. */
#define HM_SHA256_OLD_SECRET "e7f4750c1d0580871565739b45147585cd7f2622003135f604ae5d6aac8f9577"

/* A request built by hand: the http_req and storage for its headers. Not copyable. */
struct test_req {
	struct http_req req;
	struct http_header headers[8];
};

/* Start a POST request to uri with body; query points into uri as http_glue would set it. */
static void req_init(struct test_req *t, const char *uri, const char *body)
{
	const char *q = strchr(uri, '?');

	memset(t, 0, sizeof(*t));
	t->req.method = HTTP_METHOD_POST;
	t->req.uri = uri;
	t->req.path = uri;
	t->req.query = q ? q + 1 : NULL;
	t->req.headers = t->headers;
	t->req.body = (const unsigned char *)body;
	t->req.body_len = strlen(body);
	t->req.peer = "127.0.0.1:40000";
}

/* Append one header to the request. */
static void req_header(struct test_req *t, const char *name, const char *value)
{
	assert_true(t->req.n_headers < ELEMENTSOF(t->headers));
	t->headers[t->req.n_headers++] = (struct http_header){name, value};
}

/* Whether reason is one of the published failure reasons. */
static bool reason_listed(const char *reason)
{
	for (const char *const *r = webhook_auth_reasons(); *r; r++)
		if (strcmp(*r, reason) == 0)
			return true;
	return false;
}

/* Assert the verdict and reason of one verification; failure reasons must be published. */
static void expect_verify(const struct source_config *src, const struct http_req *req,
                          long long now, int want_r, const char *want_reason)
{
	const char *reason = NULL;
	int r = webhook_auth_verify(src, req, now, &reason);

	assert_int_equal(r, want_r);
	assert_non_null(reason);
	assert_string_equal(reason, want_reason);
	if (r != 0)
		assert_true(reason_listed(reason));
}

/* A standard-webhooks source with the given secrets (at most two). */
static void standard_source(struct source_config *src, const char *s1, const char *s2)
{
	memset(src, 0, sizeof(*src));
	src->name = MUT("sw");
	src->auth = AUTH_SCHEME_STANDARD_WEBHOOKS;
	src->secrets[0] = MUT(s1);
	src->secrets[1] = MUT(s2);
	src->n_secrets = s2 ? 2 : 1;
	src->tolerance_s = SW_TOLERANCE;
}

/* The example request with the given id, timestamp and signature headers (NULL: omitted). */
static void standard_req(struct test_req *t, const char *body, const char *id, const char *ts,
                         const char *sig)
{
	req_init(t, "/hooks/sw", body);
	req_header(t, "Content-Type", "application/json");
	if (id)
		req_header(t, "webhook-id", id);
	if (ts)
		req_header(t, "webhook-timestamp", ts);
	if (sig)
		req_header(t, "webhook-signature", sig);
}

/* The specification example verifies exactly at its timestamp and up to the tolerance. */
static void test_standard_spec_example(_unused_ void **state)
{
	struct source_config src;
	struct test_req t;

	standard_source(&src, SW_SECRET, NULL);
	standard_req(&t, SW_BODY, SW_ID, SW_TS, SW_SIG);
	expect_verify(&src, &t.req, SW_NOW, 0, "standard-webhooks");
	expect_verify(&src, &t.req, SW_NOW + SW_TOLERANCE, 0, "standard-webhooks");
	expect_verify(&src, &t.req, SW_NOW - SW_TOLERANCE, 0, "standard-webhooks");
	expect_verify(&src, &t.req, SW_NOW + SW_TOLERANCE + 1, -EACCES, "timestamp_too_old");
	expect_verify(&src, &t.req, SW_NOW - SW_TOLERANCE - 1, -EACCES, "timestamp_too_new");
	expect_verify(&src, &t.req, 0, -EACCES, "timestamp_too_new");
	expect_verify(&src, &t.req, LLONG_MAX, -EACCES, "timestamp_too_old");
	expect_verify(&src, &t.req, LLONG_MIN, -EACCES, "timestamp_too_new");

	/* The same key given as bare base64, without the whsec_ prefix. */
	standard_source(&src, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", NULL);
	expect_verify(&src, &t.req, SW_NOW, 0, "standard-webhooks");
}

/* A secret whose base64 lacks its padding works like the padded one. */
static void test_standard_unpadded_secret(_unused_ void **state)
{
	struct source_config src;
	struct test_req t;

	standard_source(&src, "whsec_YSBicmFuZCBuZXcga2V5IGZvciByb3RhdGlvbiEhISE", NULL);
	assert_int_equal(webhook_auth_source_check(&src, NULL), 0);
	standard_req(&t, SW_BODY, SW_ID, SW_TS, SW_SIG2);
	expect_verify(&src, &t.req, SW_NOW, 0, "standard-webhooks");
}

/* Any change to the signed content (body, id, timestamp) breaks the signature. */
static void test_standard_tampered(_unused_ void **state)
{
	char body[] = SW_BODY;
	struct source_config src;
	struct test_req t;

	standard_source(&src, SW_SECRET, NULL);
	body[3] ^= 0x01;
	standard_req(&t, body, SW_ID, SW_TS, SW_SIG);
	expect_verify(&src, &t.req, SW_NOW, -EACCES, "bad_signature");

	standard_req(&t, SW_BODY, "msg_p5jXN8AQM9LWM0D4loKWxJeK", SW_TS, SW_SIG);
	expect_verify(&src, &t.req, SW_NOW, -EACCES, "bad_signature");

	standard_req(&t, SW_BODY, SW_ID, "1614265331", SW_SIG);
	expect_verify(&src, &t.req, SW_NOW, -EACCES, "bad_signature");

	standard_req(&t, SW_BODY, SW_ID, SW_TS, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=");
	expect_verify(&src, &t.req, SW_NOW, -EACCES, "bad_signature");

	/* The right signature under a key that is not configured. */
	standard_source(&src, SW_SECRET2, NULL);
	standard_req(&t, SW_BODY, SW_ID, SW_TS, SW_SIG);
	expect_verify(&src, &t.req, SW_NOW, -EACCES, "bad_signature");
}

/* svix-* headers are accepted when no webhook-* header is present. */
static void test_standard_svix_headers(_unused_ void **state)
{
	struct source_config src;
	struct test_req t;

	standard_source(&src, SW_SECRET, NULL);
	req_init(&t, "/hooks/sw", SW_BODY);
	req_header(&t, "Svix-Id", SW_ID);
	req_header(&t, "Svix-Timestamp", SW_TS);
	req_header(&t, "Svix-Signature", SW_SIG);
	expect_verify(&src, &t.req, SW_NOW, 0, "standard-webhooks");

	/* webhook-* wins when present, even beside valid svix-* headers. */
	req_header(&t, "Webhook-Id", SW_ID);
	req_header(&t, "Webhook-Timestamp", SW_TS);
	req_header(&t, "Webhook-Signature", "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	expect_verify(&src, &t.req, SW_NOW, -EACCES, "bad_signature");
}

/* Signature lists: any v1 entry may match, other versions are ignored. */
static void test_standard_signature_list(_unused_ void **state)
{
	static const struct {
		const char *sig, *reason;
	} v[] = {
	    {"v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " SW_SIG, NULL},
	    {"v2,abc v1a,Zm9v  " SW_SIG " v1,Zm9v", NULL},
	    {"  " SW_SIG "  ", NULL},
	    {"v1,!!! " SW_SIG, NULL},
	    {"v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "bad_signature"},
	    {"v1,Zm9v", "bad_signature"},
	    {"v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "malformed_signature"},
	    {"g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "malformed_signature"},
	    {"v1,!!!", "malformed_signature"},
	    {"v1,", "malformed_signature"},
	    {"v1, g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "malformed_signature"},
	};
	struct source_config src;
	struct test_req t;

	standard_source(&src, SW_SECRET, NULL);
	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		print_message("# signature list %zu\n", i);
		standard_req(&t, SW_BODY, SW_ID, SW_TS, v[i].sig);
		if (v[i].reason)
			expect_verify(&src, &t.req, SW_NOW, -EACCES, v[i].reason);
		else
			expect_verify(&src, &t.req, SW_NOW, 0, "standard-webhooks");
	}
}

/* With two secrets configured, in either order, requests signed with either verify. */
static void test_standard_rotation(_unused_ void **state)
{
	const char *order[2][2] = {{SW_SECRET, SW_SECRET2}, {SW_SECRET2, SW_SECRET}};
	struct source_config src;
	struct test_req t;

	for (size_t i = 0; i < 2; i++) {
		standard_source(&src, order[i][0], order[i][1]);
		standard_req(&t, SW_BODY, SW_ID, SW_TS, SW_SIG);
		expect_verify(&src, &t.req, SW_NOW, 0, "standard-webhooks");
		standard_req(&t, SW_BODY, SW_ID, SW_TS, SW_SIG2);
		expect_verify(&src, &t.req, SW_NOW, 0, "standard-webhooks");
		standard_req(&t, SW_BODY, SW_ID, SW_TS, SW_SIG2 " " SW_SIG);
		expect_verify(&src, &t.req, SW_NOW, 0, "standard-webhooks");
	}
}

/* Missing or malformed headers give their own reasons. */
static void test_standard_missing_headers(_unused_ void **state)
{
	static const char *const bad_ts[] = {
	    "abc",         "-1614265330",         "+1614265330", "1614265330.5",
	    "16142 65330", "1234567890123456789", "0x60380000",
	};
	struct source_config src;
	struct test_req t;

	standard_source(&src, SW_SECRET, NULL);
	standard_req(&t, SW_BODY, SW_ID, SW_TS, NULL);
	expect_verify(&src, &t.req, SW_NOW, -EACCES, "missing_signature");
	standard_req(&t, SW_BODY, SW_ID, SW_TS, "");
	expect_verify(&src, &t.req, SW_NOW, -EACCES, "missing_signature");
	standard_req(&t, SW_BODY, NULL, SW_TS, SW_SIG);
	expect_verify(&src, &t.req, SW_NOW, -EACCES, "missing_message_id");
	standard_req(&t, SW_BODY, SW_ID, NULL, SW_SIG);
	expect_verify(&src, &t.req, SW_NOW, -EACCES, "missing_timestamp");
	standard_req(&t, SW_BODY, SW_ID, "  ", SW_SIG);
	expect_verify(&src, &t.req, SW_NOW, -EACCES, "missing_timestamp");
	standard_req(&t, SW_BODY, NULL, NULL, NULL);
	expect_verify(&src, &t.req, SW_NOW, -EACCES, "missing_signature");
	for (size_t i = 0; i < ELEMENTSOF(bad_ts); i++) {
		standard_req(&t, SW_BODY, SW_ID, bad_ts[i], SW_SIG);
		expect_verify(&src, &t.req, SW_NOW, -EACCES, "malformed_timestamp");
	}
}

/* An undecodable secret is a misconfiguration (-EINVAL), reported by the check too. */
static void test_standard_bad_secret(_unused_ void **state)
{
	static const char *const bad[] = {"whsec_!!!", "whsec_", "whsec_Z", "whsec_Zh",
	                                  "not base64"};
	struct source_config src;
	struct test_req t;
	const char *problem = NULL;

	standard_req(&t, SW_BODY, SW_ID, SW_TS, SW_SIG);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		standard_source(&src, SW_SECRET, bad[i]);
		expect_verify(&src, &t.req, SW_NOW, -EINVAL, "source_misconfigured");
		assert_int_equal(webhook_auth_source_check(&src, &problem), -EINVAL);
		assert_non_null(problem);
		assert_null(webhook_auth_sign_standard(bad[i], SW_ID, SW_NOW, "", 0));
	}
	standard_source(&src, SW_SECRET, SW_SECRET2);
	assert_int_equal(webhook_auth_source_check(&src, NULL), 0);
}

/* The signing helper reproduces the specification's signature. */
static void test_standard_sign(_unused_ void **state)
{
	_cleanup_free_ char *sig = NULL, *sig2 = NULL;

	sig = webhook_auth_sign_standard(SW_SECRET, SW_ID, SW_NOW, SW_BODY, strlen(SW_BODY));
	assert_non_null(sig);
	assert_string_equal(sig, SW_SIG);
	sig2 = webhook_auth_sign_standard(SW_SECRET2, SW_ID, SW_NOW, SW_BODY, strlen(SW_BODY));
	assert_non_null(sig2);
	assert_string_equal(sig2, SW_SIG2);
}

/* An hmac source for one vector, encoding and signature location. */
static void hmac_source(struct source_config *src, const struct hmac_vector *v,
                        enum sig_encoding enc, bool in_query, bool with_prefix)
{
	memset(src, 0, sizeof(*src));
	src->name = MUT("hm");
	src->auth = AUTH_SCHEME_HMAC;
	src->secrets[0] = MUT(HM_KEY);
	src->n_secrets = 1;
	src->hmac_algorithm = v->alg;
	memcpy(src->hmac_inputs, v->inputs, sizeof(v->inputs));
	src->n_hmac_inputs = v->n_inputs;
	src->hmac_encoding = enc;
	src->signature_header = in_query ? NULL : MUT("X-Signature");
	src->signature_query = in_query ? MUT("sig") : NULL;
	src->signature_prefix = with_prefix ? MUT(v->prefix) : NULL;
}

/* Percent-encode everything but RFC 3986 unreserved characters, as a new string. */
static char *pct_encode(const char *s)
{
	char *out = xmalloc(3 * strlen(s) + 1), *o = out;

	for (; *s; s++) {
		if (isalnum((unsigned char)*s) || strchr("-._~", *s))
			*o++ = *s;
		else
			o += sprintf(o, "%%%02X", (unsigned char)*s);
	}
	*o = '\0';
	return out;
}

/* One hmac value at its location verifies, and fails once the configured secret changes. */
static void hmac_check(struct source_config *src, const char *value, bool in_query)
{
	_cleanup_free_ char *enc = pct_encode(value);
	_cleanup_free_ char *uri = xasprintf("/hooks/gh?team=a%%20b&sig=%s&x=1", enc);
	char *saved = src->secrets[0];
	struct test_req t;

	req_init(&t, in_query ? uri : HM_URI, HM_BODY);
	if (!in_query)
		req_header(&t, "X-Signature", value);
	expect_verify(src, &t.req, 0, 0, "hmac");
	src->secrets[0] = MUT("It's a Secret to Everybody!");
	expect_verify(src, &t.req, 0, -EACCES, "bad_signature");
	src->secrets[0] = saved;
}

/* The encoded MAC of a vector, without prefix. */
static const char *hmac_encoded(const struct hmac_vector *v, enum sig_encoding enc)
{
	if (enc == SIG_ENCODING_HEX)
		return v->hex;
	return enc == SIG_ENCODING_BASE64 ? v->b64 : v->b64url;
}

/* The expected header value: prefix and encoded MAC, as a new string. */
static char *hmac_expected(const struct hmac_vector *v, enum sig_encoding enc, bool with_prefix)
{
	return xasprintf("%s%s", with_prefix ? v->prefix : "", hmac_encoded(v, enc));
}

/* Another accepted form of the expected value: upper-case hex, padded base64url. */
static char *hmac_variant(const struct hmac_vector *v, enum sig_encoding enc, bool with_prefix)
{
	char mac[200];

	snprintf(mac, sizeof(mac), "%s", hmac_encoded(v, enc));
	if (enc == SIG_ENCODING_HEX)
		for (char *p = mac; *p; p++)
			*p = (char)toupper((unsigned char)*p);
	if (enc == SIG_ENCODING_BASE64URL) {
		size_t n = strlen(mac);

		while (n % 4 != 0)
			mac[n++] = '=';
		mac[n] = '\0';
	}
	return xasprintf("%s%s", with_prefix ? v->prefix : "", mac);
}

/* Every algorithm x encoding x inputs x header/query x prefix verifies and signs as openssl. */
static void test_hmac_matrix(_unused_ void **state)
{
	const size_t n = ELEMENTSOF(hmac_vectors) * _SIG_ENCODING_MAX * 2 * 2;

	assert_int_equal(n, 12 * 3 * 2 * 2);
	for (size_t k = 0; k < n; k++) {
		const struct hmac_vector *v = &hmac_vectors[k / ((size_t)_SIG_ENCODING_MAX * 4)];
		enum sig_encoding enc = (enum sig_encoding)(k / 4 % _SIG_ENCODING_MAX);
		bool in_query = k / 2 % 2, with_prefix = k % 2;
		_cleanup_free_ char *want = hmac_expected(v, enc, with_prefix);
		_cleanup_free_ char *alt = hmac_variant(v, enc, with_prefix);
		_cleanup_free_ char *signed_value = NULL;
		struct source_config src;

		print_message("# matrix %zu: alg %d inputs %zu enc %d query %d prefix %d\n", k,
		              (int)v->alg, v->n_inputs, (int)enc, in_query, with_prefix);
		hmac_source(&src, v, enc, in_query, with_prefix);
		hmac_check(&src, want, in_query);
		hmac_check(&src, alt, in_query);
		signed_value =
		    webhook_auth_sign_hmac(&src, HM_KEY, HM_URI, HM_BODY, strlen(HM_BODY));
		assert_non_null(signed_value);
		assert_string_equal(signed_value, want);
	}
}

/* The sha256/hex/body source with "sha256=" prefix in X-Hub-Signature-256 (GitHub style). */
static void github_source(struct source_config *src)
{
	hmac_source(src, &hmac_vectors[4], SIG_ENCODING_HEX, false, true);
	src->signature_header = MUT("X-Hub-Signature-256");
}

/* Header values that fail with their reasons; whitespace and prefix case are tolerated. */
static void test_hmac_negative(_unused_ void **state)
{
	static const struct {
		const char *value, *reason;
	} v[] = {
	    {NULL, "missing_signature"},
	    {"", "missing_signature"},
	    {"   ", "missing_signature"},
	    {"757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
	     "malformed_signature"},
	    {"sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
	     "malformed_signature"},
	    {"sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
	     "malformed_signature"},
	    {"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
	     "malformed_signature"},
	    {"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e",
	     "malformed_signature"},
	    {"sha256=dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc=", "malformed_signature"},
	    {"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18",
	     "bad_signature"},
	    {"sha256=" HM_SHA256_OLD_SECRET, "bad_signature"},
	    {" sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\t", NULL},
	    {"SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", NULL},
	};
	struct source_config src;
	struct test_req t;

	github_source(&src);
	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		print_message("# hmac negative %zu\n", i);
		req_init(&t, HM_URI, HM_BODY);
		if (v[i].value)
			req_header(&t, "x-hub-signature-256", v[i].value);
		if (v[i].reason)
			expect_verify(&src, &t.req, 0, -EACCES, v[i].reason);
		else
			expect_verify(&src, &t.req, 0, 0, "hmac");
	}
}

/* A changed body or URL breaks the signature; rotation accepts old and new secrets. */
static void test_hmac_tamper_and_rotation(_unused_ void **state)
{
	const char *good =
	    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
	const char *old = "sha256=" HM_SHA256_OLD_SECRET;
	struct source_config src;
	struct test_req t;

	github_source(&src);
	req_init(&t, HM_URI, "Hello, World?");
	req_header(&t, "X-Hub-Signature-256", good);
	expect_verify(&src, &t.req, 0, -EACCES, "bad_signature");

	/* url-only: the URI is signed exactly as received, query included. */
	hmac_source(&src, &hmac_vectors[5], SIG_ENCODING_HEX, false, false);
	req_init(&t, "/hooks/gh?team=a%20b&x=2", HM_BODY);
	req_header(&t, "X-Signature", hmac_vectors[5].hex);
	expect_verify(&src, &t.req, 0, -EACCES, "bad_signature");

	for (int order = 0; order < 2; order++) {
		github_source(&src);
		src.secrets[order] = MUT(HM_KEY);
		src.secrets[1 - order] = MUT("old-secret");
		src.n_secrets = 2;
		req_init(&t, HM_URI, HM_BODY);
		req_header(&t, "X-Hub-Signature-256", good);
		expect_verify(&src, &t.req, 0, 0, "hmac");
		req_init(&t, HM_URI, HM_BODY);
		req_header(&t, "X-Hub-Signature-256", old);
		expect_verify(&src, &t.req, 0, 0, "hmac");
	}
}

/* A signature query parameter is removed from the signed URL wherever it sits. */
static void test_hmac_query_position(_unused_ void **state)
{
	const struct hmac_vector *v = &hmac_vectors[5];
	static const char *const uris[] = {
	    "/hooks/gh?sig=%s&team=a%%20b&x=1",
	    "/hooks/gh?team=a%%20b&x=1&sig=%s",
	    "/hooks/gh?team=a%%20b&sig=%s&x=1&sig=%s",
	};
	struct source_config src;
	struct test_req t;

	hmac_source(&src, v, SIG_ENCODING_HEX, true, false);
	for (size_t i = 0; i < ELEMENTSOF(uris); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		/* Templates from the table above, each with one or two %s. */
		_cleanup_free_ char *uri = xasprintf(uris[i], v->hex, v->hex);
#pragma GCC diagnostic pop

		req_init(&t, uri, HM_BODY);
		expect_verify(&src, &t.req, 0, 0, "hmac");
	}
	{
		_cleanup_free_ char *uri = xasprintf("/hooks/gh?sig=%s", HM_SHA256_PATH_ONLY);
		_cleanup_free_ char *sig = webhook_auth_sign_hmac(&src, HM_KEY, uri, "", 0);

		req_init(&t, uri, HM_BODY);
		expect_verify(&src, &t.req, 0, 0, "hmac");
		assert_string_equal(sig, HM_SHA256_PATH_ONLY);
	}
	{
		_cleanup_free_ char *uri =
		    xasprintf("/hooks/gh?abc=1&sig=%s&sig2=x&x=1", HM_SHA256_LOOKALIKES);

		req_init(&t, uri, HM_BODY);
		expect_verify(&src, &t.req, 0, 0, "hmac");
	}
	req_init(&t, HM_URI, HM_BODY);
	expect_verify(&src, &t.req, 0, -EACCES, "missing_signature");
	req_init(&t, "/hooks/gh?sig=&x=1", HM_BODY);
	expect_verify(&src, &t.req, 0, -EACCES, "missing_signature");
}

/* Unescaped base64 in a query ('+' decoded as ' ') still verifies. */
static void test_hmac_query_unescaped_base64(_unused_ void **state)
{
	const struct hmac_vector *v = &hmac_vectors[6];
	_cleanup_free_ char *uri = xasprintf("/hooks/gh?team=a%%20b&sig=%s&x=1", v->b64);
	struct source_config src;
	struct test_req t;

	assert_non_null(strchr(v->b64, '+'));
	hmac_source(&src, v, SIG_ENCODING_BASE64, true, false);
	req_init(&t, uri, HM_BODY);
	expect_verify(&src, &t.req, 0, 0, "hmac");
}

/* Unusable hmac settings are misconfigurations, for verify, check and sign alike. */
static void test_hmac_misconfigured(_unused_ void **state)
{
	struct source_config src;
	struct test_req t;
	const char *problem = NULL;

	req_init(&t, HM_URI, HM_BODY);
	req_header(&t, "X-Signature", hmac_vectors[4].hex);

	hmac_source(&src, &hmac_vectors[4], SIG_ENCODING_HEX, false, false);
	assert_int_equal(webhook_auth_source_check(&src, &problem), 0);
	src.n_secrets = 0;
	expect_verify(&src, &t.req, 0, -EINVAL, "source_misconfigured");
	assert_int_equal(webhook_auth_source_check(&src, &problem), -EINVAL);

	hmac_source(&src, &hmac_vectors[4], SIG_ENCODING_HEX, false, false);
	src.signature_header = NULL;
	expect_verify(&src, &t.req, 0, -EINVAL, "source_misconfigured");

	hmac_source(&src, &hmac_vectors[4], SIG_ENCODING_HEX, false, false);
	src.n_hmac_inputs = 0;
	expect_verify(&src, &t.req, 0, -EINVAL, "source_misconfigured");
	assert_null(webhook_auth_sign_hmac(&src, HM_KEY, HM_URI, "", 0));

	hmac_source(&src, &hmac_vectors[4], SIG_ENCODING_HEX, false, false);
	src.hmac_algorithm = _HMAC_ALGORITHM_MAX;
	expect_verify(&src, &t.req, 0, -EINVAL, "source_misconfigured");
	assert_null(webhook_auth_sign_hmac(&src, HM_KEY, HM_URI, "", 0));

	hmac_source(&src, &hmac_vectors[4], SIG_ENCODING_HEX, false, false);
	src.secrets[0] = MUT("");
	expect_verify(&src, &t.req, 0, -EINVAL, "source_misconfigured");
}

/* A key source with two secrets, read from a header or from a query parameter. */
static void key_source(struct source_config *src, enum auth_scheme auth, const char *hdr,
                       const char *query, const char *s1, const char *s2)
{
	memset(src, 0, sizeof(*src));
	src->name = MUT("keys");
	src->auth = auth;
	src->api_key_header = MUT(hdr);
	src->api_key_query = MUT(query);
	src->secrets[0] = MUT(s1);
	src->secrets[1] = MUT(s2);
	src->n_secrets = 2;
}

/* api-key in a header: either secret passes, others fail, absence is missing_credentials. */
static void test_api_key_header(_unused_ void **state)
{
	struct source_config src;
	struct test_req t;

	key_source(&src, AUTH_SCHEME_API_KEY, "X-Api-Key", NULL, "k-new", "k-old");
	req_init(&t, "/hooks/k", "{}");
	expect_verify(&src, &t.req, 0, -EACCES, "missing_credentials");
	req_header(&t, "x-api-key", "k-old");
	expect_verify(&src, &t.req, 0, 0, "api-key");
	t.headers[0].value = "k-new";
	expect_verify(&src, &t.req, 0, 0, "api-key");
	t.headers[0].value = "k-new2";
	expect_verify(&src, &t.req, 0, -EACCES, "bad_credentials");
	t.headers[0].value = "k-ne";
	expect_verify(&src, &t.req, 0, -EACCES, "bad_credentials");
	t.headers[0].value = "K-NEW";
	expect_verify(&src, &t.req, 0, -EACCES, "bad_credentials");
	t.headers[0].value = "";
	expect_verify(&src, &t.req, 0, -EACCES, "missing_credentials");

	src.api_key_header = NULL;
	expect_verify(&src, &t.req, 0, -EINVAL, "source_misconfigured");
}

/* api-key in a query parameter, percent-decoded before comparison. */
static void test_api_key_query(_unused_ void **state)
{
	struct source_config src;
	struct test_req t;

	key_source(&src, AUTH_SCHEME_API_KEY, NULL, "api_key", "k-new", "k old");
	req_init(&t, "/hooks/k?x=1&api_key=k-new", "{}");
	expect_verify(&src, &t.req, 0, 0, "api-key");
	req_init(&t, "/hooks/k?api_key=k%20old", "{}");
	expect_verify(&src, &t.req, 0, 0, "api-key");
	req_init(&t, "/hooks/k?api_key=k-nex", "{}");
	expect_verify(&src, &t.req, 0, -EACCES, "bad_credentials");
	req_init(&t, "/hooks/k?api_keys=k-new", "{}");
	expect_verify(&src, &t.req, 0, -EACCES, "missing_credentials");
	req_init(&t, "/hooks/k", "{}");
	expect_verify(&src, &t.req, 0, -EACCES, "missing_credentials");
	/* The header of the same name does not count. */
	req_header(&t, "api_key", "k-new");
	expect_verify(&src, &t.req, 0, -EACCES, "missing_credentials");
}

/* api-key in a cookie (a Versori connection's apiKey.in = cookie): the named cookie among
 * others, quoted or not; another cookie whose name starts the same does not count; the name
 * twice, or two Cookie headers, is malformed. Cookie strings as Python's http.cookies writes
 * them ("hk=k-new; theme=dark", "hk=\"k old\"" for a value it must quote). */
static void test_api_key_cookie(_unused_ void **state)
{
	struct source_config src;
	struct test_req t;

	key_source(&src, AUTH_SCHEME_API_KEY, NULL, NULL, "k-new", "k old");
	src.api_key_cookie = MUT("hk");
	req_init(&t, "/hooks/k", "{}");
	expect_verify(&src, &t.req, 0, -EACCES, "missing_credentials");
	req_header(&t, "Cookie", "hk=k-new; theme=dark");
	expect_verify(&src, &t.req, 0, 0, "api-key");
	t.headers[0].value = "theme=dark;  hk=k-new  ";
	expect_verify(&src, &t.req, 0, 0, "api-key");
	t.headers[0].value = "hk=\"k old\"";
	expect_verify(&src, &t.req, 0, 0, "api-key");
	t.headers[0].value = "hkx=k-new; xhk=k-new";
	expect_verify(&src, &t.req, 0, -EACCES, "missing_credentials");
	t.headers[0].value = "hk=k-ne";
	expect_verify(&src, &t.req, 0, -EACCES, "bad_credentials");
	t.headers[0].value = "hk=";
	expect_verify(&src, &t.req, 0, -EACCES, "missing_credentials");
	t.headers[0].value = "hk=k-new; hk=k-nex";
	expect_verify(&src, &t.req, 0, -EACCES, "malformed_credentials");
	t.headers[0].value = "hk=k-new";
	req_header(&t, "Cookie", "other=1");
	expect_verify(&src, &t.req, 0, -EACCES, "malformed_credentials");
	/* The header named like the cookie does not count. */
	req_init(&t, "/hooks/k", "{}");
	req_header(&t, "hk", "k-new");
	expect_verify(&src, &t.req, 0, -EACCES, "missing_credentials");
}

/* Authorization values for bearer and basic sources, with the expected outcome. */
struct auth_case {
	const char *authorization;
	const char *reason; /* NULL: verified */
};

/* Run auth_case rows against one source. */
static void run_auth_cases(const struct source_config *src, const struct auth_case *c, size_t n,
                           const char *ok_reason)
{
	for (size_t i = 0; i < n; i++) {
		struct test_req t;

		print_message("# %s case %zu\n", ok_reason, i);
		req_init(&t, "/hooks/a", "{}");
		if (c[i].authorization)
			req_header(&t, "Authorization", c[i].authorization);
		if (c[i].reason)
			expect_verify(src, &t.req, 0, -EACCES, c[i].reason);
		else
			expect_verify(src, &t.req, 0, 0, ok_reason);
	}
}

/* Bearer tokens: case-insensitive scheme, either secret, exact token. */
static void test_bearer(_unused_ void **state)
{
	static const struct auth_case c[] = {
	    {"Bearer tok-1", NULL},
	    {"bearer tok-2", NULL},
	    {"BEARER   tok-1  ", NULL},
	    {"Bearer tok-3", "bad_credentials"},
	    {"Bearer tok-1 x", "bad_credentials"},
	    {"Bearer TOK-1", "bad_credentials"},
	    {NULL, "missing_credentials"},
	    {"", "missing_credentials"},
	    {"Basic dG9rLTE=", "missing_credentials"},
	    {"Bearertok-1", "missing_credentials"},
	    {"Bearer", "malformed_credentials"},
	    {"Bearer   ", "malformed_credentials"},
	};
	struct source_config src;

	key_source(&src, AUTH_SCHEME_BEARER, NULL, NULL, "tok-1", "tok-2");
	run_auth_cases(&src, c, ELEMENTSOF(c), "bearer");
}

/* jwt-bearer: the token after the configured prefix (case-insensitive), verified by
 * jwt_bearer (whose own tests hold the independent vectors). */
static void test_jwt_bearer(_unused_ void **state)
{
	const char *secret = "YSAzMi1ieXRlIEhTMjU2IGtleSBmb3IgaG9va3J1biE="; /* 32 bytes */
	json_auto_t *claims = json_pack("{s:I}", "exp", (json_int_t)4102444800LL);
	_cleanup_free_ char *token = NULL, *ok1 = NULL, *ok2 = NULL, *other = NULL;
	struct source_config src = {
	    .name = MUT("flows"),
	    .auth = AUTH_SCHEME_JWT_BEARER,
	    .jwt_algorithm = JWT_ALGORITHM_HS256,
	    .jwt_header_prefix = MUT("JWT"),
	    .jwt_leeway_s = 30,
	    .jwt_require_exp = true,
	    .secrets = {MUT(secret)},
	    .n_secrets = 1,
	};
	const char *problem = NULL;

	assert_int_equal(webhook_auth_source_check(&src, &problem), 0);
	token = jwt_bearer_mint(&src, secret, claims);
	assert_non_null(token);
	ok1 = xasprintf("JWT %s", token);
	ok2 = xasprintf("jwt   %s  ", token);
	other = xasprintf("Bearer %s", token);
	{
		const struct auth_case c[] = {
		    {ok1, NULL},
		    {ok2, NULL},
		    {other, "missing_credentials"},
		    {NULL, "missing_credentials"},
		    {"JWT", "malformed_credentials"},
		    {"JWT a.b.c", "malformed_token"},
		    {"JWT e30.e30.", "alg_not_allowed"},
		};

		run_auth_cases(&src, c, ELEMENTSOF(c), "jwt-bearer");
	}
	/* A key the check refuses makes the source misconfigured at start-up. */
	src.secrets[0] = MUT("c2hvcnQ=");
	assert_int_equal(webhook_auth_source_check(&src, &problem), -EINVAL);
	assert_non_null(strstr(problem, "RFC 7518"));
}

/* certificate: the CA bundle is checked at start-up; the chain itself needs a TLS connection
 * (tests/e2e/tls.sh). Without a loaded bundle a request is the source's fault, not the
 * sender's. */
static void test_certificate_misconfigured(_unused_ void **state)
{
	struct source_config src = {.name = MUT("m"),
	                            .auth = AUTH_SCHEME_CERTIFICATE,
	                            .certificate_ca_file = MUT("/nonexistent/ca.pem")};
	const char *problem = NULL;
	struct test_req t;

	assert_int_equal(webhook_auth_source_check(&src, &problem), -EINVAL);
	assert_non_null(strstr(problem, "certificate_ca_file"));
	req_init(&t, "/hooks/m", "{}");
	expect_verify(&src, &t.req, 0, -EINVAL, "source_misconfigured");
	src.certificate_ca_file = NULL;
	assert_int_equal(webhook_auth_source_check(&src, &problem), -EINVAL);
}

/* Basic credentials: base64 of user:password compared whole to each secret. */
static void test_basic(_unused_ void **state)
{
	/* printf 'alice:wonderland' | base64, and likewise for the others. */
	static const struct auth_case c[] = {
	    {"Basic YWxpY2U6d29uZGVybGFuZA==", NULL},
	    {"basic YWxpY2U6d29uZGVybGFuZA==", NULL},
	    {"Basic dXNlcjpwYTpzcw==", NULL},
	    {"Basic YWxpY2U6d3Jvbmc=", "bad_credentials"},
	    {"Basic bm9jb2xvbg==", "malformed_credentials"},
	    {"Basic YWxpY2U6d29uZGVybGFuZA", "malformed_credentials"},
	    {"Basic !!!!", "malformed_credentials"},
	    {"Basic", "malformed_credentials"},
	    {"Bearer alice:wonderland", "missing_credentials"},
	    {NULL, "missing_credentials"},
	};
	struct source_config src;

	key_source(&src, AUTH_SCHEME_BASIC, NULL, NULL, "alice:wonderland", "user:pa:ss");
	run_auth_cases(&src, c, ELEMENTSOF(c), "basic");
}

/* auth=none passes only with allow_unauthenticated. */
static void test_none(_unused_ void **state)
{
	struct source_config src;
	struct test_req t;

	memset(&src, 0, sizeof(src));
	src.auth = AUTH_SCHEME_NONE;
	req_init(&t, "/hooks/open", "{}");
	expect_verify(&src, &t.req, 0, -EACCES, "unauthenticated_not_allowed");
	assert_int_equal(webhook_auth_source_check(&src, NULL), 0);
	src.allow_unauthenticated = true;
	expect_verify(&src, &t.req, 0, 0, "none");

	src.auth = _AUTH_SCHEME_MAX;
	expect_verify(&src, &t.req, 0, -EINVAL, "source_misconfigured");
}

/* Credential-carrying headers are secret, whatever their case; others are not. */
static void test_header_is_secret(_unused_ void **state)
{
	static const char *const secret[] = {
	    "Authorization",     "authorization",  "PROXY-AUTHORIZATION", "Cookie",    "set-cookie",
	    "Webhook-Signature", "svix-signature", "X-Hub-Signature-256", "x-api-key",
	};
	static const char *const plain[] = {
	    "Content-Type", "webhook-id",      "webhook-timestamp",  "svix-id",
	    "X-Request-Id", "X-Hub-Signature", "Authorization-Info", "",
	};
	struct source_config src;

	memset(&src, 0, sizeof(src));
	src.signature_header = MUT("x-hub-signature-256");
	src.api_key_header = MUT("X-API-Key");
	for (size_t i = 0; i < ELEMENTSOF(secret); i++)
		assert_true(webhook_auth_header_is_secret(&src, secret[i]));
	for (size_t i = 0; i < ELEMENTSOF(plain); i++)
		assert_false(webhook_auth_header_is_secret(&src, plain[i]));
	assert_true(webhook_auth_header_is_secret(NULL, "Authorization"));
	assert_false(webhook_auth_header_is_secret(NULL, "X-Hub-Signature-256"));
}

/* The reason list is NULL-terminated, has no duplicates and holds every required code. */
static void test_reasons(_unused_ void **state)
{
	static const char *const required[] = {
	    "missing_signature",           "malformed_signature", "bad_signature",
	    "missing_timestamp",           "malformed_timestamp", "timestamp_too_old",
	    "timestamp_too_new",           "missing_credentials", "bad_credentials",
	    "unauthenticated_not_allowed",
	};
	const char *const *r = webhook_auth_reasons();
	size_t n = 0;

	for (; r[n]; n++)
		for (size_t j = 0; j < n; j++)
			assert_string_not_equal(r[j], r[n]);
	assert_true(n >= ELEMENTSOF(required));
	for (size_t i = 0; i < ELEMENTSOF(required); i++)
		assert_true(reason_listed(required[i]));
}

/* Run the webhook_auth tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_standard_spec_example),
	    cmocka_unit_test(test_standard_unpadded_secret),
	    cmocka_unit_test(test_standard_tampered),
	    cmocka_unit_test(test_standard_svix_headers),
	    cmocka_unit_test(test_standard_signature_list),
	    cmocka_unit_test(test_standard_rotation),
	    cmocka_unit_test(test_standard_missing_headers),
	    cmocka_unit_test(test_standard_bad_secret),
	    cmocka_unit_test(test_standard_sign),
	    cmocka_unit_test(test_hmac_matrix),
	    cmocka_unit_test(test_hmac_negative),
	    cmocka_unit_test(test_hmac_tamper_and_rotation),
	    cmocka_unit_test(test_hmac_query_position),
	    cmocka_unit_test(test_hmac_query_unescaped_base64),
	    cmocka_unit_test(test_hmac_misconfigured),
	    cmocka_unit_test(test_api_key_header),
	    cmocka_unit_test(test_api_key_query),
	    cmocka_unit_test(test_api_key_cookie),
	    cmocka_unit_test(test_bearer),
	    cmocka_unit_test(test_jwt_bearer),
	    cmocka_unit_test(test_certificate_misconfigured),
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_none),
	    cmocka_unit_test(test_header_is_secret),
	    cmocka_unit_test(test_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
