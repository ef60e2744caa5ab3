/* Hostile and careless input against hookrun-ingress over loopback, from outside: raw sockets
 * for framing that libcurl will not send (request smuggling), sizes over the limits, decoded
 * NULs in names and credentials, bytes that are not UTF-8 in every value stored in a column,
 * conflicting headers, Svix redeliveries, numbers at and beyond what PostgreSQL's jsonb holds,
 * credentials that must never reach a table or a log line, and the plan of the README's query.
 * Each refusal checks the status, the JSON error code and that nothing was stored. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "crypto.h"
#include "harness.h"
#include "source.h"
#include "webhook_auth.h"
#include "xalloc.h"

/* Distinctive secrets: none of them may ever be found in a table or a log line. */
#define S_HMAC  "hmac-secret-Zq81vHk"
#define S_QSIG  "qsig-secret-Pw02jLm"
#define S_KEYH  "apikey-header-Tt93xNc"
#define S_KEYQ  "apikey-query-Rr47bVd"
#define S_BEAR  "bearer-token-Yy55kQe"
#define S_BASIC "alice:basic-pass-Uu66mWf"
#define S_SW    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static const char *const env[] = {
    "HOOKRUN_SOURCE_GH_SECRET=" S_HMAC,   "HOOKRUN_SOURCE_QSIG_SECRET=" S_QSIG,
    "HOOKRUN_SOURCE_KEYH_SECRET=" S_KEYH, "HOOKRUN_SOURCE_KEYQ_SECRET=" S_KEYQ,
    "HOOKRUN_SOURCE_BEAR_SECRET=" S_BEAR, "HOOKRUN_SOURCE_BASIC_SECRET=" S_BASIC,
    "HOOKRUN_SOURCE_SW_SECRET=" S_SW,     NULL,
};

/* gh signs as harness_hmac_signer does: sha256, hex, X-Signature, "sha256=". */
static const char sources[] = "[source.gh]\n"
                              "auth = hmac\n"
                              "hmac_algorithm = sha256\n"
                              "hmac_encoding = hex\n"
                              "signature_header = X-Signature\n"
                              "signature_prefix = sha256=\n"
                              "[source.qsig]\n"
                              "auth = hmac\n"
                              "hmac_algorithm = sha256\n"
                              "hmac_inputs = url,body\n"
                              "hmac_encoding = base64url\n"
                              "signature_query = sig\n"
                              "[source.keyh]\n"
                              "auth = api-key\n"
                              "api_key_header = X-Api-Key\n"
                              "[source.keyq]\n"
                              "auth = api-key\n"
                              "api_key_query = api_key\n"
                              "[source.bear]\n"
                              "auth = bearer\n"
                              "[source.basic]\n"
                              "auth = basic\n"
                              "[source.sw]\n"
                              "auth = standard-webhooks\n"
                              "[source.open]\n"
                              "auth = none\n"
                              "allow_unauthenticated = true\n";

/* The qsig source: url and body, base64url, in the query parameter sig. */
static const struct source_config qsig_signer = {
    .name = (char *)"qsig",
    .auth = AUTH_SCHEME_HMAC,
    .hmac_algorithm = HMAC_ALGORITHM_SHA256,
    .hmac_inputs = {SIG_INPUT_URL, SIG_INPUT_BODY},
    .n_hmac_inputs = 2,
    .hmac_encoding = SIG_ENCODING_BASE64URL,
    .signature_query = (char *)"sig",
};

/* State of the group: one database, one shared ingress. */
struct suite {
	struct harness_group g; /* first: the harness_group_*() functions take the state */
};

/* Group setup: a migrated database and the ingress the tests share. */
static int group_setup(void **state)
{
	return harness_group_setup(state, sizeof(struct suite), sources, env);
}

/* A signed POST to /hooks/gh as raw bytes: the request line's target, extra header lines
 * ("Name: value\r\n" each, may be ""), and the body; Content-Length is added unless the extra
 * lines carry framing of their own (framing != NULL replaces it). New buffer in *ret. */
static size_t raw_hook(const char *target, const char *extra, const char *framing, const char *body,
                       char **ret)
{
	_cleanup_free_ char *sig =
	    webhook_auth_sign_hmac(&harness_hmac_signer, S_HMAC, target, body, strlen(body));
	_cleanup_free_ char *cl = xasprintf("Content-Length: %zu\r\n", strlen(body));

	assert_non_null(sig);
	*ret = xasprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
	                 "X-Signature: %s\r\n%s%s\r\n%s",
	                 target, sig, extra, framing ? framing : cl, body);
	return strlen(*ret);
}

