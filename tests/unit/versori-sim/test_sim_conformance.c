/* Replays example payloads in the shapes of Versori's API specification (labelled §10.2-10.10
 * below: end user, connection, activations, variables, schema, listings) against a fixture
 * holding the same ids (tests/fixtures/versori-sim/conformance.json) and checks status and
 * shape; then calls every simulated route and validates each answer, success or Error,
 * against the response shape of its kind (tests/fixtures/versori-sim/shapes.json: required
 * members and JSON types from Versori's OpenAPI specs; timestamps as RFC 3339 by pattern). */
#include "schema.h"
#include "sim.h"
#include "sim_call.h"
#include "sim_embedded.h"
#include "sim_orgs.h"
#include "sim_test.h"
#include "sim_v2.h"

#define SHAPES_MAX  64
#define ROUTES_MAX  128
#define REF_PREFIX  "#/definitions/"
#define INLINE_MAX  32 /* $ref nesting depth; the shapes are not recursive */
#define SIGNING_KEY "01J0S8K4E2W6R9T3Y7P5M1N0BQ" /* §10.1 */

/* The compiled shapes by name, and the routes answered with a checked 2xx. */
static struct {
	char *name[SHAPES_MAX];
	struct schema *schema[SHAPES_MAX];
	size_t n;
	const char *routes[ROUTES_MAX];
	size_t n_routes;
} S;

/* A copy of node with every {"$ref": "#/definitions/X"} replaced by (a copy of) X. */
static json_t *refs_inline(const json_t *node, const json_t *defs, int depth)
{
	const char *ref = json_string_value(json_object_get(node, "$ref"));
	const char *key;
	json_t *out, *v;
	size_t i;

	assert_true(depth < INLINE_MAX);
	if (ref) {
		const json_t *target = strncmp(ref, REF_PREFIX, strlen(REF_PREFIX)) == 0
		                           ? json_object_get(defs, ref + strlen(REF_PREFIX))
		                           : NULL;

		if (!target)
			fail_msg("shapes.json: unresolved $ref %s", ref);
		return refs_inline(target, defs, depth + 1);
	}
	if (json_is_array(node)) {
		out = json_array();
		json_array_foreach (node, i, v)
			json_array_append_new(out, refs_inline(v, defs, depth + 1));
		return out;
	}
	if (!json_is_object(node))
		return json_incref((json_t *)node);
	out = json_object();
	json_object_foreach ((json_t *)node, key, v)
		json_object_set_new(out, key, refs_inline(v, defs, depth + 1));
	return out;
}

/* Load and compile every shape of shapes.json. */
static int shapes_setup(void **state)
{
	json_auto_t *doc = test_fixture("shapes.json");
	const json_t *defs = json_object_get(doc, "definitions");
	const char *name;
	json_t *def;

	json_object_foreach ((json_t *)defs, name, def) {
		json_auto_t *full = refs_inline(def, defs, 0);
		struct schema_error e;

		assert_true(S.n < SHAPES_MAX);
		if (schema_compile(full, &S.schema[S.n], &e) < 0)
			fail_msg("shapes.json: %s does not compile at %s: %s", name, e.path,
			         e.message);
		S.name[S.n++] = strdup(name);
	}
	return 0;
}

/* Free the shapes. */
static int shapes_teardown(void **state)
{
	for (size_t i = 0; i < S.n; i++) {
		free(S.name[i]);
		schema_free(S.schema[i]);
	}
	S.n = 0;
	return 0;
}

/* Assert that v has the named shape, naming the first deviation. */
static void assert_shape(const json_t *v, const char *shape)
{
	struct schema_error e;

	for (size_t i = 0; i < S.n; i++) {
		if (strcmp(S.name[i], shape) != 0)
			continue;
		if (schema_validate(S.schema[i], v, &e) < 0) {
			char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

			fail_msg("not a %s: at \"%s\" (%s): %s; body %s", shape, e.path, e.keyword,
			         e.message, text ? text : "?");
		}
		return;
	}
	fail_msg("shapes.json has no shape %s", shape);
}

