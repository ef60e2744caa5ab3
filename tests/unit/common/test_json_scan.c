/* Unit tests for common/json/json_scan.c: the RFC 8259 check (accepted and refused cases in the
 * spirit of JSONTestSuite, each also put to jansson), error positions, nesting limits and
 * RFC 6901 scalar lookups. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "json_scan.h"

/* Where jansson's verdict differs from ours, on purpose. */
enum jansson_differs {
	JANSSON_AGREES,
	JANSSON_OVERFLOW,  /* refuses a number beyond 64 bits or a double; we accept any size */
	JANSSON_SKIPS_NUL, /* accepts a NUL byte right after a number or literal; we refuse it */
};

/* One body: y_ must be accepted, n_ refused with reason; jansson agrees unless noted. */
struct scan_case {
	const char *name;
	const char *text;
	size_t len;
	const char *reason; /* NULL: accepted */
	enum jansson_differs jansson;
};

#define Y(n, t)                                                                                    \
	{                                                                                          \
		n, t, sizeof(t) - 1, NULL, JANSSON_AGREES                                          \
	}
#define Y_BIG(n, t)                                                                                \
	{                                                                                          \
		n, t, sizeof(t) - 1, NULL, JANSSON_OVERFLOW                                        \
	}
#define N(n, t, r)                                                                                 \
	{                                                                                          \
		n, t, sizeof(t) - 1, r, JANSSON_AGREES                                             \
	}
#define N_J(n, t, r, j)                                                                            \
	{                                                                                          \
		n, t, sizeof(t) - 1, r, j                                                          \
	}

#define EOI     "unexpected end of input"
#define VALUE   "expected a value"
#define UTF8    "invalid UTF-8"
#define CTRL    "control character in string"
#define TOP     "top level must be an object or array"
#define TRAIL   "trailing data after the top-level value"
#define KEY     "expected a string as object key"
#define COLON   "expected ':' after object key"
#define AFTER_A "expected ',' or ']' after array element"
#define AFTER_O "expected ',' or '}' after object member"
#define PAIR    "unpaired UTF-16 surrogate"
#define HEX     "\\u must be followed by four hex digits"
#define ESC     "invalid escape"

