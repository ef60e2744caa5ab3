/* Unit tests for job_secrets: which variables are secret (the schema's writeOnly or password
 * format, the configuration's names), what is sealed in a job's parameters and items (and
 * what is not), the refusal without a key naming the field, and the COPY stream of a
 * submission carrying sealed values only (job_copy), which open to what was sent. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "job_copy.h"
#include "job_secrets.h"
#include "secret_value.h"
#include "xalloc.h"

#define KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static const char schema_text[] = "{\"type\":\"object\",\"properties\":{"
                                  "\"retailerId\":{\"type\":\"string\"},"
                                  "\"apiPassword\":{\"type\":\"string\",\"format\":\"password\"},"
                                  "\"token\":{\"type\":\"string\",\"writeOnly\":true},"
                                  "\"shown\":{\"type\":\"string\",\"writeOnly\":false}}}";

/* Keys and the schema for a test. */
struct fixture {
	struct secret_keys *keys;
	json_t *schema;
};

/* Setup. */
static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *k = KEY;
	_cleanup_free_ char *err = NULL;

	assert_int_equal(secret_keys_new(&k, 1, &f->keys, &err), 0);
	f->schema = json_loads(schema_text, 0, NULL);
	assert_non_null(f->schema);
	*state = f;
	return 0;
}

/* Teardown. */
static int teardown(void **state)
{
	struct fixture *f = *state;

	secret_keys_free(f->keys);
	json_decref(f->schema);
	free(f);
	return 0;
}

/* The schema marks writeOnly and password-format properties; the configuration names more. */
static void test_which_variables(void **state)
{
	struct fixture *f = *state;
	struct job_secrets s = {.schema = f->schema, .names = " pin ,other,retail"};

	assert_true(job_secrets_variable(&s, "apiPassword"));
	assert_true(job_secrets_variable(&s, "token"));
	assert_true(job_secrets_variable(&s, "pin"));
	assert_true(job_secrets_variable(&s, "other"));
	assert_false(job_secrets_variable(&s, "shown"));
	assert_false(job_secrets_variable(&s, "retailerId"));
	assert_false(job_secrets_variable(&s, "retail "));
	assert_false(job_secrets_variable(&s, "oth"));
	assert_false(job_secrets_variable(&s, NULL));
	s = (struct job_secrets){0};
	assert_false(job_secrets_variable(&s, "token"));
}

/* Sealed: dynamic connections' non-empty credentials and secret variables (also the single
 * variable of a PUT); left: everything else, and values sealed already. */
static void test_seal(void **state)
{
	struct fixture *f = *state;
	struct job_secrets s = {.keys = f->keys, .schema = f->schema, .names = "pin"};
	json_t *params = json_loads("{\"dynamicConnections\":{\"T1\":{\"name\":\"n\","
	                            "\"credentials\":[{\"value\":\"cred-1\"}]},"
	                            "\"T2\":{\"name\":\"m\",\"credentials\":[]}},"
	                            "\"environmentId\":\"E\"}",
	                            0, NULL);
	json_t *item = json_loads("{\"externalId\":\"u1\",\"variables\":{\"apiPassword\":\"pw-1\","
	                          "\"pin\":1234,\"retailerId\":\"r-1\"},"
	                          "\"variable\":{\"name\":\"token\",\"value\":\"tok-1\"}}",
	                          0, NULL);
	json_t *copy;
	_cleanup_free_ char *text = NULL, *err = NULL, *field = NULL;

	assert_int_equal(job_secrets_seal(&s, params, item, &field), 0);
	assert_null(field);
	assert_true(secret_value_is_sealed(json_object_get(
	    json_object_get(json_object_get(params, "dynamicConnections"), "T1"), "credentials")));
	assert_true(json_is_array(json_object_get(
	    json_object_get(json_object_get(params, "dynamicConnections"), "T2"), "credentials")));
	assert_true(
	    secret_value_is_sealed(json_object_get(json_object_get(item, "variables"), "pin")));
	assert_true(secret_value_is_sealed(
	    json_object_get(json_object_get(item, "variables"), "apiPassword")));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(item, "variables"), "retailerId")),
	    "r-1");
	assert_true(
	    secret_value_is_sealed(json_object_get(json_object_get(item, "variable"), "value")));
	text = json_dumps(item, JSON_COMPACT);
	assert_null(strstr(text, "pw-1"));
	assert_null(strstr(text, "tok-1"));
	assert_null(strstr(text, "1234"));
	/* Sealed already: sealing again changes nothing. */
	copy = json_deep_copy(item);
	assert_int_equal(job_secrets_seal(&s, params, copy, &field), 0);
	assert_true(json_equal(copy, item));
	json_decref(copy);
	/* And they open to what was given. */
	assert_int_equal(secret_value_open_all(f->keys, &item, &err), 0);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(item, "variables"), "pin")), 1234);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(item, "variable"), "value")),
	    "tok-1");
	assert_int_equal(secret_value_open_all(f->keys, &params, &err), 0);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(
	            json_object_get(
	                json_object_get(json_object_get(params, "dynamicConnections"), "T1"),
	                "credentials"),
	            0),
	        "value")),
	    "cred-1");
	json_decref(params);
	json_decref(item);
}

/* Without a key: -ENOKEY naming the first secret field, nothing changed; nothing secret: 0. */
static void test_no_key(void **state)
{
	struct fixture *f = *state;
	struct job_secrets s = {.schema = f->schema};
	json_t *item =
	    json_loads("{\"variables\":{\"retailerId\":\"r\",\"token\":\"t-1\"}}", 0, NULL);
	json_t *before = json_deep_copy(item);
	json_t *params =
	    json_loads("{\"dynamicConnections\":{\"T1\":{\"credentials\":[1]}}}", 0, NULL);
	char *field = NULL;

	assert_int_equal(job_secrets_seal(&s, NULL, item, &field), -ENOKEY);
	assert_string_equal(field, "variables.token");
	assert_true(json_equal(item, before));
	free(field);
	field = NULL;
	assert_int_equal(job_secrets_seal(&s, params, NULL, &field), -ENOKEY);
	assert_string_equal(field, "parameters.dynamicConnections.T1.credentials");
	free(field);
	field = NULL;
	json_object_del(json_object_get(item, "variables"), "token");
	assert_int_equal(job_secrets_seal(&s, NULL, item, &field), 0);
	assert_null(field);
	json_decref(item);
	json_decref(before);
	json_decref(params);
}

/* A submission's COPY stream with secrets set carries only sealed values for them. */
static void test_copy_sealed(void **state)
{
	struct fixture *f = *state;
	struct job_secrets s = {.keys = f->keys, .schema = f->schema};
	static const char items[] = "[{\"externalId\":\"u1\",\"variables\":{\"token\":\"tok-9\","
	                            "\"retailerId\":\"r-9\"}}]";
	struct job_copy *c = job_copy_new_json(items, strlen(items));
	const void *data;
	size_t n;
	_cleanup_free_ char *line = NULL;

	job_copy_keep(c, 0, NULL);
	job_copy_set_secrets(c, &s);
	job_copy_start(c, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
	assert_int_equal(job_copy_next(c, &data, &n), 1);
	line = xstrndup(data, n);
	assert_null(strstr(line, "tok-9"));
	assert_non_null(strstr(line, "r-9"));
	assert_non_null(strstr(line, "$encrypted"));
	job_copy_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_which_variables, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_copy_sealed, setup, teardown),
	};

	return cmocka_run_group_tests_name("job_secrets", tests, NULL, NULL);
}
