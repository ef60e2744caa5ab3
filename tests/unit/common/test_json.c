/* Unit tests for common/json/json.c: body parsing, RFC 6901 pointers, scalars as text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

/* The example document of RFC 6901 section 5. */
static const char rfc6901_doc[] = "{\n"
                                  "  \"foo\": [\"bar\", \"baz\"],\n"
                                  "  \"\": 0,\n"
                                  "  \"a/b\": 1,\n"
                                  "  \"c%d\": 2,\n"
                                  "  \"e^f\": 3,\n"
                                  "  \"g|h\": 4,\n"
                                  "  \"i\\\\j\": 5,\n"
                                  "  \"k\\\"l\": 6,\n"
                                  "  \" \": 7,\n"
                                  "  \"m~n\": 8\n"
                                  "}";

/* Parse text that must be accepted. */
static json_t *parse_ok(const char *text)
{
	struct json_error e = {{0}};
	json_t *v = NULL;
	int r = json_body_parse(text, strlen(text), &v, &e);

	if (r < 0)
		fail_msg("rejected (%d): %s", r, e.text);
	assert_non_null(v);
	return v;
}

/* Parse len bytes that must be rejected with -EBADMSG; *ret must stay untouched. */
static void assert_rejected(const char *buf, size_t len, const char *want_prefix)
{
	struct json_error e = {{0}};
	json_t *sentinel = json_null();
	json_t *v = sentinel;

	assert_int_equal(json_body_parse(buf, len, &v, &e), -EBADMSG);
	assert_ptr_equal(v, sentinel);
	if (strncmp(e.text, want_prefix, strlen(want_prefix)) != 0)
		fail_msg("message \"%s\" does not start with \"%s\"", e.text, want_prefix);
}

/* Assert that the value at pointer is the JSON text want (NULL: absent). */
static void assert_pointer(const json_t *root, const char *pointer, const char *want)
{
	const json_t *got = json_pointer_get(root, pointer);
	char *text;

	if (!want) {
		if (got)
			fail_msg("\"%s\" found, want absent", pointer);
		return;
	}
	if (!got)
		fail_msg("\"%s\" absent, want %s", pointer, want);
	text = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
	assert_non_null(text);
	if (strcmp(text, want) != 0)
		fail_msg("\"%s\": got %s, want %s", pointer, text, want);
	free(text);
}

/* Every example of RFC 6901 section 5 resolves to the value the RFC gives. */
static void test_pointer_rfc6901_examples(void **state)
{
	json_auto_t *doc = parse_ok(rfc6901_doc);
	char *whole = json_dumps(doc, JSON_COMPACT);

	assert_pointer(doc, "", whole);
	assert_ptr_equal(json_pointer_get(doc, ""), doc);
	free(whole);
	assert_pointer(doc, "/foo", "[\"bar\",\"baz\"]");
	assert_pointer(doc, "/foo/0", "\"bar\"");
	assert_pointer(doc, "/", "0");
	assert_pointer(doc, "/a~1b", "1");
	assert_pointer(doc, "/c%d", "2");
	assert_pointer(doc, "/e^f", "3");
	assert_pointer(doc, "/g|h", "4");
	assert_pointer(doc, "/i\\j", "5");
	assert_pointer(doc, "/k\"l", "6");
	assert_pointer(doc, "/ ", "7");
	assert_pointer(doc, "/m~0n", "8");
}

/* ~01 is "~1" (not "/"), ~10 is "/0"; empty tokens are keys too. */
static void test_pointer_escapes(void **state)
{
	json_auto_t *doc =
	    parse_ok("{\"~1\": 1, \"/0\": 2, \"~\": 3, \"/\": 4, \"a\": {\"\": {\"\": 5}},"
	             " \"\": {\"\": 6}, \"~0/~1\": 7}");

	assert_pointer(doc, "/~01", "1");
	assert_pointer(doc, "/~10", "2");
	assert_pointer(doc, "/~0", "3");
	assert_pointer(doc, "/~1", "4");
	assert_pointer(doc, "/a//", "5");
	assert_pointer(doc, "//", "6");
	assert_pointer(doc, "/~00~1~01", "7");
}

