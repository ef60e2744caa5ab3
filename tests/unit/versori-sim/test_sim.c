/* Unit tests for the versori-sim core: fixture load/save, every endpoint's status and shape,
 * every rule's Error, the switches, paging, auth with API keys, routes and 501 families. */
#include <errno.h>

#include "schema.h"
#include "sim.h"
#include "sim_store.h"
#include "sim_test.h"

/* Load fixture text; returns sim_new()'s result and the error text. */
static int load_text(const char *text, struct sim **ret, char *err, size_t errlen)
{
	json_error_t e;
	json_auto_t *doc = json_loads(text, 0, &e);

	if (!doc)
		fail_msg("bad test JSON: %s", e.text);
	return sim_new(doc, ret, err, errlen);
}

/* A fixture that must be rejected, with a message mentioning what. */
static void assert_rejected(const char *text, const char *what)
{
	struct sim *s = NULL;
	char err[256] = "";

	assert_int_equal(load_text(text, &s, err, sizeof(err)), -EINVAL);
	assert_null(s);
	if (!strstr(err, what))
		fail_msg("error \"%s\" does not mention \"%s\"", err, what);
}

/* Malformed fixtures are refused with a message naming the problem. */
static void test_fixture_errors(void **state)
{
	assert_rejected("[]", "organisations");
	assert_rejected("{\"organisations\":[],\"extra\":1}", "extra");
	assert_rejected("{\"organisations\":[{\"name\":\"x\"}]}", "organisations[0].id");
	assert_rejected("{\"organisations\":[{\"id\":\"A\",\"bogus\":[]}]}", "bogus");
	assert_rejected("{\"organisations\":[{\"id\":\"A\",\"users\":[{\"id\":\"U\"}]}]}",
	                "users[0].externalId");
	assert_rejected("{\"organisations\":[{\"id\":\"A\",\"users\":[{\"id\":\"U\","
	                "\"externalId\":\"x\"},{\"id\":\"V\",\"externalId\":\"x\"}]}]}",
	                "duplicate externalId");
	assert_rejected("{\"organisations\":[{\"id\":\"A\",\"environments\":[{\"id\":\"E\","
	                "\"projectId\":\"nope\",\"name\":\"e\"}]}]}",
	                "environments[0].projectId");
	assert_rejected("{\"organisations\":[{\"id\":\"A\",\"projects\":[{\"id\":\"P\","
	                "\"name\":\"p\",\"dynamicVariablesSchema\":{\"allOf\":[]}}]}]}",
	                "dynamicVariablesSchema");
	assert_rejected("{\"organisations\":[{\"id\":\"A\",\"apiKeys\":[{\"name\":\"k\"}]}]}",
	                "key or keyEnv");
	assert_rejected("{\"organisations\":[{\"id\":\"A\",\"apiKeys\":[{\"keyEnv\":"
	                "\"SIM_TEST_UNSET_VARIABLE\"}]}]}",
	                "SIM_TEST_UNSET_VARIABLE is not set");
	assert_rejected("{\"organisations\":[],\"switches\":{\"duplicate_user\":\"maybe\"}}",
	                "duplicate_user");
}

/* API keys from the environment authenticate and are saved as references, never values. */
static void test_fixture_env_secret(void **state)
{
	static const char fixture[] = "{\"organisations\":[{\"id\":\"" ORG "\",\"apiKeys\":"
	                              "[{\"name\":\"dev\",\"keyEnv\":\"SIM_TEST_API_KEY\"}]}]}";
	struct sim *s = NULL;
	char err[256] = "";
	json_auto_t *saved = NULL, *body = NULL;
	char *text;

	assert_int_equal(setenv("SIM_TEST_API_KEY", "from-the-environment-123", 1), 0);
	assert_int_equal(load_text(fixture, &s, err, sizeof(err)), 0);
	test_auth = "Bearer from-the-environment-123";
	body = test_expect(s, HTTP_METHOD_GET, V2 "/users", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(body, "totalCount")), 0);
	test_auth = "Bearer wrong";
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users", NULL, 401, NULL);
	test_auth = API_KEY;
	saved = sim_state_to_json(s);
	text = json_dumps(saved, 0);
	assert_null(strstr(text, "from-the-environment-123"));
	assert_non_null(strstr(text, "SIM_TEST_API_KEY"));
	free(text);
	sim_free(s);
	assert_int_equal(unsetenv("SIM_TEST_API_KEY"), 0);
	s = NULL;
	assert_int_equal(sim_new(saved, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "SIM_TEST_API_KEY"));
}