/* Expect a refusal on a raw connection: status, JSON code, Connection: close, the connection
 * closed by the server and exactly one answer (nothing smuggled behind it was answered). */
static void expect_raw_refusal(const struct harness_raw_response *r, long status, const char *code)
{
	_cleanup_free_ char *conn = harness_raw_header(r, "Connection");
	const char *got =
	    json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));

	if (r->status != status || !got || strcmp(got, code) != 0)
		fail_msg("expected %ld %s, got: %s", status, code, r->text);
	assert_non_null(conn);
	assert_string_equal(conn, "close");
	assert_true(r->closed);
	assert_int_equal(r->n_statuses, 1);
}

/* Expect a refusal that either layer may give: the ingress's JSON answer (as above), or
 * evhttp's own 400 with an HTML page (Debian's libevent 2.1.12-stable-8+deb12u1 refuses a
 * repeated Transfer-Encoding, or one next to Content-Length, before the ingress sees it; an
 * evhttp without that fix hands the request over and the ingress refuses it). */
static void expect_raw_refusal_any(const struct harness_raw_response *r, long status,
                                   const char *code)
{
	_cleanup_free_ char *ct = harness_raw_header(r, "Content-Type");

	if (r->json) {
		expect_raw_refusal(r, status, code);
		return;
	}
	if (r->status != 400 || !ct || strcmp(ct, "text/html") != 0)
		fail_msg("expected 400 from evhttp or %ld %s, got: %s", status, code, r->text);
	assert_true(r->closed);
	assert_int_equal(r->n_statuses, 1);
}

/* Framing that two HTTP parsers could read differently is refused with 400 (501 for an
 * unknown coding) and the connection closed, so a request smuggled behind it is never read. */
static void test_framing_raw(void **state)
{
	static const char smuggled[] =
	    "POST /hooks/open HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
	static const struct {
		const char *framing; /* replaces Content-Length */
		long status;
		const char *code;
		bool evhttp_may_answer; /* see expect_raw_refusal_any() */
	} cases[] = {
	    {"Content-Length: 2\r\nContent-Length: 90\r\n", 400, "conflicting_framing"},
	    {"Content-Length: 2\r\nContent-Length: 2\r\n", 400, "conflicting_framing"},
	    {"Content-Length: +2\r\n", 400, "malformed_framing"},
	    {"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", 400, "conflicting_framing",
	     true},
	    {"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n", 400, "conflicting_framing",
	     true},
	    {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400,
	     "conflicting_framing", true},
	    {"Transfer-Encoding: gzip, chunked\r\n", 501, "unsupported_transfer_coding"},
	    {"Transfer-Encoding: gzip\r\n", 501, "unsupported_transfer_coding"},
	    {"Transfer-Encoding: identity\r\nContent-Length: 2\r\n", 400, "conflicting_framing",
	     true},
	    {"Host: evil.example\r\nContent-Length: 2\r\n", 400, "conflicting_headers"},
	    {"Content-Length : 2\r\n", 400, "malformed_header"},
	    {"Content-Length: 2\r\nX-Smuggle\x01: 1\r\n", 400, "malformed_header"},
	    {"Content-Length: 2\r\nX-Note: a\x7f\r\n", 400, "malformed_header"},
	};
	struct suite *s = *state;
	long long before;

	HARNESS_REQUIRE_DB();
	before = harness_deliveries_count(s->g.conn, NULL);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *req = NULL, *full = NULL;
		struct harness_raw_response r;
		/* evhttp reads a chunked body whenever Transfer-Encoding ends in "chunked",
		 * whatever else is there; a body it cannot parse it refuses itself (HTML, see the
		 * next test). */
		bool chunked = strstr(cases[i].framing, "chunked") != NULL;
		size_t n = raw_hook("/hooks/gh", "", cases[i].framing,
		                    chunked ? "2\r\n{}\r\n0\r\n\r\n" : "{}", &req);

		print_message("# framing case %zu\n", i);
		full = xasprintf("%.*s%s", (int)n, req, smuggled);
		harness_raw(s->g.port, full, strlen(full), 3000, &r);
		if (cases[i].evhttp_may_answer)
			expect_raw_refusal_any(&r, cases[i].status, cases[i].code);
		else
			expect_raw_refusal(&r, cases[i].status, cases[i].code);
		harness_raw_response_fini(&r);
	}
	assert_int_equal(harness_deliveries_count(s->g.conn, NULL), before);
	s->g.passed = true;
}

