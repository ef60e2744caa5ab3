/* Unit tests for common/json/schema.c: the Versori variables schema, errors and edge cases. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "json.h"
#include "schema.h"
#include "xalloc.h"

/* Calls of pcre2_compile() (8-bit), counted through -Wl,--wrap=pcre2_compile_8. */
static unsigned pcre2_compile_calls;

void *__real_pcre2_compile_8(const unsigned char *pattern, size_t length, uint32_t options,
                             int *errorcode, size_t *erroroffset, void *ccontext);
void *__wrap_pcre2_compile_8(const unsigned char *pattern, size_t length, uint32_t options,
                             int *errorcode, size_t *erroroffset, void *ccontext);

/* Count, then compile. */
void *__wrap_pcre2_compile_8(const unsigned char *pattern, size_t length, uint32_t options,
                             int *errorcode, size_t *erroroffset, void *ccontext)
{
	pcre2_compile_calls++;
	return __real_pcre2_compile_8(pattern, length, options, errorcode, erroroffset, ccontext);
}

/* The dynamic-variables schema example from Versori's documentation. */
static const char versori_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"retailerId\":{\"type\":\"string\"},"
    "\"syncEnabled\":{\"type\":\"boolean\"},"
    "\"pollIntervalMinutes\":{\"type\":\"integer\"},"
    "\"lastSyncAt\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"locations\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
    "\"additionalProperties\":false,\"properties\":{\"ref\":{\"type\":\"string\"}},"
    "\"required\":[\"ref\"]}}},"
    "\"required\":[\"retailerId\"]}";

/* Parse JSON text (any value) that the test itself wrote. */
static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

	if (!v)
		fail_msg("bad test JSON %s: %s", text, err.text);
	return v;
}

/* Compile schema text that must be accepted. */
static struct schema *compile_ok(const char *text)
{
	json_auto_t *doc = parse(text);
	struct schema_error e = {{0}};
	struct schema *s = NULL;

	if (schema_compile(doc, &s, &e) < 0)
		fail_msg("schema rejected at %s (%s): %s", e.path, e.keyword, e.message);
	assert_non_null(s);
	return s;
}

/* Validate instance text; on failure return the error in *ret. */
static int check(const struct schema *s, const char *instance, struct schema_error *ret)
{
	json_auto_t *inst = parse(instance);

	memset(ret, 0, sizeof(*ret));
	return schema_validate(s, inst, ret);
}

/* Assert that instance is valid against s. */
static void assert_valid(const struct schema *s, const char *instance)
{
	struct schema_error e;

	if (check(s, instance, &e) != 0)
		fail_msg("%s rejected at \"%s\" (%s): %s", instance, e.path, e.keyword, e.message);
}

/* Assert that instance is invalid with exactly this path, keyword and message. */
static void assert_invalid(const struct schema *s, const char *instance, const char *path,
                           const char *keyword, const char *message)
{
	struct schema_error e;

	assert_int_equal(check(s, instance, &e), -EBADMSG);
	assert_string_equal(e.path, path);
	assert_string_equal(e.keyword, keyword);
	if (message)
		assert_string_equal(e.message, message);
}

/* Assert that schema text fails compilation naming keyword at pointer path. */
static void assert_rejected(const char *text, const char *path, const char *keyword,
                            const char *message_prefix)
{
	json_auto_t *doc = parse(text);
	struct schema_error e = {{0}};
	struct schema *s = NULL;

	assert_int_equal(schema_compile(doc, &s, &e), -EINVAL);
	assert_null(s);
	assert_string_equal(e.path, path);
	assert_string_equal(e.keyword, keyword);
	if (strncmp(e.message, message_prefix, strlen(message_prefix)) != 0)
		fail_msg("message \"%s\" does not start with \"%s\"", e.message, message_prefix);
}

/* Documented variables, including optional ones and nested locations, are accepted. */
static void test_versori_valid(void **state)
{
	struct schema *s = compile_ok(versori_schema);

	assert_valid(s, "{\"retailerId\":\"r1\"}");
	assert_valid(s, "{\"retailerId\":\"r1\",\"syncEnabled\":true,\"pollIntervalMinutes\":15,"
	                "\"lastSyncAt\":\"2024-01-01T00:00:00Z\","
	                "\"locations\":[{\"ref\":\"a\"},{\"ref\":\"b\"}]}");
	assert_valid(s, "{\"retailerId\":\"r1\",\"unknown\":[1,2]}");
	/* format is an annotation only. */
	assert_valid(s, "{\"retailerId\":\"r1\",\"lastSyncAt\":\"not a date\"}");
	schema_free(s);
}

