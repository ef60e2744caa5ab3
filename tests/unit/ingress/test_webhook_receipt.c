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
#define ID "0190b5c8-0000-7000-8000-000000000001"
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
		.hmac_inputs = { SIG_INPUT_BODY },
		.n_hmac_inputs = 1,
		.hmac_encoding = SIG_ENCODING_HEX,
		.signature_header = (char *)"X-Signature",
		.signature_prefix = (char *)"sha256=",
		.body_limit = 64,
		.idempotency_from = IDEMPOTENCY_FROM_HEADER,
		.idempotency_name = (char *)"Idempotency-Key",
	};
	f->src.secrets[0] = (char *)"topsecret";
	f->headers[0] = (struct http_header){ "Content-Type", "application/json; charset=utf-8" };
	f->headers[1] = (struct http_header){ "X-Signature", NULL };
	f->headers[2] = (struct http_header){ "Authorization", "Bearer leak-me-not" };
	f->headers[3] = (struct http_header){ "User-Agent", "test" };
	f->headers[4] = (struct http_header){ "Idempotency-Key", "  key-1" };
	f->req = (struct http_req){ .method = HTTP_METHOD_POST, .uri = "/hooks/demo",
				    .path = "/hooks/demo", .headers = f->headers, .n_headers = 5,
				    .peer = "127.0.0.1:1" };
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
	struct webhook_receipt_error e = { 0 };
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
	struct webhook_receipt_error e = { 0 };
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
	struct webhook_receipt_error e = { 0 };
	struct delivery d;

	f->headers[0].value = "text/plain";
	f->headers[1].value = "sha256=00";
	assert_int_equal(prepare(f, &e, &d), -EACCES);
}

/* Keys come from a JSON pointer when configured; a missing one means no key. */
static void test_json_pointer_key(void **state)
{
	struct fixture *f = *state;
	struct webhook_receipt_error e = { 0 };
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
	struct webhook_receipt_error e = { 0 };
	struct delivery d;
	char key[WEBHOOK_RECEIPT_KEY_MAX + 2];

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	f->headers[4].value = key;
	assert_int_equal(prepare(f, &e, &d), -EBADMSG);
	assert_string_equal(e.problem.code, "idempotency_key_too_long");
}

/* Repeated headers are joined, names lower-cased. */
static void test_headers_json(void **state)
{
	struct fixture *f = *state;
	struct http_header h[] = { { "X-Trace", "a" }, { "x-trace", "b" }, { "Cookie", "c=1" } };
	struct http_req req = { .headers = h, .n_headers = 3 };
	_cleanup_free_ char *s = webhook_receipt_headers_json(&f->src, &req);

	assert_string_equal(s, "{\"x-trace\":\"a, b\"}");
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