/* A body on HEAD (which evhttp never reads: its bytes would be the next request) and a
 * Transfer-Encoding on HTTP/1.0 are refused with the connection closed, so the request
 * carried behind them is never answered or stored; an answer to HEAD has no body, so the
 * next answer on a kept-alive connection starts where the client expects it. */
static void test_framing_head_and_http10(void **state)
{
	static const char smuggled[] = "POST /hooks/open HTTP/1.1\r\nHost: x\r\n"
	                               "Content-Type: application/json\r\nContent-Length: 14\r\n"
	                               "\r\n{\"smug\":true}";
	struct suite *s = *state;
	struct harness_raw_response r;
	_cleanup_free_ char *head = xasprintf("HEAD /healthz HTTP/1.1\r\nHost: x\r\n"
	                                      "Content-Length: %zu\r\n\r\n%s",
	                                      strlen(smuggled), smuggled);
	_cleanup_free_ char *head_chunked = xasprintf(
	    "HEAD /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n"
	    "0\r\n\r\n",
	    strlen(smuggled), smuggled);
	_cleanup_free_ char *http10 = xasprintf(
	    "POST /hooks/open HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n"
	    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"
	    "0\r\n\r\n%s",
	    smuggled);
	static const char head_then_get[] = "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	                                    "GET /healthz HTTP/1.1\r\nHost: x\r\n"
	                                    "Connection: close\r\n\r\n";
	const char *bodies[] = {head, head_chunked, http10};

	HARNESS_REQUIRE_DB();
	for (size_t i = 0; i < ELEMENTSOF(bodies); i++) {
		harness_raw(s->g.port, bodies[i], strlen(bodies[i]), 3000, &r);
		if (r.status != 400 || !r.closed || r.n_statuses != 1)
			fail_msg("case %zu: expected one 400 and a close, got: %s", i, r.text);
		harness_raw_response_fini(&r);
	}
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.deliveries "
	                                 "WHERE position('smug' in encode(body, 'escape')) > 0",
	                                 NULL),
	                 0);
	harness_raw(s->g.port, head_then_get, strlen(head_then_get), 3000, &r);
	assert_int_equal(r.n_statuses, 2);
	/* The GET's answer follows the HEAD's blank line at once: no body in between. */
	assert_non_null(strstr(r.text, "\r\n\r\nHTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(r.text, "{\"status\":\"ok\"}"));
	assert_true(strstr(r.text, "{\"status\":\"ok\"}") > strstr(r.text, "\r\n\r\nHTTP/1.1"));
	harness_raw_response_fini(&r);
	s->g.passed = true;
}