static const struct scan_case cases[] = {
    Y("y_array_empty", "[]"),
    Y("y_object_empty", "{}"),
    Y("y_whitespace_around", " \t\r\n[ \t\r\n] \t\r\n"),
    Y("y_object_basic", "{\"a\":1}"),
    Y("y_object_spaced", "{ \"a\" : 1 , \"b\" : [ ] }"),
    Y("y_object_empty_key", "{\"\":0}"),
    Y("y_object_duplicate_keys", "{\"a\":1,\"a\":2}"),
    Y("y_nested", "{\"a\":[{\"b\":[[],{}]},[[[]]]]}"),
    Y("y_array_all_types", "[1,-1,0,-0,1.5,1e5,1E+5,1e-5,-0.0e0,true,false,null,\"s\",{},[]]"),
    Y("y_number_exp_capital", "[1E22]"),
    Y("y_number_real_fraction_exp", "[123.456e-78]"),
    Y("y_number_min_int64", "[-9223372036854775808]"),
    Y("y_number_tiny", "[1e-400]"),
    Y_BIG("y_number_huge_int", "[123456789012345678901234567890]"),
    Y_BIG("y_number_huge_negative", "[-123456789012345678901234567890]"),
    Y_BIG("y_number_int64_max_plus_one", "[9223372036854775808]"),
    Y_BIG("y_number_huge_exp", "[1e999]"),
    Y_BIG("y_number_huge_neg_exp_real", "{\"n\":-1.5E+400}"),
    N_J("n_number_huge_adjacent", "[-1-5e999]", AFTER_A, JANSSON_OVERFLOW),
    N_J("n_number_huge_then_exp", "[1e999e5]", AFTER_A, JANSSON_OVERFLOW),
    Y("y_string_simple_escapes", "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"),
    Y("y_string_u_escapes", "[\"\\u00e9\\u20AC\\uffff\\u0001\"]"),
    Y("y_string_surrogate_pair", "[\"\\uD83D\\uDE00\\udbff\\udfff\"]"),
    Y("y_string_utf8_2", "[\"\xc2\x80\xdf\xbf\"]"),
    Y("y_string_utf8_3", "[\"\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\"]"),
    Y("y_string_utf8_4", "[\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\xf0\x9f\x98\x80\"]"),
    Y("y_string_del", "[\"\x7f\"]"),
    Y("y_string_in_key", "{\"caf\xc3\xa9\":\"\\u00e9\"}"),
    Y("y_string_long", "[\"0123456789abcdef0123456789abcdef0123456789abcdef\\n0123456789\"]"),
    N("n_empty", "", EOI),
    N("n_whitespace_only", " \n ", EOI),
    N("n_top_number", "42", TOP),
    N("n_top_string", "\"s\"", TOP),
    N("n_top_true", "true", TOP),
    N("n_top_null", "null", TOP),
    N("n_bom", "\xef\xbb\xbf{}", "byte order mark is not allowed"),
    N("n_trailing_garbage", "{} x", TRAIL),
    N("n_two_values", "[][]", TRAIL),
    N("n_extra_close", "{}}", TRAIL),
    N("n_trailing_nul", "{}\0", TRAIL),
    /* Found by tests/fuzz/fuzz_json_scan.c: jansson drops a NUL byte it has pushed back. */
    N_J("n_nul_after_number", "[1\0]", AFTER_A, JANSSON_SKIPS_NUL),
    N_J("n_nul_after_literal", "{\"a\":false\0}", AFTER_O, JANSSON_SKIPS_NUL),
    N_J("n_nul_after_big_number", "[1e999\0]", AFTER_A, JANSSON_OVERFLOW),
    N("n_array_trailing_comma", "[1,]", VALUE),
    N("n_array_leading_comma", "[,1]", VALUE),
    N("n_array_double_comma", "[1,,2]", VALUE),
    N("n_array_colon", "[1:2]", AFTER_A),
    N("n_array_unclosed", "[1", EOI),
    N("n_array_unclosed_comma", "[1,", EOI),
    N("n_array_mismatch", "[}", VALUE),
    N("n_object_mismatch", "{]", KEY),
    N("n_object_trailing_comma", "{\"a\":1,}", KEY),
    N("n_object_unquoted_key", "{a:1}", KEY),
    N("n_object_number_key", "{1:1}", KEY),
    N("n_object_missing_colon", "{\"a\" 1}", COLON),
    N("n_object_comma_for_colon", "{\"a\",1}", COLON),
    N("n_object_missing_value", "{\"a\":}", VALUE),
    N("n_object_unclosed", "{\"a\":1", EOI),
    N("n_object_no_comma", "{\"a\":1 \"b\":2}", AFTER_O),
    N("n_single_quotes", "['a']", VALUE),
    N("n_comment_line", "[1]//c", TRAIL),
    N("n_comment_block", "[1/*c*/]", AFTER_A),
    N("n_comment_first", "/**/[]", TOP),
    N("n_nan", "[NaN]", VALUE),
    N("n_infinity", "[Infinity]", VALUE),
    N("n_minus_infinity", "[-Infinity]", "expected a digit"),
    N("n_plus", "[+1]", VALUE),
    N("n_leading_zero", "[01]", "leading zeros are not allowed"),
    N("n_leading_zero_neg", "[-012]", "leading zeros are not allowed"),
    N("n_double_zero", "[00]", "leading zeros are not allowed"),
    N("n_dot_end", "[1.]", "expected a digit after '.'"),
    N("n_dot_start", "[.1]", VALUE),
    N("n_dot_exp", "[1.e1]", "expected a digit after '.'"),
    N("n_exp_empty", "[1e]", "expected a digit in the exponent"),
    N("n_exp_sign_only", "[1e+]", "expected a digit in the exponent"),
    N("n_minus_alone", "[-]", "expected a digit"),
    N("n_minus_space", "[- 1]", "expected a digit"),
    N("n_hex_number", "[0x1]", AFTER_A),
    N("n_number_eoi", "[-", EOI),
    N("n_true_capital", "[True]", VALUE),
    N("n_null_short", "[nul]", VALUE),
    N("n_true_eoi", "[tru", EOI),
    N("n_string_unclosed", "[\"abc", EOI),
    N("n_string_ctrl_01", "[\"a\x01\"]", CTRL),
    N("n_string_raw_tab", "[\"\t\"]", CTRL),
    N("n_string_raw_newline", "[\"\n\"]", CTRL),
    N("n_string_raw_1f", "[\"\x1f\"]", CTRL),
    N("n_string_raw_nul", "[\"a\0b\"]", CTRL),
    N("n_escape_x", "[\"\\x41\"]", ESC),
    N("n_escape_a", "[\"\\a\"]", ESC),
    N("n_escape_quote", "[\"\\'\"]", ESC),
    N("n_escape_capital_u", "[\"\\U0041\"]", ESC),
    N("n_escape_nul_byte", "[\"\\\0\"]", ESC),
    N("n_escape_eoi", "[\"\\", EOI),
    N("n_u_short", "[\"\\u12\"]", HEX),
    N("n_u_bad_digit", "[\"\\u12G4\"]", HEX),
    N("n_u_empty", "[\"\\u\"]", HEX),
    N("n_u_nul", "[\"\\u0000\"]", "\\u0000 is not allowed"),
    N("n_u_lone_high", "[\"\\uD800\"]", PAIR),
    N("n_u_high_then_char", "[\"\\uD800x\"]", PAIR),
    N("n_u_high_then_escape", "[\"\\uD800\\n\"]", PAIR),
    N("n_u_high_high", "[\"\\uD800\\uD800\"]", PAIR),
    N("n_u_high_bmp", "[\"\\uDBFF\\u0041\"]", PAIR),
    N("n_u_high_bad_hex", "[\"\\uD800\\uDC0G\"]", PAIR),
    N("n_u_lone_low", "[\"\\uDC00\"]", PAIR),
    N("n_u_low_high", "[\"\\uDFFF\\uD800\"]", PAIR),
    N("n_utf8_continuation", "[\"\x80\"]", UTF8),
    N("n_utf8_continuation_bf", "[\"\xbf\"]", UTF8),
    N("n_utf8_overlong_c0", "[\"\xc0\x80\"]", UTF8),
    N("n_utf8_overlong_c1", "[\"\xc1\xbf\"]", UTF8),
    N("n_utf8_overlong_3", "[\"\xe0\x80\x80\"]", UTF8),
    N("n_utf8_overlong_3_max", "[\"\xe0\x9f\xbf\"]", UTF8),
    N("n_utf8_overlong_4", "[\"\xf0\x8f\xbf\xbf\"]", UTF8),
    N("n_utf8_surrogate_high", "[\"\xed\xa0\x80\"]", UTF8),
    N("n_utf8_surrogate_low", "[\"\xed\xbf\xbf\"]", UTF8),
    N("n_utf8_above_max", "[\"\xf4\x90\x80\x80\"]", UTF8),
    N("n_utf8_f5", "[\"\xf5\x80\x80\x80\"]", UTF8),
    N("n_utf8_fe", "[\"\xfe\"]", UTF8),
    N("n_utf8_ff", "[\"\xff\"]", UTF8),
    N("n_utf8_truncated_2", "[\"\xc3\"]", UTF8),
    N("n_utf8_truncated_3", "[\"\xe2\x82\"]", UTF8),
    N("n_utf8_truncated_4", "[\"\xf0\x9f\x98\"]", UTF8),
    N("n_utf8_bad_continuation", "[\"\xc3\x28\"]", UTF8),
    N("n_utf8_in_key", "{\"\xff\":1}", UTF8),
    N("n_utf8_truncated_at_eoi", "[\"\xe2\x82", UTF8),
    N("n_non_ascii_outside_string", "[\xc3\xa9]", VALUE),
    N("n_invalid_outside_string", "[\xff]", VALUE),
    N("n_formfeed_whitespace", "[\f]", VALUE),
    N("n_vtab_whitespace", "\v[]", TOP),
    N("n_nbsp_whitespace", "[\xc2\xa0]", VALUE),
};

