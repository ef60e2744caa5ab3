/* Unit tests for common/versori_outcome: classification of canned responses for every status
 * class and transport error, the API Error object, request ids and Retry-After parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "http_client.h"
#include "versori_outcome.h"
#include "xalloc.h"

/* 2025-04-15T10:59:58Z, a Tuesday. */
#define NOW 1744714798

/* A canned complete response. */
static struct http_client_response response(long status, const char *body,
                                            const struct http_header *h, size_t n)
{
	return (struct http_client_response){
	    .status = status,
	    .headers = h,
	    .n_headers = n,
	    .body = body ? body : "",
	    .body_len = body ? strlen(body) : 0,
	    .total_ms = 12.5,
	    .error_text = "",
	};
}

/* Classify a status with a body; check result and class, return nothing. */
static void expect_status(long status, const char *body, int result,
                          enum versori_outcome_class class)
{
	struct http_client_response resp = response(status, body, NULL, 0);
	struct versori_outcome o;

	assert_int_equal(versori_outcome_classify(&resp, NOW, &o), result);
	assert_int_equal(o.result, result);
	assert_int_equal(o.class, class);
	assert_int_equal(o.status, status);
	assert_int_equal(o.transport_error, 0);
	versori_outcome_fini(&o);
}

/* Success bodies are decoded; 204 and empty bodies have none; bad JSON breaks the contract. */
static void test_success(void **state)
{
	struct http_client_response resp =
	    response(201, "{\"id\":\"01JRWHP5W3RNSE5D56M52PYNP7\"}", NULL, 0);
	struct versori_outcome o;

	assert_int_equal(versori_outcome_classify(&resp, NOW, &o), 0);
	assert_int_equal(o.class, VERSORI_OUTCOME_SUCCESS);
	assert_string_equal(json_string_value(json_object_get(o.body, "id")),
	                    "01JRWHP5W3RNSE5D56M52PYNP7");
	assert_int_equal(o.retry_after_s, -1);
	assert_null(o.request_id);
	assert_true(o.total_ms == 12.5);
	versori_outcome_fini(&o);

	resp = response(200, "[{\"id\":\"a\"}]", NULL, 0);
	assert_int_equal(versori_outcome_classify(&resp, NOW, &o), 0);
	assert_true(json_is_array(o.body));
	versori_outcome_fini(&o);
	resp = response(200, "null", NULL, 0);
	assert_int_equal(versori_outcome_classify(&resp, NOW, &o), 0);
	assert_true(json_is_null(o.body));
	versori_outcome_fini(&o);
	resp = response(204, NULL, NULL, 0);
	assert_int_equal(versori_outcome_classify(&resp, NOW, &o), 0);
	assert_null(o.body);
	versori_outcome_fini(&o);

	expect_status(200, "{\"id\":", -EPROTO, VERSORI_OUTCOME_PERMANENT);
	expect_status(200, "<html>oops</html>", -EPROTO, VERSORI_OUTCOME_PERMANENT);
	expect_status(204, "ignored", 0, VERSORI_OUTCOME_SUCCESS);
}

/* Each status class maps to its errno and class. */
static void test_status_classes(void **state)
{
	const long retryable[] = {408, 425, 429, 500, 502, 503, 504, 599};

	for (size_t i = 0; i < ELEMENTSOF(retryable); i++)
		expect_status(retryable[i], NULL, -EAGAIN, VERSORI_OUTCOME_RETRYABLE);
	expect_status(400, NULL, -EINVAL, VERSORI_OUTCOME_PERMANENT);
	expect_status(401, NULL, -EACCES, VERSORI_OUTCOME_PERMANENT);
	expect_status(403, NULL, -EACCES, VERSORI_OUTCOME_PERMANENT);
	expect_status(404, NULL, -ENOENT, VERSORI_OUTCOME_PERMANENT);
	expect_status(409, NULL, -EEXIST, VERSORI_OUTCOME_PERMANENT);
	expect_status(422, NULL, -EINVAL, VERSORI_OUTCOME_PERMANENT);
	expect_status(499, NULL, -EINVAL, VERSORI_OUTCOME_PERMANENT);
	expect_status(302, NULL, -EPROTO, VERSORI_OUTCOME_PERMANENT);
	expect_status(101, NULL, -EPROTO, VERSORI_OUTCOME_PERMANENT);
	expect_status(600, NULL, -EPROTO, VERSORI_OUTCOME_PERMANENT);
}

