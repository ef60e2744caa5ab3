/* delivery_route_build(): the job request of a routed delivery, or why there is none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "delivery_route.h"
#include "job_secrets.h"
#include "json.h"
#include "secret_value.h"
#include "xalloc.h"

#define ENV_A "01JGFJK4VGAWSH8VHTPRE95B9E"
#define ENV_B "01JGFJK4VGAWSH8VHTPRE95B9F"

/* A provision source with the default pointers. */
static struct source_config source(enum route route)
{
	return (struct source_config){
	    .name = (char *)"crm",
	    .route = route,
	    .organisation = (char *)"acme",
	    .environment_id = (char *)ENV_A,
	    .job_parameters = (char *)"{\"projectId\":\"p1\"}",
	    .external_id_pointer = (char *)"/externalId",
	    .display_name_pointer = (char *)"/displayName",
	    .variables_pointer = (char *)"/variables",
	    .environment_pointer = (char *)"/environmentId",
	};
}

/* Route body through src and parse the result (a new reference). */
static json_t *route(const struct source_config *src, const char *body)
{
	_cleanup_free_ char *text = delivery_route_build(src, body, strlen(body));
	json_t *j;

	assert_non_null(text);
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	return j;
}

/* The error of an unroutable body, which must contain want. */
static void expect_unroutable(const struct source_config *src, const char *body, const char *want)
{
	json_t *j = route(src, body);
	const char *e = json_string_value(json_object_get(j, "error"));

	if (!e || !strstr(e, want))
		fail_msg("error '%s' does not contain '%s'", e ? e : "(none)", want);
	assert_int_equal(json_object_size(j), 1);
	json_decref(j);
}

/* A full provision body: kind, organisation, parameters with the environment, the item. */
static void test_provision(void **state)
{
	struct source_config src = source(ROUTE_PROVISION);
	json_t *j = route(&src, "{\"externalId\":\"c-1\",\"displayName\":\"C One\","
	                        "\"variables\":{\"retailerId\":\"r\"},\"other\":[1,2]}");
	json_t *want = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:{s:s}}}", "kind",
	                         "activation.provision", "organisation", "acme", "parameters",
	                         "projectId", "p1", "environmentId", ENV_A, "item", "externalId",
	                         "c-1", "displayName", "C One", "variables", "retailerId", "r");

	assert_true(json_equal(j, want));
	json_decref(j);
	json_decref(want);
	assert_null(delivery_route_build(&(struct source_config){.route = ROUTE_STORE}, "{}", 2));
}

/* The body's environment wins over the source's; an integer externalId is taken as text;
 * remove carries neither display name nor variables. */
static void test_overrides(void **state)
{
	struct source_config src = source(ROUTE_REMOVE);
	json_t *j = route(&src, "{\"externalId\":42,\"environmentId\":\"" ENV_B "\","
	                        "\"displayName\":\"x\",\"variables\":{\"a\":1}}");

	assert_string_equal(json_string_value(json_object_get(j, "kind")), "activation.remove");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "parameters"), "environmentId")),
	    ENV_B);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "item"), "externalId")), "42");
	assert_int_equal(json_object_size(json_object_get(j, "item")), 1);
	json_decref(j);
}

/* by-field: the field picks the route; no field, or a value without a route, is unroutable. */
static void test_by_field(void **state)
{
	struct source_config src = source(ROUTE_BY_FIELD);
	json_t *j;

	src.kind_pointer = (char *)"/event/type";
	src.kinds[0] = (struct route_choice){(char *)"customer.created", ROUTE_PROVISION};
	src.kinds[1] = (struct route_choice){(char *)"customer.updated", ROUTE_VARIABLES};
	src.n_kinds = 2;
	j = route(&src, "{\"event\":{\"type\":\"customer.updated\"},\"externalId\":\"c\","
	                "\"variables\":{\"a\":true}}");
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "activation.variables");
	json_decref(j);
	expect_unroutable(&src, "{\"event\":{\"type\":\"customer.gone\"},\"externalId\":\"c\"}",
	                  "/event/type: no route for \"customer.gone\"");
	expect_unroutable(&src, "{\"externalId\":\"c\"}", "/event/type: missing from the body");
	expect_unroutable(&src, "{\"event\":{\"type\":7}}", "/event/type: not a string");
}