/* Every case: json_scan_check's verdict and reason, and jansson's verdict as expected. */
static void test_check_cases(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct scan_case *c = &cases[i];
		struct json_error e = {{0}};
		json_error_t je;
		json_t *v;
		bool agree;
		int r = json_scan_check(c->text, c->len, &e);

		if (!c->reason && r != 0)
			fail_msg("%s: refused (%d): %s", c->name, r, e.text);
		if (c->reason && r != -EBADMSG)
			fail_msg("%s: accepted (%d), want \"%s\"", c->name, r, c->reason);
		if (c->reason && !strstr(e.text, c->reason))
			fail_msg("%s: \"%s\" does not say \"%s\"", c->name, e.text, c->reason);
		if (c->reason && strncmp(e.text, "malformed JSON at line ", 23) != 0)
			fail_msg("%s: \"%s\" is not positioned", c->name, e.text);
		v = json_loadb(c->text, c->len, 0, &je);
		if (c->jansson == JANSSON_OVERFLOW)
			agree = !v && json_error_code(&je) == json_error_numeric_overflow;
		else if (c->jansson == JANSSON_SKIPS_NUL)
			agree = v != NULL;
		else
			agree = !v == !!c->reason;
		if (!agree)
			fail_msg("%s: jansson's verdict changed: %s", c->name,
			         v ? "accepted" : je.text);
		json_decref(v);
	}
}

/* Assert that text is refused with exactly the message want. */
static void assert_message(const char *text, size_t len, const char *want)
{
	struct json_error e = {{0}};

	assert_int_equal(json_scan_check(text, len, &e), -EBADMSG);
	assert_string_equal(e.text, want);
}

/* Lines count from 1 at each '\n'; columns count characters (not bytes) from 1. */
static void test_check_positions(void **state)
{
	static const char three_lines[] = "{\n  \"a\": 1,\n  \"b\": }";
	static const char crlf[] = "[\r\n1,\r\n]";
	static const char utf8[] = "[\"caf\xc3\xa9\", x]";

	assert_message(three_lines, strlen(three_lines),
	               "malformed JSON at line 3 column 8: expected a value");
	assert_message(crlf, strlen(crlf), "malformed JSON at line 3 column 1: expected a value");
	assert_message(utf8, strlen(utf8), "malformed JSON at line 1 column 10: expected a value");
	assert_message("[1,]", 4, "malformed JSON at line 1 column 4: expected a value");
	assert_message("{} x", 4,
	               "malformed JSON at line 1 column 4: "
	               "trailing data after the top-level value");
	assert_message("", 0, "malformed JSON at line 1 column 1: unexpected end of input");
	assert_message(NULL, 0, "malformed JSON at line 1 column 1: unexpected end of input");
	assert_message("{\"a\":", 5, "malformed JSON at line 1 column 6: unexpected end of input");
	assert_message("{\"a\":\"\xff\"}", 9, "malformed JSON at line 1 column 7: invalid UTF-8");
	assert_message("[\"\xc3\xa9\xc3\"]", 7, "malformed JSON at line 1 column 4: invalid UTF-8");
	assert_message("[\"a\\u0000\"]", 11,
	               "malformed JSON at line 1 column 4: \\u0000 is not allowed");
	assert_message("{\"a\" 1}", 7,
	               "malformed JSON at line 1 column 6: expected ':' after object key");
	assert_message("\n\n  7", 5,
	               "malformed JSON at line 3 column 3: top level must be an object or array");
}