/* sim_fixture_load reads the demo fixture once its references are set, not before. */
static void test_fixture_load_file(void **state)
{
	char path[512], err[256] = "";
	json_t *doc = NULL;

	snprintf(path, sizeof(path), "%s/deploy/dev/versori-sim.fixture.json", SOURCE_ROOT);
	assert_int_equal(unsetenv("VERSORI_SIM_API_KEY"), 0);
	assert_int_equal(setenv("VERSORI_SIM_SIGNING_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----", 1),
	                 0);
	assert_int_equal(sim_fixture_load(path, &doc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "VERSORI_SIM_API_KEY"));
	assert_int_equal(setenv("VERSORI_SIM_API_KEY", "k", 1), 0);
	assert_int_equal(unsetenv("VERSORI_SIM_SIGNING_PUBLIC_KEY"), 0);
	assert_int_equal(sim_fixture_load(path, &doc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "VERSORI_SIM_SIGNING_PUBLIC_KEY"));
	assert_int_equal(setenv("VERSORI_SIM_SIGNING_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----", 1),
	                 0);
	assert_int_equal(sim_fixture_load(path, &doc, err, sizeof(err)), 0);
	assert_non_null(
	    json_object_get(json_array_get(json_object_get(doc, "organisations"), 0), "apiKeys"));
	json_decref(doc);
	assert_int_equal(sim_fixture_load("/nonexistent/fixture.json", &doc, err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(unsetenv("VERSORI_SIM_API_KEY"), 0);
	assert_int_equal(unsetenv("VERSORI_SIM_SIGNING_PUBLIC_KEY"), 0);
}

/* Save, load, save again: the same document, and the reloaded state answers the same. */
static void test_state_round_trip(void **state)
{
	struct sim *s = test_sim("conformance.json"), *s2 = NULL;
	json_auto_t *one = NULL, *two = NULL, *u = NULL, *sw = NULL;
	const char *user = test_create_user(s, "round-trip");
	char err[256] = "";

	test_activate(s, user);
	assert_int_equal(sim_switch_set(s, "patch_response", "changed"), 0);
	json_decref(test_expect(s, HTTP_METHOD_POST, V2 "/environments/" ENV "/schedulers/" SCHED,
	                        NULL, 204));
	one = sim_state_to_json(s);
	assert_int_equal(sim_new(one, &s2, err, sizeof(err)), 0);
	two = sim_state_to_json(s2);
	if (!json_equal(one, two))
		fail_msg("state differs after a save/load round trip");
	u = test_expect(s2, HTTP_METHOD_GET, V2 "/users/round-trip", NULL, 200);
	assert_string_equal(test_str(u, "id"), user);
	sw = sim_switches_to_json(s2);
	assert_string_equal(json_string_value(json_object_get(sw, "patch_response")), "changed");
	sim_free(s);
	sim_free(s2);
}

/* Switches: names and values checked, reported back. */
static void test_switches(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *sw = sim_switches_to_json(s);

	assert_string_equal(json_string_value(json_object_get(sw, "duplicate_user")), "409");
	assert_string_equal(json_string_value(json_object_get(sw, "duplicate_activation")), "409");
	assert_string_equal(json_string_value(json_object_get(sw, "patch_response")), "merged");
	assert_int_equal(sim_switch_set(s, "duplicate_user", "nope"), -EINVAL);
	assert_int_equal(sim_switch_set(s, "nope", "409"), -EINVAL);
	assert_int_equal(sim_switch_set(s, "duplicate_activation", "allow"), 0);
	json_decref(sw);
	sw = sim_switches_to_json(s);
	assert_string_equal(json_string_value(json_object_get(sw, "duplicate_activation")),
	                    "allow");
	sim_free(s);
}

/* Users: 201 shape with ULID and RFC 3339 stamps, get by externalId or ULID, delete. */
static void test_users(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *u = test_expect(s, HTTP_METHOD_POST, V2 "/users",
	                             "{\"externalId\":\"acme\",\"displayName\":\"ACME\"}", 201);
	json_auto_t *g = NULL, *g2 = NULL;
	char uri[256];

	assert_true(test_is_ulid(test_str(u, "id")));
	assert_string_equal(test_str(u, "externalId"), "acme");
	assert_string_equal(test_str(u, "displayName"), "ACME");
	assert_string_equal(test_str(u, "organisationId"), ORG);
	assert_string_equal(test_str(u, "createdAt"), "2025-10-09T08:53:20.000000Z");
	assert_string_equal(test_str(u, "updatedAt"), "2025-10-09T08:53:20.000000Z");
	g = test_expect(s, HTTP_METHOD_GET, V2 "/users/acme", NULL, 200);
	assert_true(json_equal(u, g));
	snprintf(uri, sizeof(uri), V2 "/users/%s", test_str(u, "id"));
	g2 = test_expect(s, HTTP_METHOD_GET, uri, NULL, 200);
	assert_true(json_equal(u, g2));
	json_decref(
	    test_expect(s, HTTP_METHOD_POST, V2 "/users", "{\"externalId\":\"bare\"}", 201));
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users/nobody", NULL, 404, NULL);
	test_expect_error(s, HTTP_METHOD_POST, V2 "/users", "{\"displayName\":\"x\"}", 400,
	                  "externalId");
	test_expect_error(s, HTTP_METHOD_POST, V2 "/users", "{\"externalId\":7}", 400,
	                  "externalId");
	test_expect_error(s, HTTP_METHOD_POST, V2 "/users", "{not json", 400, NULL);
	test_expect_error(s, HTTP_METHOD_POST, V2 "/users", "[1]", 400, NULL);
	json_decref(test_expect(s, HTTP_METHOD_DELETE, V2 "/users/acme", NULL, 204));
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users/acme", NULL, 404, NULL);
	test_expect_error(s, HTTP_METHOD_DELETE, V2 "/users/acme", NULL, 404, NULL);
	sim_free(s);
}

/* Duplicate externalId: 409 by default, 400 or the existing user by switch. */
static void test_users_duplicate_switch(void **state)
{
	struct sim *s = test_sim("conformance.json");
	const char *body = "{\"externalId\":\"dup\"}";
	json_auto_t *first = test_expect(s, HTTP_METHOD_POST, V2 "/users", body, 201);
	json_auto_t *again = NULL;

	test_expect_error(s, HTTP_METHOD_POST, V2 "/users", body, 409, "externalId");
	assert_int_equal(sim_switch_set(s, "duplicate_user", "400"), 0);
	test_expect_error(s, HTTP_METHOD_POST, V2 "/users", body, 400, "externalId");
	assert_int_equal(sim_switch_set(s, "duplicate_user", "existing"), 0);
	again = test_expect(s, HTTP_METHOD_POST, V2 "/users", body, 201);
	assert_true(json_equal(first, again));
	sim_free(s);
}

/* Ids are ULIDs in strictly increasing order, even within one millisecond. */
static void test_ids_ordered(void **state)
{
	struct sim *s = test_sim("conformance.json");
	char prev[32] = "", ext[32];

	for (int i = 0; i < 40; i++) {
		snprintf(ext, sizeof(ext), "user-%02d", i);
		const char *id = test_create_user(s, ext);

		assert_true(test_is_ulid(id));
		assert_true(strcmp(prev, id) < 0);
		snprintf(prev, sizeof(prev), "%s", id);
	}
	sim_free(s);
}

/* ListEndUsers: search, activated + environment_id, and its 400. */
static void test_users_list_filters(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *all = NULL, *found = NULL, *act = NULL, *inact = NULL;

	test_create_user(s, "alpha");
	test_activate(s, test_create_user(s, "beta"));
	all = test_expect(s, HTTP_METHOD_GET, V2 "/users", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(all, "totalCount")), 2);
	assert_int_equal(json_array_size(json_object_get(all, "users")), 2);
	found = test_expect(s, HTTP_METHOD_GET, V2 "/users?search=ALP", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(found, "totalCount")), 1);
	act = test_expect(s, HTTP_METHOD_GET, V2 "/users?activated=true&environment_id=" ENV, NULL,
	                  200);
	assert_string_equal(
	    test_str(json_array_get(json_object_get(act, "users"), 0), "externalId"), "beta");
	assert_int_equal(json_integer_value(json_object_get(act, "totalCount")), 1);
	inact = test_expect(s, HTTP_METHOD_GET, V2 "/users?activated=false&environment_id=" ENV,
	                    NULL, 200);
	assert_string_equal(
	    test_str(json_array_get(json_object_get(inact, "users"), 0), "externalId"), "alpha");
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users?activated=true", NULL, 400, "activated");
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users?activated=maybe&environment_id=" ENV, NULL,
	                  400, "activated");
	sim_free(s);
}

/* Externalids of a users page, comma-joined into buf. */
static const char *page_ids(const json_t *page, char *buf, size_t len)
{
	const json_t *u;
	size_t i, o = 0;

	buf[0] = '\0';
	json_array_foreach (json_object_get(page, "users"), i, u)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "",
		                      test_str(u, "externalId"));
	return buf;
}

/* Paging: first/after/before, next/prev cursors, totalCount, bad parameters. */
static void test_paging(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *p1 = NULL, *p2 = NULL, *p3 = NULL, *back = NULL, *def = NULL;
	char uri[512], ids[256];

	for (int i = 1; i <= 5; i++) {
		char ext[16];

		snprintf(ext, sizeof(ext), "u%d", i);
		test_create_user(s, ext);
	}
	p1 = test_expect(s, HTTP_METHOD_GET, V2 "/users?first=2", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(p1, "totalCount")), 5);
	assert_string_equal(page_ids(p1, ids, sizeof(ids)), "u1,u2");
	assert_string_equal(test_str(p1, "prev"), "");
	assert_true(strlen(test_str(p1, "next")) > 0);
	snprintf(uri, sizeof(uri), V2 "/users?first=2&after=%s", test_str(p1, "next"));
	p2 = test_expect(s, HTTP_METHOD_GET, uri, NULL, 200);
	assert_string_equal(page_ids(p2, ids, sizeof(ids)), "u3,u4");
	snprintf(uri, sizeof(uri), V2 "/users?first=2&before=%s", test_str(p2, "prev"));
	back = test_expect(s, HTTP_METHOD_GET, uri, NULL, 200);
	assert_string_equal(page_ids(back, ids, sizeof(ids)), "u1,u2");
	snprintf(uri, sizeof(uri), V2 "/users?first=2&after=%s", test_str(p2, "next"));
	p3 = test_expect(s, HTTP_METHOD_GET, uri, NULL, 200);
	assert_string_equal(page_ids(p3, ids, sizeof(ids)), "u5");
	assert_string_equal(test_str(p3, "next"), "");
	assert_int_equal(json_integer_value(json_object_get(p3, "totalCount")), 5);
	def = test_expect(s, HTTP_METHOD_GET, V2 "/users", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(def, "users")), 5);
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users?first=0", NULL, 400, "first");
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users?first=x", NULL, 400, "first");
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users?after=bm9wZQ", NULL, 400, "after");
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users?after=%25%25", NULL, 400, "after");
	sim_free(s);
}

