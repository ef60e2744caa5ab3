/* Runs the official JSON-Schema-Test-Suite (draft 7) against common/json/schema.c for every keyword
 * in the subset; groups that need an unsupported keyword are counted and printed as skipped.
 * Without the suite the test is skipped, unless it is required (CI=true, or
 * JSON_SCHEMA_TEST_SUITE_REQUIRED=1): then it fails.
 *
 * pattern.json and patternProperties.json run in full: no case is excluded. Regular
 * expressions are ECMA-262 in JSON Schema and PCRE2 in common/json/schema.c; the remaining
 * differences (\s is ASCII-only, "." matches U+2028/U+2029, PCRE2-only syntax such as \A or
 * possessive quantifiers is accepted, unbounded lookbehind is refused) are not exercised by
 * these files; tests/unit/common/test_schema.c pins them and docs/versori-sim.md lists them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "json.h"
#include "schema.h"

/* Where distributions install the suite; JSON_SCHEMA_TEST_SUITE_DIR overrides. */
static const char *const suite_locations[] = {
    "/usr/share/json-schema-test-suite",
    "/usr/local/share/json-schema-test-suite",
    "/usr/share/json-schema-test-suite-data",
};

/* The draft 7 files covering the supported keywords. */
static const char *const suite_files[] = {
    "type.json",
    "properties.json",
    "required.json",
    "additionalProperties.json",
    "items.json",
    "enum.json",
    "const.json",
    "minimum.json",
    "maximum.json",
    "exclusiveMinimum.json",
    "exclusiveMaximum.json",
    "minLength.json",
    "maxLength.json",
    "minItems.json",
    "maxItems.json",
    "uniqueItems.json",
    "boolean_schema.json",
    "pattern.json",
    "patternProperties.json",
};

/* Files whose every group must run: their keywords are fully supported, so a skip (e.g. the
 * keyword refused as unsupported again) is a failure, not a smaller coverage. */
static const char *const full_files[] = {
    "pattern.json",
    "patternProperties.json",
};

static char draft7_dir[512];
static unsigned groups_total, groups_ran;

