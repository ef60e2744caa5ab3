/* Unit tests for common/http/http_req.c: headers, query parameters, JSON content types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_req.h"
#include "xalloc.h"

/* Assert that query parameter name of query decodes to want (NULL: absent). */
static void assert_param(const char *query, const char *name, const char *want)
{
	struct http_req req = {.query = query};
	size_t len = 12345;
	_cleanup_free_ char *got = http_req_query_param(&req, name, &len);

	if (!want && got)
		fail_msg("%s in \"%s\": got \"%s\", want absent", name, query, got);
	if (want && !got)
		fail_msg("%s in \"%s\": absent, want \"%s\"", name, query, want);
	if (want) {
		assert_string_equal(got, want);
		assert_int_equal(len, strlen(want));
	}
}

/* Header names match case-insensitively; the first of repeated headers wins. */
static void test_header_lookup(void **state)
{
	static const struct http_header headers[] = {
	    {"Content-Type", "application/json"},
	    {"X-Request-Id", "abc"},
	    {"x-request-id", "second"},
	    {"X-Empty", ""},
	};
	struct http_req req = {.headers = headers, .n_headers = 4};
	struct http_req none = {0};

	assert_string_equal(http_req_header(&req, "content-type"), "application/json");
	assert_string_equal(http_req_header(&req, "CONTENT-TYPE"), "application/json");
	assert_string_equal(http_req_header(&req, "x-REQUEST-id"), "abc");
	assert_string_equal(http_req_header(&req, "X-Empty"), "");
	assert_null(http_req_header(&req, "Content"));
	assert_null(http_req_header(&req, "Content-Type-X"));
	assert_null(http_req_header(&none, "Content-Type"));
}

/* Values are percent- and plus-decoded. */
static void test_query_decode(void **state)
{
	assert_param("a=%41", "a", "A");
	assert_param("a=%4a%4A", "a", "JJ");
	assert_param("a=hello+world", "a", "hello world");
	assert_param("a=%2B%26%3D", "a", "+&=");
	assert_param("a=100%", "a", "100%");
	assert_param("a=%4", "a", "%4");
	assert_param("a=%zz", "a", "%zz");
	assert_param("x=1&a=caf%C3%A9&y=2", "a", "caf\xc3\xa9");
}

/* Missing, empty and bare parameters, and names that prefix one another. */
static void test_query_presence(void **state)
{
	assert_param("a=1", "b", NULL);
	assert_param("", "a", NULL);
	assert_param(NULL, "a", NULL);
	assert_param("a=", "a", "");
	assert_param("a", "a", "");
	assert_param("a&b=2", "b", "2");
	assert_param("ab=1&a=2", "a", "2");
	assert_param("ab=1", "a", NULL);
	assert_param("a=1", "ab", NULL);
	assert_param("xa=1&a=3", "a", "3");
	assert_param("a=1&a=2", "a", "1");
	assert_param("b=a%3D1", "a", NULL);
	assert_param("&&a=5&", "a", "5");
}

/* The iterator returns every parameter, empty ones too, so joining them with '&' gives the
 * query back byte for byte; names and values are split at the first '='. */
static void test_query_next(void **state)
{
	static const char *queries[] = {"a=1", "", "&", "a&&b=", "&&a=5&", "x==y&=z", "a=%00&b"};
	const char *cursor = "k=v=w&bare&=e";
	struct http_query_param qp;

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		char joined[64] = "";
		const char *c = queries[i];
		size_t o = 0, n = 0;

		while (http_query_next(&c, &qp)) {
			if (n++)
				joined[o++] = '&';
			memcpy(joined + o, qp.name, qp.len);
			o += qp.len;
			assert_true(o < sizeof(joined));
		}
		joined[o] = '\0';
		assert_string_equal(joined, queries[i]);
	}
	assert_true(http_query_next(&cursor, &qp));
	assert_int_equal(qp.name_len, 1);
	assert_int_equal(qp.value_len, 3);
	assert_memory_equal(qp.value, "v=w", 3);
	assert_true(http_query_next(&cursor, &qp));
	assert_int_equal(qp.name_len, 4);
	assert_null(qp.value);
	assert_true(http_query_next(&cursor, &qp));
	assert_int_equal(qp.name_len, 0);
	assert_int_equal(qp.value_len, 1);
	assert_null(cursor);
	assert_false(http_query_next(&cursor, &qp));
}