/* A body of n nested arrays around inner, checked; jansson must agree. */
static int check_nested(size_t n, const char *inner)
{
	size_t il = strlen(inner), len = 2 * n + il;
	char *buf = malloc(len);
	json_error_t je;
	json_t *v;
	int r;

	assert_non_null(buf);
	memset(buf, '[', n);
	memcpy(buf + n, inner, il);
	memset(buf + n + il, ']', n);
	r = json_scan_check(buf, len, NULL);
	v = json_loadb(buf, len, 0, &je);
	assert_int_equal(!v, r < 0);
	json_decref(v);
	free(buf);
	return r;
}

/* Every value counts a level, scalars included: 2048 levels pass, 2049 do not. */
static void test_check_depth(void **state)
{
	struct json_error e;
	char *buf = malloc(3000);

	assert_int_equal(check_nested(2048, ""), 0);
	assert_int_equal(check_nested(2047, "1"), 0);
	assert_int_equal(check_nested(2047, "{}"), 0);
	assert_int_equal(check_nested(2048, "1"), -EBADMSG);
	assert_int_equal(check_nested(2047, "{\"a\":1}"), -EBADMSG);
	assert_int_equal(check_nested(2049, ""), -EBADMSG);
	assert_int_equal(check_nested(100000, ""), -EBADMSG);
	/* Unbalanced and deep: the limit, not the missing brackets, is reported first. */
	assert_non_null(buf);
	memset(buf, '[', 3000);
	assert_int_equal(json_scan_check(buf, 3000, &e), -EBADMSG);
	assert_string_equal(e.text, "malformed JSON at line 1 column 2049: "
	                            "nesting deeper than 2048 levels");
	free(buf);
}

/* The eight-bytes-at-a-time string scan finds a special byte at every alignment. */
static void test_check_string_alignment(void **state)
{
	static const char *const specials[] = {"\\n", "\\u00e9", "\xc3\xa9", "\xf0\x9f\x98\x80"};
	static const char *const bad[] = {"\x01", "\xff", "\xc3", "\\q", "\n", "\x7f\x80"};
	char buf[128];

	for (size_t pos = 0; pos < 24; pos++) {
		for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
			int n = snprintf(buf, sizeof(buf), "[\"%.*s%s%.*s\"]", (int)pos,
			                 "abcdefghijklmnopqrstuvwxyz", specials[k], 17,
			                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
			assert_int_equal(json_scan_check(buf, (size_t)n, NULL), 0);
		}
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			int n = snprintf(buf, sizeof(buf), "[\"%.*s%s%.*s\"]", (int)pos,
			                 "abcdefghijklmnopqrstuvwxyz", bad[k], 17,
			                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
			assert_int_equal(json_scan_check(buf, (size_t)n, NULL), -EBADMSG);
		}
		/* The closing quote at every alignment, then trailing data after it. */
		int n = snprintf(buf, sizeof(buf), "[\"%.*s\"]x", (int)pos,
		                 "abcdefghijklmnopqrstuvwxyz");
		assert_int_equal(json_scan_check(buf, (size_t)n - 1, NULL), 0);
		assert_int_equal(json_scan_check(buf, (size_t)n, NULL), -EBADMSG);
	}
}

/* Look pointer up in text and compare with want (NULL: no key); returns the result code. */
static int lookup(const char *text, const char *pointer, const char *want)
{
	char *got = (char *)"sentinel";
	int r = json_scan_pointer(text, strlen(text), pointer, &got);

	if (r < 0) {
		assert_string_equal(got, "sentinel");
		return r;
	}
	if (!want && got)
		fail_msg("%s in %s: got \"%s\", want NULL", pointer, text, got);
	if (want && !got)
		fail_msg("%s in %s: got NULL, want \"%s\"", pointer, text, want);
	if (want)
		assert_string_equal(got, want);
	free(got);
	return r;
}

/* Assert a lookup succeeds with want. */
#define assert_lookup(text, pointer, want) assert_int_equal(lookup(text, pointer, want), 0)

/* The RFC 6901 section 5 examples: scalars found, containers NULL. */
static void test_pointer_rfc6901(void **state)
{
	static const char doc[] = "{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2,"
	                          " \"e^f\": 3, \"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7,"
	                          " \"m~n\": 8}";

	assert_lookup(doc, "", NULL);
	assert_lookup(doc, "/foo", NULL);
	assert_lookup(doc, "/foo/0", "bar");
	assert_lookup(doc, "/foo/1", "baz");
	assert_lookup(doc, "/", "0");
	assert_lookup(doc, "/a~1b", "1");
	assert_lookup(doc, "/c%d", "2");
	assert_lookup(doc, "/e^f", "3");
	assert_lookup(doc, "/g|h", "4");
	assert_lookup(doc, "/i\\j", "5");
	assert_lookup(doc, "/k\"l", "6");
	assert_lookup(doc, "/ ", "7");
	assert_lookup(doc, "/m~0n", "8");
}

