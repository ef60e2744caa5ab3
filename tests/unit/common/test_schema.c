/* Unit tests for common/schema.c: the Versori variables schema, errors and edge cases. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "schema.h"

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
	assert_rejected("{\"properties\":{\"a/b\":{\"items\":{\"pattern\":\"^x\"}}}}",
	                "/properties/a~1b/items/pattern", "pattern", "unsupported keyword");
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