/* Array indices: decimal, no leading zeros, no '-', no sign, in range. */
static void test_pointer_array_indices(void **state)
{
	json_auto_t *doc = parse_ok("{\"a\": [10, 11, [20, {\"0\": \"zero\", \"01\": \"z1\"}]]}");

	assert_pointer(doc, "/a/0", "10");
	assert_pointer(doc, "/a/1", "11");
	assert_pointer(doc, "/a/2/1/0", "\"zero\"");
	assert_pointer(doc, "/a/2/1/01", "\"z1\"");
	assert_pointer(doc, "/a/3", NULL);
	assert_pointer(doc, "/a/01", NULL);
	assert_pointer(doc, "/a/00", NULL);
	assert_pointer(doc, "/a/-", NULL);
	assert_pointer(doc, "/a/-1", NULL);
	assert_pointer(doc, "/a/+1", NULL);
	assert_pointer(doc, "/a/ 1", NULL);
	assert_pointer(doc, "/a/1x", NULL);
	assert_pointer(doc, "/a/", NULL);
	assert_pointer(doc, "/a/18446744073709551616", NULL);
	assert_pointer(doc, "/a/99999999999999999999999", NULL);
}

/* Malformed pointers and paths through scalars or missing keys are absent. */
static void test_pointer_bad_and_absent(void **state)
{
	json_auto_t *doc = parse_ok("{\"a\": {\"b\": \"s\"}, \"n\": null}");

	assert_pointer(doc, "a", NULL);
	assert_pointer(doc, "#/a", NULL);
	assert_pointer(doc, "/a~", NULL);
	assert_pointer(doc, "/a~2", NULL);
	assert_pointer(doc, "/a/b~", NULL);
	assert_pointer(doc, "/x", NULL);
	assert_pointer(doc, "/a/b/c", NULL);
	assert_pointer(doc, "/a/b/0", NULL);
	assert_pointer(doc, "/n", "null");
	assert_pointer(doc, "/n/x", NULL);
	assert_pointer(doc, "/A", NULL);
	assert_null(json_pointer_get(NULL, "/a"));
	assert_null(json_pointer_get(doc, NULL));
}

/* Objects and arrays are accepted; duplicate keys are allowed and the last one wins. */
static void test_parse_accepts_containers(void **state)
{
	json_auto_t *obj = parse_ok(" {\"a\": 1, \"a\": 2} \n");
	json_auto_t *arr = parse_ok("[]");
	json_auto_t *utf8 = parse_ok("{\"k\": \"caf\xc3\xa9 \\u00e9 \xf0\x9f\x98\x80\"}");

	assert_int_equal(json_integer_value(json_object_get(obj, "a")), 2);
	assert_true(json_is_array(arr));
	assert_string_equal(json_string_value(json_object_get(utf8, "k")),
	                    "caf\xc3\xa9 \xc3\xa9 \xf0\x9f\x98\x80");
}

/* A syntax error reports its line and column. */
static void test_parse_error_position(void **state)
{
	static const char text[] = "{\n  \"a\": 1,\n  \"b\": }";
	struct json_error e;
	json_t *v = NULL;

	assert_int_equal(json_body_parse(text, strlen(text), &v, &e), -EBADMSG);
	assert_null(v);
	/* jansson's own wording may change between versions; the prefix is ours and stable. */
	assert_true(strncmp(e.text, "malformed JSON at line 3 column 8: ", 35) == 0);
	assert_non_null(strstr(e.text, "near '}'"));
	assert_rejected("[1,]", 4, "malformed JSON at line 1 column 4: ");
	assert_rejected("{} x", 4, "malformed JSON at line 1 column 4: end of file expected");
	assert_rejected("{\"a\":1e999}", 11, "malformed JSON at line 1 column 10: ");
}