/* The default page size is 20. */
static void test_paging_default(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *p = NULL, *p2 = NULL;
	char uri[512];

	for (int i = 0; i < 25; i++) {
		char ext[16];

		snprintf(ext, sizeof(ext), "d%02d", i);
		test_create_user(s, ext);
	}
	p = test_expect(s, HTTP_METHOD_GET, V2 "/users", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(p, "users")), 20);
	assert_int_equal(json_integer_value(json_object_get(p, "totalCount")), 25);
	snprintf(uri, sizeof(uri), V2 "/users?after=%s", test_str(p, "next"));
	p2 = test_expect(s, HTTP_METHOD_GET, uri, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(p2, "users")), 5);
	sim_free(s);
}

/* Activation create: 200 with user, environment, connections and variables. */
static void test_activation_create(void **state)
{
	struct sim *s = test_sim("conformance.json");
	const char *user = test_create_user(s, "acme");
	char uri[256];
	json_auto_t *a = NULL, *list = NULL, *one = NULL, *mine = NULL, *conn = NULL;
	const char *act = test_activate(s, user);

	snprintf(uri, sizeof(uri), V2 "/environments/" ENV "/activations/%s", act);
	a = test_expect(s, HTTP_METHOD_GET, uri, NULL, 200);
	assert_string_equal(test_str(json_object_get(a, "user"), "externalId"), "acme");
	assert_string_equal(test_str(json_object_get(a, "environment"), "id"), ENV);
	assert_int_equal(json_array_size(json_object_get(a, "connections")), 2);
	assert_string_equal(test_str(json_array_get(json_object_get(a, "connections"), 0), "id"),
	                    CONN_A);
	assert_true(
	    json_is_true(json_object_get(json_object_get(a, "dynamicVariables"), "syncEnabled")));
	list = test_expect(s, HTTP_METHOD_GET, V2 "/environments/" ENV "/activations", NULL, 200);
	assert_true(json_is_array(list));
	assert_int_equal(json_array_size(list), 1);
	mine = test_expect(s, HTTP_METHOD_GET, V2 "/environment/" ENV "/users/acme/activations",
	                   NULL, 200);
	assert_true(json_is_array(mine));
	assert_string_equal(test_str(json_array_get(mine, 0), "id"), act);
	snprintf(uri, sizeof(uri), V2 "/environment-systems/" TPL_B "/activations/%s", act);
	conn = test_expect(s, HTTP_METHOD_GET, uri, NULL, 200);
	assert_string_equal(test_str(conn, "id"), CONN_B);
	one = test_expect(s, HTTP_METHOD_GET, V2 "/environments/" ENV "/activations?static=true",
	                  NULL, 200);
	assert_int_equal(json_array_size(one), 1);
	assert_true(json_is_object(json_object_get(json_array_get(one, 0), "dynamicVariables")));
	snprintf(uri, sizeof(uri), V2 "/environments/" ENV "/activations/%s", act);
	json_decref(test_expect(s, HTTP_METHOD_DELETE, uri, NULL, 204));
	test_expect_error(s, HTTP_METHOD_GET, uri, NULL, 404, NULL);
	json_decref(test_expect(s, HTTP_METHOD_GET, V2 "/users/acme", NULL, 200));
	json_decref(test_expect(s, HTTP_METHOD_GET, V2 "/connections/" CONN_A, NULL, 200));
	sim_free(s);
}

/* An activation body with the given connections and variables JSON. */
static char *act_body(const char *user, const char *conns, const char *vars)
{
	return xasprintf("{\"userId\":\"%s\",\"environmentId\":\"" ENV "\",\"connections\":%s,"
	                 "\"dynamicVariables\":%s}",
	                 user, conns, vars);
}

#define BIND_A  "{\"connectionTemplateId\":\"" TPL_A "\",\"existingConnectionId\":\"" CONN_A "\"}"
#define BIND_B  "{\"connectionTemplateId\":\"" TPL_B "\",\"existingConnectionId\":\"" CONN_B "\"}"
#define VARS_OK "{\"retailerId\":\"42\"}"

/* Send an activation body that must fail with status and field. */
static void act_fails(struct sim *s, const char *user, const char *conns, const char *vars,
                      int status, const char *field)
{
	_cleanup_free_ char *body = act_body(user, conns, vars);

	test_expect_error(s, HTTP_METHOD_POST, V2 "/activations", body, status, field);
}

/* Every rule of activation create answers its Error. */
static void test_activation_rules(void **state)
{
	struct sim *s = test_sim("conformance.json");

	test_create_user(s, "acme");
	act_fails(s, "ghost", "[" BIND_A "," BIND_B "]", VARS_OK, 404, "userId");
	act_fails(s, "acme", "[" BIND_A "]", VARS_OK, 400, "connections");
	act_fails(s, "acme", "[" BIND_A "," BIND_A "," BIND_B "]", VARS_OK, 400, "connections[1]");
	act_fails(s, "acme",
	          "[" BIND_A ",{\"connectionTemplateId\":\"" TPL_B
	          "\",\"existingConnectionId\":\"01JS2M3Z1X9W7V5T3R1P0N8ZZZ\"}]",
	          VARS_OK, 404, "connections[1]");
	act_fails(s, "acme",
	          "[" BIND_A ",{\"connectionTemplateId\":\"" TPL_B
	          "\",\"existingConnectionId\":\"" CONN_A "\"}]",
	          VARS_OK, 400, "connections[1]");
	act_fails(s, "acme", "[" BIND_A "," BIND_B ",{\"connectionTemplateId\":\"nope\"}]", VARS_OK,
	          400, "connections[2]");
	/* Neither existingConnectionId nor connection: a validation error, not an unknown id. */
	act_fails(s, "acme", "[" BIND_A ",{\"connectionTemplateId\":\"" TPL_B "\"}]", VARS_OK, 400,
	          "connections[1]");
	act_fails(s, "acme", "[" BIND_A "," BIND_B "]", "{}", 400, "dynamicVariables.retailerId");
	act_fails(s, "acme", "[" BIND_A "," BIND_B "]",
	          "{\"retailerId\":\"42\",\"pollIntervalMinutes\":\"often\"}", 400,
	          "dynamicVariables.pollIntervalMinutes");
	act_fails(s, "acme", "[" BIND_A "," BIND_B "]", "{\"retailerId\":\"42\",\"unknown\":1}",
	          400, "dynamicVariables.unknown");
	act_fails(s, "acme", "[" BIND_A "," BIND_B "]",
	          "{\"retailerId\":\"42\",\"locations\":[{\"ref\":\"a\",\"extra\":1}]}", 400,
	          "dynamicVariables.locations[0].extra");
	act_fails(s, "acme", "[" BIND_A "," BIND_B "]", "[]", 400, "dynamicVariables");
	test_expect_error(s, HTTP_METHOD_POST, V2 "/activations",
	                  "{\"userId\":\"acme\",\"connections\":[]}", 400, "environmentId");
	test_expect_error(s, HTTP_METHOD_POST, V2 "/activations",
	                  "{\"userId\":\"acme\",\"environmentId\":\"nope\",\"connections\":[]}",
	                  404, "environmentId");
	sim_free(s);
}