/* A missing required variable is reported at its own path. */
static void test_versori_missing_required(void **state)
{
	struct schema *s = compile_ok(versori_schema);

	assert_invalid(s, "{\"syncEnabled\":true}", "retailerId", "required", "is required");
	assert_invalid(s, "{\"retailerId\":\"r\",\"locations\":[{\"ref\":\"a\"},{}]}",
	               "locations[1].ref", "required", "is required");
	schema_free(s);
}

/* Wrong types name the expected and actual type. */
static void test_versori_wrong_type(void **state)
{
	struct schema *s = compile_ok(versori_schema);

	assert_invalid(s, "{\"retailerId\":\"r\",\"pollIntervalMinutes\":\"5\"}",
	               "pollIntervalMinutes", "type", "expected integer, got string");
	assert_invalid(s, "{\"retailerId\":\"r\",\"pollIntervalMinutes\":1.5}",
	               "pollIntervalMinutes", "type", "expected integer, got number");
	assert_invalid(s, "{\"retailerId\":7}", "retailerId", "type",
	               "expected string, got integer");
	assert_invalid(s, "[]", "", "type", "expected object, got array");
	assert_invalid(s, "{\"retailerId\":\"r\",\"locations\":{}}", "locations", "type",
	               "expected array, got object");
	schema_free(s);
}

/* additionalProperties:false inside array items reports the extra member's path. */
static void test_versori_additional_properties(void **state)
{
	struct schema *s = compile_ok(versori_schema);

	assert_invalid(s,
	               "{\"retailerId\":\"r\",\"locations\":[{\"ref\":\"a\"},"
	               "{\"ref\":\"b\",\"extra\":1}]}",
	               "locations[1].extra", "additionalProperties", "is not allowed");
	assert_invalid(s, "{\"retailerId\":\"r\",\"locations\":[{\"ref\":\"a\"},{\"ref\":2}]}",
	               "locations[1].ref", "type", "expected string, got integer");
	schema_free(s);
}

/* enum and const use JSON equality: 1 equals 1.0, but never true. */
static void test_enum_const(void **state)
{
	struct schema *s = compile_ok("{\"properties\":{\"mode\":{\"enum\":[\"full\",\"delta\",1]},"
	                              "\"v\":{\"const\":{\"a\":[1,2]}}}}");

	assert_valid(s, "{\"mode\":\"delta\"}");
	assert_valid(s, "{\"mode\":1.0}");
	assert_valid(s, "{\"v\":{\"a\":[1.0,2]}}");
	assert_invalid(s, "{\"mode\":\"partial\"}", "mode", "enum",
	               "value is not one of the allowed values");
	assert_invalid(s, "{\"mode\":true}", "mode", "enum", NULL);
	assert_invalid(s, "{\"v\":{\"a\":[2,1]}}", "v", "const", NULL);
	schema_free(s);
}

/* Unsupported keywords fail compilation with their pointer, at any depth. */
static void test_unsupported_rejected(void **state)
{
	assert_rejected("{\"allOf\":[{}]}", "/allOf", "allOf", "unsupported keyword");
	assert_rejected("{\"properties\":{\"a/b\":{\"items\":{\"not\":{}}}}}",
	                "/properties/a~1b/items/not", "not", "unsupported keyword");
	assert_rejected("{\"items\":[{}]}", "/items", "items", "unsupported keyword");
	assert_rejected("{\"additionalProperties\":{\"$ref\":\"#\"}}", "/additionalProperties/$ref",
	                "$ref", "unsupported keyword");
	assert_rejected("{\"exclusiveMinimum\":true,\"minimum\":1}", "/exclusiveMinimum",
	                "exclusiveMinimum", "unsupported keyword");
	assert_rejected("{\"type\":\"float\"}", "/type", "type", "malformed");
	assert_rejected("{\"minLength\":-1}", "/minLength", "minLength", "malformed");
	assert_rejected("{\"required\":\"a\"}", "/required", "required", "malformed");
	assert_rejected("{\"properties\":{\"a\":3}}", "/properties/a", "", "malformed");
}