/* Top-level scalars, empty bodies and whitespace are rejected. */
static void test_parse_rejects_non_containers(void **state)
{
	static const char *const bodies[] = {"\"str\"", "42",   "-1.5", "true",
	                                     "false",   "null", "",     "   \n"};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		assert_rejected(bodies[i], strlen(bodies[i]), "malformed JSON at line ");
	assert_rejected(NULL, 0, "malformed JSON at line 1 column 0: ");
}

/* Invalid UTF-8 (stray, truncated, overlong, surrogate) and NULs are rejected. */
static void test_parse_rejects_bad_bytes(void **state)
{
	assert_rejected("{\"a\":\"\xff\"}", 9, "malformed JSON at line 1 column 6: ");
	assert_rejected("{\"a\":\"\xc3\"}", 9, "malformed JSON at line 1 column 6: ");
	assert_rejected("{\"a\":\"\xc0\xaf\"}", 10, "malformed JSON at line 1 column 6: ");
	assert_rejected("{\"a\":\"\xed\xa0\x80\"}", 11, "malformed JSON at line 1 column 6: ");
	assert_rejected("{\"\xff\":1}", 7, "malformed JSON at line 1 column ");
	assert_rejected("{\"a\":\"\\u0000\"}", 14, "malformed JSON at line 1 column 13: ");
	assert_rejected("{\"a\":\"x\0y\"}", 11, "malformed JSON at line 1 column 7: ");
	assert_rejected("{\"a\":1}\0", 8, "malformed JSON at line 1 column 8: ");
}

/* reterr may be NULL. */
static void test_parse_null_reterr(void **state)
{
	json_t *v = NULL;

	assert_int_equal(json_body_parse("nope", 4, &v, NULL), -EBADMSG);
	assert_null(v);
}

/* Assert that v renders as want, and consume v. */
static void assert_scalar(json_t *v, const char *want)
{
	char *got = json_scalar_to_string(v);

	if (!want && got)
		fail_msg("got \"%s\", want NULL", got);
	if (want && !got)
		fail_msg("got NULL, want \"%s\"", want);
	if (want)
		assert_string_equal(got, want);
	free(got);
	json_decref(v);
}

/* Strings as-is, numbers as JSON text, booleans as words, containers and null as NULL. */
static void test_scalar_to_string(void **state)
{
	json_auto_t *doc = parse_ok("{\"s\": \"evt-1\", \"r\": 1.50, \"big\": 1e17, \"i\": -0}");

	assert_scalar(json_string("abc"), "abc");
	assert_scalar(json_string(""), "");
	assert_scalar(json_string("caf\xc3\xa9"), "caf\xc3\xa9");
	assert_scalar(json_integer(42), "42");
	assert_scalar(json_integer(-7), "-7");
	assert_scalar(json_integer(INT64_MAX), "9223372036854775807");
	assert_scalar(json_integer(INT64_MIN), "-9223372036854775808");
	assert_scalar(json_real(1.5), "1.5");
	assert_scalar(json_real(0.1), "0.1");
	assert_scalar(json_real(100.0), "100.0");
	assert_scalar(json_real(-0.0), "-0.0");
	assert_scalar(json_real(1e16), "10000000000000000.0");
	assert_scalar(json_real(1e17), "1e+17");
	assert_scalar(json_real(1e-7), "1e-07");
	assert_scalar(json_real(0.0001234), "0.0001234");
	assert_scalar(json_real(1.7976931348623157e308), "1.7976931348623157e+308");
	assert_scalar(json_true(), "true");
	assert_scalar(json_false(), "false");
	assert_scalar(json_null(), NULL);
	assert_scalar(json_object(), NULL);
	assert_scalar(json_array(), NULL);
	assert_scalar(NULL, NULL);
	assert_scalar(json_incref((json_t *)json_pointer_get(doc, "/s")), "evt-1");
	assert_scalar(json_incref((json_t *)json_pointer_get(doc, "/r")), "1.5");
	assert_scalar(json_incref((json_t *)json_pointer_get(doc, "/big")), "1e+17");
	assert_scalar(json_incref((json_t *)json_pointer_get(doc, "/i")), "0");
}