/* Call uri, assert the status and the shape of the answer (Error for 4xx/5xx, none for
 * NULL shape), note the route as checked, and return the body (caller's reference). */
static json_t *conform(struct sim *s, enum http_method m, const char *uri, const char *body,
                       int status, const char *shape)
{
	struct test_resp r = test_call(s, m, uri, body);

	if (r.status != status) {
		char *text = r.body ? json_dumps(r.body, JSON_ENCODE_ANY) : NULL;

		fail_msg("%s %s: status %d, want %d; body %s", http_method_to_string(m), uri,
		         r.status, status, text ? text : "(none)");
	}
	if (status >= 400)
		shape = "Error";
	if (shape)
		assert_shape(r.body, shape);
	else
		assert_null(r.body);
	if (status < 300 && S.n_routes < ROUTES_MAX)
		S.routes[S.n_routes++] = r.route;
	return r.body;
}

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
	assert_shape(u, "EndUser");
	assert_string_equal(test_str(u, "externalId"), "acme-retailer-42");
	assert_string_equal(test_str(u, "displayName"), "ACME Retail (EU)");
	assert_string_equal(test_str(u, "createdAt"), test_str(u, "updatedAt"));
	sim_free(s);
}

/* The §10.3 request. */
static const char connection_10_3[] =
    "{ \"connectionTemplateId\": \"" TPL_A "\", \"externalId\": \"acme-retailer-42\","
    "  \"connection\": { \"name\": \"fluent-acme-retailer-42-x7k2\","
    "    \"baseUrl\": \"https://acme.sandbox.api.fluentretail.com\","
    "    \"credentials\": [ { \"id\": \"00000000000000000000000000\","
    "      \"authSchemeConfig\": { \"type\": \"api-key\", \"apiKey\": { \"id\": "
    "\"01J2K9B1D3F5H7K9M1P3R5T7V9\", \"description\": \"API key\", \"name\": "
    "\"X-Api-Key\", \"in\": \"header\" } },"
    "      \"credential\": { \"organisationId\": \"" ORG "\", \"type\": \"string\","
    "        \"data\": { \"string\": { \"value\": \"s3cr3t-key\" } } } } ] } }";

/* §10.3 Create a dynamic connection -> 201 Connection, secrets redacted. */
static void test_10_3_create_dynamic_connection(void **state)
{
	static const char *const names[] = {
	    "id",        "name",      "credentials", "baseUrl",
	    "createdAt", "updatedAt", "systemId",    "connectionTemplateId"};
	struct sim *s = test_sim("conformance.json");
	json_auto_t *c = NULL;
	char *text;

	test_create_user(s, "acme-retailer-42");
	c = test_expect(s, HTTP_METHOD_POST, V2 "/connections", connection_10_3, 201);
	assert_members(c, names, ELEMENTSOF(names));
	assert_shape(c, "Connection");
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
	assert_shape(a, "Activation");
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
	assert_shape(a, "EmbeddedActivation");
	assert_string_equal(test_str(a, "hubId"), HUB);
	assert_string_equal(test_str(json_object_get(a, "user"), "externalId"), "acme-retailer-42");
	assert_string_equal(test_str(json_object_get(a, "user"), "hubId"), HUB);
	assert_string_equal(
	    test_str(json_object_get(json_object_get(a, "user"), "primaryConnection"), "name"),
	    "primary");
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
	assert_shape(list, "ActivationsList");
	assert_int_equal(json_array_size(list), 1);
	a0 = json_array_get(list, 0);
	assert_end_user(json_object_get(a0, "user"));
	assert_string_equal(test_str(json_object_get(a0, "user"), "externalId"),
	                    "acme-retailer-42");
	assert_string_equal(test_str(json_object_get(a0, "dynamicVariables"), "retailerId"), "42");
	page = test_expect(s, HTTP_METHOD_GET, V2 "/users?first=2", NULL, 200);
	assert_shape(page, "EndUserPage");
	assert_int_equal(json_integer_value(json_object_get(page, "totalCount")), 3);
	assert_int_equal(json_array_size(json_object_get(page, "users")), 2);
	assert_true(strlen(test_str(page, "next")) > 0);
	assert_string_equal(test_str(page, "prev"), "");
	assert_end_user(json_array_get(json_object_get(page, "users"), 0));
	sim_free(s);
}