/* What the route needs and the body lacks, named. */
static void test_unroutable(void **state)
{
	struct source_config src = source(ROUTE_PROVISION);
	struct source_config vars = source(ROUTE_VARIABLES);
	struct source_config noenv = source(ROUTE_PROVISION);

	noenv.environment_id = NULL;
	expect_unroutable(&src, "{}", "/externalId: missing from the body");
	expect_unroutable(&src, "{\"externalId\":\"\"}", "/externalId: empty");
	expect_unroutable(&src, "{\"externalId\":true}", "/externalId: not a string");
	expect_unroutable(&src, "{\"externalId\":\"c\",\"displayName\":1}",
	                  "/displayName: not a string");
	expect_unroutable(&src, "{\"externalId\":\"c\",\"variables\":[]}",
	                  "/variables: not a non-empty object");
	expect_unroutable(&src, "{\"externalId\":\"c\",\"environmentId\":\"prod\"}",
	                  "/environmentId: not an environment id");
	expect_unroutable(&vars, "{\"externalId\":\"c\"}", "/variables: missing from the body");
	expect_unroutable(&noenv, "{\"externalId\":\"c\"}", "no environment");
	expect_unroutable(&src, "[1,2]", "the body is not a JSON object");
	expect_unroutable(&src, "{\"externalId\":\"c\\u0000d\"}", "the body is not a JSON object");
}

/* A routed body's secret variables are sealed in the body (withheld without a key), which
 * routes again to the same sealed values; a route holding a withheld value makes no job; a
 * store-only source, or nothing secret, leaves the body as it came. */
static void test_seal_body(void **state)
{
	struct source_config src = source(ROUTE_PROVISION), store = source(ROUTE_STORE);
	const char *key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
	static const char body[] =
	    "{\"externalId\": \"u1\", \"variables\": {\"pin\": \"s3cret-pin\", \"plain\": 1}}";
	struct secret_keys *keys = NULL;
	_cleanup_free_ char *err = NULL, *out = NULL, *again = NULL, *route_text = NULL;
	size_t len = 0;
	json_t *doc;

	assert_int_equal(secret_keys_new(&key, 1, &keys, &err), 0);
	assert_int_equal(delivery_route_seal_body(
	                     &src, body, strlen(body),
	                     &(struct job_secrets){.keys = keys, .names = "pin"}, &out, &len),
	                 1);
	assert_int_equal(len, strlen(out));
	assert_null(strstr(out, "s3cret-pin"));
	doc = json_loads(out, 0, NULL);
	assert_true(secret_value_is_sealed(json_pointer_get(doc, "/variables/pin")));
	assert_int_equal(json_integer_value(json_pointer_get(doc, "/variables/plain")), 1);
	json_decref(doc);
	/* Sealed already: nothing more to do; its route carries the sealed value. */
	assert_int_equal(
	    delivery_route_seal_body(
	        &src, out, len, &(struct job_secrets){.keys = keys, .names = "pin"}, &again, &len),
	    0);
	route_text = delivery_route_build(&src, out, strlen(out));
	delivery_route_seal(&route_text, &(struct job_secrets){.keys = keys, .names = "pin"});
	assert_null(strstr(route_text, "error"));
	assert_non_null(strstr(route_text, SECRET_VALUE_MEMBER));
	free(out);
	out = NULL;
	/* No key: withheld; its route then makes no job. */
	assert_int_equal(delivery_route_seal_body(&src, body, strlen(body),
	                                          &(struct job_secrets){.names = "pin"}, &out,
	                                          &len),
	                 1);
	assert_null(strstr(out, "s3cret-pin"));
	assert_non_null(strstr(out, JOB_SECRETS_WITHHELD));
	free(route_text);
	route_text = delivery_route_build(&src, out, strlen(out));
	delivery_route_seal(&route_text, &(struct job_secrets){.keys = keys, .names = "pin"});
	assert_non_null(strstr(route_text, "was withheld when the delivery arrived"));
	free(out);
	out = NULL;
	/* Nothing to do: a store-only source, no secret names, a body that is not JSON. */
	assert_int_equal(delivery_route_seal_body(
	                     &store, body, strlen(body),
	                     &(struct job_secrets){.keys = keys, .names = "pin"}, &out, &len),
	                 0);
	assert_int_equal(delivery_route_seal_body(&src, body, strlen(body),
	                                          &(struct job_secrets){.keys = keys}, &out, &len),
	                 0);
	assert_int_equal(delivery_route_seal_body(
	                     &src, "not json", 8,
	                     &(struct job_secrets){.keys = keys, .names = "pin"}, &out, &len),
	                 0);
	assert_null(out);
	secret_keys_free(keys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_provision), cmocka_unit_test(test_overrides),
	    cmocka_unit_test(test_by_field),  cmocka_unit_test(test_unroutable),
	    cmocka_unit_test(test_seal_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
