/* Unit tests of the webhook receipt checks: order, error codes, idempotency keys, headers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "delivery_writer.h"
#include "http_req.h"
#include "webhook_auth.h"
#include "webhook_receipt.h"

#define NOW_US 1700000000000000LL
#define ID     "0190b5c8-0000-7000-8000-000000000001"
#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"

struct fixture {
	struct source_config src;
	struct http_header headers[8];
	struct http_req req;
	char *sig;
};

/* A valid hmac request for the fixture's source and body. */
static void fixture_sign(struct fixture *f, const char *body)
{
	free(f->sig);
	f->req.body = (const unsigned char *)body;
	f->req.body_len = strlen(body);
	f->sig = webhook_auth_sign_hmac(&f->src, "topsecret", f->req.uri, body, strlen(body));
	f->headers[1].value = f->sig;
}

/* Fresh fixture: hmac sha256 hex source, a signed JSON POST. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->src = (struct source_config){
	    .name = (char *)"demo",
	    .auth = AUTH_SCHEME_HMAC,
	    .n_secrets = 1,
	    .hmac_algorithm = HMAC_ALGORITHM_SHA256,
	    .hmac_inputs = {SIG_INPUT_BODY},
	    .n_hmac_inputs = 1,
	    .hmac_encoding = SIG_ENCODING_HEX,
	    .signature_header = (char *)"X-Signature",
	    .signature_prefix = (char *)"sha256=",
	    .body_limit = 64,
	    .idempotency_from = IDEMPOTENCY_FROM_HEADER,
	    .idempotency_name = (char *)"Idempotency-Key",
	};
	f->src.secrets[0] = (char *)"topsecret";
	f->headers[0] = (struct http_header){"Content-Type", "application/json; charset=utf-8"};
	f->headers[1] = (struct http_header){"X-Signature", NULL};
	f->headers[2] = (struct http_header){"Authorization", "Bearer leak-me-not"};
	f->headers[3] = (struct http_header){"User-Agent", "test"};
	f->headers[4] = (struct http_header){"Idempotency-Key", "  key-1"};
	f->req = (struct http_req){.method = HTTP_METHOD_POST,
	                           .uri = "/hooks/demo",
	                           .path = "/hooks/demo",
	                           .headers = f->headers,
	                           .n_headers = 5,
	                           .peer = "127.0.0.1:1"};
	fixture_sign(f, "{\"event\":{\"id\":42}}");
	*state = f;
	return 0;
}

/* Free the fixture. */
static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->sig);
	free(f);
	return 0;
}

/* Run prepare and return its result, freeing any delivery. */
static int prepare(struct fixture *f, struct webhook_receipt_error *e, struct delivery *d)
{
	int r = webhook_receipt_prepare(&f->src, &f->req, NOW_US, ID, d, e);
	return r;
}

/* A valid request becomes a delivery with every field set. */
static void test_accept(void **state)
{
	struct fixture *f = *state;
	struct webhook_receipt_error e = {0};
	struct delivery d;

	assert_int_equal(prepare(f, &e, &d), 0);
	assert_string_equal(d.id, ID);
	assert_string_equal(d.source, "demo");
	assert_string_equal(d.idempotency_key, "key-1");
	assert_string_equal(d.method, "POST");
	assert_string_equal(d.uri, "/hooks/demo");
	assert_string_equal(d.verified_by, "hmac");
	assert_int_equal(d.received_us, NOW_US);
	assert_ptr_equal(d.body, f->req.body);
	assert_non_null(strstr(d.headers_json, "\"user-agent\":\"test\""));
	assert_null(strstr(d.headers_json, "leak-me-not"));
	assert_null(strstr(d.headers_json, "x-signature"));
	delivery_fini(&d);
}

/* Each failure maps to its errno and code, in the documented order. */
static void test_rejections(void **state)
{
	struct fixture *f = *state;
	struct webhook_receipt_error e = {0};
	struct delivery d;

	f->req.method = HTTP_METHOD_GET;
	assert_int_equal(prepare(f, &e, &d), -EOPNOTSUPP);
	assert_string_equal(e.problem.code, "method_not_allowed");
	f->req.method = HTTP_METHOD_POST;

	fixture_sign(f, "{\"pad\":\"0123456789012345678901234567890123456789012345678901234\"}");
	assert_int_equal(prepare(f, &e, &d), -EFBIG);
	assert_string_equal(e.problem.code, "body_too_large");
	assert_non_null(strstr(e.problem.message, "limit of 64 bytes"));

	fixture_sign(f, "{\"a\":1}");
	f->headers[1].value = "sha256=" ZERO64;
	assert_int_equal(prepare(f, &e, &d), -EACCES);
	assert_string_equal(e.problem.code, "bad_signature");

	f->headers[1].value = "sha256=00";
	assert_int_equal(prepare(f, &e, &d), -EACCES);
	assert_string_equal(e.problem.code, "malformed_signature");

	fixture_sign(f, "{\"a\":1}");
	f->headers[0].value = "text/plain";
	assert_int_equal(prepare(f, &e, &d), -EPROTONOSUPPORT);
	assert_string_equal(e.problem.code, "unsupported_media_type");
	f->headers[0].value = "application/json";

	fixture_sign(f, "{\"a\":");
	assert_int_equal(prepare(f, &e, &d), -EBADMSG);
	assert_string_equal(e.problem.code, "malformed_json");
	assert_non_null(strstr(e.problem.message, "line 1"));
}

