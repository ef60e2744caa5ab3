/* Replays example payloads in the shapes of Versori's API specification (labelled §10.2-10.10
 * below: end user, connection, activations, variables, schema, listings) against a fixture
 * holding the same ids (tests/fixtures/versori-sim/conformance.json); checks status and shape. */
#include "sim.h"
#include "sim_test.h"

/* Assert that o has every listed member (a JSON shape check). */
static void assert_members(const json_t *o, const char *const *names, size_t n)
{
	assert_true(json_is_object(o));
	for (size_t i = 0; i < n; i++)
		if (!json_object_get(o, names[i]))
			fail_msg("member %s missing", names[i]);
}

/* EndUser shape of §10.2. */
static void assert_end_user(const json_t *u)
{
	static const char *const names[] = {
	    "id", "externalId", "displayName", "organisationId", "createdAt", "updatedAt"};

	assert_members(u, names, ELEMENTSOF(names));
	assert_true(test_is_ulid(test_str(u, "id")));
	assert_string_equal(test_str(u, "organisationId"), ORG);
}

/* §10.2 Create end user -> 201 EndUser. */
static void test_10_2_create_end_user(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *u = test_expect(s, HTTP_METHOD_POST, V2 "/users",
	                             "{ \"externalId\": \"acme-retailer-42\", \"displayName\": "
	                             "\"ACME Retail (EU)\" }",
	                             201);

	assert_end_user(u);
	assert_string_equal(test_str(u, "externalId"), "acme-retailer-42");
	assert_string_equal(test_str(u, "displayName"), "ACME Retail (EU)");
	assert_string_equal(test_str(u, "createdAt"), test_str(u, "updatedAt"));
	sim_free(s);
}

/* §10.3 Create a dynamic connection -> 201 Connection, secrets redacted. */
static void test_10_3_create_dynamic_connection(void **state)
{
	static const char body[] =
	    "{ \"connectionTemplateId\": \"" TPL_A "\", \"externalId\": \"acme-retailer-42\","
	    "  \"connection\": { \"name\": \"fluent-acme-retailer-42-x7k2\","
	    "    \"baseUrl\": \"https://acme.sandbox.api.fluentretail.com\","
	    "    \"credentials\": [ { \"id\": \"00000000000000000000000000\","
	    "      \"authSchemeConfig\": { \"type\": \"api-key\", \"apiKey\": { \"id\": "
	    "\"01J2K9B1D3F5H7K9M1P3R5T7V9\", \"description\": \"API key\", \"name\": "
	    "\"X-Api-Key\", \"in\": \"header\" } },"
	    "      \"credential\": { \"organisationId\": \"" ORG "\", \"type\": \"string\","
	    "        \"data\": { \"string\": { \"value\": \"s3cr3t-key\" } } } } ] } }";
	static const char *const names[] = {
	    "id",        "name",      "credentials", "baseUrl",
	    "createdAt", "updatedAt", "systemId",    "connectionTemplateId"};
	struct sim *s = test_sim("conformance.json");
	json_auto_t *c = NULL;
	char *text;

	test_create_user(s, "acme-retailer-42");
	c = test_expect(s, HTTP_METHOD_POST, V2 "/connections", body, 201);
	assert_members(c, names, ELEMENTSOF(names));
	assert_string_equal(test_str(c, "connectionTemplateId"), TPL_A);
	assert_string_equal(test_str(c, "systemId"), SYS_A);
	assert_string_equal(test_str(c, "baseUrl"), "https://acme.sandbox.api.fluentretail.com");
	assert_true(
	    test_is_ulid(test_str(json_array_get(json_object_get(c, "credentials"), 0), "id")));
	text = json_dumps(c, 0);
	assert_null(strstr(text, "s3cr3t-key"));
	free(text);
	sim_free(s);
}

static const char activation_10_4[] =
    "{ \"userId\": \"acme-retailer-42\", \"environmentId\": \"" ENV "\","
    "  \"connections\": ["
    "    { \"connectionTemplateId\": \"" TPL_A "\", \"existingConnectionId\": \"" CONN_A "\" },"
    "    { \"connectionTemplateId\": \"" TPL_B "\", \"existingConnectionId\": \"" CONN_B "\" } ],"
    "  \"dynamicVariables\": { \"retailerId\": \"42\", \"syncEnabled\": true, "
    "\"pollIntervalMinutes\": 15 } }";