/* Transport errors are retryable except a garbled reply. */
static void test_transport_errors(void **state)
{
	const int errs[] = {-ETIMEDOUT,    -ECONNREFUSED, -ECONNRESET,
	                    -EHOSTUNREACH, -ECANCELED,    -EIO};
	struct http_client_response resp = {.error_text = "x"};
	struct versori_outcome o;

	for (size_t i = 0; i < ELEMENTSOF(errs); i++) {
		resp.transport_error = errs[i];
		assert_int_equal(versori_outcome_classify(&resp, NOW, &o), -EAGAIN);
		assert_int_equal(o.class, VERSORI_OUTCOME_RETRYABLE);
		assert_int_equal(o.transport_error, errs[i]);
		assert_int_equal(o.status, 0);
		versori_outcome_fini(&o);
	}
	resp.transport_error = -EPROTO;
	assert_int_equal(versori_outcome_classify(&resp, NOW, &o), -EPROTO);
	assert_int_equal(o.class, VERSORI_OUTCOME_PERMANENT);
	versori_outcome_fini(&o);
	/* A body over the client's cap would be just as big on every retry. */
	resp.transport_error = -EFBIG;
	assert_int_equal(versori_outcome_classify(&resp, NOW, &o), -EPROTO);
	assert_int_equal(o.class, VERSORI_OUTCOME_PERMANENT);
	assert_int_equal(o.transport_error, -EFBIG);
	versori_outcome_fini(&o);
}

/* The Error object, the request id (first of three headers) and Retry-After are kept. */
static void test_error_details(void **state)
{
	const struct http_header h[] = {
	    {"request-id", "third"}, {"X-Versori-Request-Id", "second"}, {"Retry-After", " 120 "}};
	const char *body =
	    "{\"code\":\"400000\",\"message\":\"dynamic variables failed validation\","
	    "\"fields\":[{\"field\":\"dynamicVariables.x\",\"message\":\"bad\"}],"
	    "\"details\":\"activation rejected\"}";
	struct http_client_response resp = response(422, body, h, ELEMENTSOF(h));
	struct versori_outcome o;

	assert_int_equal(versori_outcome_classify(&resp, NOW, &o), -EINVAL);
	assert_string_equal(o.error_code, "400000");
	assert_string_equal(o.error_message, "dynamic variables failed validation");
	assert_string_equal(o.error_details, "activation rejected");
	assert_int_equal(json_array_size(o.error_fields), 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(o.error_fields, 0), "field")),
	    "dynamicVariables.x");
	assert_string_equal(o.request_id, "second");
	assert_int_equal(o.retry_after_s, 120);
	assert_null(o.body);
	versori_outcome_fini(&o);

	resp = response(429, "not json", h, 1);
	assert_int_equal(versori_outcome_classify(&resp, NOW, &o), -EAGAIN);
	assert_null(o.error_code);
	assert_null(o.error_message);
	assert_string_equal(o.request_id, "third");
	assert_int_equal(o.retry_after_s, -1);
	versori_outcome_fini(&o);

	resp = response(500, "{\"code\":500000,\"message\":7}", NULL, 0);
	assert_int_equal(versori_outcome_classify(&resp, NOW, &o), -EAGAIN);
	assert_string_equal(o.error_code, "500000");
	versori_outcome_fini(&o);

	/* An id that is not UTF-8 is passed over for the next header's. */
	resp = response(503, "", (const struct http_header[]){{"X-Request-Id", "ab\xff"}, h[0]}, 2);
	assert_int_equal(versori_outcome_classify(&resp, NOW, &o), -EAGAIN);
	assert_string_equal(o.request_id, "third");
	assert_null(o.error_message);
	versori_outcome_fini(&o);
	versori_outcome_fini(&o);
}