/* The answers evhttp gives itself, as the README documents them: HTML, connection closed. */
static void test_framing_evhttp_answers(void **state)
{
	struct suite *s = *state;
	struct harness_raw_response r;
	_cleanup_free_ char *req = NULL, *ct = NULL;
	_cleanup_free_ char *huge = xmalloc(300 * 1024 + 64);
	size_t n;

	HARNESS_REQUIRE_DB();
	n = raw_hook("/hooks/gh", "", "Content-Length: abc\r\n", "{}", &req);
	harness_raw(s->g.port, req, n, 3000, &r);
	assert_int_equal(r.status, 400);
	ct = harness_raw_header(&r, "Content-Type");
	assert_string_equal(ct, "text/html");
	assert_true(r.closed);
	harness_raw_response_fini(&r);
	n = (size_t)sprintf(huge, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(huge + n, 'a', 300 * 1024);
	n += 300 * 1024;
	memcpy(huge + n, "\r\n\r\n", 4);
	harness_raw(s->g.port, huge, n + 4, 3000, &r);
	assert_int_equal(r.status, 400);
	assert_true(r.closed);
	harness_raw_response_fini(&r);
	s->g.passed = true;
}

/* Request line and headers over the ingress's limits get JSON 414 / 431, then a close. */
static void test_size_limits(void **state)
{
	struct suite *s = *state;
	struct harness_raw_response r;
	_cleanup_free_ char *target = xmalloc(9000), *req = NULL, *extra = NULL;
	_cleanup_free_ char *pad = xmalloc(100 * 1024 + 1);
	size_t n;

	HARNESS_REQUIRE_DB();
	memcpy(target, "/hooks/gh?", 10);
	memset(target + 10, 'a', 8990 - 1);
	target[8999] = '\0';
	n = raw_hook(target, "", NULL, "{}", &req);
	harness_raw(s->g.port, req, n, 3000, &r);
	expect_raw_refusal(&r, 414, "uri_too_long");
	harness_raw_response_fini(&r);
	free(req);
	memset(pad, 'b', 100 * 1024);
	pad[100 * 1024] = '\0';
	extra = xasprintf("X-Pad: %s\r\n", pad);
	n = raw_hook("/hooks/gh", extra, NULL, "{}", &req);
	harness_raw(s->g.port, req, n, 3000, &r);
	expect_raw_refusal(&r, 431, "headers_too_large");
	harness_raw_response_fini(&r);
	/* Just under the limits is fine. */
	free(req);
	pad[60 * 1024] = '\0';
	free(extra);
	extra = xasprintf("X-Pad: %s\r\nConnection: close\r\n", pad);
	n = raw_hook("/hooks/gh?x=1", extra, NULL, "{}", &req);
	harness_raw(s->g.port, req, n, 3000, &r);
	if (r.status != 202)
		fail_msg("expected 202: %s", r.text);
	harness_raw_response_fini(&r);
	s->g.passed = true;
}

/* Send body to path on a fresh connection with extra headers; fill r. */
static void post(int port, const char *path, const char *body, const char *const *headers,
                 struct harness_response *r)
{
	harness_http(port,
	             &(struct harness_request){.method = "POST",
	                                       .path = path,
	                                       .content_type = "application/json",
	                                       .body = body,
	                                       .body_len = strlen(body),
	                                       .headers = headers},
	             r);
}

/* Expect status and error code (NULL: a success) of a response. */
static void expect(const struct harness_response *r, long status, const char *code)
{
	const char *got = harness_response_error_code(r);

	if (r->status != status || (code && (!got || strcmp(got, code) != 0)))
		fail_msg("expected %ld %s, got %ld: %s", status, code ? code : "", r->status,
		         r->body ? r->body : "");
}

/* A decoded NUL ("%00") in a source name, an api key or a query signature is a mismatch, not a
 * shorter value; the same requests without it are accepted (so the refusals mean something). */
static void test_decoded_nul(void **state)
{
	static const char body[] = "{\"nul\":1}";
	struct suite *s = *state;
	_cleanup_free_ char *sig =
	    webhook_auth_sign_hmac(&qsig_signer, S_QSIG, "/hooks/qsig?n=1", body, strlen(body));
	_cleanup_free_ char *good = xasprintf("/hooks/qsig?n=1&sig=%s", sig);
	_cleanup_free_ char *bad = xasprintf("/hooks/qsig?n=1&sig=%s%%00junk", sig);
	_cleanup_free_ char *gh_sig =
	    harness_hmac_header(&harness_hmac_signer, S_HMAC, "", body, strlen(body));
	const char *gh_headers[] = {gh_sig, NULL};
	struct harness_response r;
	long long before;

	HARNESS_REQUIRE_DB();
	before = harness_deliveries_count(s->g.conn, NULL);
	post(s->g.port, "/hooks/gh%00anything", body, gh_headers, &r);
	expect(&r, 404, "unknown_source");
	harness_response_fini(&r);
	post(s->g.port, "/hooks/keyq?api_key=" S_KEYQ "%00junk", body, NULL, &r);
	expect(&r, 401, "bad_credentials");
	harness_response_fini(&r);
	post(s->g.port, bad, body, NULL, &r);
	expect(&r, 401, "malformed_signature");
	harness_response_fini(&r);
	assert_int_equal(harness_deliveries_count(s->g.conn, NULL), before);
	post(s->g.port, "/hooks/gh", body, gh_headers, &r);
	expect(&r, 202, NULL);
	harness_response_fini(&r);
	post(s->g.port, "/hooks/keyq?api_key=" S_KEYQ, body, NULL, &r);
	expect(&r, 202, NULL);
	harness_response_fini(&r);
	post(s->g.port, good, body, NULL, &r);
	expect(&r, 202, NULL);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* Send one raw request expecting status and code (NULL: success). */
static void raw_expect(int port, const char *target, const char *extra, long status,
                       const char *code)
{
	_cleanup_free_ char *req = NULL, *full = NULL;
	struct harness_raw_response r;
	const char *got;

	(void)raw_hook(target, extra, NULL, "{\"utf8\":1}", &req);
	full = xasprintf("%.*sConnection: close\r\n%s", (int)(strstr(req, "\r\n\r\n") - req + 2),
	                 req, strstr(req, "\r\n\r\n") + 2);
	harness_raw(port, full, strlen(full), 5000, &r);
	got = json_string_value(json_object_get(json_object_get(r.json, "error"), "code"));
	if (r.status != status || (code && (!got || strcmp(got, code) != 0)))
		fail_msg("expected %ld %s, got: %s", status, code ? code : "", r.text);
	harness_raw_response_fini(&r);
}

/* Send one raw signed request whose only Content-Type is ct, expecting status and code. */
static void raw_expect_ct(int port, const char *ct, long status, const char *code)
{
	static const char body[] = "{\"utf8\":1}";
	_cleanup_free_ char *sig =
	    webhook_auth_sign_hmac(&harness_hmac_signer, S_HMAC, "/hooks/gh", body, strlen(body));
	_cleanup_free_ char *req =
	    xasprintf("POST /hooks/gh HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
	              "X-Signature: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
	              ct, sig, strlen(body), body);
	struct harness_raw_response r;
	const char *got;

	harness_raw(port, req, strlen(req), 5000, &r);
	got = json_string_value(json_object_get(json_object_get(r.json, "error"), "code"));
	if (r.status != status || !got || strcmp(got, code) != 0)
		fail_msg("expected %ld %s, got: %s", status, code, r.text);
	harness_raw_response_fini(&r);
}

/* Every value bound for a text column is checked at the door: an idempotency key, request
 * target or Content-Type that is not UTF-8 gets a 400 with a JSON error, while a load of valid
 * deliveries running at the same time (and so in the same group commits) all get their 2xx. */
static void test_not_utf8(void **state)
{
	struct suite *s = *state;
	struct harness_load_stats st;
	long long before;

	HARNESS_REQUIRE_DB();
	s->g.load = harness_load_start(&(struct harness_load_options){
	    .port = s->g.port,
	    .path = "/hooks/gh",
	    .threads = 8,
	    .max_seconds = 60,
	    .max_requests = 4000,
	    .hmac = &harness_hmac_signer,
	    .secret = S_HMAC,
	});
	assert_true(harness_load_wait(s->g.load, 202, 50, 30000));
	before = harness_deliveries_count(s->g.conn, "gh");
	for (int i = 0; i < 20; i++) {
		raw_expect(s->g.port, "/hooks/gh", "Idempotency-Key: k\xff\r\n", 400,
		           "malformed_idempotency_key");
		raw_expect(s->g.port, "/hooks/gh?x=\xff", "", 400, "malformed_request_target");
		raw_expect_ct(s->g.port, "application/json; charset=\xc3\x28", 400,
		              "malformed_content_type");
		raw_expect(s->g.port, "/hooks/gh", "Idempotency-Key: caf\xc3\xa9\r\n",
		           i ? 200 : 202, NULL);
	}
	assert_true(harness_load_wait_done(s->g.load, 60000));
	harness_load_stop(s->g.load);
	st = harness_load_stats(s->g.load);
	assert_int_equal(st.other + st.transport + st.s503, 0);
	assert_int_equal(st.s202, 4000);
	assert_true(harness_deliveries_count(s->g.conn, "gh") >= before + 20);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.deliveries WHERE "
	                                 "idempotency_key = $1",
	                                 "caf\xc3\xa9", NULL),
	                 1);
	s->g.passed = true;
}