/* true accepts everything, false nothing, also as subschemas. */
static void test_boolean_schemas(void **state)
{
	struct schema *t = compile_ok("true");
	struct schema *f = compile_ok("false");
	struct schema *s = compile_ok("{\"properties\":{\"no\":false},"
	                              "\"additionalProperties\":true}");

	assert_valid(t, "{\"any\":[null]}");
	assert_invalid(f, "null", "", "false", NULL);
	assert_valid(s, "{\"yes\":1}");
	assert_invalid(s, "{\"no\":1}", "no", "false", NULL);
	schema_free(t);
	schema_free(f);
	schema_free(s);
}

/* integer accepts numbers with a zero fractional part. */
static void test_integer_real(void **state)
{
	struct schema *s = compile_ok("{\"type\":[\"integer\",\"null\"],\"minimum\":1,"
	                              "\"exclusiveMaximum\":10.5}");

	assert_valid(s, "1.0");
	assert_valid(s, "10");
	assert_valid(s, "null");
	assert_invalid(s, "1.25", "", "type", "expected integer or null, got number");
	assert_invalid(s, "0", "", "minimum", "must be >= 1");
	assert_invalid(s, "11", "", "exclusiveMaximum", "must be < 10.5");
	schema_free(s);
}

/* Length limits count code points, not bytes; array limits and uniqueness. */
static void test_lengths_and_items(void **state)
{
	struct schema *s = compile_ok("{\"maxLength\":1,\"minLength\":1}");
	struct schema *a = compile_ok("{\"minItems\":1,\"maxItems\":3,\"uniqueItems\":true}");

	assert_valid(s, "\"\xc3\xa9\"");
	assert_valid(s, "\"\\ud83d\\ude00\"");
	assert_invalid(s, "\"ab\"", "", "maxLength", "must be at most 1 characters long");
	assert_invalid(s, "\"\"", "", "minLength", NULL);
	assert_valid(a, "[1,\"1\",true]");
	assert_invalid(a, "[]", "", "minItems", NULL);
	assert_invalid(a, "[1,2,3,4]", "", "maxItems", NULL);
	assert_invalid(a, "[{\"a\":1},1.0,{\"a\":1.0}]", "", "uniqueItems",
	               "items [0] and [2] are equal");
	schema_free(s);
	schema_free(a);
}

/* pattern: an unanchored search (JSON Schema), case-sensitive; non-strings are ignored. */
static void test_pattern(void **state)
{
	struct schema *s = compile_ok("{\"properties\":{\"zip\":{\"pattern\":\"^[0-9]{5}$\"},"
	                              "\"code\":{\"type\":\"string\",\"pattern\":\"a+\"}}}");

	assert_valid(s, "{\"zip\":\"12345\",\"code\":\"xxaayy\"}");
	assert_valid(s, "{\"zip\":12345,\"code\":\"a\"}");
	assert_invalid(s, "{\"zip\":\"1234\"}", "zip", "pattern",
	               "does not match the pattern ^[0-9]{5}$");
	assert_invalid(s, "{\"zip\":\"123456\"}", "zip", "pattern", NULL);
	assert_invalid(s, "{\"code\":\"AAA\"}", "code", "pattern", "does not match the pattern a+");
	schema_free(s);
}

/* Assert that pattern (JSON text of a string) does or does not match subject (JSON text). */
static void assert_match(const char *pattern, const char *subject, bool want)
{
	_cleanup_free_ char *text = xasprintf("{\"pattern\":%s}", pattern);
	struct schema *s = compile_ok(text);
	struct schema_error e;
	int r = check(s, subject, &e);

	if ((r == 0) != want)
		fail_msg("pattern %s %s %s", pattern, want ? "should match" : "should not match",
		         subject);
	schema_free(s);
}

/* ECMA-262 semantics: $ only at the very end, ASCII \d and \w, code points, \u escapes,
 * [^] and [], unset backreferences, Unicode properties, "." not matching line ends. */