/* Authentication is checked before the content type: an unsigned caller learns nothing. */
static void test_auth_before_content_type(void **state)
{
	struct fixture *f = *state;
	struct webhook_receipt_error e = {0};
	struct delivery d;

	f->headers[0].value = "text/plain";
	f->headers[1].value = "sha256=00";
	assert_int_equal(prepare(f, &e, &d), -EACCES);
}

/* Keys come from a JSON pointer when configured; a missing one means no key. */
static void test_json_pointer_key(void **state)
{
	struct fixture *f = *state;
	struct webhook_receipt_error e = {0};
	struct delivery d;

	f->src.idempotency_from = IDEMPOTENCY_FROM_JSON_POINTER;
	f->src.idempotency_name = (char *)"/event/id";
	assert_int_equal(prepare(f, &e, &d), 0);
	assert_string_equal(d.idempotency_key, "42");
	delivery_fini(&d);

	f->src.idempotency_name = (char *)"/event/missing";
	assert_int_equal(prepare(f, &e, &d), 0);
	assert_null(d.idempotency_key);
	delivery_fini(&d);
}

/* Absurdly long keys are refused rather than stored. */
static void test_key_too_long(void **state)
{
	struct fixture *f = *state;
	struct webhook_receipt_error e = {0};
	struct delivery d;
	char key[WEBHOOK_RECEIPT_KEY_MAX + 2];

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	f->headers[4].value = key;
	assert_int_equal(prepare(f, &e, &d), -EBADMSG);
	assert_string_equal(e.problem.code, "idempotency_key_too_long");
}

/* The headers object for hs, which must be valid JSON (jansson parses it) and equal want. */
static void assert_headers(const struct source_config *src, struct http_header *hs, size_t n,
                           const char *want)
{
	struct http_req req = {.headers = hs, .n_headers = n};
	_cleanup_free_ char *s = webhook_receipt_headers_json(src, &req);
	json_error_t je;
	json_auto_t *v = json_loads(s, 0, &je);

	if (!v)
		fail_msg("not JSON (%s): %s", je.text, s);
	assert_true(json_is_object(v));
	assert_string_equal(s, want);
}

/* Repeated headers are joined, names lower-cased. */
static void test_headers_json(void **state)
{
	struct fixture *f = *state;
	struct http_header h[] = {{"X-Trace", "a"}, {"x-trace", "b"}, {"Cookie", "c=1"}};

	assert_headers(&f->src, h, 3, "{\"x-trace\":\"a, b\"}");
	assert_headers(&f->src, h, 0, "{}");
}

/* A repeated name becomes one member at its first occurrence, values in request order. */
static void test_headers_json_merge_order(void **state)
{
	struct fixture *f = *state;
	struct http_header h[] = {{"B", "1"}, {"A", "x"}, {"b", "2"}, {"Content-Type", "t"},
	                          {"B", "3"}, {"a", ""}};

	assert_headers(&f->src, h, 6, "{\"b\":\"1, 2, 3\",\"a\":\"x, \",\"content-type\":\"t\"}");
}

/* Secret headers (always secret ones and the source's signature header) are left out. */
static void test_headers_json_secrets(void **state)
{
	struct fixture *f = *state;
	struct http_header h[] = {
	    {"Authorization", "Bearer leak-me-not"},
	    {"X-Signature", "sha256=ab"},
	    {"x-signature", "again"},
	    {"Proxy-Authorization", "Basic eA=="},
	    {"Set-Cookie", "s=1"},
	    {"Webhook-Signature", "v1,abc"},
	    {"User-Agent", "curl/8"},
	    {"COOKIE", "c=1"},
	};

	assert_headers(&f->src, h, ELEMENTSOF(h), "{\"user-agent\":\"curl/8\"}");
}

/* '"', '\\' and control characters are escaped; other bytes, UTF-8 included, are kept. */
static void test_headers_json_escaping(void **state)
{
	struct fixture *f = *state;
	struct http_header h[] = {
	    {"X-Quote", "say \"hi\" \\o/"},
	    {"X-Ctl", "a\x01"
	              "b\tc\nd\re\bf\fg\x1f"
	              "h\x7f"},
	    {"X-Utf8", "caf\xc3\xa9 \xf0\x9f\x98\x80"},
	    {"X-\"Odd\\Name", "v"},
	};

	assert_headers(&f->src, h, ELEMENTSOF(h),
	               "{\"x-quote\":\"say \\\"hi\\\" \\\\o/\","
	               "\"x-ctl\":\"a\\u0001b\\tc\\nd\\re\\bf\\fg\\u001fh\x7f\","
	               "\"x-utf8\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\","
	               "\"x-\\\"odd\\\\name\":\"v\"}");
}