/* Whether dir/tests/draft7 exists; on success remember it in draft7_dir. */
static bool suite_try(const char *dir)
{
	struct stat st;

	(void)snprintf(draft7_dir, sizeof(draft7_dir), "%s/tests/draft7", dir);
	return stat(draft7_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Find the suite: the environment override first, then the standard locations. */
static bool suite_find(void)
{
	const char *env = getenv("JSON_SCHEMA_TEST_SUITE_DIR");

	if (env && *env)
		return suite_try(env);
	for (size_t i = 0; i < ELEMENTSOF(suite_locations); i++)
		if (suite_try(suite_locations[i]))
			return true;
	return false;
}

/* Run every case of one compiled group; returns the number of wrong verdicts. */
static unsigned group_run(const char *file, const json_t *group, const struct schema *s)
{
	const char *gdesc = json_string_value(json_object_get(group, "description"));
	unsigned wrong = 0;
	size_t i;
	json_t *tc;

	json_array_foreach (json_object_get(group, "tests"), i, tc) {
		struct schema_error e = {{0}};
		bool want = json_is_true(json_object_get(tc, "valid"));
		int r = schema_validate(s, json_object_get(tc, "data"), &e);

		if (r != 0 && r != -EBADMSG)
			fail_msg("%s: unexpected return %d", file, r);
		if ((r == 0) == want)
			continue;
		wrong++;
		printf("# MISMATCH %s: \"%s\" / \"%s\": expected %s (got \"%s\" %s: %s)\n", file,
		       gdesc, json_string_value(json_object_get(tc, "description")),
		       want ? "valid" : "invalid", e.path, e.keyword, e.message);
	}
	return wrong;
}

/* Compile one group's schema and run it, or count it as skipped for an unsupported keyword. */
static unsigned group_handle(const char *file, const json_t *group, unsigned *skipped)
{
	const char *gdesc = json_string_value(json_object_get(group, "description"));
	struct schema_error e = {{0}};
	struct schema *s = NULL;
	unsigned wrong;

	if (schema_compile(json_object_get(group, "schema"), &s, &e) < 0) {
		if (strncmp(e.message, "unsupported keyword", 19) != 0) {
			printf("# MISMATCH %s: \"%s\": schema rejected at %s: %s\n", file, gdesc,
			       e.path, e.message);
			return 1;
		}
		printf("# %s: skipped \"%s\": unsupported keyword %s at %s\n", file, gdesc,
		       e.keyword, e.path);
		(*skipped)++;
		return 0;
	}
	wrong = group_run(file, group, s);
	schema_free(s);
	groups_ran++;
	return wrong;
}

/* Run one suite file (the test state names it). */
static void test_suite_file(void **state)
{
	const char *file = *state;
	unsigned passed = 0, skipped = 0, wrong = 0;
	json_error_t err;
	char path[1024];
	size_t i;
	json_t *group;

	(void)snprintf(path, sizeof(path), "%s/%s", draft7_dir, file);
	json_auto_t *groups = json_load_file(path, JSON_ALLOW_NUL, &err);
	if (!groups)
		fail_msg("%s: %s", path, err.text);
	json_array_foreach (groups, i, group) {
		unsigned w = group_handle(file, group, &skipped);

		groups_total++;
		wrong += w;
		passed += w == 0;
	}
	passed -= skipped;
	printf("# %s: %u groups passed, %u skipped, %u failed\n", file, passed, skipped,
	       (unsigned)json_array_size(groups) - passed - skipped);
	assert_int_equal(wrong, 0);
	for (i = 0; i < ELEMENTSOF(full_files); i++)
		if (strcmp(file, full_files[i]) == 0)
			assert_int_equal(skipped, 0);
}

/* At least 80% of all groups must have run, so the suite cannot silently skip everything. */
static void test_suite_coverage(void **state)
{
	printf("# total: %u of %u groups ran\n", groups_ran, groups_total);
	assert_true(groups_total > 0);
	assert_true(groups_ran * 5 >= groups_total * 4);
}

/* Whether a missing suite is a failure: in CI (CI=true) or when asked to
 * (JSON_SCHEMA_TEST_SUITE_REQUIRED=1), so that a CI image without it cannot pass silently. */
static bool suite_required(void)
{
	const char *ci = getenv("CI"), *req = getenv("JSON_SCHEMA_TEST_SUITE_REQUIRED");

	return (ci && strcmp(ci, "true") == 0) || (req && strcmp(req, "1") == 0);
}

/* Run one cmocka test per file, then the coverage check; without the suite a TAP skip, or a
 * failure when the suite is required. */
int main(void)
{
	struct CMUnitTest tests[ELEMENTSOF(suite_files) + 1];

	if (!suite_find()) {
		if (suite_required()) {
			printf(
			    "1..1\nnot ok 1 - json-schema-test-suite not found, and it is required "
			    "(CI=true or JSON_SCHEMA_TEST_SUITE_REQUIRED=1): install the Debian "
			    "package json-schema-test-suite or set JSON_SCHEMA_TEST_SUITE_DIR\n");
			return 1;
		}
		printf("1..1\nok 1 # SKIP json-schema-test-suite not found (set "
		       "JSON_SCHEMA_TEST_SUITE_DIR; CI=true or JSON_SCHEMA_TEST_SUITE_REQUIRED=1 "
		       "make this a failure)\n");
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(suite_files); i++)
		tests[i] = (struct CMUnitTest){.name = suite_files[i],
		                               .test_func = test_suite_file,
		                               .initial_state = (void *)suite_files[i]};
	tests[ELEMENTSOF(suite_files)] = (struct CMUnitTest)cmocka_unit_test(test_suite_coverage);
	return _cmocka_run_group_tests("schema_suite", tests, ELEMENTSOF(tests), NULL, NULL);
}
