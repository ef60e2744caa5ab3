/* Unit tests for common/versori_request: method, path, body (compared structurally) and subject
 * of every builder, percent-encoding, and the validation of their inputs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "versori_request.h"
#include "xalloc.h"

#define ORG  "01HZX4Q7M2T9V6B3N8K5R1C0DA"
#define ENV  "01J2K8E5WB6H0FZ3S9G7D4XQ2M"
#define ACT  "01JS2M4T8Y6V0QDXB9C7E3K5HN"
#define PRJ  "01J2K7Z1Y3X5W7V9T1S3R5Q7P9"
#define TPL1 "01J2K9A7C3F5H8K2M4P6R8T0VW"
#define CON1 "01JS2M3Z1X9W7V5T3R1P0N8M6K"
#define INT  "01HQ7C2N5R8T1W4Y6A9D3F5G7J"
#define V2   "/api/v2/o/" ORG

/* Compare a built request with the expected method, path, JSON body text and subject, then
 * release it. */
static void expect(struct versori_request *r, enum http_method method, const char *path,
                   const char *body, const char *subject)
{
	assert_int_equal(r->method, method);
	assert_string_equal(r->path, path);
	assert_non_null(r->op);
	if (body) {
		json_t *want = json_loads(body, 0, NULL);

		assert_non_null(want);
		assert_non_null(r->body);
		assert_true(json_equal(r->body, want));
		json_decref(want);
	} else {
		assert_null(r->body);
	}
	if (subject)
		assert_string_equal(r->subject, subject);
	else
		assert_null(r->subject);
	versori_request_fini(r);
	versori_request_fini(r);
}

/* End user builders. */
static void test_end_users(void **state)
{
	struct versori_request r = {};

	assert_int_equal(versori_request_end_user_create_build(ORG, "acme-retailer-42",
	                                                       "ACME Retail (EU)", &r, NULL),
	                 0);
	assert_int_equal(r.api, VERSORI_API_V2);
	assert_string_equal(r.org, ORG);
	expect(&r, HTTP_METHOD_POST, V2 "/users",
	       "{\"externalId\":\"acme-retailer-42\",\"displayName\":\"ACME Retail (EU)\"}",
	       "acme-retailer-42");
	assert_int_equal(versori_request_end_user_create_build(ORG, "u1", NULL, &r, NULL), 0);
	expect(&r, HTTP_METHOD_POST, V2 "/users", "{\"externalId\":\"u1\"}", "u1");
	assert_int_equal(versori_request_end_user_get_build(ORG, "a/b c?d", &r, NULL), 0);
	expect(&r, HTTP_METHOD_GET, V2 "/users/a%2Fb%20c%3Fd", NULL, "a/b c?d");
	assert_int_equal(versori_request_end_user_delete_build(ORG, "u1", &r, NULL), 0);
	expect(&r, HTTP_METHOD_DELETE, V2 "/users/u1", NULL, "u1");
	assert_int_equal(
	    versori_request_end_user_list_build(ORG, NULL, VERSORI_ACTIVATED_ANY, NULL, &r, NULL),
	    0);
	expect(&r, HTTP_METHOD_GET, V2 "/users", NULL, NULL);
	assert_int_equal(versori_request_end_user_list_build(ORG, "acme & co",
	                                                     VERSORI_ACTIVATED_TRUE, ENV, &r, NULL),
	                 0);
	expect(&r, HTTP_METHOD_GET,
	       V2 "/users?search=acme%20%26%20co&activated=true&environment_id=" ENV, NULL, NULL);
	assert_int_equal(
	    versori_request_end_user_list_build(ORG, NULL, VERSORI_ACTIVATED_FALSE, ENV, &r, NULL),
	    0);
	expect(&r, HTTP_METHOD_GET, V2 "/users?activated=false&environment_id=" ENV, NULL, NULL);
}