/* Two different values of a header the ingress reads are refused; the same value twice is
 * fine. */
static void test_conflicting_headers(void **state)
{
	struct suite *s = *state;

	HARNESS_REQUIRE_DB();
	raw_expect(s->g.port, "/hooks/gh", "Idempotency-Key: a\r\nIdempotency-Key: b\r\n", 400,
	           "conflicting_headers");
	raw_expect(s->g.port, "/hooks/gh", "X-Signature: sha256=00\r\n", 400,
	           "conflicting_headers");
	raw_expect(s->g.port, "/hooks/gh", "Content-Type: text/plain\r\n", 400,
	           "conflicting_headers");
	raw_expect(s->g.port, "/hooks/gh", "Idempotency-Key: same\r\nIdempotency-Key: same\r\n",
	           202, NULL);
	s->g.passed = true;
}

/* Send a Standard Webhooks message with the svix-* (svix true) or webhook-* headers; the
 * signature sent goes to *ret_sig when it is not NULL (a new string). */
static void sw_post_sig(int port, bool svix, const char *msg_id, const char *body,
                        struct harness_response *r, char **ret_sig)
{
	long long ts = (long long)time(NULL);
	_cleanup_free_ char *sig = webhook_auth_sign_standard(S_SW, msg_id, ts, body, strlen(body));
	const char *p = svix ? "svix" : "webhook";
	_cleanup_free_ char *h_id = xasprintf("%s-id: %s", p, msg_id);
	_cleanup_free_ char *h_ts = xasprintf("%s-timestamp: %lld", p, ts);
	_cleanup_free_ char *h_sig = xasprintf("%s-signature: %s", p, sig);
	const char *headers[] = {h_id, h_ts, h_sig, NULL};