/* Nested members, keys written with escapes, ~0/~1 in the pointer, empty tokens. */
static void test_pointer_keys(void **state)
{
	static const char doc[] = "{\"event\": {\"id\": 42, \"meta\": {\"k\": \"v\"}},"
	                          " \"a\\/b\": 1, \"\\u0041\": 2, \"caf\\u00e9\": 3,"
	                          " \"\\ud83d\\ude00\": 4, \"t~\": 5, \"~1\": 6, \"x\\ty\": 7,"
	                          " \"\": {\"\": 8}, \"q\\\"\": 9, \"/0\": 10}";

	assert_lookup(doc, "/event/id", "42");
	assert_lookup(doc, "/event/meta/k", "v");
	assert_lookup(doc, "/event/meta/k/x", NULL);
	assert_lookup(doc, "/event/missing", NULL);
	assert_lookup(doc, "/a~1b", "1");
	assert_lookup(doc, "/A", "2");
	assert_lookup(doc, "/caf\xc3\xa9", "3");
	assert_lookup(doc, "/\xf0\x9f\x98\x80", "4");
	assert_lookup(doc, "/t~0", "5");
	assert_lookup(doc, "/~01", "6");
	assert_lookup(doc, "/x\ty", "7");
	assert_lookup(doc, "//", "8");
	assert_lookup(doc, "/q\"", "9");
	assert_lookup(doc, "/~10", "10");
	assert_lookup(doc, "/caf", NULL);
	assert_lookup(doc, "/caf\xc3\xa9\xc3\xa9", NULL);
	assert_lookup(doc, "/\\u0041", NULL);
}

/* Array indexes: decimal without leading zeros or signs, in range; a top-level array too. */
static void test_pointer_arrays(void **state)
{
	static const char doc[] = "{\"a\": [10, 11, [20, {\"0\": \"zero\", \"01\": \"z1\"}]]}";

	assert_lookup(doc, "/a/0", "10");
	assert_lookup(doc, "/a/1", "11");
	assert_lookup(doc, "/a/2/0", "20");
	assert_lookup(doc, "/a/2/1/0", "zero");
	assert_lookup(doc, "/a/2/1/01", "z1");
	assert_lookup(doc, "/a/3", NULL);
	assert_lookup(doc, "/a/01", NULL);
	assert_lookup(doc, "/a/00", NULL);
	assert_lookup(doc, "/a/-", NULL);
	assert_lookup(doc, "/a/-1", NULL);
	assert_lookup(doc, "/a/+1", NULL);
	assert_lookup(doc, "/a/1x", NULL);
	assert_lookup(doc, "/a/", NULL);
	assert_lookup(doc, "/a/~01", NULL);
	assert_lookup(doc, "/a/18446744073709551616", NULL);
	assert_lookup(doc, "/a/99999999999999999999999", NULL);
	assert_lookup("[\"x\", {\"k\": true}, []]", "/0", "x");
	assert_lookup("[\"x\", {\"k\": true}, []]", "/1/k", "true");
	assert_lookup("[\"x\", {\"k\": true}, []]", "/2/0", NULL);
	assert_lookup("[]", "/0", NULL);
}

/* With repeated keys the last occurrence wins, at every level, as in jansson. */
static void test_pointer_duplicates(void **state)
{
	assert_lookup("{\"a\":1,\"a\":2}", "/a", "2");
	assert_lookup("{\"a\":1,\"b\":2}", "/a", "1");
	assert_lookup("{\"a\":{\"b\":1},\"a\":{\"c\":2}}", "/a/b", NULL);
	assert_lookup("{\"a\":{\"b\":1},\"a\":{\"c\":2}}", "/a/c", "2");
	assert_lookup("{\"a\":{\"b\":1},\"a\":{\"b\":3}}", "/a/b", "3");
	assert_lookup("{\"a\":{\"b\":1,\"b\":{\"x\":1}}}", "/a/b", NULL);
	assert_lookup("{\"a\":{\"b\":1},\"a\":null}", "/a/b", NULL);
	assert_lookup("{\"a\":{\"b\":1},\"\\u0061\":5}", "/a/b", NULL);
	assert_lookup("{\"a\":[1,2],\"a\":[3]}", "/a/1", NULL);
	assert_lookup("{\"a\":[1,2],\"a\":[3]}", "/a/0", "3");
}