/* Activation builders, including the singular /environment/ path of ListUserActivations. */
static void test_activations(void **state)
{
	const struct versori_connection_binding b[] = {{TPL1, CON1}};
	json_t *vars = json_pack("{s:s,s:b}", "retailerId", "42", "syncEnabled", 1);
	struct versori_request r = {};

	assert_int_equal(versori_request_activation_create_build(ORG, "acme-retailer-42", ENV, b, 1,
	                                                         vars, &r, NULL),
	                 0);
	expect(&r, HTTP_METHOD_POST, V2 "/activations",
	       "{\"userId\":\"acme-retailer-42\",\"environmentId\":\"" ENV "\","
	       "\"connections\":[{\"connectionTemplateId\":\"" TPL1 "\","
	       "\"existingConnectionId\":\"" CON1 "\"}],"
	       "\"dynamicVariables\":{\"retailerId\":\"42\",\"syncEnabled\":true}}",
	       "acme-retailer-42");
	assert_int_equal(
	    versori_request_activation_create_build(ORG, "u1", ENV, NULL, 0, NULL, &r, NULL), 0);
	expect(&r, HTTP_METHOD_POST, V2 "/activations",
	       "{\"userId\":\"u1\",\"environmentId\":\"" ENV "\",\"connections\":[]}", "u1");
	assert_int_equal(versori_request_activation_list_build(ORG, ENV, &r, NULL), 0);
	expect(&r, HTTP_METHOD_GET, V2 "/environments/" ENV "/activations", NULL, NULL);
	assert_int_equal(versori_request_user_activation_list_build(ORG, ENV, "u 1", &r, NULL), 0);
	expect(&r, HTTP_METHOD_GET, V2 "/environment/" ENV "/users/u%201/activations", NULL, "u 1");
	assert_int_equal(versori_request_activation_get_build(ORG, ENV, ACT, &r, NULL), 0);
	expect(&r, HTTP_METHOD_GET, V2 "/environments/" ENV "/activations/" ACT, NULL, NULL);
	assert_int_equal(versori_request_activation_delete_build(ORG, ENV, ACT, &r, NULL), 0);
	expect(&r, HTTP_METHOD_DELETE, V2 "/environments/" ENV "/activations/" ACT, NULL, NULL);
	json_decref(vars);
}

/* Variable builders: PATCH merge, PUT one with {"value": ...}, static PATCH, schema GET. */
static void test_variables(void **state)
{
	json_t *vars = json_pack("{s:i}", "pollIntervalMinutes", 5);
	json_t *f = json_false();
	struct versori_request r = {};

	assert_int_equal(
	    versori_request_dynamic_variables_patch_build(ORG, ENV, ACT, vars, "u1", &r, NULL), 0);
	expect(&r, HTTP_METHOD_PATCH, V2 "/environments/" ENV "/activations/" ACT "/variables",
	       "{\"pollIntervalMinutes\":5}", "u1");
	assert_int_equal(versori_request_dynamic_variable_put_build(ORG, ENV, ACT, "sync Enabled",
	                                                            f, NULL, &r, NULL),
	                 0);
	expect(&r, HTTP_METHOD_PUT,
	       V2 "/environments/" ENV "/activations/" ACT "/variables/sync%20Enabled",
	       "{\"value\":false}", NULL);
	assert_int_equal(versori_request_static_variables_patch_build(ORG, ENV, vars, &r, NULL), 0);
	expect(&r, HTTP_METHOD_PATCH, V2 "/environments/" ENV "/variables",
	       "{\"pollIntervalMinutes\":5}", NULL);
	assert_int_equal(versori_request_project_variables_schema_get_build(ORG, PRJ, &r, NULL), 0);
	expect(&r, HTTP_METHOD_GET, V2 "/projects/" PRJ "/variables", NULL, NULL);
	json_decref(vars);
	json_decref(f);
}

/* Projects, templates, connections and schedulers. */
static void test_projects_connections(void **state)
{
	json_t *conn = json_pack("{s:s,s:[]}", "name", "fluent-x7k2", "credentials");
	struct versori_request r = {};

	assert_int_equal(versori_request_project_get_build(ORG, PRJ, &r, NULL), 0);
	expect(&r, HTTP_METHOD_GET, V2 "/projects/" PRJ, NULL, NULL);
	assert_int_equal(versori_request_project_list_build(ORG, &r, NULL), 0);
	expect(&r, HTTP_METHOD_GET, V2 "/projects", NULL, NULL);
	assert_int_equal(versori_request_connection_template_list_build(ORG, PRJ, ENV, &r, NULL),
	                 0);
	expect(&r, HTTP_METHOD_GET, V2 "/projects/" PRJ "/connection-templates?env_id=" ENV, NULL,
	       NULL);
	assert_int_equal(
	    versori_request_connection_create_build(ORG, TPL1, "acme-retailer-42", conn, &r, NULL),
	    0);
	expect(&r, HTTP_METHOD_POST, V2 "/connections",
	       "{\"connectionTemplateId\":\"" TPL1 "\",\"externalId\":\"acme-retailer-42\","
	       "\"connection\":{\"name\":\"fluent-x7k2\",\"credentials\":[]}}",
	       "acme-retailer-42");
	assert_int_equal(versori_request_connection_create_build(ORG, TPL1, NULL, conn, &r, NULL),
	                 0);
	expect(&r, HTTP_METHOD_POST, V2 "/connections",
	       "{\"connectionTemplateId\":\"" TPL1 "\","
	       "\"connection\":{\"name\":\"fluent-x7k2\",\"credentials\":[]}}",
	       NULL);
	assert_int_equal(versori_request_scheduler_trigger_build(ORG, ENV, "sched-1", &r, NULL), 0);
	expect(&r, HTTP_METHOD_POST, V2 "/environments/" ENV "/schedulers/sched-1", NULL, NULL);
	json_decref(conn);
}