/* The saved state of s loads again as a fixture. */
static void assert_state_reloads(const struct sim *s)
{
	json_auto_t *doc = sim_state_to_json(s);
	struct sim *s2 = NULL;
	char err[256] = "";

	if (sim_new(doc, &s2, err, sizeof(err)) < 0)
		fail_msg("saved state rejected: %s", err);
	sim_free(s2);
}

/* A deep copy of the conformance fixture with one more entity in organisation 0's collection
 * coll (a JSON text), for the fixture tests below. */
static json_t *fixture_with(const char *coll, const char *entity)
{
	json_t *doc = test_fixture("conformance.json");
	json_t *org = json_array_get(json_object_get(doc, "organisations"), 0);
	json_t *e = json_loads(entity, 0, NULL);

	assert_non_null(e);
	if (!json_object_get(org, coll))
		json_object_set_new(org, coll, json_array());
	json_array_append_new(json_object_get(org, coll), e);
	return doc;
}

/* Whether sim_new() refuses doc (taken) with a message naming want. */
static void assert_fixture_refused(json_t *owned_doc, const char *want)
{
	struct sim *s = NULL;
	char err[256] = "";

	if (sim_new(owned_doc, &s, err, sizeof(err)) == 0) {
		sim_free(s);
		fail_msg("fixture accepted; want an error naming %s", want);
	}
	json_decref(owned_doc);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not name %s", err, want);
}

/* Platform v2 users and connections: every answer has its shape. */
static void test_v2_shapes_users_connections(struct sim *s)
{
	json_auto_t *c = NULL;
	char uri[256];

	json_decref(conform(s, HTTP_METHOD_POST, V2 "/users",
	                    "{\"externalId\":\"acme-retailer-42\"}", 201, "EndUser"));
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/users", NULL, 200, "EndUserPage"));
	json_decref(
	    conform(s, HTTP_METHOD_GET, V2 "/users/acme-retailer-42", NULL, 200, "EndUser"));
	c = conform(s, HTTP_METHOD_POST, V2 "/connections", connection_10_3, 201, "Connection");
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/connections", NULL, 200, "ConnectionPage"));
	snprintf(uri, sizeof(uri), V2 "/connections/%s", test_str(c, "id"));
	json_decref(conform(s, HTTP_METHOD_GET, uri, NULL, 200, "Connection"));
	json_decref(
	    conform(s, HTTP_METHOD_GET, V2 "/connections/" CONN_B, NULL, 200, "Connection"));
}

/* Platform v2 activations and variables: every answer has its shape. */
static void test_v2_shapes_activations(struct sim *s)
{
	json_auto_t *a =
	    conform(s, HTTP_METHOD_POST, V2 "/activations", activation_10_4, 200, "Activation");
	char base[256], uri[320];

	json_decref(conform(s, HTTP_METHOD_GET, V2 "/environments/" ENV "/activations", NULL, 200,
	                    "ActivationsList"));
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/environments/" ENV "/activations?static=true",
	                    NULL, 200, "ActivationsList"));
	snprintf(base, sizeof(base), V2 "/environments/" ENV "/activations/%s", test_str(a, "id"));
	json_decref(conform(s, HTTP_METHOD_GET, base, NULL, 200, "Activation"));
	snprintf(uri, sizeof(uri), "%s/variables", base);
	json_decref(conform(s, HTTP_METHOD_PATCH, uri, "{\"pollIntervalMinutes\":5}", 200,
	                    "DynamicVariables"));
	snprintf(uri, sizeof(uri), "%s/variables/syncEnabled", base);
	json_decref(conform(s, HTTP_METHOD_PUT, uri, "{\"value\":false}", 200, "DynamicVariables"));
	json_decref(conform(s, HTTP_METHOD_PATCH, V2 "/environments/" ENV "/variables",
	                    "{\"batchSize\":5}", 200, "DynamicVariables"));
	json_decref(conform(s, HTTP_METHOD_GET,
	                    V2 "/environment/" ENV "/users/acme-retailer-42/activations", NULL, 200,
	                    "ActivationsList"));
	snprintf(uri, sizeof(uri), V2 "/environment-systems/" TPL_A "/activations/%s",
	         test_str(a, "id"));
	json_decref(conform(s, HTTP_METHOD_GET, uri, NULL, 200, "Connection"));
	json_decref(conform(s, HTTP_METHOD_DELETE, base, NULL, 204, NULL));
}