/* A dynamic connection of another user cannot be bound. */
static void test_activation_foreign_connection(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *conn = NULL;
	char conns[512];

	test_create_user(s, "owner");
	test_create_user(s, "other");
	conn = test_expect(s, HTTP_METHOD_POST, V2 "/connections",
	                   "{\"connectionTemplateId\":\"" TPL_A "\",\"externalId\":\"owner\","
	                   "\"connection\":{\"name\":\"mine\",\"credentials\":[]}}",
	                   201);
	snprintf(conns, sizeof(conns),
	         "[{\"connectionTemplateId\":\"" TPL_A "\",\"existingConnectionId\":\"%s\"}," BIND_B
	         "]",
	         test_str(conn, "id"));
	act_fails(s, "other", conns, VARS_OK, 400, "connections[0]");
	sim_free(s);
}

/* Duplicate activation: 409 by default, several with the switch. */
static void test_activation_duplicate_switch(void **state)
{
	struct sim *s = test_sim("conformance.json");
	const char *user = test_create_user(s, "acme");
	json_auto_t *mine = NULL;

	test_activate(s, user);
	act_fails(s, "acme", "[" BIND_A "," BIND_B "]", VARS_OK, 409, "userId");
	assert_int_equal(sim_switch_set(s, "duplicate_activation", "allow"), 0);
	test_activate(s, user);
	mine = test_expect(s, HTTP_METHOD_GET, V2 "/environment/" ENV "/users/acme/activations",
	                   NULL, 200);
	assert_int_equal(json_array_size(mine), 2);
	sim_free(s);
}

/* An inline connection is created and, for a dynamic template, owned by the user. */
static void test_activation_inline_connection(void **state)
{
	struct sim *s = test_sim("conformance.json");
	const char *user = test_create_user(s, "acme");
	_cleanup_free_ char *body = act_body(
	    "acme",
	    "[{\"connectionTemplateId\":\"" TPL_A "\",\"existingConnectionId\":\"" CONN_A
	    "\",\"connection\":{\"name\":\"inline\",\"baseUrl\":\"acme.example\","
	    "\"credentials\":[{\"id\":\"00000000000000000000000000\",\"credential\":"
	    "{\"type\":\"string\",\"data\":{\"string\":{\"value\":\"s3cr3t\"}}}}]}}," BIND_B "]",
	    VARS_OK);
	json_auto_t *a = test_expect(s, HTTP_METHOD_POST, V2 "/activations", body, 200);
	const json_t *c0 = json_array_get(json_object_get(a, "connections"), 0);
	json_auto_t *owned = NULL;
	char uri[256], *text;

	assert_string_equal(test_str(c0, "name"), "inline");
	assert_string_equal(test_str(c0, "baseUrl"), "https://acme.example");
	assert_string_equal(test_str(c0, "systemId"), SYS_A);
	assert_string_not_equal(test_str(c0, "id"), CONN_A);
	assert_string_not_equal(
	    test_str(json_array_get(json_object_get(c0, "credentials"), 0), "id"),
	    "00000000000000000000000000");
	text = json_dumps(a, 0);
	assert_null(strstr(text, "s3cr3t"));
	free(text);
	snprintf(uri, sizeof(uri), V2 "/connections?end_user_id=%s", user);
	owned = test_expect(s, HTTP_METHOD_GET, uri, NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(owned, "totalCount")), 1);
	sim_free(s);
}

/* PATCH variables merges (null and unknown rejected); the switch returns changed keys only. */
static void test_variables_patch(void **state)
{
	struct sim *s = test_sim("conformance.json");
	const char *act = test_activate(s, test_create_user(s, "acme"));
	char uri[256];
	json_auto_t *merged = NULL, *changed = NULL;

	snprintf(uri, sizeof(uri), V2 "/environments/" ENV "/activations/%s/variables", act);
	merged = test_expect(s, HTTP_METHOD_PATCH, uri, "{\"pollIntervalMinutes\":5}", 200);
	assert_string_equal(test_str(merged, "retailerId"), "42");
	assert_int_equal(json_integer_value(json_object_get(merged, "pollIntervalMinutes")), 5);
	test_expect_error(s, HTTP_METHOD_PATCH, uri, "{\"retailerId\":null}", 400, "retailerId");
	test_expect_error(s, HTTP_METHOD_PATCH, uri, "{\"nope\":1}", 400, "nope");
	test_expect_error(s, HTTP_METHOD_PATCH, uri, "{\"batchSize\":0}", 400, "batchSize");
	assert_int_equal(sim_switch_set(s, "patch_response", "changed"), 0);
	changed = test_expect(s, HTTP_METHOD_PATCH, uri, "{\"syncEnabled\":false}", 200);
	assert_int_equal(json_object_size(changed), 1);
	assert_true(json_is_false(json_object_get(changed, "syncEnabled")));
	snprintf(uri, sizeof(uri),
	         V2 "/environments/" ENV "/activations/01JS2M4T8Y6V0QDXB9C7E3K5HN"
	            "/variables");
	test_expect_error(s, HTTP_METHOD_PATCH, uri, "{\"syncEnabled\":false}", 404, NULL);
	sim_free(s);
}

/* PUT one variable: declared names only, value required and non-null, full map returned. */
static void test_variables_put_one(void **state)
{
	struct sim *s = test_sim("conformance.json");
	const char *act = test_activate(s, test_create_user(s, "acme"));
	char uri[320], base[256];
	json_auto_t *vars = NULL;

	snprintf(base, sizeof(base), V2 "/environments/" ENV "/activations/%s/variables", act);
	snprintf(uri, sizeof(uri), "%s/syncEnabled", base);
	vars = test_expect(s, HTTP_METHOD_PUT, uri, "{\"value\":false}", 200);
	assert_true(json_is_false(json_object_get(vars, "syncEnabled")));
	assert_string_equal(test_str(vars, "retailerId"), "42");
	test_expect_error(s, HTTP_METHOD_PUT, uri, "{\"value\":null}", 400, "value");
	test_expect_error(s, HTTP_METHOD_PUT, uri, "{}", 400, "value");
	test_expect_error(s, HTTP_METHOD_PUT, uri, "{\"value\":\"yes\"}", 400, "syncEnabled");
	snprintf(uri, sizeof(uri), "%s/undeclared", base);
	test_expect_error(s, HTTP_METHOD_PUT, uri, "{\"value\":1}", 400, "undeclared");
	sim_free(s);
}

/* Static environment variables: merged, validated against the project schema. */
static void test_variables_static(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *v = test_expect(s, HTTP_METHOD_PATCH, V2 "/environments/" ENV "/variables",
	                             "{\"defaultCurrency\":\"EUR\"}", 200);
	json_auto_t *v2 = test_expect(s, HTTP_METHOD_PATCH, V2 "/environments/" ENV "/variables",
	                              "{\"batchSize\":500}", 200);
	json_auto_t *st = NULL;

	assert_string_equal(test_str(v, "defaultCurrency"), "EUR");
	assert_string_equal(test_str(v2, "defaultCurrency"), "EUR");
	assert_int_equal(json_integer_value(json_object_get(v2, "batchSize")), 500);
	test_expect_error(s, HTTP_METHOD_PATCH, V2 "/environments/" ENV "/variables",
	                  "{\"defaultCurrency\":\"JPY\"}", 400, "defaultCurrency");
	test_expect_error(s, HTTP_METHOD_PATCH, V2 "/environments/nope/variables", "{}", 404, NULL);
	st = test_expect(s, HTTP_METHOD_GET, V2 "/environments/" ENV "/activations?static=true",
	                 NULL, 200);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_array_get(st, 0), "dynamicVariables"), "batchSize")),
	    500);
	sim_free(s);
}