/* Strings come back unescaped to UTF-8; numbers exactly as written; null and containers NULL. */
static void test_pointer_values(void **state)
{
	static const char doc[] =
	    "{\"s\": \"\\u00e9\\u20ac\\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t\","
	    " \"u\": \"caf\xc3\xa9 \xf0\x9f\x98\x80\", \"e\": \"\", \"r\": 1.50,"
	    " \"big\": 123456789012345678901234567890, \"z\": -0, \"x\": 1E+2,"
	    " \"huge\": -1e999, \"t\": true, \"f\": false, \"n\": null, \"o\": {\"k\": 1},"
	    " \"a\": [1], \"i\": -7 }";

	assert_lookup(doc, "/s", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \"q\" \\ / \b\f\n\r\t");
	assert_lookup(doc, "/u", "caf\xc3\xa9 \xf0\x9f\x98\x80");
	assert_lookup(doc, "/e", "");
	assert_lookup(doc, "/r", "1.50");
	assert_lookup(doc, "/big", "123456789012345678901234567890");
	assert_lookup(doc, "/z", "-0");
	assert_lookup(doc, "/x", "1E+2");
	assert_lookup(doc, "/huge", "-1e999");
	assert_lookup(doc, "/i", "-7");
	assert_lookup(doc, "/t", "true");
	assert_lookup(doc, "/f", "false");
	assert_lookup(doc, "/n", NULL);
	assert_lookup(doc, "/n/x", NULL);
	assert_lookup(doc, "/o", NULL);
	assert_lookup(doc, "/a", NULL);
	assert_lookup(doc, "/s/0", NULL);
}

/* Malformed pointers find nothing, yet the body is still checked. */
static void test_pointer_malformed(void **state)
{
	static const char doc[] = "{\"a\": {\"b\": \"s\"}, \"a~\": 1, \"a~2\": 2}";
	char *got = NULL;

	assert_lookup(doc, "a", NULL);
	assert_lookup(doc, "#/a", NULL);
	assert_lookup(doc, "/a~", NULL);
	assert_lookup(doc, "/a~2", NULL);
	assert_lookup(doc, "/a/b~", NULL);
	assert_lookup(doc, NULL, NULL);
	assert_int_equal(lookup("{\"a\":1", "a", NULL), -EBADMSG);
	assert_int_equal(lookup("{\"a\":1", NULL, NULL), -EBADMSG);
	assert_int_equal(json_scan_pointer(NULL, 0, "/a", &got), -EBADMSG);
	assert_null(got);
}

/* A body broken anywhere, before, at or after the target, is -EBADMSG with *ret untouched. */
static void test_pointer_malformed_body(void **state)
{
	assert_int_equal(lookup("{\"id\":\"x\", }", "/id", NULL), -EBADMSG);
	assert_int_equal(lookup("{\"id\":\"x\"} x", "/id", NULL), -EBADMSG);
	assert_int_equal(lookup("{\"a\":[1,}, \"id\":1}", "/id", NULL), -EBADMSG);
	assert_int_equal(lookup("{\"id\":\"\\u0000\"}", "/id", NULL), -EBADMSG);
	assert_int_equal(lookup("{\"id\":01}", "/id", NULL), -EBADMSG);
	assert_int_equal(lookup("{\"id\":\"\xff\"}", "/id", NULL), -EBADMSG);
	assert_int_equal(lookup("{\"id\":{\"x\":[1 2]}}", "/id/x/0", NULL), -EBADMSG);
	assert_int_equal(lookup("{\"a\":1,\"a\":{]}", "/a", NULL), -EBADMSG);
	assert_int_equal(lookup("\"id\"", "/id", NULL), -EBADMSG);
	assert_int_equal(lookup("[1] [2]", "/0", NULL), -EBADMSG);
	assert_int_equal(lookup("\xef\xbb\xbf[1]", "/0", NULL), -EBADMSG);
	assert_int_equal(lookup("{\"a\":[tru]}", "/a/0", NULL), -EBADMSG);
}

/* The nesting limit applies along the pointer's path as everywhere else. */
static void test_pointer_depth(void **state)
{
	size_t n = 2048, len = 2 * n + 1;
	char *buf = malloc(len + 1), *ptr = malloc(2 * n + 1), *got = NULL;

	assert_non_null(buf);
	assert_non_null(ptr);
	memset(buf, '[', n);
	buf[n] = '7';
	memset(buf + n + 1, ']', n);
	for (size_t i = 0; i < n; i++)
		memcpy(ptr + 2 * i, "/0", 2);
	ptr[2 * n] = '\0';
	assert_int_equal(json_scan_pointer(buf, len, ptr, &got), -EBADMSG);
	/* One level fewer is fine: the scalar is at level 2048. */
	ptr[2 * (n - 1)] = '\0';
	assert_int_equal(json_scan_pointer(buf + 1, len - 2, ptr, &got), 0);
	assert_string_equal(got, "7");
	free(got);
	free(buf);
	free(ptr);
}