/* Platform v2 projects, templates, systems and schedulers: every answer has its shape. */
static void test_v2_shapes_projects(struct sim *s)
{
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/projects", NULL, 200, "ProjectsList"));
	json_decref(
	    conform(s, HTTP_METHOD_GET, V2 "/projects?starred=true", NULL, 200, "ProjectsList"));
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/projects/" PROJECT, NULL, 200, "Project"));
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/projects/" PROJECT2, NULL, 200, "Project"));
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/projects/" PROJECT2 "/variables", NULL, 200,
	                    "DynamicVariablesSchema"));
	json_decref(conform(s, HTTP_METHOD_PUT, V2 "/projects/" PROJECT2 "/variables",
	                    "{\"type\":\"object\"}", 200, "DynamicVariablesSchema"));
	json_decref(conform(s, HTTP_METHOD_PATCH, V2 "/projects/" PROJECT2 "/variables",
	                    "{\"op\":\"add\",\"path\":\"/properties/a\",\"value\":{}}", 200,
	                    "DynamicVariablesSchema"));
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/projects/" PROJECT "/variables", NULL, 200,
	                    "DynamicVariablesSchema"));
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/projects/" PROJECT "/connection-templates",
	                    NULL, 200, "EnvironmentSystemPage"));
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/systems", NULL, 200, "SystemPage"));
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/systems/" SYS_A, NULL, 200, "System"));
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/environments/" ENV "/schedulers", NULL, 200,
	                    "SchedulerList"));
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/environments/" ENV "/schedulers/" SCHED, NULL,
	                    200, "Scheduler"));
	json_decref(conform(s, HTTP_METHOD_POST, V2 "/environments/" ENV "/schedulers/" SCHED, NULL,
	                    204, NULL));
}

/* Every Platform v2 route answering 2xx, checked against the shape of its answer. */
static void test_v2_shapes(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *c = NULL;
	char uri[256];

	test_v2_shapes_users_connections(s);
	test_v2_shapes_activations(s);
	test_v2_shapes_projects(s);
	c = conform(s, HTTP_METHOD_POST, V2 "/connections",
	            "{\"connectionTemplateId\":\"" TPL_B "\",\"connection\":{\"name\":\"gone\","
	            "\"credentials\":[]}}",
	            201, "Connection");
	snprintf(uri, sizeof(uri), V2 "/connections/%s", test_str(c, "id"));
	json_decref(conform(s, HTTP_METHOD_DELETE, uri, NULL, 204, NULL));
	json_decref(conform(s, HTTP_METHOD_DELETE, V2 "/users/acme-retailer-42", NULL, 204, NULL));
	sim_free(s);
}

/* Embedded v1 and Organisations v1: every answer has its shape, the embedded user its
 * primaryConnection (required by the embedded spec, reference §10.5). */