/* Parse and expect a number of seconds. */
static void expect_after(const char *v, int64_t want)
{
	int64_t got = -42;

	assert_int_equal(versori_retry_after_parse(v, NOW, &got), 0);
	assert_int_equal(got, want);
}

/* Retry-After as delta-seconds and as each HTTP-date format. */
static void test_retry_after(void **state)
{
	const char *garbage[] = {"",
	                         " ",
	                         "-1",
	                         "1.5",
	                         "12abc",
	                         "soon",
	                         "Tue, 15 Apr 2025 11:00:58 UTC",
	                         "Tue, 15 Apr 2025 11:00:58",
	                         "Tue, 15 Foo 2025 11:00:58 GMT",
	                         "Tue, 31 Apr 2025 11:00:58 GMT",
	                         "Tue, 29 Feb 2025 11:00:58 GMT",
	                         "Tue, 15 Apr 2025 24:00:58 GMT",
	                         "Tue,15 Apr 2025 11:00:58 GMT ",
	                         "Tuesday, 15-Apr-2025 11:00:58 GMT",
	                         "Tues, 15-Apr-25 11:00:58 GMT",
	                         "Tue Apr 15 11:00:58 25",
	                         "Tue Apr 15 11:00:58 2025 GMT"};
	int64_t got = -42;

	expect_after("0", 0);
	expect_after("120", 120);
	expect_after("\t30 ", 30);
	expect_after("86400", 86400);
	expect_after("86401", 86400);
	expect_after("99999999999999999999999999999", 86400);
	/* One minute after NOW in the three formats. */
	expect_after("Tue, 15 Apr 2025 11:00:58 GMT", 60);
	expect_after("Tuesday, 15-Apr-25 11:00:58 GMT", 60);
	expect_after("Tue Apr 15 11:00:58 2025", 60);
	expect_after("Tue Apr  5 11:00:58 2025", 0);
	/* Past dates mean now; far future is capped. */
	expect_after("Sun, 06 Nov 1994 08:49:37 GMT", 0);
	expect_after("Sunday, 06-Nov-94 08:49:37 GMT", 0);
	expect_after("Sun Nov  6 08:49:37 1994", 0);
	expect_after("Fri, 31 Dec 9999 23:59:59 GMT", 86400);
	expect_after("Thu, 29 Feb 2024 00:00:00 GMT", 0);
	for (size_t i = 0; i < ELEMENTSOF(garbage); i++) {
		assert_int_equal(versori_retry_after_parse(garbage[i], NOW, &got), -EINVAL);
		assert_int_equal(got, -42);
	}
	assert_int_equal(versori_retry_after_parse(NULL, NOW, &got), -EINVAL);
}

/* A two-digit RFC 850 year more than 50 years ahead belongs to the previous century. */
static void test_rfc850_century(void **state)
{
	int64_t got = -1;

	/* 2070 is within 50 years of 2025: far in the future, capped. */
	assert_int_equal(versori_retry_after_parse("Monday, 01-Jan-70 00:00:00 GMT", NOW, &got), 0);
	assert_int_equal(got, 86400);
	/* 2099 is more than 50 years ahead: 1999, in the past. */
	assert_int_equal(versori_retry_after_parse("Friday, 01-Jan-99 00:00:00 GMT", NOW, &got), 0);
	assert_int_equal(got, 0);
	/* Exactly one hour after the epoch, seen from the epoch's own century rules. */
	assert_int_equal(versori_retry_after_parse("Thu, 01 Jan 1970 01:00:00 GMT", 0, &got), 0);
	assert_int_equal(got, 3600);
	assert_string_equal(versori_outcome_class_to_string(VERSORI_OUTCOME_RETRYABLE),
	                    "retryable");
}

/* Run the versori_outcome tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_success),          cmocka_unit_test(test_status_classes),
	    cmocka_unit_test(test_transport_errors), cmocka_unit_test(test_error_details),
	    cmocka_unit_test(test_retry_after),      cmocka_unit_test(test_rfc850_century),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