/* A value that is not UTF-8 becomes a marker; a name that is not, or is too long, is dropped. */
static void test_headers_json_invalid_utf8(void **state)
{
	struct fixture *f = *state;
	char long_name[200];
	struct http_header h[] = {
	    {"X-Bad", "\xff\xfe"},           {"X-Mixed", "ok"}, {"x-mixed", "\xc0\xaf"},
	    {"X-Surrogate", "\xed\xa0\x80"}, {"X-\xff", "v"},   {long_name, "v"},
	};

	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_headers(&f->src, h, ELEMENTSOF(h),
	               "{\"x-bad\":\"(invalid utf-8)\",\"x-mixed\":\"ok, (invalid utf-8)\","
	               "\"x-surrogate\":\"(invalid utf-8)\"}");
}

/* Thousands of headers of a few names merge correctly (and without quadratic work). */
static void test_headers_json_many(void **state)
{
	struct fixture *f = *state;
	enum { N = 6000 };
	struct http_header *h = calloc(N, sizeof(*h));
	static const char *const names[] = {"X-A", "x-b", "X-C"};
	struct http_req req = {.headers = h, .n_headers = N};
	_cleanup_free_ char *s = NULL;
	json_auto_t *v = NULL;

	assert_non_null(h);
	for (size_t i = 0; i < N; i++)
		h[i] = (struct http_header){names[i % 3], i % 3 == 1 ? "1" : "22"};
	s = webhook_receipt_headers_json(&f->src, &req);
	v = json_loads(s, 0, NULL);
	assert_non_null(v);
	assert_int_equal(json_object_size(v), 3);
	assert_int_equal(json_string_length(json_object_get(v, "x-a")), N / 3 * 4 - 2);
	assert_int_equal(json_string_length(json_object_get(v, "x-b")), N / 3 * 3 - 2);
	assert_int_equal(strncmp(s, "{\"x-a\":\"22, 22", 14), 0);
	free(h);
}

/* Numbers of any size are accepted and a numeric key is taken exactly as written. */
static void test_json_pointer_key_numbers(void **state)
{
	struct fixture *f = *state;
	struct webhook_receipt_error e = {0};
	struct delivery d;

	f->src.body_limit = 1024;
	f->src.idempotency_from = IDEMPOTENCY_FROM_JSON_POINTER;
	f->src.idempotency_name = (char *)"/event/id";
	fixture_sign(f, "{\"event\":{\"id\":123456789012345678901234567890}}");
	assert_int_equal(prepare(f, &e, &d), 0);
	assert_string_equal(d.idempotency_key, "123456789012345678901234567890");
	delivery_fini(&d);

	fixture_sign(f, "{\"event\":{\"id\":1.50,\"x\":1e999}}");
	assert_int_equal(prepare(f, &e, &d), 0);
	assert_string_equal(d.idempotency_key, "1.50");
	delivery_fini(&d);

	fixture_sign(f, "{\"event\":{\"id\":\"caf\\u00e9\"},\"event\":{\"id\":\"last\"}}");
	assert_int_equal(prepare(f, &e, &d), 0);
	assert_string_equal(d.idempotency_key, "last");
	delivery_fini(&d);
}

/* A malformed body is reported with its position, whichever way the key is taken. */
static void test_malformed_json_message(void **state)
{
	struct fixture *f = *state;
	struct webhook_receipt_error e = {0};
	struct delivery d;

	fixture_sign(f, "{\"a\":");
	assert_int_equal(prepare(f, &e, &d), -EBADMSG);
	assert_string_equal(e.problem.code, "malformed_json");
	assert_string_equal(e.problem.message,
	                    "malformed JSON at line 1 column 6: unexpected end of input");

	f->src.idempotency_from = IDEMPOTENCY_FROM_JSON_POINTER;
	f->src.idempotency_name = (char *)"/a";
	fixture_sign(f, "{\"a\":1,\n\"b\":01}");
	memset(&e, 0, sizeof(e));
	assert_int_equal(prepare(f, &e, &d), -EBADMSG);
	assert_string_equal(e.problem.code, "malformed_json");
	assert_string_equal(e.problem.message,
	                    "malformed JSON at line 2 column 6: leading zeros are not allowed");
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_accept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rejections, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_before_content_type, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json_pointer_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_headers_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_headers_json_merge_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_headers_json_secrets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_headers_json_escaping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_headers_json_invalid_utf8, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_headers_json_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json_pointer_key_numbers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_json_message, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