/* UTF-8 validity on its own, for header values. */
static void test_utf8_valid(void **state)
{
	char buf[64];

	assert_true(json_scan_utf8_valid(NULL, 0));
	assert_true(json_scan_utf8_valid("", 0));
	assert_true(json_scan_utf8_valid("plain ascii", 11));
	assert_true(json_scan_utf8_valid("a\0b", 3));
	assert_true(json_scan_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf4\x8f\xbf\xbf", 14));
	assert_false(json_scan_utf8_valid("\xc3", 1));
	assert_false(json_scan_utf8_valid("\xc0\xaf", 2));
	assert_false(json_scan_utf8_valid("\xed\xa0\x80", 3));
	assert_false(json_scan_utf8_valid("\xf4\x90\x80\x80", 4));
	assert_false(json_scan_utf8_valid("\xff", 1));
	assert_false(json_scan_utf8_valid("\xe2\x82\xac", 2));
	for (size_t pos = 0; pos < 40; pos++) {
		memset(buf, 'a', sizeof(buf));
		buf[pos] = (char)0x80;
		assert_false(json_scan_utf8_valid(buf, sizeof(buf)));
		assert_true(json_scan_utf8_valid(buf, pos));
	}
}

/* Every proper prefix of a valid body, each in a heap buffer of exactly its length (so the
 * sanitizer build catches a read past the end, eight-byte string skipping included), is
 * refused by both functions, and the whole body is accepted. */
static void test_prefixes_exact_buffers(void **state)
{
	static const char doc[] =
	    "{\"id\":\"abcdefghijklmnop\\u00e9\\ud83d\\ude00qrstuvwxyz0123456789\","
	    "\"n\":-12.5e+7,\"t\":true,\"f\":false,\"z\":null,\"u\":\"caf\xc3\xa9 "
	    "\xf0\x9f\x98\x80 ABCDEFGHIJKLMNOP\",\"a\":[[],{},[1,{\"k\":\"v\"}]]}";
	size_t len = sizeof(doc) - 1;

	for (size_t n = 0; n <= len; n++) {
		char *buf = malloc(n ? n : 1), *got = NULL;
		int want = n == len ? 0 : -EBADMSG;

		assert_non_null(buf);
		memcpy(buf, doc, n);
		assert_int_equal(json_scan_check(buf, n, NULL), want);
		assert_int_equal(json_scan_pointer(buf, n, "/id", &got), want);
		if (n == len) {
			assert_string_equal(got, "abcdefghijklmnop\xc3\xa9\xf0\x9f\x98\x80"
			                         "qrstuvwxyz0123456789");
			free(got);
			assert_int_equal(json_scan_pointer(buf, n, "/a/2/1/k", &got), 0);
			assert_string_equal(got, "v");
			free(got);
		}
		/* A prefix of valid UTF-8 is valid unless it cuts a sequence. */
		assert_int_equal(json_scan_utf8_valid(buf, n),
		                 n == len || ((unsigned char)doc[n] & 0xc0) != 0x80);
		free(buf);
	}
}

/* A body "[<number>]" where the number is prefix, then n copies of fill, then suffix. */
static char *number_body(const char *prefix, char fill, size_t n, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *b = malloc(pl + n + sl + 3);

	assert_non_null(b);
	b[0] = '[';
	memcpy(b + 1, prefix, pl);
	memset(b + 1 + pl, fill, n);
	memcpy(b + 1 + pl + n, suffix, sl);
	memcpy(b + 1 + pl + n + sl, "]", 2);
	return b;
}

/* Numbers at and just beyond what PostgreSQL's jsonb holds (PostgreSQL 15 refuses exactly the
 * refused ones with "value overflows numeric format"; tests/integration checks the same
 * boundary against a real server): accepted up to the limit, refused one step beyond, with
 * the position of the number's first byte. */
static void test_check_number_range(void **state)
{
	static const struct {
		const char *prefix;
		char fill;
		size_t n;
		const char *suffix;
		bool ok;
	} nums[] = {
	    {"1e131071", 0, 0, "", true},
	    {"1e131072", 0, 0, "", false},
	    {"-9.999e131071", 0, 0, "", true},
	    {"-1e131072", 0, 0, "", false},
	    {"100e131069", 0, 0, "", true},
	    {"100e131070", 0, 0, "", false},
	    {"0.01e131073", 0, 0, "", true},
	    {"0.01e131074", 0, 0, "", false},
	    {"1e-16383", 0, 0, "", true},
	    {"1e-16384", 0, 0, "", false},
	    {"1.5e-16382", 0, 0, "", true},
	    {"1.5e-16383", 0, 0, "", false},
	    {"0e-16383", 0, 0, "", true},
	    {"0e-16384", 0, 0, "", false},
	    {"0.0e-16382", 0, 0, "", true},
	    {"0.0e-16383", 0, 0, "", false},
	    {"0e1073741822", 0, 0, "", true},
	    {"0e1073741823", 0, 0, "", false},
	    {"0e-1073741823", 0, 0, "", false},
	    {"1e00000000000000000005", 0, 0, "", true},
	    {"1e+99999999999999999999", 0, 0, "", false},
	    {"1", '0', 131071, "", true},
	    {"1", '0', 131072, "", false},
	    {"0.", '0', 16383, "", true},
	    {"0.", '0', 16384, "", false},
	    {"1.", '0', 16383, "", true},
	    {"1.", '0', 16384, "", false},
	    {"0.", '0', 16382, "1", true},
	    {"0.", '0', 16383, "1", false},
	    {"1", '0', 131072, "e-1", true},
	    {"1", '0', 131072, "e-2", true},
	    {"1.", '0', 16384, "e1", true},
	    {"1", '0', 131071, "e1", false},
	};

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		char *b = number_body(nums[i].prefix, nums[i].fill, nums[i].n, nums[i].suffix);
		struct json_error e = {0};
		char *got = NULL;
		int r = json_scan_check(b, strlen(b), &e);

		print_message("# %s [%zu x '%c'] %s\n", nums[i].prefix, nums[i].n,
		              nums[i].fill ? nums[i].fill : ' ', nums[i].suffix);
		assert_int_equal(r, nums[i].ok ? 0 : -EBADMSG);
		if (!nums[i].ok) {
			assert_non_null(strstr(e.text, "line 1 column 2: number out of range"));
			assert_non_null(strstr(e.text, "jsonb"));
		}
		assert_int_equal(json_scan_pointer(b, strlen(b), "/0", &got),
		                 nums[i].ok ? 0 : -EBADMSG);
		if (nums[i].ok)
			assert_int_equal(strlen(got), strlen(b) - 2); /* kept exactly as written */
		free(got);
		free(b);
	}
}

