/* Integration tests of hookrun-ingress over loopback against a real PostgreSQL: the operations
 * endpoints, every webhook answer and error code, deduplication (header, JSON pointer,
 * Standard Webhooks, concurrent), secret rotation, every auth scheme, the dedup window and a
 * graceful SIGTERM. Each scenario checks the status, the JSON error code and the stored rows. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
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

#include "config.h"
#include "crypto.h"
#include "harness.h"
#include "jwt_bearer.h"
#include "webhook_auth.h"
#include "xalloc.h"

/* struct source_config holds char * it never writes through; literals are cast to fit. */

#define GH_SECRET          "gh: it's a secret to everybody"
#define ROT_NEW            "rotation: the new secret"
#define ROT_OLD            "rotation: the old secret"
#define SW_SECRET          "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define API_KEY            "k-0123456789abcdef"
#define BEARER_TOKEN       "t-fedcba9876543210"
#define BASIC_CRED         "alice:wonderland"
#define JWT_SECRET         "YSAzMi1ieXRlIEhTMjU2IGtleSBmb3IgaG9va3J1biE=" /* base64 of 32 bytes */
#define OAUTH_CLIENT       "flows:c-0123456789abcdef"
#define OAUTH_SHORT_CLIENT "brief:c-fedcba9876543210"

/* The secrets of the shared ingress travel in its environment, never in argv. */
static const char *const shared_env[] = {
    "HOOKRUN_SOURCE_GH_SECRET=" GH_SECRET,
    "HOOKRUN_SOURCE_BIG_SECRET=" GH_SECRET,
    "HOOKRUN_SOURCE_EVT_SECRET=" GH_SECRET,
    "HOOKRUN_SOURCE_SW_SECRET=" SW_SECRET,
    "HOOKRUN_SOURCE_KEY_SECRET=" API_KEY,
    "HOOKRUN_SOURCE_BEAR_SECRET=" BEARER_TOKEN,
    "HOOKRUN_SOURCE_CKEY_SECRET=" API_KEY,
    "HOOKRUN_SOURCE_BASIC_SECRET=" BASIC_CRED,
    "HOOKRUN_SOURCE_JWT_SECRET=" JWT_SECRET,
    "HOOKRUN_SOURCE_OA_SECRET=" OAUTH_CLIENT,
    "HOOKRUN_SOURCE_OASHORT_SECRET=" OAUTH_SHORT_CLIENT,
    NULL,
};

#define HMAC_SOURCE                                                                                \
	"auth = hmac\n"                                                                            \
	"hmac_algorithm = sha256\n"                                                                \
	"hmac_encoding = hex\n"                                                                    \
	"signature_header = X-Signature\n"                                                         \
	"signature_prefix = sha256=\n"

/* Sources of the shared ingress. gh's body_limit is below big's, so evhttp's own limit (the
 * largest of all) lets a body through that only gh refuses: the 413 is the ingress's. */
static const char shared_sources[] =
    "[source.gh]\n" HMAC_SOURCE "body_limit = 1KiB\n"
    "[source.big]\n" HMAC_SOURCE "body_limit = 64KiB\n"
    "[source.evt]\n" HMAC_SOURCE "idempotency_key = json:/event/id\n"
    "[source.sw]\n"
    "auth = standard-webhooks\n"
    "tolerance = 5m\n"
    "[source.rot]\n" HMAC_SOURCE "secret = " ROT_NEW "\n"
    "secret = " ROT_OLD "\n"
    "[source.key]\n"
    "auth = api-key\n"
    "api_key_header = X-Api-Key\n"
    "[source.ckey]\n"
    "auth = api-key\n"
    "api_key_cookie = hk\n"
    "[source.bear]\n"
    "auth = bearer\n"
    "[source.basic]\n"
    "auth = basic\n"
    "[source.jwt]\n"
    "auth = jwt-bearer\n"
    "jwt_header_prefix = JWT\n"
    "jwt_issuer = versori\n"
    "[source.oa]\n"
    "auth = oauth2\n"
    "[source.oashort]\n"
    "auth = oauth2\n"
    "oauth2_token_lifetime = 1s\n"
    "[source.open]\n"
    "auth = none\n"
    "allow_unauthenticated = true\n";

/* State of the group: one database, one shared ingress; per-test extras. */
struct suite {
	struct harness_group g;      /* first: the harness_group_*() functions take the state */
	struct harness_service *own; /* an ingress of the test's own, stopped in teardown */
};

/* Group setup: a migrated database and the ingress the tests share. */
static int group_setup(void **state)
{
	return harness_group_setup(state, sizeof(struct suite), shared_sources, shared_env);
}

/* One webhook to send. */
struct hook {
	const char *source;
	const char *secret;       /* hmac secret to sign with; NULL: no signature */
	const char *content_type; /* NULL: application/json */
	const char *body;
	const char *const *headers;
	const char *method;
};