/* Embedded v1 activations. */
static void test_embedded(void **state)
{
	const struct versori_connection_binding b[] = {{TPL1, CON1}};
	json_t *vars = json_pack("{s:s}", "retailerId", "42");
	struct versori_request r = {};

	assert_int_equal(versori_request_embedded_activation_create_build("acme-retailer-42", INT,
	                                                                  b, 1, vars, &r, NULL),
	                 0);
	assert_int_equal(r.api, VERSORI_API_EMBEDDED_V1);
	assert_null(r.org);
	expect(&r, HTTP_METHOD_POST, "/api/embedded/v1/activations",
	       "{\"userId\":\"acme-retailer-42\",\"integrationId\":\"" INT "\","
	       "\"connections\":[{\"templateId\":\"" TPL1 "\",\"connectionId\":\"" CON1 "\"}],"
	       "\"dynamicVariables\":{\"retailerId\":\"42\"}}",
	       "acme-retailer-42");
	assert_int_equal(versori_request_embedded_activation_get_build(ACT, &r, NULL), 0);
	expect(&r, HTTP_METHOD_GET, "/api/embedded/v1/activations/" ACT, NULL, NULL);
	assert_int_equal(versori_request_embedded_activation_delete_build(ACT, &r, NULL), 0);
	expect(&r, HTTP_METHOD_DELETE, "/api/embedded/v1/activations/" ACT, NULL, NULL);
	assert_int_equal(
	    versori_request_embedded_activation_variables_put_build(ACT, vars, &r, NULL), 0);
	expect(&r, HTTP_METHOD_PUT, "/api/embedded/v1/activations/" ACT "/variables",
	       "{\"dynamicVariables\":{\"retailerId\":\"42\"}}", NULL);
	/* The end user's activations of one integration in a hub: the user's external id is
	 * percent-encoded into the path and is the subject a minted token is signed for. */
	assert_int_equal(versori_request_embedded_user_activation_list_build(
	                     TPL1, "acme retailer/42", INT, &r, NULL),
	                 0);
	expect(&r, HTTP_METHOD_GET,
	       "/api/embedded/v1/embed/" TPL1 "/users/acme%20retailer%2F42/activations"
	       "?integration_id=" INT,
	       NULL, "acme retailer/42");
	assert_int_equal(
	    versori_request_embedded_user_activation_list_build(TPL1, "u", NULL, &r, NULL), 0);
	expect(&r, HTTP_METHOD_GET, "/api/embedded/v1/embed/" TPL1 "/users/u/activations", NULL,
	       "u");
	json_decref(vars);
}

/* Assert a builder call failed with -EINVAL naming field, and left the request untouched. */
#define EXPECT_INVALID(call, want_field)                                                           \
	do {                                                                                       \
		struct problem p_ = {};                                                            \
		struct versori_request r = {};                                                     \
		struct problem *pp = &p_;                                                          \
		assert_int_equal((call), -EINVAL);                                                 \
		assert_string_equal(p_.field, (want_field));                                       \
		assert_non_null(p_.code);                                                          \
		assert_non_null(p_.message);                                                       \
		assert_null(r.path);                                                               \
	} while (0)