/* Activation shape of §10.4. */
static void assert_activation(const json_t *a)
{
	static const char *const names[] = {"id", "user", "connections", "dynamicVariables"};
	const json_t *c0 = json_array_get(json_object_get(a, "connections"), 0);

	assert_members(a, names, ELEMENTSOF(names));
	assert_true(test_is_ulid(test_str(a, "id")));
	assert_end_user(json_object_get(a, "user"));
	assert_string_equal(test_str(c0, "id"), CONN_A);
	assert_string_equal(test_str(c0, "name"), "fluent-acme-retailer-42-x7k2");
	assert_string_equal(test_str(c0, "systemId"), SYS_A);
	assert_string_equal(test_str(c0, "connectionTemplateId"), TPL_A);
	assert_string_equal(test_str(json_array_get(json_object_get(c0, "credentials"), 0), "id"),
	                    "01JS2M3Z2A4C6E8G0J2K4M6P8R");
}

/* §10.4 Create activation (v2) -> 200 Activation. */
static void test_10_4_create_activation(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *a = NULL;
	const json_t *vars;

	test_create_user(s, "acme-retailer-42");
	a = test_expect(s, HTTP_METHOD_POST, V2 "/activations", activation_10_4, 200);
	assert_activation(a);
	vars = json_object_get(a, "dynamicVariables");
	assert_string_equal(test_str(vars, "retailerId"), "42");
	assert_true(json_is_true(json_object_get(vars, "syncEnabled")));
	assert_int_equal(json_integer_value(json_object_get(vars, "pollIntervalMinutes")), 15);
	assert_string_equal(test_str(json_object_get(a, "environment"), "id"), ENV);
	sim_free(s);
}

/* §10.5 Create activation (embedded v1) -> 200 Activation with hub and integration. */
static void test_10_5_create_embedded_activation(void **state)
{
	static const char body[] =
	    "{ \"userId\": \"acme-retailer-42\", \"integrationId\": \"" INTEG "\","
	    "  \"connections\": [ { \"templateId\": \"" ETPL "\", \"connectionId\": \"" ECONN
	    "\" } ],"
	    "  \"dynamicVariables\": { \"retailerId\": \"42\" } }";
	static const char *const names[] = {"id", "user", "hubId", "integration"};
	static const char *const integ_names[] = {
	    "id",         "name",        "imageUrl",       "description",
	    "isDeployed", "isActivated", "variablesSchema"};
	struct sim *s = test_sim("conformance.json");
	json_auto_t *a = NULL;
	const json_t *integ;

	test_create_user(s, "acme-retailer-42");
	a = test_expect(s, HTTP_METHOD_POST, "/api/embedded/v1/activations", body, 200);
	assert_members(a, names, ELEMENTSOF(names));
	assert_string_equal(test_str(a, "hubId"), HUB);
	assert_string_equal(test_str(json_object_get(a, "user"), "externalId"), "acme-retailer-42");
	assert_string_equal(test_str(json_object_get(a, "user"), "hubId"), HUB);
	integ = json_object_get(a, "integration");
	assert_members(integ, integ_names, ELEMENTSOF(integ_names));
	assert_string_equal(test_str(integ, "name"), "Fluent Commerce");
	assert_true(json_is_true(json_object_get(integ, "isDeployed")));
	sim_free(s);
}

/* Create the §10.4 activation and return its variables URI in buf. */
static const char *activate_10_4(struct sim *s, char *buf, size_t len)
{
	json_auto_t *a = NULL;

	test_create_user(s, "acme-retailer-42");
	a = test_expect(s, HTTP_METHOD_POST, V2 "/activations", activation_10_4, 200);
	snprintf(buf, len, V2 "/environments/" ENV "/activations/%s/variables", test_str(a, "id"));
	return buf;
}

/* §10.6 Patch activation variables -> 200 merged map. */
static void test_10_6_patch_variables(void **state)
{
	struct sim *s = test_sim("conformance.json");
	char uri[256];
	json_auto_t *v = test_expect(s, HTTP_METHOD_PATCH, activate_10_4(s, uri, sizeof(uri)),
	                             "{ \"pollIntervalMinutes\": 5, \"lastSyncAt\": "
	                             "\"2025-04-16T08:00:00Z\" }",
	                             200);
	json_auto_t *want = json_loads("{ \"retailerId\": \"42\", \"syncEnabled\": true, "
	                               "\"pollIntervalMinutes\": 5, \"lastSyncAt\": "
	                               "\"2025-04-16T08:00:00Z\" }",
	                               0, NULL);

	assert_true(json_equal(v, want));
	sim_free(s);
}