static void test_embedded_and_orgs_shapes(void **state)
{
	static const char body[] =
	    "{\"userId\":\"acme-retailer-42\",\"integrationId\":\"" INTEG "\",\"connections\":"
	    "[{\"templateId\":\"" ETPL "\",\"connectionId\":\"" ECONN "\"}]}";
	struct sim *s = test_sim("conformance.json");
	json_auto_t *a = NULL, *g = NULL;
	json_t *l = NULL;
	char uri[256];

	test_create_user(s, "acme-retailer-42");
	a = conform(s, HTTP_METHOD_POST, "/api/embedded/v1/activations", body, 200,
	            "EmbeddedActivation");
	snprintf(uri, sizeof(uri), "/api/embedded/v1/activations/%s", test_str(a, "id"));
	g = conform(s, HTTP_METHOD_GET, uri, NULL, 200, "EmbeddedActivation");
	/* The same primary connection every time. */
	assert_true(json_equal(json_object_get(json_object_get(a, "user"), "primaryConnection"),
	                       json_object_get(json_object_get(g, "user"), "primaryConnection")));
	/* The end user's activations in the hub: this one, by external id, of this integration;
	 * none of another integration; an unknown end user is a 404. */
	l = conform(s, HTTP_METHOD_GET,
	            "/api/embedded/v1/embed/" HUB
	            "/users/acme-retailer-42/activations?integration_id=" INTEG,
	            NULL, 200, "EmbeddedEndUserActivationPage");
	assert_int_equal(json_array_size(json_object_get(l, "activations")), 1);
	assert_string_equal(test_str(json_array_get(json_object_get(l, "activations"), 0), "id"),
	                    test_str(a, "id"));
	json_decref(l);
	l = conform(s, HTTP_METHOD_GET,
	            "/api/embedded/v1/embed/" HUB
	            "/users/acme-retailer-42/activations?integration_id=" ETPL,
	            NULL, 200, "EmbeddedEndUserActivationPage");
	assert_int_equal(json_integer_value(json_object_get(l, "totalCount")), 0);
	json_decref(l);
	json_decref(conform(s, HTTP_METHOD_GET,
	                    "/api/embedded/v1/embed/" HUB "/users/nobody/activations", NULL, 404,
	                    NULL));
	snprintf(uri, sizeof(uri), "/api/embedded/v1/activations/%s/variables", test_str(a, "id"));
	json_decref(conform(s, HTTP_METHOD_PUT, uri,
	                    "{\"dynamicVariables\":{\"retailerId\":\"7\"}}", 200,
	                    "EmbeddedVariables"));
	snprintf(uri, sizeof(uri), "/api/embedded/v1/activations/%s", test_str(a, "id"));
	json_decref(conform(s, HTTP_METHOD_DELETE, uri, NULL, 204, NULL));
	json_decref(
	    conform(s, HTTP_METHOD_GET, "/api/embedded/v1/healthz", NULL, 200, "HealthResponse"));
	json_decref(conform(s, HTTP_METHOD_GET, "/api/organisations/v1/keys/" SIGNING_KEY, NULL,
	                    200, "PublicKey"));
	json_decref(conform(s, HTTP_METHOD_GET, "/api/organisations/v1/organisations/" ORG "/keys",
	                    NULL, 200, "SigningKeysList"));
	assert_state_reloads(s);
	sim_free(s);
}

/* Every kind of error answer is an Error object: 400, 401, 403, 404, 405, 409, 501. */
static void test_error_shapes(void **state)
{
	struct sim *s = test_sim("conformance.json");

	json_decref(conform(s, HTTP_METHOD_POST, V2 "/users", "{}", 400, NULL));
	json_decref(conform(s, HTTP_METHOD_POST, V2 "/users", "[", 400, NULL));
	test_create_user(s, "acme-retailer-42");
	json_decref(conform(s, HTTP_METHOD_POST, V2 "/users",
	                    "{\"externalId\":\"acme-retailer-42\"}", 409, NULL));
	json_decref(conform(s, HTTP_METHOD_POST, V2 "/activations",
	                    "{\"userId\":\"acme-retailer-42\",\"environmentId\":\"" ENV
	                    "\",\"connections\":[]}",
	                    400, NULL));
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/users/nobody", NULL, 404, NULL));
	json_decref(conform(s, HTTP_METHOD_GET, "/api/v2/nothing", NULL, 404, NULL));
	json_decref(conform(s, HTTP_METHOD_PUT, V2 "/users/acme", "{}", 405, NULL));
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/metrics", NULL, 501, NULL));
	json_decref(conform(s, HTTP_METHOD_GET, "/api/embedded/v1/hubs/" HUB, NULL, 501, NULL));
	json_decref(
	    conform(s, HTTP_METHOD_GET, "/api/organisations/v1/keys/nope", NULL, 404, NULL));
	test_auth = API_KEY_2;
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/users", NULL, 403, NULL));
	test_auth = "Bearer wrong";
	json_decref(conform(s, HTTP_METHOD_GET, V2 "/users", NULL, 401, NULL));
	test_auth = API_KEY;
	sim_free(s);
}