static void test_pattern_ecma262(void **state)
{
	assert_match("\"^a$\"", "\"a\"", true);
	assert_match("\"^a$\"", "\"a\\n\"", false);
	assert_match("\"^\\\\d$\"", "\"7\"", true);
	assert_match("\"^\\\\d$\"", "\"\\u0663\"", false); /* ARABIC-INDIC DIGIT THREE */
	assert_match("\"^\\\\w$\"", "\"\\u00e9\"", false);
	assert_match("\"\\\\bb\"", "\"\\u00e9b\"", true);
	assert_match("\"^.$\"", "\"\\u00e9\"", true);
	assert_match("\"^.$\"", "\"\\ud83d\\ude00\"", true);
	assert_match("\"^.$\"", "\"\\r\"", false);
	assert_match("\"^.$\"", "\"\\n\"", false);
	assert_match("\"^\\\\u0041$\"", "\"A\"", true);
	assert_match("\"^\\\\u{1F600}$\"", "\"\\ud83d\\ude00\"", true);
	assert_match("\"^\\\\x41$\"", "\"A\"", true);
	assert_match("\"^[^]$\"", "\"\\n\"", true);
	assert_match("\"[]\"", "\"anything\"", false);
	assert_match("\"^(a)?\\\\1b$\"", "\"b\"", true);
	assert_match("\"^\\\\p{L}+$\"", "\"\\u00e9t\\u00e9\"", true);
	assert_match("\"^(?<year>[0-9]{4})-\\\\k<year>$\"", "\"2025-2025\"", true);
	assert_match("\"(?<=\\\\$)[0-9]+\"", "\"costs $5\"", true);
	assert_match("\"^[a-z]+$\"", "\"abc\"", true);
	assert_match("\"^[a-z]+$\"", "\"aBc\"", false);
}

/* Where PCRE2 still differs from ECMA-262 (docs/versori-sim.md lists these): the behaviour is
 * pinned here so that a change of it is noticed. */
static void test_pattern_pcre2_differences(void **state)
{
	/* ECMA-262's \s also matches Unicode spaces such as U+00A0 and U+FEFF. */
	assert_match("\"^\\\\s$\"", "\"\\u00a0\"", false);
	assert_match("\"^\\\\s$\"", "\"\\t\"", true);
	/* ECMA-262's "." does not match U+2028 and U+2029. */
	assert_match("\"^.$\"", "\"\\u2028\"", true);
	/* PCRE2 syntax ECMA-262 lacks is accepted: \A, \z, possessive and atomic groups. */
	assert_match("\"\\\\Aab\\\\z\"", "\"ab\"", true);
	assert_match("\"^a++$\"", "\"aa\"", true);
}

/* patternProperties: every matching expression applies; additionalProperties only to names
 * neither properties nor patternProperties cover. */
static void test_pattern_properties(void **state)
{
	struct schema *s = compile_ok("{\"properties\":{\"id\":{\"type\":\"string\"}},"
	                              "\"patternProperties\":{\"^x-\":{\"type\":\"integer\"},"
	                              "\"count$\":{\"minimum\":0}},"
	                              "\"additionalProperties\":false}");

	assert_valid(s, "{\"id\":\"a\",\"x-a\":1,\"x-count\":2,\"count\":0}");
	assert_invalid(s, "{\"x-a\":\"1\"}", "x-a", "type", "expected integer, got string");
	assert_invalid(s, "{\"x-count\":-1}", "x-count", "minimum", "must be >= 0");
	assert_invalid(s, "{\"other\":1}", "other", "additionalProperties", "is not allowed");
	assert_invalid(s, "{\"id\":1}", "id", "type", NULL);
	schema_free(s);
}

/* A pattern PCRE2 cannot compile is refused with its pointer and PCRE2's reason. */
static void test_pattern_rejected(void **state)
{
	_cleanup_free_ char *longer = NULL;

	assert_rejected("{\"pattern\":\"(a\"}", "/pattern", "pattern",
	                "malformed: regular expression does not compile at offset 2: missing "
	                "closing parenthesis");
	assert_rejected("{\"properties\":{\"a\":{\"pattern\":5}}}", "/properties/a/pattern",
	                "pattern", "malformed: must be a string");
	assert_rejected("{\"patternProperties\":{\"[\":{}}}", "/patternProperties/[",
	                "patternProperties", "malformed: regular expression does not compile");
	assert_rejected("{\"patternProperties\":{\"a\":3}}", "/patternProperties/a", "",
	                "malformed");
	assert_rejected("{\"patternProperties\":[]}", "/patternProperties", "patternProperties",
	                "malformed: must be an object");
	/* Valid ECMA-262, beyond PCRE2 10.42: an unbounded lookbehind; \C is refused on purpose. */
	assert_rejected("{\"pattern\":\"(?<=a+)b\"}", "/pattern", "pattern",
	                "malformed: regular expression does not compile");
	assert_rejected("{\"pattern\":\"\\\\C\"}", "/pattern", "pattern",
	                "malformed: regular expression does not compile");
	longer = xasprintf("{\"pattern\":\"%0*d\"}", 5000, 0);
	assert_rejected(longer, "/pattern", "pattern",
	                "malformed: regular expression does not compile");
}