/* Send a webhook to /hooks/<source>, signing it when a secret is given. */
static void hook_send(int port, const struct hook *h, struct harness_response *r)
{
	_cleanup_free_ char *path = xasprintf("/hooks/%s", h->source);
	_cleanup_free_ char *sig = NULL;
	const char *headers[16];
	size_t n = 0;
	size_t len = strlen(h->body);

	if (h->secret) {
		sig = harness_hmac_header(&harness_hmac_signer, h->secret, path, h->body, len);
		assert_non_null(sig);
		headers[n++] = sig;
	}
	for (size_t i = 0; h->headers && h->headers[i] && n < 15; i++)
		headers[n++] = h->headers[i];
	headers[n] = NULL;
	harness_http(port,
	             &(struct harness_request){
	                 .method = h->method ? h->method : "POST",
	                 .path = path,
	                 .content_type = h->content_type ? h->content_type : "application/json",
	                 .body = h->body,
	                 .body_len = len,
	                 .headers = headers,
	             },
	             r);
}

/* Fail with the response body when the status is not the expected one. */
static void expect_status(const struct harness_response *r, long status)
{
	if (r->status != status)
		fail_msg("expected HTTP %ld, got %ld (curl %d): %s", status, r->status,
		         r->curl_code, r->body ? r->body : "");
}

/* Expect an error answer with this status and {"error":{"code":code}}. */
static void expect_error(const struct harness_response *r, long status, const char *code)
{
	const char *got;

	expect_status(r, status);
	got = harness_response_error_code(r);
	if (!got || strcmp(got, code) != 0)
		fail_msg("expected error code %s, got %s: %s", code, got ? got : "(none)",
		         r->body ? r->body : "");
}

/* Expect 202 (or 200 when duplicate) with a UUID delivery_id; copy it out. */
static void expect_accepted(const struct harness_response *r, bool duplicate,
                            char id[HARNESS_ID_MAX])
{
	const char *got;

	expect_status(r, duplicate ? 200 : 202);
	got = harness_response_delivery_id(r);
	if (!harness_is_uuid(got))
		fail_msg("delivery_id is not a UUID: %s", r->body ? r->body : "");
	assert_int_equal(harness_response_duplicate(r), duplicate);
	snprintf(id, HARNESS_ID_MAX, "%s", got);
}

/* Send a webhook and expect it accepted; copy the id out. */
static void hook_accept(int port, const struct hook *h, bool duplicate, char id[HARNESS_ID_MAX])
{
	struct harness_response r;

	hook_send(port, h, &r);
	expect_accepted(&r, duplicate, id);
	harness_response_fini(&r);
}

/* Send a webhook and expect an error; also expect the source/reason rejection counter to
 * grow by exactly one. */
static void hook_reject(int port, const struct hook *h, const char *label, long status,
                        const char *code)
{
	_cleanup_free_ char *series =
	    xasprintf("hookrun_webhook_rejections_total{source=\"%s\",reason=\"%s\"}", label, code);
	double before = harness_metric(port, series);
	struct harness_response r;

	assert_true(before >= 0);
	hook_send(port, h, &r);
	expect_error(&r, status, code);
	harness_response_fini(&r);
	if (harness_metric(port, series) != before + 1)
		fail_msg("%s did not grow by one", series);
}

/* Rows of one source holding one idempotency key. */
static long long key_rows(PGconn *conn, const char *source, const char *key)
{
	return harness_sql_int(conn,
	                       "SELECT count(*) FROM hookrun.deliveries "
	                       "WHERE source = $1 AND idempotency_key = $2",
	                       source, key, NULL);
}

/* Per-test teardown: stop what the test started; print logs when it failed. */
static int test_teardown(void **state)
{
	struct suite *s = *state;
	/* A sanitizer report at exit fails the test even when its assertions passed. */
	bool dirty = s->own && harness_service_stop(s->own, 15000) == -EPROTO;

	harness_service_free(s->own, !s->g.passed);
	s->own = NULL;
	return harness_test_teardown(state) < 0 || dirty ? -1 : 0;
}