	assert_non_null(sig);
	post(port, "/hooks/sw", body, headers, r);
	if (ret_sig)
		*ret_sig = xstrdup(sig);
}

/* Send a Standard Webhooks message with the svix-* (svix true) or webhook-* headers. */
static void sw_post(int port, bool svix, const char *msg_id, const char *body,
                    struct harness_response *r)
{
	sw_post_sig(port, svix, msg_id, body, r, NULL);
}

/* A Svix redelivery (svix-* headers, the same svix-id) is a duplicate of the first delivery,
 * as a webhook-* one is. */
static void test_svix_dedup(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *msg = xasprintf("msg_svix_%d", (int)getpid());
	_cleanup_free_ char *id1 = NULL;
	struct harness_response r;

	HARNESS_REQUIRE_DB();
	sw_post(s->g.port, true, msg, "{\"svix\":1}", &r);
	expect(&r, 202, NULL);
	id1 = xstrdup(harness_response_delivery_id(&r));
	harness_response_fini(&r);
	sw_post(s->g.port, true, msg, "{\"svix\":1}", &r);
	expect(&r, 200, NULL);
	assert_true(harness_response_duplicate(&r));
	assert_string_equal(harness_response_delivery_id(&r), id1);
	harness_response_fini(&r);
	/* The same message id over the webhook-* headers is the same message. */
	sw_post(s->g.port, false, msg, "{\"svix\":1}", &r);
	expect(&r, 200, NULL);
	assert_string_equal(harness_response_delivery_id(&r), id1);
	harness_response_fini(&r);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.deliveries WHERE source = "
	                                 "'sw' AND idempotency_key = $1",
	                                 msg, NULL),
	                 1);
	s->g.passed = true;
}