/* Inputs are validated and the offending field named. */
static void test_validation(void **state)
{
	const struct versori_connection_binding bad_tpl[] = {{"nope", CON1}};
	const struct versori_connection_binding bad_con[] = {{TPL1, NULL}};
	json_t *arr = json_array(), *empty = json_object(), *null = json_null();
	json_t *obj = json_pack("{s:i}", "a", 1);

	EXPECT_INVALID(versori_request_end_user_create_build(ORG, "", NULL, &r, pp), "externalId");
	EXPECT_INVALID(versori_request_end_user_create_build(ORG, NULL, NULL, &r, pp),
	               "externalId");
	EXPECT_INVALID(versori_request_end_user_get_build(ORG, "a\nb", &r, pp), "externalId");
	EXPECT_INVALID(versori_request_end_user_get_build(ORG, "\xff\xfe", &r, pp), "externalId");
	EXPECT_INVALID(versori_request_end_user_create_build("org", "u", NULL, &r, pp),
	               "organisationId");
	/* I, L, O and U are not Crockford digits; the first digit is at most 7. */
	EXPECT_INVALID(
	    versori_request_end_user_get_build("01HZX4Q7M2T9V6B3N8K5R1C0DI", "u", &r, pp),
	    "organisationId");
	EXPECT_INVALID(
	    versori_request_end_user_get_build("81HZX4Q7M2T9V6B3N8K5R1C0DA", "u", &r, pp),
	    "organisationId");
	EXPECT_INVALID(
	    versori_request_end_user_list_build(ORG, NULL, VERSORI_ACTIVATED_TRUE, NULL, &r, pp),
	    "environment_id");
	EXPECT_INVALID(
	    versori_request_activation_create_build(ORG, "u", "env", NULL, 0, NULL, &r, pp),
	    "environmentId");
	EXPECT_INVALID(
	    versori_request_activation_create_build(ORG, "u", ENV, bad_tpl, 1, NULL, &r, pp),
	    "connectionTemplateId");
	EXPECT_INVALID(
	    versori_request_activation_create_build(ORG, "u", ENV, bad_con, 1, NULL, &r, pp),
	    "existingConnectionId");
	EXPECT_INVALID(versori_request_activation_create_build(ORG, "u", ENV, NULL, 0, arr, &r, pp),
	               "dynamicVariables");
	EXPECT_INVALID(
	    versori_request_dynamic_variables_patch_build(ORG, ENV, ACT, arr, NULL, &r, pp),
	    "variables");
	EXPECT_INVALID(
	    versori_request_dynamic_variables_patch_build(ORG, ENV, ACT, empty, NULL, &r, pp),
	    "variables");
	EXPECT_INVALID(
	    versori_request_dynamic_variables_patch_build(ORG, ENV, "x", obj, NULL, &r, pp),
	    "activationId");
	EXPECT_INVALID(
	    versori_request_dynamic_variable_put_build(ORG, ENV, ACT, "a", null, NULL, &r, pp),
	    "value");
	EXPECT_INVALID(
	    versori_request_dynamic_variable_put_build(ORG, ENV, ACT, "a", NULL, NULL, &r, pp),
	    "value");
	EXPECT_INVALID(
	    versori_request_dynamic_variable_put_build(ORG, ENV, ACT, "", obj, NULL, &r, pp),
	    "name");
	EXPECT_INVALID(versori_request_static_variables_patch_build(ORG, ENV, NULL, &r, pp),
	               "variables");
	EXPECT_INVALID(versori_request_connection_create_build(ORG, TPL1, "u", arr, &r, pp),
	               "connection");
	EXPECT_INVALID(versori_request_connection_create_build(ORG, TPL1, "", obj, &r, pp),
	               "externalId");
	EXPECT_INVALID(
	    versori_request_embedded_user_activation_list_build("hub", "u", NULL, &r, pp), "hubId");
	EXPECT_INVALID(
	    versori_request_embedded_user_activation_list_build(TPL1, "u", "int", &r, pp),
	    "integrationId");
	EXPECT_INVALID(
	    versori_request_embedded_activation_create_build("u", "x", NULL, 0, NULL, &r, pp),
	    "integrationId");
	EXPECT_INVALID(
	    versori_request_embedded_activation_create_build("u", INT, bad_con, 1, NULL, &r, pp),
	    "connectionId");
	EXPECT_INVALID(versori_request_embedded_activation_variables_put_build(ACT, arr, &r, pp),
	               "variables");
	json_decref(arr);
	json_decref(empty);
	json_decref(null);
	json_decref(obj);
}

/* ULIDs accept either case; percent-encoding keeps only unreserved characters. */
static void test_ulid_and_encoding(void **state)
{
	_cleanup_free_ char *e = versori_percent_encode("aZ09-._~ /?#%+é");

	assert_true(versori_ulid_is_valid(ORG));
	assert_true(versori_ulid_is_valid("01hzx4q7m2t9v6b3n8k5r1c0da"));
	assert_true(versori_ulid_is_valid("00000000000000000000000000"));
	assert_false(versori_ulid_is_valid("01HZX4Q7M2T9V6B3N8K5R1C0D"));
	assert_false(versori_ulid_is_valid("01HZX4Q7M2T9V6B3N8K5R1C0DAA"));
	assert_false(versori_ulid_is_valid("01HZX4Q7M2T9V6B3N8K5R1C0D-"));
	assert_false(versori_ulid_is_valid(NULL));
	assert_string_equal(e, "aZ09-._~%20%2F%3F%23%25%2B%C3%A9");
	assert_string_equal(versori_api_to_string(VERSORI_API_EMBEDDED_V1), "embedded_v1");
}

/* Run the versori_request tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_end_users),         cmocka_unit_test(test_activations),
	    cmocka_unit_test(test_variables),         cmocka_unit_test(test_projects_connections),
	    cmocka_unit_test(test_embedded),          cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_ulid_and_encoding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