/* §10.7 Put one variable -> 200 variables. */
static void test_10_7_put_variable(void **state)
{
	struct sim *s = test_sim("conformance.json");
	char base[256], uri[300];
	json_auto_t *v = NULL;

	snprintf(uri, sizeof(uri), "%s/syncEnabled", activate_10_4(s, base, sizeof(base)));
	v = test_expect(s, HTTP_METHOD_PUT, uri, "{ \"value\": false }", 200);
	assert_true(json_is_false(json_object_get(v, "syncEnabled")));
	assert_int_equal(json_integer_value(json_object_get(v, "pollIntervalMinutes")), 15);
	sim_free(s);
}

/* §10.8 Patch environment static variables -> 200 variables. */
static void test_10_8_patch_static_variables(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *v = test_expect(s, HTTP_METHOD_PATCH, V2 "/environments/" ENV "/variables",
	                             "{ \"defaultCurrency\": \"EUR\", \"batchSize\": 500 }", 200);

	assert_string_equal(test_str(v, "defaultCurrency"), "EUR");
	assert_int_equal(json_integer_value(json_object_get(v, "batchSize")), 500);
	sim_free(s);
}

/* §10.9 Project variable schema PUT and single-property PATCH -> 200 schema. */
static void test_10_9_project_schema(void **state)
{
	static const char schema[] =
	    "{ \"type\": \"object\", \"properties\": {"
	    "  \"retailerId\": { \"type\": \"string\", \"description\": \"Fluent retailer id\" },"
	    "  \"syncEnabled\": { \"type\": \"boolean\" },"
	    "  \"pollIntervalMinutes\": { \"type\": \"integer\" },"
	    "  \"lastSyncAt\": { \"type\": \"string\", \"format\": \"date-time\" },"
	    "  \"locations\": { \"type\": \"array\", \"items\": { \"type\": \"object\", "
	    "\"additionalProperties\": false, \"properties\": { \"ref\": { \"type\": \"string\" } "
	    "}, \"required\": [\"ref\"] } } }, \"required\": [\"retailerId\"] }";
	struct sim *s = test_sim("conformance.json");
	json_auto_t *put =
	    test_expect(s, HTTP_METHOD_PUT, V2 "/projects/" PROJECT "/variables", schema, 200);
	json_auto_t *want = json_loads(schema, 0, NULL);
	json_auto_t *patched = NULL, *got = NULL;

	assert_true(json_equal(put, want));
	patched = test_expect(s, HTTP_METHOD_PATCH, V2 "/projects/" PROJECT "/variables",
	                      "{ \"op\": \"add\", \"path\": \"/properties/region\", \"value\": "
	                      "{ \"type\": \"string\" } }",
	                      200);
	assert_string_equal(
	    test_str(json_object_get(json_object_get(patched, "properties"), "region"), "type"),
	    "string");
	got = test_expect(s, HTTP_METHOD_GET, V2 "/projects/" PROJECT "/variables", NULL, 200);
	assert_true(json_equal(got, patched));
	sim_free(s);
}

/* §10.10 List activations -> plain array; users and embedded pages with first=2. */
static void test_10_10_lists(void **state)
{
	struct sim *s = test_sim("conformance.json");
	char uri[256];
	json_auto_t *list = NULL, *page = NULL;
	const json_t *a0;

	activate_10_4(s, uri, sizeof(uri));
	test_create_user(s, "second");
	test_create_user(s, "third");
	list = test_expect(s, HTTP_METHOD_GET, V2 "/environments/" ENV "/activations", NULL, 200);
	assert_true(json_is_array(list));
	assert_int_equal(json_array_size(list), 1);
	a0 = json_array_get(list, 0);
	assert_end_user(json_object_get(a0, "user"));
	assert_string_equal(test_str(json_object_get(a0, "user"), "externalId"),
	                    "acme-retailer-42");
	assert_string_equal(test_str(json_object_get(a0, "dynamicVariables"), "retailerId"), "42");
	page = test_expect(s, HTTP_METHOD_GET, V2 "/users?first=2", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(page, "totalCount")), 3);
	assert_int_equal(json_array_size(json_object_get(page, "users")), 2);
	assert_true(strlen(test_str(page, "next")) > 0);
	assert_string_equal(test_str(page, "prev"), "");
	assert_end_user(json_array_get(json_object_get(page, "users"), 0));
	sim_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_10_2_create_end_user),
	    cmocka_unit_test(test_10_3_create_dynamic_connection),
	    cmocka_unit_test(test_10_4_create_activation),
	    cmocka_unit_test(test_10_5_create_embedded_activation),
	    cmocka_unit_test(test_10_6_patch_variables),
	    cmocka_unit_test(test_10_7_put_variable),
	    cmocka_unit_test(test_10_8_patch_static_variables),
	    cmocka_unit_test(test_10_9_project_schema),
	    cmocka_unit_test(test_10_10_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