/* A catastrophically backtracking pattern fails the validation quickly instead of hanging. */
static void test_pattern_match_limit(void **state)
{
	struct schema *s = compile_ok("{\"pattern\":\"^(a+)+$\"}");
	struct timespec t0, t1;
	struct schema_error e;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(check(s, "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"", &e),
	                 -EBADMSG);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_string_equal(e.keyword, "pattern");
	assert_non_null(strstr(e.message, "match limit"));
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	assert_valid(s, "\"aaaa\"");
	schema_free(s);
}

/* Each distinct expression is compiled once, in schema_compile(), never while validating
 * (pcre2_compile() is wrapped at link time to count). */
static void test_pattern_compiled_once(void **state)
{
	struct schema *s;
	unsigned before = pcre2_compile_calls;

	s = compile_ok("{\"properties\":{\"a\":{\"pattern\":\"^x\"},\"b\":{\"pattern\":\"^x\"}},"
	               "\"patternProperties\":{\"^x\":{\"pattern\":\"y\"}}}");
	assert_int_equal(pcre2_compile_calls - before, 2);
	for (int i = 0; i < 100; i++)
		assert_valid(s, "{\"a\":\"xa\",\"b\":\"xb\",\"xc\":\"y\"}");
	assert_int_equal(pcre2_compile_calls - before, 2);
	schema_free(s);
}

/* A partial update skips the root's "required" only; names_property sees properties and
 * patternProperties of the root. */
static void test_partial_and_names(void **state)
{
	struct schema *s = compile_ok("{\"properties\":{\"a\":{\"required\":[\"x\"]},"
	                              "\"b\":{}},\"patternProperties\":{\"^f_\":{}},"
	                              "\"required\":[\"b\"]}");
	struct schema_error e;
	json_auto_t *inst = parse("{\"a\":{}}");
	json_auto_t *ok = parse("{\"a\":{\"x\":1}}");

	assert_int_equal(schema_validate(s, ok, &e), -EBADMSG);
	assert_string_equal(e.path, "b");
	assert_int_equal(schema_validate_partial(s, ok, &e), 0);
	assert_int_equal(schema_validate_partial(s, inst, &e), -EBADMSG);
	assert_string_equal(e.path, "a.x");
	assert_true(schema_names_property(s, "a"));
	assert_true(schema_names_property(s, "f_x"));
	assert_false(schema_names_property(s, "x_f"));
	assert_ptr_not_equal(schema_document(s), NULL);
	schema_free(s);
}

/* Error texts cut at their buffer's end stay valid UTF-8 (they become JSON bodies). */
static void test_error_text_utf8(void **state)
{
	_cleanup_free_ char *name = xmalloc(2 * 128 + 1), *text = NULL, *inst = NULL;
	struct schema *s;
	struct schema_error e;
	json_t *j;

	/* 128 two-byte characters: the 256-byte path buffer cuts the last one in half. */
	for (size_t i = 0; i < 128; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	name[2 * 128] = '\0';
	text = xasprintf("{\"properties\":{\"%s\":{\"type\":\"integer\"}}}", name);
	inst = xasprintf("{\"%s\":\"no\"}", name);
	s = compile_ok(text);
	assert_int_equal(check(s, inst, &e), -EBADMSG);
	assert_int_equal(strlen(e.path), 254);
	j = json_string(e.path); /* jansson refuses invalid UTF-8 */
	assert_non_null(j);
	json_decref(j);
	schema_free(s);
}

/* Run the group. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_versori_valid),
	    cmocka_unit_test(test_versori_missing_required),
	    cmocka_unit_test(test_versori_wrong_type),
	    cmocka_unit_test(test_versori_additional_properties),
	    cmocka_unit_test(test_enum_const),
	    cmocka_unit_test(test_unsupported_rejected),
	    cmocka_unit_test(test_boolean_schemas),
	    cmocka_unit_test(test_integer_real),
	    cmocka_unit_test(test_lengths_and_items),
	    cmocka_unit_test(test_pattern),
	    cmocka_unit_test(test_pattern_ecma262),
	    cmocka_unit_test(test_pattern_pcre2_differences),
	    cmocka_unit_test(test_pattern_properties),
	    cmocka_unit_test(test_pattern_rejected),
	    cmocka_unit_test(test_pattern_match_limit),
	    cmocka_unit_test(test_pattern_compiled_once),
	    cmocka_unit_test(test_partial_and_names),
	    cmocka_unit_test(test_error_text_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
