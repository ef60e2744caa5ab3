/* Unit tests for services/ingress/oauth_token.c's request parsing (RFC 6749 §4.4.2, §2.3.1,
 * §3.2, §5.2): every way a token request is refused, with its error code and status, and the
 * two ways a client authenticates, the Basic parts form-decoded as the RFC has them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "oauth_token.h"
#include "xalloc.h"

#define FORM "application/x-www-form-urlencoded"

/* A request and storage for its headers. */
struct test_req {
	struct http_req req;
	struct http_header headers[4];
};

/* A POST of body with content_type and, when given, an Authorization value. */
static void req_make(struct test_req *t, const char *body, const char *content_type,
                     const char *authorization)
{
	memset(t, 0, sizeof(*t));
	t->req = (struct http_req){.method = HTTP_METHOD_POST,
	                           .uri = OAUTH_TOKEN_PATH,
	                           .path = OAUTH_TOKEN_PATH,
	                           .headers = t->headers,
	                           .body = (const unsigned char *)body,
	                           .body_len = strlen(body),
	                           .peer = "127.0.0.1:1"};
	if (content_type)
		t->headers[t->req.n_headers++] = (struct http_header){"Content-Type", content_type};
	if (authorization)
		t->headers[t->req.n_headers++] =
		    (struct http_header){"Authorization", authorization};
}

/* Assert the refusal of t: error code and status. */
static void expect_refused(struct test_req *t, const char *error, int status)
{
	struct oauth_token_request r;
	const char *e = NULL, *description = NULL;
	int st = 0;

	assert_true(oauth_token_request_parse(&t->req, &r, &e, &description, &st) < 0);
	assert_string_equal(e, error);
	assert_int_equal(st, status);
	assert_non_null(description);
}

/* Every refusal. */
static void test_refusals(_unused_ void **state)
{
	struct test_req t;
	_cleanup_free_ char *big = xmalloc(OAUTH_TOKEN_BODY_MAX + 2);

	req_make(&t, "grant_type=client_credentials", FORM, "Basic Zmxvd3M6c2VjcmV0");
	t.req.method = HTTP_METHOD_GET;
	expect_refused(&t, "invalid_request", 405);
	memset(big, 'a', OAUTH_TOKEN_BODY_MAX + 1);
	big[OAUTH_TOKEN_BODY_MAX + 1] = '\0';
	req_make(&t, big, FORM, NULL);
	expect_refused(&t, "invalid_request", 413);
	req_make(&t, "{\"grant_type\":\"client_credentials\"}", "application/json", NULL);
	expect_refused(&t, "invalid_request", 400);
	req_make(&t, "grant_type=client_credentials", NULL, NULL);
	expect_refused(&t, "invalid_request", 400);
	req_make(&t, "grant_type=client_credentials&grant_type=client_credentials", FORM, NULL);
	expect_refused(&t, "invalid_request", 400);
	req_make(&t, "client_id=a&client_id=b&client_secret=s&grant_type=client_credentials", FORM,
	         NULL);
	expect_refused(&t, "invalid_request", 400);
	req_make(&t, "scope=x", FORM, "Basic Zmxvd3M6c2VjcmV0");
	expect_refused(&t, "invalid_request", 400);
	req_make(&t, "grant_type=password&username=u&password=p", FORM, "Basic Zmxvd3M6c2VjcmV0");
	expect_refused(&t, "unsupported_grant_type", 400);
	req_make(&t, "grant_type=client_credentials%00", FORM, "Basic Zmxvd3M6c2VjcmV0");
	expect_refused(&t, "invalid_request", 400);
	/* Both ways of authenticating at once (RFC 6749 §2.3). */
	req_make(&t, "grant_type=client_credentials&client_id=flows&client_secret=secret", FORM,
	         "Basic Zmxvd3M6c2VjcmV0");
	expect_refused(&t, "invalid_request", 400);
	/* No credentials, half of them, or an Authorization that is not Basic of id:secret. */
	req_make(&t, "grant_type=client_credentials", FORM, NULL);
	expect_refused(&t, "invalid_client", 401);
	req_make(&t, "grant_type=client_credentials&client_id=flows", FORM, NULL);
	expect_refused(&t, "invalid_client", 401);
	req_make(&t, "grant_type=client_credentials", FORM, "Bearer abc");
	expect_refused(&t, "invalid_client", 401);
	req_make(&t, "grant_type=client_credentials", FORM, "Basic !!!");
	expect_refused(&t, "invalid_client", 401);
	req_make(&t, "grant_type=client_credentials", FORM, "Basic Zmxvd3M="); /* "flows" */
	expect_refused(&t, "invalid_client", 401);
	/* "flows:secret\0junk": a NUL never lets a prefix of the parts through. */
	req_make(&t, "grant_type=client_credentials", FORM, "Basic Zmxvd3M6c2VjcmV0AGp1bms=");
	expect_refused(&t, "invalid_client", 401);
}

/* Basic: base64 of the form-encoded id and secret (Python's requests and Go's oauth2 package
 * send them so); the body: its decoded fields; unknown fields (scope) ignored. */
static void test_accepted(_unused_ void **state)
{
	const char *pair = "my%20client:s%3Ac+ret%25"; /* "my client" and "s:c ret%" */
	_cleanup_free_ char *b64 = crypto_base64_encode(pair, strlen(pair));
	_cleanup_free_ char *basic = xasprintf("basic  %s", b64);
	struct oauth_token_request r;
	const char *e = NULL, *description = NULL;
	struct test_req t;
	int st = 0;

	req_make(&t, "grant_type=client_credentials&scope=hooks", FORM "; charset=utf-8", basic);
	assert_int_equal(oauth_token_request_parse(&t.req, &r, &e, &description, &st), 0);
	assert_true(r.basic);
	assert_string_equal(r.client_id, "my client");
	assert_string_equal(r.client_secret, "s:c ret%");
	assert_int_equal(r.client_secret_len, 8);
	assert_string_equal(r.client_id_raw, "my%20client");
	assert_string_equal(r.client_secret_raw, "s%3Ac+ret%25");
	oauth_token_request_fini(&r);

	req_make(&t, "client_secret=a%00b&grant_type=client_credentials&client_id=flows", FORM,
	         NULL);
	assert_int_equal(oauth_token_request_parse(&t.req, &r, &e, &description, &st), 0);
	assert_false(r.basic);
	assert_string_equal(r.client_id, "flows");
	assert_int_equal(r.client_secret_len, 3); /* the NUL counts: it can match no secret */
	oauth_token_request_fini(&r);
}

/* RFC 6749 §4.4.2's example request, as the RFC prints it: client "s6BhdRkqt3" with the
 * password "gX1fBat3bV" in Basic (the §2.3.1 example). */
static void test_rfc6749_example(_unused_ void **state)
{
	struct oauth_token_request r;
	const char *e = NULL, *description = NULL;
	struct test_req t;
	int st = 0;

	req_make(&t, "grant_type=client_credentials", FORM, "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW");
	assert_int_equal(oauth_token_request_parse(&t.req, &r, &e, &description, &st), 0);
	assert_string_equal(r.grant_type, "client_credentials");
	assert_string_equal(r.client_id, "s6BhdRkqt3");
	assert_string_equal(r.client_secret, "gX1fBat3bV");
	assert_true(r.basic);
	oauth_token_request_fini(&r);
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_accepted),
	    cmocka_unit_test(test_rfc6749_example),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