/* Run the json tests. */
/* An array written out value by value: "[]" when empty, compact, the count kept, and the
 * text reads back as the same array. */
static void test_array_text(void **state)
{
	struct json_array_text a = {0};
	json_t *back;
	size_t len;
	char *text = json_array_text_take(&a, &len);

	assert_string_equal(text, "[]");
	assert_int_equal(len, 2);
	free(text);
	for (int i = 0; i < 1000; i++) {
		json_t *v = json_pack("{s:i,s:s}", "i", i, "s", "x y");
		json_array_text_add(&a, v);
		json_decref(v);
	}
	assert_int_equal(a.n, 1000);
	text = json_array_text_take(&a, &len);
	assert_int_equal(a.n, 0);
	assert_int_equal(strlen(text), len);
	assert_true(strncmp(text, "[{\"i\":0,\"s\":\"x y\"},{\"i\":1,", 26) == 0);
	back = json_loadb(text, len, 0, NULL);
	assert_int_equal(json_array_size(back), 1000);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(back, 999), "i")), 999);
	json_decref(back);
	free(text);
	json_array_text_add(&a, json_true());
	json_array_text_fini(&a);
	assert_null(a.text);
}

/* Values already written as text join an array as they are, beside values written from a
 * tree; an object gains one member whose value is such a text (after its others, or alone in
 * an empty object; the key escaped), and the whole reads back as JSON. */
static void test_raw_text(void **state)
{
	struct json_array_text a = {0};
	json_auto_t *obj = json_pack("{s:i, s:s}", "item", 7, "state", "succ\"eeded");
	json_auto_t *empty = json_object();
	json_auto_t *two = json_integer(2);
	json_auto_t *back = NULL;
	_cleanup_free_ char *arr = NULL, *with = NULL, *alone = NULL;
	const char *tail = ",\"calls\":[{\"at\":\"x\"},2,[]]}";
	size_t len, with_len, alone_len;

	json_array_text_add_raw(&a, "{\"at\":\"x\"}", 10);
	json_array_text_add(&a, two);
	json_array_text_add_raw(&a, "[]", 2);
	arr = json_array_text_take(&a, &len);
	assert_string_equal(arr, "[{\"at\":\"x\"},2,[]]");
	with = json_dumps_with_raw(obj, "calls", arr, len, &with_len);
	assert_int_equal(strlen(with), with_len);
	back = json_loadb(with, with_len, 0, NULL);
	assert_non_null(back);
	assert_int_equal(json_object_size(back), 3);
	assert_string_equal(json_string_value(json_object_get(back, "state")), "succ\"eeded");
	assert_int_equal(json_array_size(json_object_get(back, "calls")), 3);
	assert_string_equal(with + with_len - strlen(tail), tail);
	alone = json_dumps_with_raw(empty, "k\"ey", "[]", 2, &alone_len);
	assert_string_equal(alone, "{\"k\\\"ey\":[]}");
	assert_int_equal(alone_len, strlen(alone));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pointer_rfc6901_examples),
	    cmocka_unit_test(test_pointer_escapes),
	    cmocka_unit_test(test_pointer_array_indices),
	    cmocka_unit_test(test_pointer_bad_and_absent),
	    cmocka_unit_test(test_parse_accepts_containers),
	    cmocka_unit_test(test_parse_error_position),
	    cmocka_unit_test(test_parse_rejects_non_containers),
	    cmocka_unit_test(test_parse_rejects_bad_bytes),
	    cmocka_unit_test(test_parse_null_reterr),
	    cmocka_unit_test(test_scalar_to_string),
	    cmocka_unit_test(test_array_text),
	    cmocka_unit_test(test_raw_text),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