/* Project schema: null when unset, PUT validated, PATCH add/replace/remove. */
static void test_project_schema(void **state)
{
	static const char fixture[] =
	    "{\"organisations\":[{\"id\":\"" ORG "\",\"apiKeys\":[{\"key\":"
	    "\"test-api-key-conformance\"}],\"projects\":[{\"id\":\"P1\",\"name\":\"p\"}]}]}";
	struct sim *s = NULL;
	char err[256];
	json_auto_t *none = NULL, *put = NULL, *added = NULL, *removed = NULL, *proj = NULL;

	assert_int_equal(load_text(fixture, &s, err, sizeof(err)), 0);
	none = test_expect(s, HTTP_METHOD_GET, V2 "/projects/P1/variables", NULL, 200);
	assert_true(json_is_null(none));
	put =
	    test_expect(s, HTTP_METHOD_PUT, V2 "/projects/P1/variables",
	                "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}", 200);
	assert_non_null(json_object_get(json_object_get(put, "properties"), "a"));
	added = test_expect(s, HTTP_METHOD_PATCH, V2 "/projects/P1/variables",
	                    "{\"op\":\"add\",\"path\":\"/properties/region\",\"value\":"
	                    "{\"type\":\"string\"}}",
	                    200);
	assert_non_null(json_object_get(json_object_get(added, "properties"), "region"));
	removed = test_expect(s, HTTP_METHOD_PATCH, V2 "/projects/P1/variables",
	                      "{\"op\":\"remove\",\"path\":\"/properties/a\"}", 200);
	assert_null(json_object_get(json_object_get(removed, "properties"), "a"));
	test_expect_error(s, HTTP_METHOD_PATCH, V2 "/projects/P1/variables",
	                  "{\"op\":\"replace\",\"path\":\"/properties/zzz\",\"value\":{}}", 400,
	                  "path");
	test_expect_error(s, HTTP_METHOD_PATCH, V2 "/projects/P1/variables",
	                  "{\"op\":\"move\",\"path\":\"/properties/a\"}", 400, "op");
	test_expect_error(s, HTTP_METHOD_PATCH, V2 "/projects/P1/variables",
	                  "[{\"op\":\"add\",\"path\":\"/properties/a\",\"value\":{}}]", 400, NULL);
	test_expect_error(s, HTTP_METHOD_PUT, V2 "/projects/P1/variables", "{\"allOf\":[]}", 400,
	                  NULL);
	test_expect_error(s, HTTP_METHOD_GET, V2 "/projects/P2/variables", NULL, 404, NULL);
	proj = test_expect(s, HTTP_METHOD_GET, V2 "/projects/P1", NULL, 200);
	assert_non_null(json_object_get(
	    json_object_get(json_object_get(proj, "dynamicVariablesSchema"), "properties"),
	    "region"));
	sim_free(s);
}

/* pattern and patternProperties in a project schema (Versori's CLI writes pattern): the schema
 * is stored, variables are checked against the expressions (unanchored, ECMA-262 style), a
 * patternProperties name counts as declared, and an expression PCRE2 cannot compile is a 400
 * naming it. */
static void test_variables_pattern(void **state)
{
	static const char schema[] =
	    "{\"type\":\"object\",\"properties\":{"
	    "\"retailerId\":{\"type\":\"string\",\"pattern\":\"^[0-9]+$\"},"
	    "\"region\":{\"type\":\"string\",\"pattern\":\"eu\"},"
	    "\"syncEnabled\":{\"type\":\"boolean\"}},"
	    "\"patternProperties\":{\"^feature_[a-z]+$\":{\"type\":\"boolean\"}},"
	    "\"required\":[\"retailerId\"]}";
	struct sim *s = test_sim("conformance.json");
	const char *act;
	char uri[256];
	json_auto_t *put = NULL, *v = NULL, *bad = NULL;

	put = test_expect(s, HTTP_METHOD_PUT, V2 "/projects/" PROJECT "/variables", schema, 200);
	assert_non_null(
	    json_object_get(json_object_get(put, "patternProperties"), "^feature_[a-z]+$"));
	test_create_user(s, "acme");
	test_expect_error(
	    s, HTTP_METHOD_POST, V2 "/activations",
	    "{\"userId\":\"acme\",\"environmentId\":\"" ENV "\",\"connections\":["
	    "{\"connectionTemplateId\":\"" TPL_A "\",\"existingConnectionId\":\"" CONN_A
	    "\"},{\"connectionTemplateId\":\"" TPL_B "\",\"existingConnectionId\":\"" CONN_B
	    "\"}],\"dynamicVariables\":{\"retailerId\":\"42a\"}}",
	    400, "dynamicVariables.retailerId");
	act = test_activate(s, "acme");
	snprintf(uri, sizeof(uri), V2 "/environments/" ENV "/activations/%s/variables", act);
	v = test_expect(s, HTTP_METHOD_PATCH, uri,
	                "{\"region\":\"west-eu-1\",\"feature_sync\":true}", 200);
	assert_true(json_is_true(json_object_get(v, "feature_sync")));
	test_expect_error(s, HTTP_METHOD_PATCH, uri, "{\"region\":\"us\"}", 400, "region");
	test_expect_error(s, HTTP_METHOD_PATCH, uri, "{\"feature_sync\":1}", 400, "feature_sync");
	test_expect_error(s, HTTP_METHOD_PATCH, uri, "{\"feature_X\":true}", 400, "feature_X");
	snprintf(uri, sizeof(uri), V2 "/environments/" ENV "/activations/%s/variables/feature_ab",
	         act);
	json_decref(test_expect(s, HTTP_METHOD_PUT, uri, "{\"value\":false}", 200));
	bad = test_expect(s, HTTP_METHOD_PUT, V2 "/projects/" PROJECT "/variables",
	                  "{\"properties\":{\"zip\":{\"pattern\":\"([0-9]\"}}}", 400);
	assert_string_equal(test_str(json_array_get(json_object_get(bad, "fields"), 0), "field"),
	                    "/properties/zip/pattern");
	assert_non_null(strstr(test_str(bad, "message"), "regular expression does not compile"));
	/* The rejected schema was not stored. */
	json_decref(put);
	put = test_expect(s, HTTP_METHOD_GET, V2 "/projects/" PROJECT "/variables", NULL, 200);
	assert_non_null(json_object_get(put, "patternProperties"));
	sim_free(s);
}

/* A stored variables schema is compiled once, when it is stored, and every validation uses
 * that compiled form until the schema is replaced. */