/* Every row of every hookrun table as text, concatenated. */
static char *tables_text(PGconn *conn)
{
	PGresult *res = PQexec(conn, "SELECT coalesce(string_agg(t, E'\\n'), '') FROM ("
	                             "SELECT d::text || encode(d.body, 'escape') AS t "
	                             "FROM hookrun.deliveries d UNION ALL "
	                             "SELECT k::text FROM hookrun.idempotency_keys k UNION ALL "
	                             "SELECT m::text FROM hookrun.schema_migrations m) x");
	char *out;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s", PQerrorMessage(conn));
	out = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

/* Distinctive secrets sent through every auth scheme (header and query api keys, bearer,
 * basic, hmac in a header and in the query, Standard Webhooks) are accepted, and afterwards
 * neither a secret nor a signature derived from one is found in any table or log line. */
static void test_secrets_never_stored(void **state)
{
	static const char body[] = "{\"secret_test\":true}";
	struct suite *s = *state;
	_cleanup_free_ char *b64 = crypto_base64_encode(S_BASIC, strlen(S_BASIC));
	_cleanup_free_ char *basic = xasprintf("Authorization: Basic %s", b64);
	_cleanup_free_ char *qsig =
	    webhook_auth_sign_hmac(&qsig_signer, S_QSIG, "/hooks/qsig", body, strlen(body));
	_cleanup_free_ char *qpath = xasprintf("/hooks/qsig?sig=%s", qsig);
	_cleanup_free_ char *gh_sig =
	    harness_hmac_header(&harness_hmac_signer, S_HMAC, "", body, strlen(body));
	_cleanup_free_ char *sw_sig = NULL, *tables = NULL, *log = NULL;
	const char *needles[] = {S_HMAC,
	                         S_QSIG,
	                         S_KEYH,
	                         S_KEYQ,
	                         S_BEAR,
	                         "basic-pass-Uu66mWf",
	                         b64,
	                         qsig,
	                         gh_sig + strlen("X-Signature: "),
	                         "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	                         NULL /* the Standard Webhooks signature sent */,
	                         NULL};
	const char *keyh[] = {"X-Api-Key: " S_KEYH, NULL},
	           *bear[] = {"Authorization: Bearer " S_BEAR, NULL};
	const char *basic_h[] = {basic, NULL}, *gh_h[] = {gh_sig, NULL};
	struct harness_response r;

	HARNESS_REQUIRE_DB();
	post(s->g.port, "/hooks/keyh?x=1", body, keyh, &r);
	expect(&r, 202, NULL);
	harness_response_fini(&r);
	post(s->g.port, "/hooks/keyq?a=1&api_key=" S_KEYQ "&api%5Fkey=" S_KEYQ, body, NULL, &r);
	expect(&r, 202, NULL);
	harness_response_fini(&r);
	post(s->g.port, "/hooks/bear", body, bear, &r);
	expect(&r, 202, NULL);
	harness_response_fini(&r);
	post(s->g.port, "/hooks/basic", body, basic_h, &r);
	expect(&r, 202, NULL);
	harness_response_fini(&r);
	post(s->g.port, qpath, body, NULL, &r);
	expect(&r, 202, NULL);
	harness_response_fini(&r);
	post(s->g.port, "/hooks/gh", body, gh_h, &r);
	expect(&r, 202, NULL);
	harness_response_fini(&r);
	sw_post_sig(s->g.port, true, "msg_secret_test", body, &r, &sw_sig);
	expect(&r, 202, NULL);
	harness_response_fini(&r);
	needles[ELEMENTSOF(needles) - 2] = sw_sig + strlen("v1,");
	tables = tables_text(s->g.conn);
	log = harness_read_file(harness_service_log_path(s->g.in), NULL);
	assert_non_null(log);
	assert_non_null(strstr(tables, "api_key=********")); /* the masked query is there */
	for (size_t i = 0; needles[i]; i++) {
		if (strstr(tables, needles[i]))
			fail_msg("secret #%zu found in a table", i);
		if (strstr(log, needles[i]))
			fail_msg("secret #%zu found in the log", i);
	}
	assert_null(strstr(tables, "svix-signature"));
	s->g.passed = true;
}

/* Send {"n":<number>} to the open source: the status. */
static long post_number(int port, const char *number)
{
	_cleanup_free_ char *body = xasprintf("{\"n\":%s}", number);
	struct harness_response r;
	long status;

	post(port, "/hooks/open", body, NULL, &r);
	status = r.status;
	if (status == 400)
		assert_string_equal(harness_response_error_code(&r), "malformed_json");
	harness_response_fini(&r);
	return status;
}

/* Whether PostgreSQL reads number as jsonb. */
static bool pg_takes_number(PGconn *conn, const char *number)
{
	_cleanup_free_ char *doc = xasprintf("{\"n\":%s}", number);
	const char *values[] = {doc};
	PGresult *res =
	    PQexecParams(conn, "SELECT $1::jsonb IS NOT NULL", 1, NULL, values, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;

	PQclear(res);
	return ok;
}

/* Numbers at and beyond PostgreSQL's numeric limits: the ingress accepts exactly those a real
 * server reads as jsonb, and afterwards the README's view reads every stored row. */
static void test_numbers_jsonb_limits(void **state)
{
	static const char *const numbers[] = {
	    "1e131071",     "1e131072",
	    "-9.99e131071", "1e-16383",
	    "1e-16384",     "1.5e-16382",
	    "1.5e-16383",   "0e-16383",
	    "0e-16384",     "0e1073741822",
	    "0e1073741823", "1e200000",
	    "1e999",        "123456789012345678901234567890",
	};
	struct suite *s = *state;
	_cleanup_free_ char *long_int = xmalloc(131073 + 1), *long_frac = xmalloc(16386 + 1);
	const char *extra[2] = {long_int, long_frac};
	long long rows;

	HARNESS_REQUIRE_DB();
	long_int[0] = '1';
	memset(long_int + 1, '0', 131072);
	long_int[131073] = '\0'; /* 10^131072: one digit too many */
	memcpy(long_frac, "0.", 2);
	memset(long_frac + 2, '0', 16384);
	long_frac[16386] = '\0'; /* 16384 digits after the point */
	for (size_t i = 0; i < ELEMENTSOF(numbers) + 2; i++) {
		const char *n =
		    i < ELEMENTSOF(numbers) ? numbers[i] : extra[i - ELEMENTSOF(numbers)];
		bool pg = pg_takes_number(s->g.conn, n);
		long status = post_number(s->g.port, n);

		print_message("# %.20s%s: postgres %s, ingress %ld\n", n,
		              strlen(n) > 20 ? "..." : "", pg ? "reads it" : "refuses it", status);
		assert_int_equal(status, pg ? 202 : 400);
	}
	/* The shorter forms just inside the limits, then the view over every row. */
	long_int[131072] = '\0';
	long_frac[16385] = '\0';
	assert_int_equal(post_number(s->g.port, long_int), 202);
	assert_int_equal(post_number(s->g.port, long_frac), 202);
	rows = harness_sql_int(s->g.conn,
	                       "SELECT count(*) FROM hookrun.deliveries_json "
	                       "WHERE payload IS NOT NULL AND payload ? 'n'",
	                       NULL);
	assert_true(rows >= 8);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(payload) - count(*) FROM "
	                                 "hookrun.deliveries_json WHERE content_type "
	                                 "ILIKE '%json%'",
	                                 NULL),
	                 0);
	s->g.passed = true;
}