/* An embedded activation loaded from a fixture: its user gets a primaryConnection too, kept
 * across a save and a reload. */
static void test_fixture_embedded_activation_shape(void **state)
{
	json_auto_t *doc = fixture_with("users", "{\"id\":\"U1\",\"externalId\":\"loaded\"}");
	json_auto_t *a = NULL, *saved = NULL, *b = NULL;
	struct sim *s = NULL, *s2 = NULL;
	char err[256] = "";

	json_object_set_new(
	    json_array_get(json_object_get(doc, "organisations"), 0), "embeddedActivations",
	    json_pack("[{s:s,s:s,s:s,s:[{s:s,s:s}]}]", "id", "EA1", "userId", "U1", "integrationId",
	              INTEG, "connections", "templateId", ETPL, "connectionId", ECONN));
	if (sim_new(doc, &s, err, sizeof(err)) < 0)
		fail_msg("fixture rejected: %s", err);
	a = conform(s, HTTP_METHOD_GET, "/api/embedded/v1/activations/EA1", NULL, 200,
	            "EmbeddedActivation");
	saved = sim_state_to_json(s);
	if (sim_new(saved, &s2, err, sizeof(err)) < 0)
		fail_msg("saved state rejected: %s", err);
	b = conform(s2, HTTP_METHOD_GET, "/api/embedded/v1/activations/EA1", NULL, 200,
	            "EmbeddedActivation");
	assert_true(json_equal(a, b));
	sim_free(s);
	sim_free(s2);
}

/* What a client sends cannot make a later answer break its shape: an authSchemeConfig must be
 * an object with a known type (it is echoed in every Connection). */
static void test_inputs_cannot_break_shapes(void **state)
{
	static const char *const bad[] = {"5", "\"api-key\"", "{}", "{\"type\":5}",
	                                  "{\"type\":\"magic\"}"};
	struct sim *s = test_sim("conformance.json");
	char body[512];

	test_create_user(s, "acme-retailer-42");
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		snprintf(body, sizeof(body),
		         "{\"connectionTemplateId\":\"" TPL_B "\",\"connection\":{\"name\":\"n\","
		         "\"credentials\":[{\"id\":\"x\",\"authSchemeConfig\":%s}]}}",
		         bad[i]);
		test_expect_error(s, HTTP_METHOD_POST, V2 "/connections", body, 400, "connection");
		snprintf(
		    body, sizeof(body),
		    "{\"userId\":\"acme-retailer-42\",\"environmentId\":\"" ENV "\","
		    "\"connections\":[{\"connectionTemplateId\":\"" TPL_A
		    "\",\"existingConnectionId\":\"" CONN_A "\"},{\"connectionTemplateId\":\"" TPL_B
		    "\",\"connection\":{\"name\":\"n\",\"credentials\":[{\"id\":\"x\","
		    "\"authSchemeConfig\":%s}]}}],\"dynamicVariables\":{\"retailerId\":\"42\"}}",
		    bad[i]);
		test_expect_error(s, HTTP_METHOD_POST, V2 "/activations", body, 400,
		                  "connections[1]");
		snprintf(
		    body, sizeof(body),
		    "{\"userId\":\"acme-retailer-42\",\"integrationId\":\"" INTEG "\","
		    "\"connections\":[{\"templateId\":\"" ETPL "\",\"name\":\"n\","
		    "\"credentials\":[{\"id\":\"x\",\"authSchemeConfig\":%s}],\"variables\":[]}]}",
		    bad[i]);
		test_expect_error(s, HTTP_METHOD_POST, "/api/embedded/v1/activations", body, 400,
		                  "connections[0]");
	}
	sim_free(s);
}