/* Exactly application/json and application/<x>+json are JSON, with any parameters. */
static void test_content_type_is_json(void **state)
{
	assert_true(http_content_type_is_json("application/json"));
	assert_true(http_content_type_is_json("application/json; charset=utf-8"));
	assert_true(http_content_type_is_json("application/json;charset=utf-8"));
	assert_true(http_content_type_is_json("APPLICATION/JSON"));
	assert_true(http_content_type_is_json(" application/json"));
	assert_true(http_content_type_is_json("application/cloudevents+json"));
	assert_true(http_content_type_is_json("application/cloudevents+json; charset=utf-8"));
	assert_true(http_content_type_is_json("application/vnd.api+JSON"));
	assert_false(http_content_type_is_json("text/plain"));
	assert_false(http_content_type_is_json("application/jsonx"));
	assert_false(http_content_type_is_json("application/json-seq"));
	assert_false(http_content_type_is_json("application/+json"));
	assert_false(http_content_type_is_json("text/json"));
	assert_false(http_content_type_is_json("application/xml"));
	assert_false(http_content_type_is_json(""));
	assert_false(http_content_type_is_json(NULL));
}

/* Encoding a query component: unreserved characters stay, the rest (UTF-8 bytes too) is
 * escaped, and decoding gives the text back. */
static void test_query_encode(void **state)
{
	const char *texts[] = {"", "plain-text_1.2~", "{\"a\": \"b&c=d\"}", "\xc3\xa9 %+/?#"};
	char *e = http_query_encode("{\"a\":1} &\xc3\xa9");

	assert_string_equal(e, "%7B%22a%22%3A1%7D%20%26%C3%A9");
	free(e);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t n = 0;
		char *enc = http_query_encode(texts[i]);
		char *dec = http_query_decode(enc, strlen(enc), &n);

		assert_int_equal(n, strlen(texts[i]));
		assert_string_equal(dec, texts[i]);
		free(enc);
		free(dec);
	}
}

/* Media types with parameters: the type compared without case, a charset other than UTF-8
 * (or ASCII) refused. */
static void test_content_type_is(void **state)
{
	assert_true(http_content_type_is("text/csv", "text/csv"));
	assert_true(http_content_type_is(" Text/CSV; header=present", "text/csv"));
	assert_true(http_content_type_is("text/csv; charset=\"UTF-8\"", "text/csv"));
	assert_true(http_content_type_is("text/csv;charset=us-ascii", "text/csv"));
	assert_false(http_content_type_is("text/csv; charset=latin1", "text/csv"));
	assert_false(http_content_type_is("text/csvx", "text/csv"));
	assert_false(http_content_type_is("text/plain", "text/csv"));
	assert_false(http_content_type_is(NULL, "text/csv"));
}

/* Method names, with out-of-range values reported as OTHER. */
static void test_method_names(void **state)
{
	assert_string_equal(http_method_to_string(HTTP_METHOD_POST), "POST");
	assert_string_equal(http_method_to_string(HTTP_METHOD_OPTIONS), "OPTIONS");
	assert_string_equal(http_method_to_string(_HTTP_METHOD_MAX), "OTHER");
}

/* Run the http_req tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_lookup),  cmocka_unit_test(test_query_decode),
	    cmocka_unit_test(test_query_presence), cmocka_unit_test(test_content_type_is_json),
	    cmocka_unit_test(test_method_names),   cmocka_unit_test(test_query_next),
	    cmocka_unit_test(test_query_encode),   cmocka_unit_test(test_content_type_is),
	};

	return cmocka_run_group_tests_name("http_req", tests, NULL, NULL);
}