/* Run the json_scan tests. */
/* What json_scan_each() reported: "key=value;" per member, "value;" per element. */
static int each_collect(void *userdata, const char *key, const void *value, size_t len)
{
	char *buf = userdata;
	size_t n = strlen(buf);

	snprintf(buf + n, 512 - n, "%s%s%.*s;", key ? key : "", key ? "=" : "", (int)len,
	         (const char *)value);
	return strstr(buf, "stop") ? -ECANCELED : 0;
}

/* Members and elements one at a time, as written, keys unescaped; a callback's error stops it;
 * an empty container calls nothing; a body that is not JSON is refused. */
static void test_each(void **state)
{
	static const struct {
		const char *body, *want;
	} each_cases[] = {
	    {"{\"a\": 1, \"b\\u00e9\" :[1, {\"x\":2}] ,\"c\":\"s\"}",
	     "a=1;b\xc3\xa9=[1, {\"x\":2}];c=\"s\";"},
	    {" [ {\"k\":1} , 2,\"three\",null ] ", "{\"k\":1};2;\"three\";null;"},
	    {"{}", ""},
	    {"[ ]", ""},
	};
	char buf[512];

	for (size_t i = 0; i < sizeof(each_cases) / sizeof(each_cases[0]); i++) {
		buf[0] = '\0';
		assert_int_equal(json_scan_each(each_cases[i].body, strlen(each_cases[i].body),
		                                each_collect, buf),
		                 0);
		assert_string_equal(buf, each_cases[i].want);
	}
	buf[0] = '\0';
	assert_int_equal(json_scan_each("[1,\"stop\",3]", 13, each_collect, buf), -ECANCELED);
	assert_string_equal(buf, "1;\"stop\";");
	buf[0] = '\0';
	assert_int_equal(json_scan_each("\"x\"", 3, each_collect, buf), -EBADMSG);
	assert_int_equal(json_scan_each("[1,", 3, each_collect, buf), -EBADMSG);
}

/* The elements of an array one call at a time, as json_scan_each() reads them; the end
 * answered again once reached; an object, a truncated array or a bad separator refused. */
static void test_array_next(void **state)
{
	static const struct {
		const char *body, *want;
	} arrays[] = {
	    {" [ {\"k\":[1,2]} , 2,\"three\",null ] ", "{\"k\":[1,2]};2;\"three\";null;"},
	    {"[ ]", ""},
	    {"[[]]", "[];"},
	};
	static const char *const bad[] = {"{\"a\":1}", "[1,", "[1 2]", "[1,]", "", "x"};
	const void *v;
	size_t n, pos;
	char buf[512];
	int r;

	for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++) {
		buf[0] = '\0';
		pos = 0;
		while ((r = json_scan_array_next(arrays[i].body, strlen(arrays[i].body), &pos, &v,
		                                 &n)) > 0)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%.*s;", (int)n,
			         (const char *)v);
		assert_int_equal(r, 0);
		assert_string_equal(buf, arrays[i].want);
		assert_int_equal(
		    json_scan_array_next(arrays[i].body, strlen(arrays[i].body), &pos, &v, &n), 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pos = 0;
		while ((r = json_scan_array_next(bad[i], strlen(bad[i]), &pos, &v, &n)) > 0)
			;
		assert_int_equal(r, -EBADMSG);
	}
	pos = 100;
	assert_int_equal(json_scan_array_next("[1]", 3, &pos, &v, &n), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_cases),
	    cmocka_unit_test(test_check_positions),
	    cmocka_unit_test(test_check_depth),
	    cmocka_unit_test(test_check_number_range),
	    cmocka_unit_test(test_check_string_alignment),
	    cmocka_unit_test(test_pointer_rfc6901),
	    cmocka_unit_test(test_pointer_keys),
	    cmocka_unit_test(test_pointer_arrays),
	    cmocka_unit_test(test_pointer_duplicates),
	    cmocka_unit_test(test_pointer_values),
	    cmocka_unit_test(test_pointer_malformed),
	    cmocka_unit_test(test_pointer_malformed_body),
	    cmocka_unit_test(test_pointer_depth),
	    cmocka_unit_test(test_utf8_valid),
	    cmocka_unit_test(test_prefixes_exact_buffers),
	    cmocka_unit_test(test_each),
	    cmocka_unit_test(test_array_next),
	};

	return cmocka_run_group_tests_name("json_scan", tests, NULL, NULL);
}