/* The README's "latest deliveries" query, read from the README itself: it must run, and use
 * an index rather than read every row and sort them. */
static void test_readme_latest_query_plan(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *path = xasprintf("%s/README.md", harness_source_root());
	_cleanup_free_ char *readme = harness_read_file(path, NULL);
	_cleanup_free_ char *query = NULL, *explain = NULL;
	const char *start, *end;
	PGresult *res;
	bool index = false, sort = false;

	HARNESS_REQUIRE_DB();
	assert_non_null(readme);
	start = strstr(readme, "SELECT id, source, received_at, verified_by, payload FROM "
	                       "hookrun.deliveries_json");
	assert_non_null(start);
	end = strchr(start, ';');
	assert_non_null(end);
	query = xstrndup(start, (size_t)(end - start));
	/* Enough rows that a sequential scan and a sort would cost more than the index. */
	assert_true(harness_sql_exec(
	    s->g.conn,
	    "INSERT INTO hookrun.deliveries (id, source, received_at, method, uri, headers, "
	    "content_type, body, verified_by) SELECT gen_random_uuid(), 'plan', "
	    "now() - make_interval(secs => g), 'POST', '/hooks/plan', '{}', "
	    "'application/json', '{}'::bytea, 'none' FROM generate_series(1, 20000) g; "
	    "ANALYZE hookrun.deliveries"));
	explain = xasprintf("EXPLAIN %s", query);
	res = PQexec(s->g.conn, explain);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	for (int i = 0; i < PQntuples(res); i++) {
		print_message("# %s\n", PQgetvalue(res, i, 0));
		index |= strstr(PQgetvalue(res, i, 0), "Index Scan") != NULL;
		/* A Sort node ("Sort  (cost=..."), not a Merge Append's "Sort Key:" line. */
		sort |= strstr(PQgetvalue(res, i, 0), "Sort  (") != NULL;
	}
	PQclear(res);
	assert_true(index);
	assert_false(sort);
	res = PQexec(s->g.conn, query);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(res), 10);
	PQclear(res);
	s->g.passed = true;
}

/* Run the hostile-input suite against one shared ingress. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_framing_raw, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_framing_head_and_http10, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_framing_evhttp_answers, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_size_limits, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_decoded_nul, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_not_utf8, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_conflicting_headers, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_svix_dedup, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_secrets_never_stored, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_numbers_jsonb_limits, harness_test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_readme_latest_query_plan, harness_test_setup,
	                                    harness_test_teardown),
	};

	harness_init();
	return cmocka_run_group_tests(tests, group_setup, harness_group_teardown);
}