static void test_schema_compiled_once(void **state)
{
	static const char *const field = "dynamicVariablesSchema";
	json_auto_t *doc = test_fixture("conformance.json");
	json_auto_t *next = json_loads("{\"properties\":{\"a\":{\"pattern\":\"x\"}}}", 0, NULL);
	const struct schema *a = NULL, *b = NULL, *none = NULL;
	struct sim_store st;
	char err[256] = "";
	json_t *org, *p;

	assert_int_equal(sim_store_load(&st, doc, err, sizeof(err)), 0);
	org = sim_store_org(&st, ORG);
	p = sim_store_get(org, "projects", PROJECT);
	assert_int_equal(sim_store_schema_get(&st, org, "projects", p, &a), 0);
	assert_non_null(a);
	assert_ptr_equal(schema_document(a), json_object_get(p, field));
	assert_int_equal(sim_store_schema_get(&st, org, "projects", p, &b), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(sim_store_schema_set(&st, org, "projects", p, next, NULL), 0);
	assert_int_equal(sim_store_schema_get(&st, org, "projects", p, &b), 0);
	assert_ptr_equal(schema_document(b), next);
	assert_ptr_equal(json_object_get(p, field), next);
	assert_int_equal(sim_store_schema_get(&st, org, "projects",
	                                      sim_store_get(org, "projects", PROJECT2), &none),
	                 0);
	assert_null(none);
	sim_store_fini(&st);
}

/* Projects, templates and systems: shapes, filters, pages. */
static void test_projects_templates_systems(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *list = test_expect(s, HTTP_METHOD_GET, V2 "/projects", NULL, 200);
	json_auto_t *p = test_expect(s, HTTP_METHOD_GET, V2 "/projects/" PROJECT, NULL, 200);
	json_auto_t *tpls = NULL, *page = NULL, *sys = NULL, *one = NULL;
	const json_t *t0;
	char uri[256];

	assert_string_equal(test_str(json_array_get(json_object_get(list, "projects"), 0), "id"),
	                    PROJECT);
	assert_string_equal(test_str(json_array_get(json_object_get(p, "environments"), 0), "id"),
	                    ENV);
	assert_non_null(json_object_get(p, "dynamicVariablesSchema"));
	test_expect_error(s, HTTP_METHOD_GET, V2 "/projects/nope", NULL, 404, NULL);
	tpls = test_expect(s, HTTP_METHOD_GET,
	                   V2 "/projects/" PROJECT "/connection-templates?env_id=" ENV, NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(tpls, "totalCount")), 2);
	t0 = json_array_get(json_object_get(tpls, "items"), 0);
	assert_string_equal(test_str(t0, "id"), SYS_A);
	assert_string_equal(test_str(t0, "connectionTemplateId"), TPL_A);
	assert_true(json_is_true(json_object_get(t0, "dynamic")));
	assert_true(json_is_array(json_object_get(t0, "authSchemeConfigs")));
	page = test_expect(s, HTTP_METHOD_GET,
	                   V2 "/projects/" PROJECT "/connection-templates?first=1", NULL, 200);
	snprintf(uri, sizeof(uri), V2 "/projects/" PROJECT "/connection-templates?first=1&after=%s",
	         test_str(page, "next"));
	json_decref(page);
	page = test_expect(s, HTTP_METHOD_GET, uri, NULL, 200);
	assert_string_equal(
	    test_str(json_array_get(json_object_get(page, "items"), 0), "connectionTemplateId"),
	    TPL_B);
	test_expect_error(s, HTTP_METHOD_GET,
	                  V2 "/projects/" PROJECT "/connection-templates?env_id=nope", NULL, 404,
	                  "env_id");
	sys = test_expect(s, HTTP_METHOD_GET, V2 "/systems?search=fluent", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(sys, "totalCount")), 1);
	one = test_expect(s, HTTP_METHOD_GET, V2 "/systems/" SYS_A, NULL, 200);
	assert_string_equal(test_str(one, "name"), "Fluent Commerce");
	test_expect_error(s, HTTP_METHOD_GET, V2 "/systems/nope", NULL, 404, NULL);
	sim_free(s);
}

/* Connections: create static and dynamic, list with filters, get, delete rules. */
static void test_connections(void **state)
{
	struct sim *s = test_sim("conformance.json");
	const char *user;
	json_auto_t *st = NULL, *dyn = NULL, *list = NULL, *bysys = NULL;
	char uri[256], conns[512];
	_cleanup_free_ char *body = NULL;

	st = test_expect(s, HTTP_METHOD_POST, V2 "/connections",
	                 "{\"connectionTemplateId\":\"" TPL_B "\",\"connection\":{\"name\":\"s\","
	                 "\"credentials\":[]}}",
	                 201);
	assert_string_equal(test_str(st, "baseUrl"), "https://warehouse.example");
	user = test_create_user(s, "acme");
	dyn = test_expect(s, HTTP_METHOD_POST, V2 "/connections",
	                  "{\"connectionTemplateId\":\"" TPL_A "\",\"externalId\":\"acme\","
	                  "\"connection\":{\"name\":\"d\",\"credentials\":[]}}",
	                  201);
	assert_string_equal(test_str(dyn, "connectionTemplateId"), TPL_A);
	test_expect_error(s, HTTP_METHOD_POST, V2 "/connections",
	                  "{\"connectionTemplateId\":\"" TPL_A "\",\"externalId\":\"ghost\","
	                  "\"connection\":{\"name\":\"d\",\"credentials\":[]}}",
	                  404, "externalId");
	test_expect_error(s, HTTP_METHOD_POST, V2 "/connections",
	                  "{\"connectionTemplateId\":\"" TPL_A
	                  "\",\"connection\":{\"credentials\":[]}}",
	                  400, "connection");
	test_expect_error(s, HTTP_METHOD_POST, V2 "/connections",
	                  "{\"connectionTemplateId\":\"nope\",\"connection\":{\"name\":\"x\","
	                  "\"credentials\":[]}}",
	                  404, "connectionTemplateId");
	list = test_expect(s, HTTP_METHOD_GET, V2 "/connections", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(list, "totalCount")), 5);
	bysys = test_expect(s, HTTP_METHOD_GET, V2 "/connections?system_id=" SYS_A, NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(bysys, "totalCount")), 2);
	snprintf(conns, sizeof(conns),
	         "[{\"connectionTemplateId\":\"" TPL_A "\",\"existingConnectionId\":\"%s\"},"
	         "{\"connectionTemplateId\":\"" TPL_B "\",\"existingConnectionId\":\"%s\"}]",
	         test_str(dyn, "id"), test_str(st, "id"));
	body = act_body(user, conns, VARS_OK);
	json_decref(test_expect(s, HTTP_METHOD_POST, V2 "/activations", body, 200));
	snprintf(uri, sizeof(uri), V2 "/connections/%s", test_str(dyn, "id"));
	test_expect_error(s, HTTP_METHOD_DELETE, uri, NULL, 409, NULL);
	snprintf(uri, sizeof(uri), V2 "/connections/%s", test_str(st, "id"));
	json_decref(test_expect(s, HTTP_METHOD_DELETE, uri, NULL, 204));
	test_expect_error(s, HTTP_METHOD_GET, uri, NULL, 404, NULL);
	sim_free(s);
}

/* Schedulers: list, get, trigger 204 counted in the state. */
static void test_schedulers(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *list =
	    test_expect(s, HTTP_METHOD_GET, V2 "/environments/" ENV "/schedulers", NULL, 200);
	json_auto_t *one = NULL, *st = NULL;
	const json_t *sched;

	assert_string_equal(test_str(json_array_get(list, 0), "environment_id"), ENV);
	one = test_expect(s, HTTP_METHOD_GET, V2 "/environments/" ENV "/schedulers/" SCHED, NULL,
	                  200);
	assert_string_equal(test_str(one, "schedule"), "*/15 * * * *");
	for (int i = 0; i < 3; i++)
		json_decref(test_expect(s, HTTP_METHOD_POST,
		                        V2 "/environments/" ENV "/schedulers/" SCHED, NULL, 204));
	test_expect_error(s, HTTP_METHOD_POST, V2 "/environments/" ENV "/schedulers/nope", NULL,
	                  404, NULL);
	st = sim_state_to_json(s);
	sched = json_array_get(
	    json_object_get(json_array_get(json_object_get(st, "organisations"), 0), "schedulers"),
	    0);
	assert_int_equal(json_integer_value(json_object_get(sched, "triggerCount")), 3);
	sim_free(s);
}

/* Deleting a user removes its activations and dynamic connections. */
static void test_user_delete_cascade(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *dyn = NULL, *acts = NULL;
	char uri[256];

	test_activate(s, test_create_user(s, "acme"));
	dyn = test_expect(s, HTTP_METHOD_POST, V2 "/connections",
	                  "{\"connectionTemplateId\":\"" TPL_A "\",\"externalId\":\"acme\","
	                  "\"connection\":{\"name\":\"d\",\"credentials\":[]}}",
	                  201);
	json_decref(test_expect(s, HTTP_METHOD_DELETE, V2 "/users/acme", NULL, 204));
	acts = test_expect(s, HTTP_METHOD_GET, V2 "/environments/" ENV "/activations", NULL, 200);
	assert_int_equal(json_array_size(acts), 0);
	snprintf(uri, sizeof(uri), V2 "/connections/%s", test_str(dyn, "id"));
	test_expect_error(s, HTTP_METHOD_GET, uri, NULL, 404, NULL);
	json_decref(test_expect(s, HTTP_METHOD_GET, V2 "/connections/" CONN_A, NULL, 200));
	sim_free(s);
}