/* A fixture value that would be answered in the wrong shape is refused at load. */
static void test_fixture_values_cannot_break_shapes(void **state)
{
	assert_fixture_refused(fixture_with("environments",
	                                    "{\"id\":\"E9\",\"projectId\":\"" PROJECT "\","
	                                    "\"name\":\"x\",\"status\":\"paused\"}"),
	                       "environments[1].status");
	assert_fixture_refused(
	    fixture_with("systems", "{\"id\":\"S9\",\"name\":\"x\",\"authSchemeConfigs\":[1]}"),
	    "systems[2].authSchemeConfigs");
	assert_fixture_refused(fixture_with("systems", "{\"id\":\"S9\",\"name\":\"x\","
	                                               "\"authSchemeConfigs\":[{\"type\":\"x\"}]}"),
	                       "systems[2].authSchemeConfigs");
	assert_fixture_refused(
	    fixture_with("connections", "{\"id\":\"C9\",\"name\":\"x\",\"connectionTemplateId\":"
	                                "\"" TPL_B "\",\"credentials\":[{\"id\":\"k\","
	                                "\"authSchemeConfig\":{\"type\":1}}]}"),
	    "connections[3].credentials");
	assert_fixture_refused(fixture_with("users", "{\"id\":\"U9\",\"externalId\":\"x\","
	                                             "\"createdAt\":\"yesterday\"}"),
	                       "users[0].createdAt");
	assert_fixture_refused(fixture_with("users", "{\"id\":\"U9\",\"externalId\":\"x\","
	                                             "\"primaryConnection\":{\"id\":5}}"),
	                       "users[0].primaryConnection");
	assert_fixture_refused(fixture_with("users", "{\"id\":\"U9\",\"externalId\":\"x\","
	                                             "\"primaryConnection\":{\"id\":\"P\","
	                                             "\"createdAt\":\"soon\"}}"),
	                       "users[0].primaryConnection");
}

/* Run last: every simulated route (not the 501 families) was answered with a checked 2xx. */
static void test_every_route_checked(void **state)
{
	static const struct {
		const struct sim_route *routes;
		const size_t *n;
	} tables[] = {
	    {sim_v2_routes, &sim_v2_n_routes},
	    {sim_embedded_routes, &sim_embedded_n_routes},
	    {sim_orgs_routes, &sim_orgs_n_routes},
	};
	unsigned missing = 0;

	for (size_t t = 0; t < ELEMENTSOF(tables); t++)
		for (size_t i = 0; i < *tables[t].n; i++) {
			const struct sim_route *r = &tables[t].routes[i];
			bool seen = false;

			if (r->flags & SIM_ROUTE_NOT_SIMULATED)
				continue;
			for (size_t k = 0; k < S.n_routes && !seen; k++)
				seen = strcmp(S.routes[k], r->name) == 0;
			if (!seen) {
				printf("# route without a shape check: %s\n", r->name);
				missing++;
			}
		}
	assert_int_equal(missing, 0);
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
	    cmocka_unit_test(test_v2_shapes),
	    cmocka_unit_test(test_embedded_and_orgs_shapes),
	    cmocka_unit_test(test_error_shapes),
	    cmocka_unit_test(test_fixture_embedded_activation_shape),
	    cmocka_unit_test(test_inputs_cannot_break_shapes),
	    cmocka_unit_test(test_fixture_values_cannot_break_shapes),
	    cmocka_unit_test(test_every_route_checked),
	};

	return cmocka_run_group_tests(tests, shapes_setup, shapes_teardown);
}