/* 1. /healthz, /readyz, /metrics, an unknown route and a wrong method. */
static void test_ops_endpoints(void **state)
{
	static const char *const metrics[] = {
	    "hookrun_http_requests_total",     "hookrun_webhook_rejections_total",
	    "hookrun_commit_batch_rows",       "hookrun_commit_backlog",
	    "hookrun_commit_duration_seconds",
	};
	struct suite *s = *state;
	struct harness_response r;

	HARNESS_REQUIRE_DB();
	harness_http_get(s->g.port, "/healthz", &r);
	expect_status(&r, 200);
	harness_response_fini(&r);
	harness_http_get(s->g.port, "/readyz", &r);
	expect_status(&r, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ready");
	harness_response_fini(&r);
	harness_http_get(s->g.port, "/metrics", &r);
	expect_status(&r, 200);
	assert_non_null(harness_response_header(&r, "Content-Type"));
	assert_non_null(strstr(harness_response_header(&r, "Content-Type"), "text/plain"));
	for (size_t i = 0; i < ELEMENTSOF(metrics); i++)
		if (!strstr(r.body, metrics[i]))
			fail_msg("/metrics lacks %s", metrics[i]);
	harness_response_fini(&r);
	harness_http_get(s->g.port, "/no/such/route", &r);
	expect_error(&r, 404, "not_found");
	harness_response_fini(&r);
	harness_http(s->g.port, &(struct harness_request){.method = "POST", .path = "/healthz"},
	             &r);
	expect_error(&r, 405, "method_not_allowed");
	harness_response_fini(&r);
	s->g.passed = true;
}

/* Check a stored delivery against what was sent. */
static void check_stored_hmac(PGconn *conn, const char *id, const char *body)
{
	struct harness_delivery d;
	json_auto_t *headers = NULL;

	assert_int_equal(harness_delivery_fetch(conn, id, &d), 0);
	assert_string_equal(d.source, "gh");
	assert_string_equal(d.verified_by, "hmac");
	assert_string_equal(d.content_type, "application/json");
	assert_int_equal(d.body_len, strlen(body));
	assert_memory_equal(d.body, body, d.body_len);
	assert_null(d.idempotency_key);
	headers = json_loads(d.headers_json, 0, NULL);
	assert_non_null(headers);
	assert_string_equal(json_string_value(json_object_get(headers, "x-custom")), "kept");
	assert_non_null(json_object_get(headers, "content-type"));
	assert_null(json_object_get(headers, "x-signature"));
	assert_null(json_object_get(headers, "authorization"));
	assert_null(strstr(d.headers_json, "leak-me"));
	harness_delivery_fini(&d);
}

/* 2. A signed JSON body is 202 with a delivery id, and stored byte for byte. */
static void test_hmac_accepted(void **state)
{
	static const char body[] = "{\"event\": \"push\",\n"
	                           "  \"text\": \"h\xc3\xa9llo w\xc3\xb6rld\","
	                           " \"n\": [1, 2.5, null], \"esc\": \"\\u00e9\\n\"}";
	static const char *const headers[] = {"Authorization: Bearer leak-me", "X-Custom: kept",
	                                      NULL};
	struct suite *s = *state;
	char id[HARNESS_ID_MAX];
	long long before;

	HARNESS_REQUIRE_DB();
	before = harness_deliveries_count(s->g.conn, "gh");
	hook_accept(
	    s->g.port,
	    &(struct hook){.source = "gh", .secret = GH_SECRET, .body = body, .headers = headers},
	    false, id);
	assert_int_equal(harness_deliveries_count(s->g.conn, "gh"), before + 1);
	check_stored_hmac(s->g.conn, id, body);
	s->g.passed = true;
}

/* 3. Every refusal: status, code, counter, and nothing stored. */
static void test_rejections(void **state)
{
	static const char ok_body[] = "{\"ok\":true}";
	struct suite *s = *state;
	_cleanup_free_ char *big = NULL;
	long long before;

	HARNESS_REQUIRE_DB();
	before = harness_deliveries_count(s->g.conn, NULL);
	hook_reject(s->g.port, &(struct hook){.source = "gh", .secret = "wrong", .body = ok_body},
	            "gh", 401, "bad_signature");
	hook_reject(s->g.port, &(struct hook){.source = "gh", .body = ok_body}, "gh", 401,
	            "missing_signature");
	hook_reject(s->g.port,
	            &(struct hook){.source = "nosuch", .secret = GH_SECRET, .body = ok_body}, "-",
	            404, "unknown_source");
	big = xmalloc(4096 + 1);
	memset(big, ' ', 4096);
	memcpy(big, "{\"pad\":1}", 9);
	big[4096] = '\0';
	hook_reject(s->g.port, &(struct hook){.source = "gh", .secret = GH_SECRET, .body = big},
	            "gh", 413, "body_too_large");
	hook_reject(
	    s->g.port,
	    &(struct hook){
	        .source = "gh", .secret = GH_SECRET, .body = ok_body, .content_type = "text/plain"},
	    "gh", 415, "unsupported_media_type");
	hook_reject(s->g.port,
	            &(struct hook){.source = "gh", .secret = GH_SECRET, .body = "{\"a\":1,}"}, "gh",
	            400, "malformed_json");
	assert_int_equal(harness_deliveries_count(s->g.conn, NULL), before);
	s->g.passed = true;
}

/* 3. GET /hooks/<source> is 405 with Allow: POST, and stores nothing. */
static void test_hook_wrong_method(void **state)
{
	struct suite *s = *state;
	struct harness_response r;
	long long before;
	double m_before;
	const char *series = "hookrun_webhook_rejections_total{source=\"gh\","
	                     "reason=\"method_not_allowed\"}";

	HARNESS_REQUIRE_DB();
	before = harness_deliveries_count(s->g.conn, NULL);
	m_before = harness_metric(s->g.port, series);
	harness_http(s->g.port, &(struct harness_request){.method = "GET", .path = "/hooks/gh"},
	             &r);
	expect_error(&r, 405, "method_not_allowed");
	assert_non_null(harness_response_header(&r, "Allow"));
	assert_string_equal(harness_response_header(&r, "Allow"), "POST");
	harness_response_fini(&r);
	assert_true(harness_metric(s->g.port, series) == m_before + 1);
	assert_int_equal(harness_deliveries_count(s->g.conn, NULL), before);
	s->g.passed = true;
}

/* 4. Idempotency-Key twice: 202 then 200 with the same id and duplicate, one row. The key
 * holds what an SQL or array literal would have to escape (the claim sends keys as one). */
static void test_dedup_header(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *key = xasprintf("hdr-'\"\\{a,b} NULL-%d", (int)getpid());
	_cleanup_free_ char *key_line = xasprintf("Idempotency-Key: %s", key);
	const char *headers[] = {key_line, NULL};
	char id1[HARNESS_ID_MAX], id2[HARNESS_ID_MAX];
	struct hook h = {
	    .source = "gh", .secret = GH_SECRET, .body = "{\"try\":1}", .headers = headers};

	HARNESS_REQUIRE_DB();
	hook_accept(s->g.port, &h, false, id1);
	h.body = "{\"try\":2}";
	hook_accept(s->g.port, &h, true, id2);
	assert_string_equal(id1, id2);
	assert_int_equal(key_rows(s->g.conn, "gh", key), 1);
	/* Keys are per source: the same key elsewhere is a new delivery. */
	h.source = "big";
	hook_accept(s->g.port, &h, false, id2);
	assert_string_not_equal(id1, id2);
	assert_int_equal(key_rows(s->g.conn, "big", key), 1);
	s->g.passed = true;
}

/* 4. A JSON-pointer key (json:/event/id) dedups on the body field. */
static void test_dedup_json_pointer(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *key = xasprintf("evt-%d", (int)getpid());
	_cleanup_free_ char *b1 = xasprintf("{\"event\":{\"id\":\"%s\"},\"n\":1}", key);
	_cleanup_free_ char *b2 = xasprintf("{\"n\":2,\"event\":{\"id\":\"%s\",\"x\":[]}}", key);
	char id1[HARNESS_ID_MAX], id2[HARNESS_ID_MAX], id3[HARNESS_ID_MAX];
	struct harness_delivery d;

	HARNESS_REQUIRE_DB();
	hook_accept(s->g.port, &(struct hook){.source = "evt", .secret = GH_SECRET, .body = b1},
	            false, id1);
	hook_accept(s->g.port, &(struct hook){.source = "evt", .secret = GH_SECRET, .body = b2},
	            true, id2);
	assert_string_equal(id1, id2);
	assert_int_equal(key_rows(s->g.conn, "evt", key), 1);
	assert_int_equal(harness_delivery_fetch(s->g.conn, id1, &d), 0);
	assert_string_equal(d.idempotency_key, key);
	assert_memory_equal(d.body, b1, strlen(b1));
	harness_delivery_fini(&d);
	/* A body without the field has no key and is never a duplicate. */
	hook_accept(s->g.port,
	            &(struct hook){.source = "evt", .secret = GH_SECRET, .body = "{\"n\":3}"},
	            false, id3);
	assert_string_not_equal(id3, id1);
	s->g.passed = true;
}

/* Send a Standard Webhooks message signed at ts. */
static void sw_send(int port, const char *msg_id, long long ts, const char *body,
                    struct harness_response *r)
{
	_cleanup_free_ char *sig =
	    webhook_auth_sign_standard(SW_SECRET, msg_id, ts, body, strlen(body));
	_cleanup_free_ char *h_id = xasprintf("webhook-id: %s", msg_id);
	_cleanup_free_ char *h_ts = xasprintf("webhook-timestamp: %lld", ts);
	_cleanup_free_ char *h_sig = xasprintf("webhook-signature: %s", sig);
	const char *headers[] = {h_id, h_ts, h_sig, NULL};

	assert_non_null(sig);
	hook_send(port, &(struct hook){.source = "sw", .body = body, .headers = headers}, r);
}

/* 4. Standard Webhooks dedups on webhook-id; an old timestamp is refused. */
static void test_dedup_standard_webhooks(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *msg = xasprintf("msg_%d_1", (int)getpid());
	_cleanup_free_ char *old = xasprintf("msg_%d_old", (int)getpid());
	char id1[HARNESS_ID_MAX], id2[HARNESS_ID_MAX];
	struct harness_response r;
	struct harness_delivery d;
	long long before;

	HARNESS_REQUIRE_DB();
	sw_send(s->g.port, msg, (long long)time(NULL), "{\"type\":\"a\"}", &r);
	expect_accepted(&r, false, id1);
	harness_response_fini(&r);
	sw_send(s->g.port, msg, (long long)time(NULL), "{\"type\":\"a\"}", &r);
	expect_accepted(&r, true, id2);
	harness_response_fini(&r);
	assert_string_equal(id1, id2);
	assert_int_equal(key_rows(s->g.conn, "sw", msg), 1);
	assert_int_equal(harness_delivery_fetch(s->g.conn, id1, &d), 0);
	assert_string_equal(d.verified_by, "standard-webhooks");
	assert_null(strstr(d.headers_json, "webhook-signature"));
	harness_delivery_fini(&d);
	before = harness_deliveries_count(s->g.conn, NULL);
	sw_send(s->g.port, old, (long long)time(NULL) - 600, "{\"type\":\"b\"}", &r);
	expect_error(&r, 401, "timestamp_too_old");
	harness_response_fini(&r);
	sw_send(s->g.port, old, (long long)time(NULL) + 600, "{\"type\":\"b\"}", &r);
	expect_error(&r, 401, "timestamp_too_new");
	harness_response_fini(&r);
	assert_int_equal(harness_deliveries_count(s->g.conn, NULL), before);
	s->g.passed = true;
}

/* Check the outcomes of the concurrent duplicates: one 202, the rest 200, one id. */
static void check_one_id(const struct harness_outcome *oc, size_t n, size_t expected)
{
	size_t n202 = 0;

	assert_int_equal(n, expected);
	for (size_t i = 0; i < n; i++) {
		if (oc[i].status != 202 && oc[i].status != 200)
			fail_msg("request %zu answered %ld %s", i, oc[i].status, oc[i].code);
		n202 += oc[i].status == 202;
		assert_true(harness_is_uuid(oc[i].id));
		assert_string_equal(oc[i].id, oc[0].id);
	}
	assert_int_equal(n202, 1);
}

/* 4. Twenty threads send the same key at once: one row, one id in every answer. */
static void test_dedup_concurrent(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *key = xasprintf("conc-%d", (int)getpid());
	_cleanup_free_ char *key_line = xasprintf("Idempotency-Key: %s", key);
	const char *headers[] = {key_line, NULL};
	const struct harness_outcome *oc;
	size_t n;

	HARNESS_REQUIRE_DB();
	s->g.load = harness_load_start(&(struct harness_load_options){
	    .port = s->g.port,
	    .path = "/hooks/gh",
	    .threads = 20,
	    .max_seconds = 60,
	    .max_requests = 20,
	    .hmac = &harness_hmac_signer,
	    .secret = GH_SECRET,
	    .headers = headers,
	});
	assert_true(harness_load_wait_done(s->g.load, 60000));
	harness_load_stop(s->g.load);
	oc = harness_load_outcomes(s->g.load, &n);
	check_one_id(oc, n, 20);
	assert_int_equal(key_rows(s->g.conn, "gh", key), 1);
	s->g.passed = true;
}

/* 5. Two configured secrets are both accepted; a third is not. */
static void test_secret_rotation(void **state)
{
	struct suite *s = *state;
	char id1[HARNESS_ID_MAX], id2[HARNESS_ID_MAX];
	long long before;

	HARNESS_REQUIRE_DB();
	before = harness_deliveries_count(s->g.conn, "rot");
	hook_accept(s->g.port, &(struct hook){.source = "rot", .secret = ROT_NEW, .body = "{}"},
	            false, id1);
	hook_accept(s->g.port, &(struct hook){.source = "rot", .secret = ROT_OLD, .body = "[]"},
	            false, id2);
	assert_string_not_equal(id1, id2);
	hook_reject(s->g.port,
	            &(struct hook){.source = "rot", .secret = "rotation: unknown", .body = "{}"},
	            "rot", 401, "bad_signature");
	assert_int_equal(harness_deliveries_count(s->g.conn, "rot"), before + 2);
	s->g.passed = true;
}

/* Accept one request of a scheme and check the stored row names it. */
static void scheme_accept(struct suite *s, const char *source, const char *header,
                          const char *verified_by)
{
	const char *headers[] = {header, NULL};
	char id[HARNESS_ID_MAX];
	struct harness_delivery d;

	hook_accept(s->g.port,
	            &(struct hook){.source = source,
	                           .body = "{\"scheme\":true}",
	                           .headers = header ? headers : NULL},
	            false, id);
	assert_int_equal(harness_delivery_fetch(s->g.conn, id, &d), 0);
	assert_string_equal(d.verified_by, verified_by);
	assert_string_equal(d.source, source);
	assert_null(strstr(d.headers_json, "k-0123456789abcdef"));
	assert_null(strstr(d.headers_json, "t-fedcba9876543210"));
	harness_delivery_fini(&d);
}

/* Refuse one request of a scheme. */
static void scheme_reject(struct suite *s, const char *source, const char *header, const char *code)
{
	const char *headers[] = {header, NULL};

	hook_reject(s->g.port,
	            &(struct hook){.source = source,
	                           .body = "{\"scheme\":true}",
	                           .headers = header ? headers : NULL},
	            source, 401, code);
}

/* "Authorization: JWT <token>" for the jwt source: iss, and exp at now + exp_in seconds. */
static char *jwt_header(const char *iss, long long exp_in)
{
	struct source_config src = {.auth = AUTH_SCHEME_JWT_BEARER,
	                            .jwt_algorithm = JWT_ALGORITHM_HS256};
	json_auto_t *claims =
	    json_pack("{s:s, s:I, s:I}", "iss", iss, "exp", (json_int_t)(time(NULL) + exp_in),
	              "iat", (json_int_t)time(NULL));
	_cleanup_free_ char *token = jwt_bearer_mint(&src, JWT_SECRET, claims);

	assert_non_null(token);
	return xasprintf("Authorization: JWT %s", token);
}

/* 6. api-key (in a header or a cookie), bearer, basic, jwt-bearer and none end to end. */
static void test_other_schemes(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *b64 = crypto_base64_encode(BASIC_CRED, strlen(BASIC_CRED));
	_cleanup_free_ char *basic = xasprintf("Authorization: Basic %s", b64);
	_cleanup_free_ char *bad_b64 = crypto_base64_encode("alice:nope", 10);
	_cleanup_free_ char *bad_basic = xasprintf("Authorization: Basic %s", bad_b64);
	_cleanup_free_ char *jwt_ok = jwt_header("versori", 300);
	_cleanup_free_ char *jwt_expired = jwt_header("versori", -3600);
	_cleanup_free_ char *jwt_other = jwt_header("someone", 300);
	long long before;

	HARNESS_REQUIRE_DB();
	scheme_accept(s, "key", "X-Api-Key: " API_KEY, "api-key");
	scheme_accept(s, "ckey", "Cookie: theme=dark; hk=" API_KEY, "api-key");
	scheme_accept(s, "bear", "Authorization: Bearer " BEARER_TOKEN, "bearer");
	scheme_accept(s, "basic", basic, "basic");
	scheme_accept(s, "jwt", jwt_ok, "jwt-bearer");
	scheme_accept(s, "open", NULL, "none");
	before = harness_deliveries_count(s->g.conn, NULL);
	scheme_reject(s, "key", "X-Api-Key: wrong", "bad_credentials");
	scheme_reject(s, "key", NULL, "missing_credentials");
	scheme_reject(s, "ckey", "Cookie: hk=wrong", "bad_credentials");
	scheme_reject(s, "ckey", "X-Api-Key: " API_KEY, "missing_credentials");
	scheme_reject(s, "ckey", "Cookie: hk=" API_KEY "; hk=" API_KEY, "malformed_credentials");
	scheme_reject(s, "bear", "Authorization: Bearer wrong", "bad_credentials");
	scheme_reject(s, "bear", "Authorization: Basic " BEARER_TOKEN, "missing_credentials");
	scheme_reject(s, "basic", bad_basic, "bad_credentials");
	scheme_reject(s, "basic", NULL, "missing_credentials");
	scheme_reject(s, "jwt", jwt_expired, "token_expired");
	scheme_reject(s, "jwt", jwt_other, "bad_issuer");
	scheme_reject(s, "jwt", "Authorization: JWT e30.e30.", "alg_not_allowed");
	scheme_reject(s, "jwt", "Authorization: Bearer x", "missing_credentials");
	assert_int_equal(harness_deliveries_count(s->g.conn, NULL), before);
	s->g.passed = true;
}

/* POST /oauth/token with form and, when given, the client's "id:secret" in Basic. */
static void token_request(int port, const char *form, const char *basic_pair,
                          struct harness_response *r)
{
	_cleanup_free_ char *b64 =
	    basic_pair ? crypto_base64_encode(basic_pair, strlen(basic_pair)) : NULL;
	_cleanup_free_ char *auth = b64 ? xasprintf("Authorization: Basic %s", b64) : NULL;

	harness_response_fini(r);
	harness_http(port,
	             &(struct harness_request){.method = "POST",
	                                       .path = "/oauth/token",
	                                       .content_type = "application/x-www-form-urlencoded",
	                                       .body = form,
	                                       .body_len = strlen(form),
	                                       .headers = (const char *const[]){auth, NULL}},
	             r);
}

/* An access token for the client, from Basic; "Authorization: Bearer <token>". */
static char *oauth_bearer(int port, const char *pair)
{
	struct harness_response r = {0};
	char *line;

	token_request(port, "grant_type=client_credentials", pair, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(harness_response_header(&r, "Cache-Control"), "no-store");
	assert_string_equal(json_string_value(json_object_get(r.json, "token_type")), "Bearer");
	assert_true(json_integer_value(json_object_get(r.json, "expires_in")) > 0);
	line = xasprintf("Authorization: Bearer %s",
	                 json_string_value(json_object_get(r.json, "access_token")));
	harness_response_fini(&r);
	return line;
}

/* 6b. oauth2: the client credentials grant at POST /oauth/token (Basic, or the body), its
 * token accepted by its source until it expires, refused by another, the RFC 6749 errors. */
static void test_oauth2(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	_cleanup_free_ char *bearer = NULL, *short_bearer = NULL;
	long long deadline;
	bool expired = false;

	HARNESS_REQUIRE_DB();
	bearer = oauth_bearer(s->g.port, OAUTH_CLIENT);
	scheme_accept(s, "oa", bearer, "oauth2");
	scheme_reject(s, "oashort", bearer, "bad_audience");
	scheme_reject(s, "oa", "Authorization: Bearer " BEARER_TOKEN, "malformed_token");
	scheme_reject(s, "oa", NULL, "missing_credentials");
	/* The body's client_id and client_secret, form-encoded. */
	token_request(
	    s->g.port,
	    "grant_type=client_credentials&client_id=flows&client_secret=c-0123456789abcdef", NULL,
	    &r);
	assert_int_equal(r.status, 200);
	/* RFC 6749 §5.2 errors: a wrong secret (Basic: WWW-Authenticate), no grant_type. */
	token_request(s->g.port, "grant_type=client_credentials", "flows:wrong-secret-0000", &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(json_string_value(json_object_get(r.json, "error")), "invalid_client");
	assert_non_null(harness_response_header(&r, "WWW-Authenticate"));
	token_request(s->g.port, "scope=x", OAUTH_CLIENT, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(json_string_value(json_object_get(r.json, "error")), "invalid_request");
	token_request(s->g.port, "grant_type=authorization_code&code=x", OAUTH_CLIENT, &r);
	assert_string_equal(json_string_value(json_object_get(r.json, "error")),
	                    "unsupported_grant_type");
	/* A one-second token: refused as expired once its second has passed, so the client
	 * fetches a new one (what Versori does on a 401). */
	short_bearer = oauth_bearer(s->g.port, OAUTH_SHORT_CLIENT);
	deadline = harness_now_ms() + 10000;
	while (!expired && harness_now_ms() < deadline) {
		const char *headers[] = {short_bearer, NULL};

		harness_response_fini(&r);
		harness_http(s->g.port,
		             &(struct harness_request){.method = "POST",
		                                       .path = "/hooks/oashort",
		                                       .content_type = "application/json",
		                                       .body = "{}",
		                                       .body_len = 2,
		                                       .headers = headers},
		             &r);
		expired = r.status == 401 &&
		          strcmp(harness_response_error_code(&r), "token_expired") == 0;
		if (!expired)
			harness_poll_pause();
	}
	assert_true(expired);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* Poll until the key's row has expired in the database; false at the deadline. */
static bool wait_key_expired(PGconn *conn, const char *source, const char *key, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		long long n = harness_sql_int(conn,
		                              "SELECT count(*) FROM hookrun.idempotency_keys "
		                              "WHERE source = $1 AND key = $2 "
		                              "AND expires_at >= now()",
		                              source, key, NULL);
		if (n == 0) /* expired, or already deleted by the janitor */
			return true;
		if (n < 0 || harness_now_ms() >= deadline)
			return false;
		harness_poll_pause();
	}
}

static void expect_janitor(PGconn *conn, int port, struct hook *h);

/* 7. Once dedup_window has passed, the same key is a new delivery. */
static void test_dedup_window(void **state)
{
	static const char *const env[] = {"HOOKRUN_SOURCE_WIN_SECRET=" GH_SECRET, NULL};
	struct suite *s = *state;
	_cleanup_free_ char *key = xasprintf("win-%d", (int)getpid());
	_cleanup_free_ char *key_line = xasprintf("Idempotency-Key: %s", key);
	const char *headers[] = {key_line, NULL};
	struct hook h = {
	    .source = "win", .secret = GH_SECRET, .body = "{\"w\":1}", .headers = headers};
	char id1[HARNESS_ID_MAX], id2[HARNESS_ID_MAX];
	int port;

	HARNESS_REQUIRE_DB();
	s->own = harness_ingress_start(s->g.db, "dedup_window = 1s\n", "[source.win]\n" HMAC_SOURCE,
	                               env);
	assert_non_null(s->own);
	port = harness_service_port(s->own);
	hook_accept(port, &h, false, id1);
	assert_true(wait_key_expired(s->g.conn, "win", key, 5000));
	hook_accept(port, &h, false, id2);
	assert_string_not_equal(id1, id2);
	assert_int_equal(key_rows(s->g.conn, "win", key), 2);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.idempotency_keys "
	                                 "WHERE source = 'win' AND key = $1 AND delivery_id = $2",
	                                 key, id2, NULL),
	                 1);
	expect_janitor(s->g.conn, port, &h);
	assert_int_equal(harness_service_stop(s->own, 15000), 0);
	s->g.passed = true;
}

/* The janitor deletes a key nobody reuses once it expired (interval: the 1 s window). */
static void expect_janitor(PGconn *conn, int port, struct hook *h)
{
	_cleanup_free_ char *key = xasprintf("gone-%d", (int)getpid());
	_cleanup_free_ char *key_line = xasprintf("Idempotency-Key: %s", key);
	const char *headers[] = {key_line, NULL};
	long long deadline = harness_now_ms() + 10000;
	char id[HARNESS_ID_MAX];

	h->headers = headers;
	hook_accept(port, h, false, id);
	while (harness_sql_int(conn,
	                       "SELECT count(*) FROM hookrun.idempotency_keys "
	                       "WHERE source = 'win' AND key = $1",
	                       key, NULL) != 0) {
		if (harness_now_ms() >= deadline)
			fail_msg("expired key %s was not deleted within 10 s", key);
		harness_poll_pause();
	}
	assert_int_equal(harness_sql_int(conn,
	                                 "SELECT count(*) FROM hookrun.deliveries WHERE id = $1",
	                                 id, NULL),
	                 1);
}

/* Every id answered 202/200 by the load is stored. */
static void expect_all_stored(PGconn *conn, const struct harness_load *load)
{
	char first[HARNESS_ID_MAX] = "";
	size_t n = 0;
	size_t missing = harness_load_unstored(conn, load, &n, first);

	if (missing != 0)
		fail_msg("%zu of %zu acknowledged deliveries are not stored (first: %s)", missing,
		         n, first);
	print_message("# %zu acknowledged deliveries, all stored\n", n);
}

/* How many requests were sent before t_ms and answered 202 after it. */
static size_t accepted_across(const struct harness_load *load, long long t_ms)
{
	size_t n, count = 0;
	const struct harness_outcome *oc = harness_load_outcomes(load, &n);

	for (size_t i = 0; i < n; i++)
		count += oc[i].status == 202 && oc[i].start_ms <= t_ms && oc[i].end_ms >= t_ms;
	return count;
}

/* 8. SIGTERM with requests in flight: exit 0 in time, every 202 stored. */
static void test_graceful_sigterm(void **state)
{
	static const char *const env[] = {"HOOKRUN_SOURCE_TERM_SECRET=" GH_SECRET, NULL};
	struct suite *s = *state;
	struct harness_load_stats st;
	long long t0;
	int r;

	HARNESS_REQUIRE_DB();
	s->own = harness_ingress_start(s->g.db, NULL, "[source.term]\n" HMAC_SOURCE, env);
	assert_non_null(s->own);
	s->g.load = harness_load_start(&(struct harness_load_options){
	    .port = harness_service_port(s->own),
	    .path = "/hooks/term",
	    .threads = 4,
	    .max_seconds = 60,
	    .max_requests = 20000,
	    .hmac = &harness_hmac_signer,
	    .secret = GH_SECRET,
	    .pause_after_error_ms = 20,
	});
	assert_true(harness_load_wait(s->g.load, 202, 100, 30000));
	t0 = harness_now_ms();
	r = harness_service_stop(s->own, 15000);
	print_message("# SIGTERM to exit: %lld ms\n", harness_now_ms() - t0);
	harness_load_stop(s->g.load);
	st = harness_load_stats(s->g.load);
	print_message("# load: %zu answered, %zu 202, %zu 503, %zu other, %zu transport errors; "
	              "%zu answered 202 while SIGTERM was handled\n",
	              st.answered, st.s202, st.s503, st.other, st.transport,
	              accepted_across(s->g.load, t0));
	assert_int_equal(r, 0);
	expect_all_stored(s->g.conn, s->g.load);
	assert_true(harness_deliveries_count(s->g.conn, "term") >= (long long)st.s202);
	s->g.passed = true;
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ops_endpoints, harness_test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_hmac_accepted, harness_test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_rejections, harness_test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_hook_wrong_method, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_dedup_header, harness_test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_dedup_json_pointer, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_dedup_standard_webhooks, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_dedup_concurrent, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_secret_rotation, harness_test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_other_schemes, harness_test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_oauth2, harness_test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_dedup_window, harness_test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_graceful_sigterm, harness_test_setup,
	                                    test_teardown),
	};

	harness_init();
	return cmocka_run_group_tests_name("ingress", tests, group_setup, harness_group_teardown);
}