/* The state saved now must load again as a fixture (what --state does at the next start). */
static void assert_state_reloads(struct sim *s)
{
	json_auto_t *saved = sim_state_to_json(s);
	struct sim *again = NULL;
	char err[256] = "";

	if (sim_new(saved, &again, err, sizeof(err)) < 0)
		fail_msg("saved state does not load: %s", err);
	sim_free(again);
}

/* Deleting a static connection an activation binds unbinds it: the state still loads. */
static void test_connection_delete_unbinds(void **state)
{
	struct sim *s = test_sim("conformance.json");
	const char *act = test_activate(s, test_create_user(s, "acme"));
	json_auto_t *got = NULL;
	char uri[256];

	json_decref(test_expect(s, HTTP_METHOD_DELETE, V2 "/connections/" CONN_B, NULL, 204));
	snprintf(uri, sizeof(uri), V2 "/environments/" ENV "/activations/%s", act);
	got = test_expect(s, HTTP_METHOD_GET, uri, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(got, "connections")), 1);
	assert_string_equal(test_str(json_array_get(json_object_get(got, "connections"), 0), "id"),
	                    CONN_A);
	assert_state_reloads(s);
	sim_free(s);
}

/* Deleting a user whose embedded connection another user's activation binds: the binding
 * goes with the connection, and the state still loads. */
static void test_user_delete_unbinds_embedded(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *a = NULL, *b = NULL, *conns = NULL;
	const json_t *bound;
	char body[512], uri[256];

	test_create_user(s, "owner");
	test_create_user(s, "other");
	a = test_expect(s, HTTP_METHOD_POST, "/api/embedded/v1/activations",
	                "{\"userId\":\"owner\",\"integrationId\":\"" INTEG "\","
	                "\"connections\":[{\"templateId\":\"" ETPL "\",\"name\":\"n\","
	                "\"credentials\":[],\"variables\":[]}]}",
	                200);
	conns = test_expect(s, HTTP_METHOD_GET, V2 "/connections?first=1000", NULL, 200);
	bound = NULL;
	for (size_t i = 0; i < json_array_size(json_object_get(conns, "items")); i++) {
		const json_t *c = json_array_get(json_object_get(conns, "items"), i);

		if (strcmp(test_str(c, "name"), "n") == 0)
			bound = c;
	}
	assert_non_null(bound);
	snprintf(body, sizeof(body),
	         "{\"userId\":\"other\",\"integrationId\":\"" INTEG "\",\"connections\":"
	         "[{\"templateId\":\"" ETPL "\",\"connectionId\":\"%s\"}]}",
	         test_str(bound, "id"));
	b = test_expect(s, HTTP_METHOD_POST, "/api/embedded/v1/activations", body, 200);
	json_decref(test_expect(s, HTTP_METHOD_DELETE, V2 "/users/owner", NULL, 204));
	snprintf(uri, sizeof(uri), "/api/embedded/v1/activations/%s", test_str(b, "id"));
	json_decref(test_expect(s, HTTP_METHOD_GET, uri, NULL, 200));
	assert_state_reloads(s);
	assert_non_null(a);
	sim_free(s);
}

/* Auth: missing, wrong, unsupported -> 401; another organisation's key -> 403. */
static void test_auth_api_keys(void **state)
{
	struct sim *s = test_sim("conformance.json");
	struct test_resp r;

	test_auth = NULL;
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users", NULL, 401, NULL);
	test_auth = "Bearer not-a-key";
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users", NULL, 401, NULL);
	test_auth = "Basic dXNlcjpwYXNz";
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users", NULL, 401, NULL);
	test_auth = "JWT not.a.jwt";
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users", NULL, 401, NULL);
	test_auth = API_KEY_2;
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users", NULL, 403, NULL);
	json_decref(test_expect(s, HTTP_METHOD_GET, "/api/v2/o/" ORG2 "/users", NULL, 200));
	test_expect_error(s, HTTP_METHOD_GET, "/api/v2/o/NOSUCHORG/users", NULL, 403, NULL);
	test_auth = "bearer test-api-key-conformance";
	r = test_call(s, HTTP_METHOD_GET, V2 "/users", NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.org, ORG);
	assert_string_equal(r.route, "GET /api/v2/o/{org}/users");
	json_decref(r.body);
	test_auth = API_KEY;
	sim_free(s);
}

/* Routes: unknown 404, wrong method 405, documented-but-unsimulated 501, route names. */
static void test_routes(void **state)
{
	struct sim *s = test_sim("conformance.json");
	static const char *const not_simulated[] = {
	    (V2 "/automations"),
	    (V2 "/issues/01J"),
	    (V2 "/metrics"),
	    (V2 "/kv/store/key"),
	    (V2 "/notifications"),
	    (V2 "/projects/" PROJECT "/deploy"),
	    (V2 "/projects/" PROJECT "/versions"),
	    ("/api/embedded/v1/hubs/" HUB "/users"),
	    ("/api/embedded/v1/o/" ORG "/hubs"),
	    ("/api/organisations/v1/organisations/" ORG),
	};
	struct http_req req = {.method = HTTP_METHOD_PATCH,
	                       .path = "/api/v2/o/x/environments/e/activations/a/variables"};
	struct test_resp r;

	test_expect_error(s, HTTP_METHOD_GET, "/api/v2/nothing", NULL, 404, NULL);
	test_expect_error(s, HTTP_METHOD_GET, V2 "/users/", NULL, 404, NULL);
	test_expect_error(s, HTTP_METHOD_GET, "", NULL, 404, NULL);
	test_expect_error(s, HTTP_METHOD_PUT, V2 "/users/acme", "{}", 405, NULL);
	test_expect_error(s, HTTP_METHOD_DELETE, V2 "/activations", NULL, 405, NULL);
	for (size_t i = 0; i < ELEMENTSOF(not_simulated); i++)
		test_expect_error(s, HTTP_METHOD_GET, not_simulated[i], NULL, 501, NULL);
	test_expect_error(s, HTTP_METHOD_POST, V2 "/projects", "{}", 501, NULL);
	r = test_call(s, HTTP_METHOD_GET, V2 "/metrics/x", NULL);
	assert_string_equal(r.route, "* /api/v2/o/{org}/metrics/**");
	assert_string_equal(r.org, ORG);
	json_decref(r.body);
	r = test_call(s, HTTP_METHOD_GET, "/api/v2/zzz", NULL);
	assert_string_equal(r.route, "unmatched");
	json_decref(r.body);
	assert_string_equal(sim_route_name(&req),
	                    "PATCH /api/v2/o/{org}/environments/{env}/activations/{activation}"
	                    "/variables");
	req.path = "/nothing/here";
	assert_string_equal(sim_route_name(&req), "unmatched");
	sim_free(s);
}

/* Embedded v1: activate, get, replace variables, delete; the rules; healthz. */
static void test_embedded(void **state)
{
	struct sim *s = test_sim("conformance.json");
	const char *body = "{\"userId\":\"acme\",\"integrationId\":\"" INTEG "\",\"connections\":"
	                   "[{\"templateId\":\"" ETPL "\",\"connectionId\":\"" ECONN "\"}],"
	                   "\"dynamicVariables\":{\"retailerId\":\"42\"}}";
	json_auto_t *a = NULL, *g = NULL, *v = NULL, *h = NULL;
	struct test_resp r;
	char uri[256];

	test_create_user(s, "acme");
	r = test_call(s, HTTP_METHOD_POST, "/api/embedded/v1/activations", body);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.org, ORG);
	a = r.body;
	assert_string_equal(test_str(a, "hubId"), HUB);
	assert_string_equal(test_str(json_object_get(a, "user"), "hubId"), HUB);
	assert_string_equal(test_str(json_object_get(a, "integration"), "id"), INTEG);
	test_expect_error(s, HTTP_METHOD_POST, "/api/embedded/v1/activations", body, 409, "userId");
	snprintf(uri, sizeof(uri), "/api/embedded/v1/activations/%s", test_str(a, "id"));
	g = test_expect(s, HTTP_METHOD_GET, uri, NULL, 200);
	assert_string_equal(test_str(g, "id"), test_str(a, "id"));
	snprintf(uri, sizeof(uri), "/api/embedded/v1/activations/%s/variables", test_str(a, "id"));
	v = test_expect(s, HTTP_METHOD_PUT, uri, "{\"dynamicVariables\":{\"retailerId\":\"7\"}}",
	                200);
	assert_string_equal(test_str(json_object_get(v, "dynamicVariables"), "retailerId"), "7");
	test_expect_error(s, HTTP_METHOD_PUT, uri, "{\"dynamicVariables\":{\"retailerId\":7}}", 400,
	                  "dynamicVariables.retailerId");
	test_expect_error(s, HTTP_METHOD_PUT, uri, "{\"dynamicVariables\":{\"x\":\"7\"}}", 400,
	                  "dynamicVariables.x");
	test_expect_error(s, HTTP_METHOD_PUT, uri, "{}", 400, "dynamicVariables");
	snprintf(uri, sizeof(uri), "/api/embedded/v1/activations/%s", test_str(a, "id"));
	json_decref(test_expect(s, HTTP_METHOD_DELETE, uri, NULL, 204));
	test_expect_error(s, HTTP_METHOD_GET, uri, NULL, 404, NULL);
	test_expect_error(s, HTTP_METHOD_POST, "/api/embedded/v1/activations",
	                  "{\"userId\":\"acme\",\"integrationId\":\"" INTEG
	                  "\",\"connections\":[]}",
	                  400, "connections");
	test_expect_error(s, HTTP_METHOD_POST, "/api/embedded/v1/activations",
	                  "{\"userId\":\"acme\",\"integrationId\":\"nope\",\"connections\":[]}",
	                  404, "integrationId");
	test_auth = NULL;
	test_expect_error(s, HTTP_METHOD_POST, "/api/embedded/v1/activations", body, 401, NULL);
	h = test_expect(s, HTTP_METHOD_GET, "/api/embedded/v1/healthz", NULL, 200);
	assert_true(json_is_string(json_object_get(h, "message")));
	test_auth = API_KEY;
	sim_free(s);
}

/* Embedded inline connection: created for the template and owned by the user. */
static void test_embedded_inline_connection(void **state)
{
	struct sim *s = test_sim("conformance.json");
	const char *user = test_create_user(s, "acme");
	json_auto_t *a = test_expect(s, HTTP_METHOD_POST, "/api/embedded/v1/activations",
	                             "{\"userId\":\"acme\",\"integrationId\":\"" INTEG "\","
	                             "\"connections\":[{\"templateId\":\"" ETPL "\",\"name\":\"n\","
	                             "\"credentials\":[],\"variables\":[]}]}",
	                             200);
	json_auto_t *owned = NULL;
	char uri[256];

	assert_non_null(a);
	snprintf(uri, sizeof(uri), V2 "/connections?end_user_id=%s", user);
	owned = test_expect(s, HTTP_METHOD_GET, uri, NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(owned, "totalCount")), 1);
	/* §4: embedded credentials are an object {action: [...], trigger: [...]}. */
	user = test_create_user(s, "acme2");
	json_decref(test_expect(s, HTTP_METHOD_POST, "/api/embedded/v1/activations",
	                        "{\"userId\":\"acme2\",\"integrationId\":\"" INTEG "\","
	                        "\"connections\":[{\"templateId\":\"" ETPL "\",\"name\":\"m\","
	                        "\"credentials\":{\"action\":[],\"trigger\":[]},"
	                        "\"variables\":[]}]}",
	                        200));
	json_decref(owned);
	snprintf(uri, sizeof(uri), V2 "/connections?end_user_id=%s", user);
	owned = test_expect(s, HTTP_METHOD_GET, uri, NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(owned, "totalCount")), 1);
	assert_string_equal(test_str(json_array_get(json_object_get(owned, "items"), 0), "name"),
	                    "m");
	/* A v2-style array needs objects: a stored [5] would make the state unloadable. */
	test_create_user(s, "acme3");
	test_expect_error(s, HTTP_METHOD_POST, "/api/embedded/v1/activations",
	                  "{\"userId\":\"acme3\",\"integrationId\":\"" INTEG "\","
	                  "\"connections\":[{\"templateId\":\"" ETPL "\",\"name\":\"o\","
	                  "\"credentials\":[5],\"variables\":[]}]}",
	                  400, "connections[0]");
	assert_state_reloads(s);
	sim_free(s);
}

/* Organisations v1: an organisation's keys need a credential; unknown public key 404. */
static void test_orgs(void **state)
{
	struct sim *s = test_sim("conformance.json");
	json_auto_t *keys = test_expect(
	    s, HTTP_METHOD_GET, "/api/organisations/v1/organisations/" ORG "/keys", NULL, 200);

	assert_true(json_is_array(json_object_get(keys, "keys")));
	test_auth = NULL;
	test_expect_error(s, HTTP_METHOD_GET, "/api/organisations/v1/keys/nope", NULL, 404, NULL);
	test_expect_error(s, HTTP_METHOD_GET, "/api/organisations/v1/organisations/" ORG "/keys",
	                  NULL, 401, NULL);
	test_auth = API_KEY;
	sim_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixture_errors),
	    cmocka_unit_test(test_fixture_env_secret),
	    cmocka_unit_test(test_fixture_load_file),
	    cmocka_unit_test(test_state_round_trip),
	    cmocka_unit_test(test_switches),
	    cmocka_unit_test(test_users),
	    cmocka_unit_test(test_users_duplicate_switch),
	    cmocka_unit_test(test_ids_ordered),
	    cmocka_unit_test(test_users_list_filters),
	    cmocka_unit_test(test_paging),
	    cmocka_unit_test(test_paging_default),
	    cmocka_unit_test(test_activation_create),
	    cmocka_unit_test(test_activation_rules),
	    cmocka_unit_test(test_activation_foreign_connection),
	    cmocka_unit_test(test_activation_duplicate_switch),
	    cmocka_unit_test(test_activation_inline_connection),
	    cmocka_unit_test(test_variables_patch),
	    cmocka_unit_test(test_variables_put_one),
	    cmocka_unit_test(test_variables_static),
	    cmocka_unit_test(test_project_schema),
	    cmocka_unit_test(test_variables_pattern),
	    cmocka_unit_test(test_schema_compiled_once),
	    cmocka_unit_test(test_projects_templates_systems),
	    cmocka_unit_test(test_connections),
	    cmocka_unit_test(test_schedulers),
	    cmocka_unit_test(test_user_delete_cascade),
	    cmocka_unit_test(test_connection_delete_unbinds),
	    cmocka_unit_test(test_user_delete_unbinds_embedded),
	    cmocka_unit_test(test_auth_api_keys),
	    cmocka_unit_test(test_routes),
	    cmocka_unit_test(test_embedded),
	    cmocka_unit_test(test_embedded_inline_connection),
	    cmocka_unit_test(test_orgs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
