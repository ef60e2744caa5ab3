/* Integration: the Versori client (common/versori*, http_client on a libevent loop) against the
 * real versori-sim process over loopback, with the local stack's demo fixture. Every call of
 * the client, every switch and every fault, each checked against the simulator's final state
 * (GET /_sim/state) and call counts (GET /_sim/calls). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "crypto.h"
#include "harness.h"
#include "http_client.h"
#include "json.h"
#include "test_keys.h"
#include "versori.h"
#include "versori_auth.h"
#include "versori_outcome.h"
#include "versori_request.h"

/* Ids of deploy/dev/versori-sim.fixture.json. */
#define ORG        "01JGFJJZ00M9S346Q3D25VT4F5"
#define KEY_ID     "01JGFJJZZ8V37E3S3E28JT97KB"
#define PROJECT    "01JGFJK3W8P1XPA7Z3DJ8FSSZ5"
#define ENV        "01JGFJK4VGAWSH8VHTPRE95B9E"
#define TPL_FLUENT "01JGFJK5TRE0ZBGJ09TQM83XSS"
#define TPL_WH     "01JGFJK6T0SS6YS3C4DWA7N360"
#define CONN_WH    "01JGFJK7S896Q14DR9GPQY77ZX"
#define SCHEDULER  "01JGFJK8RGYYK596NGYA1DQ91K"
#define INTEG      "01JGFJKAQ01HYGCPWPQ5E6EYCN"
#define INTEG_TPL  "01JGFJKBP8DY0YP57RCYBVN5SX"
#define INTEG_CONN "01JGFJKCNM2X3Y4Z5A6B7C8D9E"

#define CALL_DEADLINE_MS 15000

/* One simulator for the whole file, and a client on the test's own loop. */
static struct {
	struct harness_service *sim;
	int port;
	char *fixture;
	char api_key[65];
	char *private_pem;
	char *public_pem;
	char *env_key;
	char *env_pub;
	struct event_base *base;
	struct http_client *http;
	struct versori_auth *auth;
	struct versori_client *vc;
} T;

/* ---- keys and processes ---- */

/* A fresh 2048-bit RSA key pair as PKCS#8 private and SPKI public PEM texts. */
static void keypair_new(char **ret_private, char **ret_public)
{
	assert_int_equal(test_keys_rsa_pair(2048, ret_private, ret_public), 0);
}

/* A client for the simulator with credential auth (owned by T from now on). */
static void client_open(struct versori_auth *auth, long timeout_ms)
{
	char base_url[64];
	const char *err = NULL;

	versori_client_free(T.vc);
	versori_auth_free(T.auth);
	if (!T.http) {
		T.http = http_client_new(T.base, &(struct http_client_options){.timeout_ms = 10000},
		                         &err);
		assert_non_null(T.http);
	}
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", T.port);
	T.auth = auth;
	T.vc = versori_client_new(T.http, &(struct versori_client_options){
	                                      .base_url = base_url,
	                                      .organisation_id = ORG,
	                                      .auth = auth,
	                                      .timeout_ms = timeout_ms,
	                                  });
	assert_non_null(T.vc);
}

/* A client with the fixture's API key. */
static void client_open_api_key(long timeout_ms)
{
	struct versori_auth *auth = NULL;

	assert_int_equal(versori_auth_new_api_key(T.api_key, &auth), 0);
	client_open(auth, timeout_ms);
}

/* Start the simulator on the demo fixture with per-run secrets, as deploy/dev/up does. */
static int group_setup(void **state)
{
	unsigned char raw[32];
	const char *env[3];

	T.base = event_base_new();
	assert_non_null(T.base);
	keypair_new(&T.private_pem, &T.public_pem);
	assert_int_equal(crypto_random_bytes(raw, sizeof(raw)), 0);
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(T.api_key + 2 * i, 3, "%02x", raw[i]);
	T.env_key = xasprintf("VERSORI_SIM_API_KEY=%s", T.api_key);
	T.env_pub = xasprintf("VERSORI_SIM_SIGNING_PUBLIC_KEY=%s", T.public_pem);
	env[0] = T.env_key;
	env[1] = T.env_pub;
	env[2] = NULL;
	T.fixture = xasprintf("%s/deploy/dev/versori-sim.fixture.json", harness_source_root());
	T.sim = harness_sim_start(T.fixture, (const char *const[]){"--seed", "7", NULL}, env);
	if (!T.sim)
		return -1;
	T.port = harness_service_port(T.sim);
	return 0;
}

/* Stop the simulator (a sanitizer report fails the group) and free the client. */
static int group_teardown(void **state)
{
	int r = T.sim ? harness_service_stop(T.sim, 10000) : 0;

	harness_service_free(T.sim, r != 0);
	versori_client_free(T.vc);
	versori_auth_free(T.auth);
	http_client_free(T.http);
	event_base_free(T.base);
	free(T.fixture);
	free(T.private_pem);
	free(T.public_pem);
	free(T.env_key);
	free(T.env_pub);
	return r == 0 ? 0 : -1;
}

/* ---- the simulator's admin endpoint ---- */

/* Send an admin request with an optional JSON body; the status. */
static long admin(const char *method, const char *path, const char *json_body)
{
	struct harness_response r = {0};
	long status;

	harness_http(
	    T.port,
	    &(struct harness_request){.method = method,
	                              .path = path,
	                              .content_type = json_body ? "application/json" : NULL,
	                              .body = json_body,
	                              .body_len = json_body ? strlen(json_body) : 0},
	    &r);
	status = r.status;
	if (status >= 400)
		print_message("# %s %s -> %ld %s\n", method, path, status, r.body ? r.body : "");
	harness_response_fini(&r);
	return status;
}

/* Send an admin request that must succeed (any 2xx). */
static void admin_ok(const char *method, const char *path, const char *json_body)
{
	long status = admin(method, path, json_body);

	if (status / 100 != 2)
		fail_msg("%s %s answered %ld", method, path, status);
}

/* Fresh state from the fixture, default switches, no faults; a client with the API key. */
static int test_setup(void **state)
{
	admin_ok("POST", "/_sim/reset", NULL);
	admin_ok("DELETE", "/_sim/faults", NULL);
	admin_ok("DELETE", "/_sim/calls", NULL);
	client_open_api_key(0);
	return 0;
}

/* The demo organisation's state (new reference). */
static json_t *sim_org_state(void)
{
	struct harness_response r = {0};
	json_t *org;

	harness_http_get(T.port, "/_sim/state", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.json);
	org = json_array_get(json_object_get(r.json, "organisations"), 0);
	assert_non_null(org);
	json_incref(org);
	harness_response_fini(&r);
	return org;
}

/* Number of entries of an organisation's collection matching member == value (NULL: all). */
static size_t count_where(const json_t *org, const char *collection, const char *member,
                          const char *value)
{
	const json_t *v;
	size_t i, n = 0;

	json_array_foreach (json_object_get(org, collection), i, v)
		if (!member || !strcmp(json_string_value(json_object_get(v, member)) ?: "", value))
			n++;
	return n;
}

/* The entry of a collection whose member equals value, borrowed from org; NULL if none. */
static const json_t *find_where(const json_t *org, const char *collection, const char *member,
                                const char *value)
{
	const json_t *v;
	size_t i;

	json_array_foreach (json_object_get(org, collection), i, v)
		if (!strcmp(json_string_value(json_object_get(v, member)) ?: "", value))
			return v;
	return NULL;
}

/* Calls the simulator counted for route with status. */
static long long calls_for(const char *route, long status)
{
	struct harness_response r = {0};
	const json_t *v;
	long long n = 0;
	size_t i;

	harness_http_get(T.port, "/_sim/calls", &r);
	assert_int_equal(r.status, 200);
	json_array_foreach (json_object_get(r.json, "calls"), i, v)
		if (!strcmp(json_string_value(json_object_get(v, "route")) ?: "", route) &&
		    json_integer_value(json_object_get(v, "status")) == status)
			n += json_integer_value(json_object_get(v, "count"));
	harness_response_fini(&r);
	return n;
}

/* ---- calling the client synchronously (the loop runs until the outcome or a deadline) ---- */

struct sync_call {
	bool done;
	struct versori_outcome o;
};

/* Keep the whole outcome: the test owns it from here. */
static void sync_done(struct versori_outcome *o, void *userdata)
{
	struct sync_call *s = userdata;

	s->o = *o;
	*o = (struct versori_outcome){0};
	s->done = true;
}

/* The deadline passed. */
static void loop_deadline(evutil_socket_t fd, short what, void *userdata)
{
	*(bool *)userdata = true;
}

/* Run the loop until *done or CALL_DEADLINE_MS passed. */
static void loop_until(const bool *done)
{
	bool timed_out = false;
	struct event *deadline = evtimer_new(T.base, loop_deadline, &timed_out);
	struct timeval tv = {CALL_DEADLINE_MS / 1000, 0};

	evtimer_add(deadline, &tv);
	while (!*done && !timed_out)
		event_base_loop(T.base, EVLOOP_ONCE);
	event_free(deadline);
}

/* Send req, consume it, and return the outcome (the caller finishes it). */
static struct versori_outcome call(struct versori_request *req)
{
	struct sync_call s = {0};

	assert_int_equal(versori_call(T.vc, req, sync_done, &s), 0);
	loop_until(&s.done);
	if (!s.done)
		fail_msg("%s %s: no outcome within %d ms", http_method_to_string(req->method),
		         req->path ? req->path : "", CALL_DEADLINE_MS);
	versori_request_fini(req);
	return s.o;
}

/* Assert an outcome's status and class, printing the API error when it differs. */
static void expect(const struct versori_outcome *o, long status, enum versori_outcome_class cls)
{
	if (o->status != status || o->class != cls)
		print_message("# got status %ld class %s transport %d: %s %s\n", o->status,
		              versori_outcome_class_to_string(o->class), o->transport_error,
		              o->error_code ?: "", o->error_message ?: "");
	assert_int_equal(o->status, status);
	assert_int_equal(o->class, cls);
}

/* A JSON value from test text. */
static json_t *J(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &err);

	if (!v)
		fail_msg("bad test JSON %s: %s", text, err.text);
	return v;
}

/* Whether v equals the JSON value written as text. */
static bool json_equal_text(const json_t *v, const char *text)
{
	json_auto_t *want = J(text);

	return json_equal(v, want);
}

/* Create an end user and return the outcome status. */
static long user_create(const char *external_id)
{
	struct versori_request req = {0};
	struct versori_outcome o;
	long status;

	assert_int_equal(
	    versori_request_end_user_create_build(ORG, external_id, "Test user", &req, NULL), 0);
	o = call(&req);
	status = o.status;
	versori_outcome_fini(&o);
	return status;
}

/* Create a dynamic Fluent connection for external_id; its id (new string). */
static char *connection_create(const char *external_id)
{
	struct versori_request req = {0};
	json_auto_t *conn = J("{\"name\":\"fluent-conn\",\"baseUrl\":\"https://acme.example\","
	                      "\"credentials\":[{\"id\":\"00000000000000000000000000\"}]}");
	struct versori_outcome o;
	char *id;

	assert_int_equal(
	    versori_request_connection_create_build(ORG, TPL_FLUENT, external_id, conn, &req, NULL),
	    0);
	o = call(&req);
	expect(&o, 201, VERSORI_OUTCOME_SUCCESS);
	id = xstrdup(json_string_value(json_object_get(o.body, "id")));
	versori_outcome_fini(&o);
	return id;
}

/* Activate external_id in the environment with both templates bound and variables; the
 * outcome (caller finishes it). */
static struct versori_outcome activation_create(const char *external_id, const char *conn_id,
                                                const char *variables)
{
	struct versori_request req = {0};
	json_auto_t *vars = J(variables);
	const struct versori_connection_binding b[] = {
	    {TPL_FLUENT, conn_id},
	    {TPL_WH, CONN_WH},
	};

	assert_int_equal(
	    versori_request_activation_create_build(ORG, external_id, ENV, b, 2, vars, &req, NULL),
	    0);
	return call(&req);
}

/* A user with a connection and an activation; the activation id (new string). */
static char *provision(const char *external_id, const char *variables)
{
	_cleanup_free_ char *conn = NULL;
	struct versori_outcome o;
	char *id;

	assert_int_equal(user_create(external_id), 201);
	conn = connection_create(external_id);
	o = activation_create(external_id, conn, variables);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	id = xstrdup(json_string_value(json_object_get(o.body, "id")));
	versori_outcome_fini(&o);
	return id;
}

/* ---- tests ---- */

/* End users: create 201, get, list with search, get of an absent user 404, delete 204. */
static void test_end_users(void **state)
{
	struct versori_request req = {0};
	struct versori_outcome o;
	json_auto_t *org = NULL;

	assert_int_equal(user_create("acme-retailer-42"), 201);
	assert_int_equal(user_create("globex-7"), 201);

	assert_int_equal(versori_request_end_user_get_build(ORG, "acme-retailer-42", &req, NULL),
	                 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_string_equal(json_string_value(json_object_get(o.body, "externalId")),
	                    "acme-retailer-42");
	assert_string_equal(json_string_value(json_object_get(o.body, "organisationId")), ORG);
	assert_non_null(o.request_id);
	versori_outcome_fini(&o);

	assert_int_equal(versori_request_end_user_list_build(ORG, "acme", VERSORI_ACTIVATED_ANY,
	                                                     NULL, &req, NULL),
	                 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_int_equal(json_integer_value(json_object_get(o.body, "totalCount")), 1);
	assert_int_equal(json_array_size(json_object_get(o.body, "users")), 1);
	versori_outcome_fini(&o);

	assert_int_equal(versori_request_end_user_get_build(ORG, "nobody", &req, NULL), 0);
	o = call(&req);
	expect(&o, 404, VERSORI_OUTCOME_PERMANENT);
	assert_int_equal(o.result, -ENOENT);
	assert_non_null(o.error_code);
	versori_outcome_fini(&o);

	assert_int_equal(versori_request_end_user_delete_build(ORG, "globex-7", &req, NULL), 0);
	o = call(&req);
	expect(&o, 204, VERSORI_OUTCOME_SUCCESS);
	assert_null(o.body);
	versori_outcome_fini(&o);

	org = sim_org_state();
	assert_int_equal(count_where(org, "users", NULL, NULL), 1);
	assert_int_equal(count_where(org, "users", "externalId", "acme-retailer-42"), 1);
}

/* The whole provisioning path and every activation and variable call, then the end state. */
static void test_activation_lifecycle(void **state)
{
	_cleanup_free_ char *act =
	    provision("acme-retailer-42", "{\"retailerId\":\"42\",\"syncEnabled\":true}");
	struct versori_request req = {0};
	struct versori_outcome o;
	json_auto_t *org = NULL;
	json_auto_t *patch = J("{\"pollIntervalMinutes\":5}");
	json_auto_t *value = J("false");
	json_auto_t *statics = J("{\"defaultCurrency\":\"GBP\",\"batchSize\":500}");
	const json_t *a;

	assert_int_equal(versori_request_activation_list_build(ORG, ENV, &req, NULL), 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_true(json_is_array(o.body));
	assert_int_equal(json_array_size(o.body), 1);
	versori_outcome_fini(&o);

	assert_int_equal(
	    versori_request_user_activation_list_build(ORG, ENV, "acme-retailer-42", &req, NULL),
	    0);
	assert_non_null(strstr(req.path, "/environment/" ENV "/users/"));
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_int_equal(json_array_size(o.body), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(o.body, 0), "id")),
	                    act);
	versori_outcome_fini(&o);

	assert_int_equal(versori_request_activation_get_build(ORG, ENV, act, &req, NULL), 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(o.body, "user"), "externalId")),
	    "acme-retailer-42");
	versori_outcome_fini(&o);

	assert_int_equal(versori_request_dynamic_variables_patch_build(
	                     ORG, ENV, act, patch, "acme-retailer-42", &req, NULL),
	                 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_string_equal(json_string_value(json_object_get(o.body, "retailerId")), "42");
	assert_int_equal(json_integer_value(json_object_get(o.body, "pollIntervalMinutes")), 5);
	versori_outcome_fini(&o);

	assert_int_equal(versori_request_dynamic_variable_put_build(
	                     ORG, ENV, act, "syncEnabled", value, "acme-retailer-42", &req, NULL),
	                 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	versori_outcome_fini(&o);

	assert_int_equal(
	    versori_request_static_variables_patch_build(ORG, ENV, statics, &req, NULL), 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	versori_outcome_fini(&o);

	org = sim_org_state();
	a = find_where(org, "activations", "id", act);
	assert_non_null(a);
	assert_true(json_equal_text(json_object_get(a, "dynamicVariables"),
	                            ("{\"retailerId\":\"42\",\"syncEnabled\":false,"
	                             "\"pollIntervalMinutes\":5}")));
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(find_where(org, "environments", "id", ENV), "staticVariables"),
	        "batchSize")),
	    500);
	json_decref(org);

	assert_int_equal(versori_request_activation_delete_build(ORG, ENV, act, &req, NULL), 0);
	o = call(&req);
	expect(&o, 204, VERSORI_OUTCOME_SUCCESS);
	versori_outcome_fini(&o);
	org = sim_org_state();
	assert_int_equal(count_where(org, "activations", NULL, NULL), 0);
	assert_int_equal(count_where(org, "users", "externalId", "acme-retailer-42"), 1);
}

struct resolve_result {
	bool done;
	int r;
	char id[32];
};

/* Keep what versori_environment_resolve() found. */
static void resolve_done(int r, const char *environment_id, struct versori_outcome *o,
                         void *userdata)
{
	struct resolve_result *res = userdata;

	res->r = r;
	if (environment_id)
		snprintf(res->id, sizeof(res->id), "%s", environment_id);
	res->done = true;
}

/* Resolve an environment name through the client; the result. */
static struct resolve_result resolve(const char *project, const char *name)
{
	struct resolve_result res = {0};

	assert_int_equal(versori_environment_resolve(T.vc, project, name, resolve_done, &res), 0);
	loop_until(&res.done);
	assert_true(res.done);
	return res;
}

/* Lookups: project, environment name -> id, schema, templates; the scheduler trigger. */
static void test_lookups_and_scheduler(void **state)
{
	struct versori_request req = {0};
	struct versori_outcome o;
	const char *env_id = NULL;
	json_auto_t *org = NULL;

	assert_int_equal(versori_request_project_get_build(ORG, PROJECT, &req, NULL), 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_int_equal(versori_environment_find(o.body, PROJECT, "production", &env_id), 0);
	assert_string_equal(env_id, ENV);
	assert_int_equal(versori_environment_find(o.body, PROJECT, "staging", &env_id), -ENOENT);
	versori_outcome_fini(&o);

	assert_int_equal(versori_request_project_list_build(ORG, &req, NULL), 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_int_equal(versori_environment_find(o.body, "order-sync", "production", &env_id), 0);
	assert_string_equal(env_id, ENV);
	versori_outcome_fini(&o);

	assert_string_equal(resolve(PROJECT, "production").id, ENV);
	assert_string_equal(resolve("order-sync", "production").id, ENV);
	assert_int_equal(resolve("order-sync", "staging").r, -ENOENT);
	assert_int_equal(resolve("no-such-project", "production").r, -ENOENT);

	assert_int_equal(
	    versori_request_project_variables_schema_get_build(ORG, PROJECT, &req, NULL), 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_non_null(json_object_get(json_object_get(o.body, "properties"), "retailerId"));
	versori_outcome_fini(&o);

	assert_int_equal(
	    versori_request_connection_template_list_build(ORG, PROJECT, ENV, &req, NULL), 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_int_equal(json_integer_value(json_object_get(o.body, "totalCount")), 2);
	assert_int_equal(json_array_size(json_object_get(o.body, "items")), 2);
	versori_outcome_fini(&o);

	assert_int_equal(versori_request_scheduler_trigger_build(ORG, ENV, SCHEDULER, &req, NULL),
	                 0);
	o = call(&req);
	expect(&o, 204, VERSORI_OUTCOME_SUCCESS);
	versori_outcome_fini(&o);

	org = sim_org_state();
	assert_int_equal(json_integer_value(json_object_get(
	                     find_where(org, "schedulers", "id", SCHEDULER), "triggerCount")),
	                 1);
}

/* Rules the simulator enforces come back as permanent errors naming the field. */
static void test_validation_errors(void **state)
{
	_cleanup_free_ char *conn = NULL;
	struct versori_request req = {0};
	struct versori_outcome o;
	json_auto_t *value = J("1");
	json_auto_t *org = NULL;
	_cleanup_free_ char *act = NULL;
	json_auto_t *vars = J("{\"retailerId\":\"1\"}");

	assert_int_equal(user_create("acme-retailer-42"), 201);
	conn = connection_create("acme-retailer-42");

	/* a variable of the wrong type */
	o = activation_create("acme-retailer-42", conn, "{\"retailerId\":42}");
	expect(&o, 400, VERSORI_OUTCOME_PERMANENT);
	assert_int_equal(o.result, -EINVAL);
	assert_true(json_array_size(o.error_fields) >= 1);
	versori_outcome_fini(&o);

	/* a required variable missing */
	o = activation_create("acme-retailer-42", conn, "{\"syncEnabled\":true}");
	expect(&o, 400, VERSORI_OUTCOME_PERMANENT);
	versori_outcome_fini(&o);

	/* one template left unbound */
	assert_int_equal(versori_request_activation_create_build(
	                     ORG, "acme-retailer-42", ENV,
	                     (const struct versori_connection_binding[]){{TPL_FLUENT, conn}}, 1,
	                     vars, &req, NULL),
	                 0);
	o = call(&req);
	expect(&o, 400, VERSORI_OUTCOME_PERMANENT);
	versori_outcome_fini(&o);

	/* an unknown user */
	o = activation_create("nobody", conn, "{\"retailerId\":\"1\"}");
	assert_int_equal(o.class, VERSORI_OUTCOME_PERMANENT);
	assert_true(o.status == 404 || o.status == 400);
	versori_outcome_fini(&o);

	/* a single PUT of a name the schema does not declare */
	o = activation_create("acme-retailer-42", conn, "{\"retailerId\":\"1\"}");
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	act = xstrdup(json_string_value(json_object_get(o.body, "id")));
	versori_outcome_fini(&o);
	assert_int_equal(versori_request_dynamic_variable_put_build(ORG, ENV, act, "undeclared",
	                                                            value, NULL, &req, NULL),
	                 0);
	o = call(&req);
	assert_int_equal(o.class, VERSORI_OUTCOME_PERMANENT);
	assert_int_equal(o.status / 100, 4);
	versori_outcome_fini(&o);

	org = sim_org_state();
	assert_int_equal(count_where(org, "activations", NULL, NULL), 1);
	assert_null(json_object_get(
	    json_object_get(find_where(org, "activations", "id", act), "dynamicVariables"),
	    "undeclared"));
}

/* A JWT minted per end user with the organisation's signing key is accepted; one signed by
 * another key is refused with 401, after exactly one re-minted retry. */
static void test_signing_key_auth(void **state)
{
	_cleanup_free_ char *other_private = NULL, *other_public = NULL;
	struct versori_auth *auth = NULL;
	struct versori_request req = {0};
	struct versori_outcome o;
	json_auto_t *org = NULL;

	assert_int_equal(versori_auth_new_signing_key(
	                     &(struct versori_auth_signing_key_options){
	                         .key_id = KEY_ID,
	                         .private_pem = T.private_pem,
	                         .private_pem_len = strlen(T.private_pem),
	                         .subject_mode = VERSORI_AUTH_SUBJECT_PER_END_USER,
	                         .subject = "hookrun-org",
	                     },
	                     &auth),
	                 0);
	client_open(auth, 0);
	assert_int_equal(user_create("jwt-user-1"), 201);
	assert_int_equal(versori_request_end_user_get_build(ORG, "jwt-user-1", &req, NULL), 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	versori_outcome_fini(&o);
	assert_int_equal(versori_auth_cache_size(auth), 1);

	keypair_new(&other_private, &other_public);
	auth = NULL;
	assert_int_equal(versori_auth_new_signing_key(
	                     &(struct versori_auth_signing_key_options){
	                         .key_id = KEY_ID,
	                         .private_pem = other_private,
	                         .private_pem_len = strlen(other_private),
	                         .subject_mode = VERSORI_AUTH_SUBJECT_FIXED,
	                         .subject = "intruder",
	                     },
	                     &auth),
	                 0);
	client_open(auth, 0);
	admin_ok("DELETE", "/_sim/calls", NULL);
	assert_int_equal(versori_request_end_user_create_build(ORG, "jwt-user-2", NULL, &req, NULL),
	                 0);
	o = call(&req);
	expect(&o, 401, VERSORI_OUTCOME_PERMANENT);
	assert_int_equal(o.result, -EACCES);
	versori_outcome_fini(&o);
	assert_int_equal(calls_for("POST /api/v2/o/{org}/users", 401), 2);

	assert_int_equal(versori_auth_new_api_key("not-a-key", &auth), 0);
	client_open(auth, 0);
	assert_int_equal(user_create("jwt-user-3"), 401);

	org = sim_org_state();
	assert_int_equal(count_where(org, "users", NULL, NULL), 1);
}

/* duplicate_user: 409, 400 or the existing user; never a second user. */
static void test_switch_duplicate_user(void **state)
{
	struct versori_request req = {0};
	struct versori_outcome o;
	_cleanup_free_ char *first_id = NULL;
	json_auto_t *org = NULL;

	assert_int_equal(versori_request_end_user_create_build(ORG, "dup", NULL, &req, NULL), 0);
	o = call(&req);
	expect(&o, 201, VERSORI_OUTCOME_SUCCESS);
	first_id = xstrdup(json_string_value(json_object_get(o.body, "id")));
	versori_outcome_fini(&o);

	assert_int_equal(user_create("dup"), 409);
	admin_ok("PUT", "/_sim/switches", "{\"duplicate_user\":\"400\"}");
	assert_int_equal(user_create("dup"), 400);
	admin_ok("PUT", "/_sim/switches", "{\"duplicate_user\":\"existing\"}");
	assert_int_equal(versori_request_end_user_create_build(ORG, "dup", NULL, &req, NULL), 0);
	o = call(&req);
	expect(&o, 201, VERSORI_OUTCOME_SUCCESS);
	assert_string_equal(json_string_value(json_object_get(o.body, "id")), first_id);
	versori_outcome_fini(&o);
	assert_int_equal(admin("PUT", "/_sim/switches", "{\"duplicate_user\":\"maybe\"}"), 400);

	org = sim_org_state();
	assert_int_equal(count_where(org, "users", "externalId", "dup"), 1);
}

/* duplicate_activation: 409 keeps one activation; allow makes a second. */
static void test_switch_duplicate_activation(void **state)
{
	_cleanup_free_ char *conn = NULL;
	json_auto_t *org = NULL;
	struct versori_outcome o;

	assert_int_equal(user_create("acme"), 201);
	conn = connection_create("acme");
	o = activation_create("acme", conn, "{\"retailerId\":\"1\"}");
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	versori_outcome_fini(&o);

	o = activation_create("acme", conn, "{\"retailerId\":\"1\"}");
	expect(&o, 409, VERSORI_OUTCOME_PERMANENT);
	assert_int_equal(o.result, -EEXIST);
	versori_outcome_fini(&o);
	org = sim_org_state();
	assert_int_equal(count_where(org, "activations", NULL, NULL), 1);
	json_decref(org);

	admin_ok("PUT", "/_sim/switches", "{\"duplicate_activation\":\"allow\"}");
	o = activation_create("acme", conn, "{\"retailerId\":\"2\"}");
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	versori_outcome_fini(&o);
	org = sim_org_state();
	assert_int_equal(count_where(org, "activations", NULL, NULL), 2);
}

/* patch_response: the merged map or only the changed keys; the state is merged either way. */
static void test_switch_patch_response(void **state)
{
	_cleanup_free_ char *act = provision("acme", "{\"retailerId\":\"1\",\"batchSize\":10}");
	struct versori_request req = {0};
	struct versori_outcome o;
	json_auto_t *p1 = J("{\"batchSize\":20}");
	json_auto_t *p2 = J("{\"batchSize\":30}");
	json_auto_t *org = NULL;

	assert_int_equal(
	    versori_request_dynamic_variables_patch_build(ORG, ENV, act, p1, NULL, &req, NULL), 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_true(json_equal_text(o.body, ("{\"retailerId\":\"1\",\"batchSize\":20}")));
	versori_outcome_fini(&o);

	admin_ok("PUT", "/_sim/switches", "{\"patch_response\":\"changed\"}");
	assert_int_equal(
	    versori_request_dynamic_variables_patch_build(ORG, ENV, act, p2, NULL, &req, NULL), 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_true(json_equal(o.body, p2));
	versori_outcome_fini(&o);

	org = sim_org_state();
	assert_true(json_equal_text(
	    json_object_get(find_where(org, "activations", "id", act), "dynamicVariables"),
	    ("{\"retailerId\":\"1\",\"batchSize\":30}")));
}

/* Embedded v1: activate an integration, read it, replace its variables, delete it. */
static void test_embedded_activation(void **state)
{
	_cleanup_free_ char *act = NULL;
	struct versori_request req = {0};
	struct versori_outcome o;
	json_auto_t *vars = J("{\"retailerId\":\"42\"}");
	json_auto_t *vars2 = J("{\"retailerId\":\"43\"}");
	json_auto_t *org = NULL;

	assert_int_equal(user_create("emb-user"), 201);
	assert_int_equal(versori_request_embedded_activation_create_build(
	                     "emb-user", INTEG,
	                     (const struct versori_connection_binding[]){{INTEG_TPL, INTEG_CONN}},
	                     1, vars, &req, NULL),
	                 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	act = xstrdup(json_string_value(json_object_get(o.body, "id")));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(o.body, "integration"), "id")),
	    INTEG);
	versori_outcome_fini(&o);

	assert_int_equal(versori_request_embedded_activation_get_build(act, &req, NULL), 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	versori_outcome_fini(&o);

	assert_int_equal(
	    versori_request_embedded_activation_variables_put_build(act, vars2, &req, NULL), 0);
	o = call(&req);
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_true(json_equal(json_object_get(o.body, "dynamicVariables"), vars2));
	versori_outcome_fini(&o);

	org = sim_org_state();
	assert_true(json_equal(
	    json_object_get(find_where(org, "embeddedActivations", "id", act), "dynamicVariables"),
	    vars2));
	json_decref(org);

	assert_int_equal(versori_request_embedded_activation_delete_build(act, &req, NULL), 0);
	o = call(&req);
	expect(&o, 204, VERSORI_OUTCOME_SUCCESS);
	versori_outcome_fini(&o);
	org = sim_org_state();
	assert_int_equal(count_where(org, "embeddedActivations", NULL, NULL), 0);
}

/* GET one end user; the outcome. */
static struct versori_outcome user_get_named(const char *external_id)
{
	struct versori_request req = {0};

	assert_int_equal(versori_request_end_user_get_build(ORG, external_id, &req, NULL), 0);
	return call(&req);
}

/* GET the user every fault test makes; the outcome. */
static struct versori_outcome user_get(void)
{
	return user_get_named("fault-user");
}

/* 5xx faults are retryable; when the fault is used up the call succeeds again. */
static void test_fault_error(void **state)
{
	struct versori_outcome o;

	assert_int_equal(user_create("fault-user"), 201);
	admin_ok("PUT", "/_sim/faults",
	         "{\"rules\":[{\"kind\":\"error\",\"rate\":1,\"count\":2,"
	         "\"statuses\":[503],\"method\":\"GET\"}]}");
	for (int i = 0; i < 2; i++) {
		o = user_get();
		expect(&o, 503, VERSORI_OUTCOME_RETRYABLE);
		assert_int_equal(o.result, -EAGAIN);
		versori_outcome_fini(&o);
	}
	o = user_get();
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	versori_outcome_fini(&o);
	assert_int_equal(calls_for("GET /api/v2/o/{org}/users/{user}", 503), 2);
}

/* 429 from the organisation's token bucket with Retry-After in seconds, then as a date. */
static void test_fault_throttle(void **state)
{
	static const char *const modes[] = {"seconds", "date"};
	struct versori_outcome o;
	char rules[256];

	assert_int_equal(user_create("fault-user"), 201);
	for (size_t m = 0; m < ELEMENTSOF(modes); m++) {
		snprintf(rules, sizeof(rules),
		         "{\"rules\":[{\"kind\":\"throttle\",\"per_second\":0.1,\"burst\":1,"
		         "\"retry_after\":\"%s\"}]}",
		         modes[m]);
		admin_ok("PUT", "/_sim/faults", rules);
		o = user_get();
		expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
		versori_outcome_fini(&o);
		o = user_get();
		expect(&o, 429, VERSORI_OUTCOME_RETRYABLE);
		/* one token per 10 s: the wait is at most 10 s, and a date rounds to seconds */
		print_message("# retry-after (%s): %lld s\n", modes[m], (long long)o.retry_after_s);
		assert_true(o.retry_after_s >= 1 && o.retry_after_s <= 11);
		versori_outcome_fini(&o);
	}
}

/* A connection reset mid-response is a retryable transport error, and the call may still
 * have been applied: a reset create leaves the user in place, so the retry meets a 409 (why
 * every create is check-then-act). */
static void test_fault_reset(void **state)
{
	json_auto_t *org = NULL;
	struct versori_outcome o;

	assert_int_equal(user_create("fault-user"), 201);
	admin_ok("PUT", "/_sim/faults",
	         "{\"rules\":[{\"kind\":\"reset\",\"rate\":1,\"count\":1,\"method\":\"GET\"}]}");
	o = user_get();
	expect(&o, 0, VERSORI_OUTCOME_RETRYABLE);
	assert_int_equal(o.transport_error, -ECONNRESET);
	versori_outcome_fini(&o);
	o = user_get();
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	versori_outcome_fini(&o);

	admin_ok("PUT", "/_sim/faults",
	         "{\"rules\":[{\"kind\":\"reset\",\"count\":1,"
	         "\"route\":\"POST /api/v2/o/{org}/users\"}]}");
	assert_int_equal(user_create("reset-user"), 0);
	org = sim_org_state();
	assert_int_equal(count_where(org, "users", "externalId", "reset-user"), 1);
	assert_int_equal(user_create("reset-user"), 409);
}

/* A stall longer than the client's timeout is a retryable timeout; the simulator survives
 * answering the caller that gave up. Latency below the timeout only slows the call. */
static void test_fault_stall_and_latency(void **state)
{
	struct versori_outcome o;

	assert_int_equal(user_create("fault-user"), 201);
	client_open_api_key(300);
	admin_ok("PUT", "/_sim/faults",
	         "{\"rules\":[{\"kind\":\"stall\",\"rate\":1,\"count\":1,"
	         "\"ms\":1500,\"method\":\"GET\"}]}");
	o = user_get();
	expect(&o, 0, VERSORI_OUTCOME_RETRYABLE);
	assert_int_equal(o.transport_error, -ETIMEDOUT);
	versori_outcome_fini(&o);

	admin_ok("PUT", "/_sim/faults",
	         "{\"rules\":[{\"kind\":\"latency\",\"dist\":\"fixed\",\"ms\":150,"
	         "\"method\":\"GET\"}]}");
	o = user_get();
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	assert_true(o.total_ms >= 150);
	versori_outcome_fini(&o);

	admin_ok("PUT", "/_sim/faults",
	         "{\"rules\":[{\"kind\":\"latency\",\"dist\":\"uniform\",\"min_ms\":60,"
	         "\"max_ms\":120,\"method\":\"GET\"}]}");
	for (int i = 0; i < 5; i++) {
		o = user_get();
		expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
		assert_true(o.total_ms >= 60);
		versori_outcome_fini(&o);
	}

	admin_ok("PUT", "/_sim/faults",
	         "{\"rules\":[{\"kind\":\"latency\",\"dist\":\"fixed\",\"ms\":1000,"
	         "\"method\":\"GET\"}]}");
	o = user_get();
	expect(&o, 0, VERSORI_OUTCOME_RETRYABLE);
	assert_int_equal(o.transport_error, -ETIMEDOUT);
	versori_outcome_fini(&o);
	assert_true(harness_wait_status(T.port, "/_sim/healthz", 200, 5000));
}

/* Switches and faults given at start: --switch, --fault and --faults FILE. */
static void test_switches_and_faults_at_start(void **state)
{
	_cleanup_free_ char *dir = harness_mkdtemp("sim-faults");
	_cleanup_free_ char *faults =
	    harness_write_file(dir, "faults.json",
	                       "{\"rules\":[{\"kind\":\"error\",\"statuses\":[502],\"count\":1,"
	                       "\"method\":\"GET\"}]}");
	const char *env[] = {T.env_key, T.env_pub, NULL};
	const char *args[] = {"--switch", "duplicate_user=existing",
	                      "--faults", faults,
	                      "--fault",  "kind=throttle,per_second=0.001,burst=3,method=DELETE",
	                      NULL};
	struct harness_service *sim = harness_sim_start(T.fixture, args, env);
	int port_saved = T.port;
	struct versori_request req = {0};
	struct versori_outcome o;

	assert_non_null(sim);
	T.port = harness_service_port(sim);
	client_open_api_key(0);
	assert_int_equal(user_create("start-user"), 201);
	assert_int_equal(user_create("start-user"), 201); /* duplicate_user=existing */
	o = user_get_named("start-user");
	expect(&o, 502, VERSORI_OUTCOME_RETRYABLE);
	versori_outcome_fini(&o);
	o = user_get_named("start-user");
	expect(&o, 200, VERSORI_OUTCOME_SUCCESS);
	versori_outcome_fini(&o);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(versori_request_end_user_delete_build(ORG, "nobody", &req, NULL),
		                 0);
		o = call(&req);
		assert_int_equal(o.status, i < 3 ? 404 : 429);
		versori_outcome_fini(&o);
	}
	T.port = port_saved;
	client_open_api_key(0);
	assert_int_equal(harness_service_stop(sim, 10000), 0);
	harness_service_free(sim, false);
}

/* --state: the state is saved on SIGTERM and loaded by the next start. */
static void test_state_saved_and_loaded(void **state)
{
	_cleanup_free_ char *dir = harness_mkdtemp("sim-state");
	_cleanup_free_ char *path = xasprintf("%s/state.json", dir);
	const char *env[] = {T.env_key, T.env_pub, NULL};
	const char *args[] = {"--state", path, NULL};
	struct harness_service *sim = harness_sim_start(T.fixture, args, env);
	struct harness_request create = {
	    .method = "POST",
	    .path = "/api/v2/o/" ORG "/users",
	    .content_type = "application/json",
	    .body = "{\"externalId\":\"persisted\"}",
	    .body_len = strlen("{\"externalId\":\"persisted\"}"),
	};
	_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", T.api_key);
	const char *headers[] = {auth, NULL};
	struct harness_response r = {0};
	_cleanup_free_ char *saved = NULL;

	assert_non_null(sim);
	create.headers = headers;
	harness_http(harness_service_port(sim), &create, &r);
	assert_int_equal(r.status, 201);
	harness_response_fini(&r);
	assert_int_equal(harness_service_stop(sim, 10000), 0);
	harness_service_free(sim, false);

	saved = harness_read_file(path, NULL);
	assert_non_null(saved);
	assert_non_null(strstr(saved, "persisted"));
	assert_null(strstr(saved, T.api_key)); /* secrets stay references */

	sim = harness_sim_start(T.fixture, args, env);
	assert_non_null(sim);
	harness_http(harness_service_port(sim),
	             &(struct harness_request){.path = "/api/v2/o/" ORG "/users/persisted",
	                                       .headers = headers},
	             &r);
	assert_int_equal(r.status, 200);
	harness_response_fini(&r);
	assert_int_equal(harness_service_stop(sim, 10000), 0);
	harness_service_free(sim, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_end_users, test_setup),
	    cmocka_unit_test_setup(test_activation_lifecycle, test_setup),
	    cmocka_unit_test_setup(test_lookups_and_scheduler, test_setup),
	    cmocka_unit_test_setup(test_validation_errors, test_setup),
	    cmocka_unit_test_setup(test_signing_key_auth, test_setup),
	    cmocka_unit_test_setup(test_switch_duplicate_user, test_setup),
	    cmocka_unit_test_setup(test_switch_duplicate_activation, test_setup),
	    cmocka_unit_test_setup(test_switch_patch_response, test_setup),
	    cmocka_unit_test_setup(test_embedded_activation, test_setup),
	    cmocka_unit_test_setup(test_fault_error, test_setup),
	    cmocka_unit_test_setup(test_fault_throttle, test_setup),
	    cmocka_unit_test_setup(test_fault_reset, test_setup),
	    cmocka_unit_test_setup(test_fault_stall_and_latency, test_setup),
	    cmocka_unit_test_setup(test_switches_and_faults_at_start, test_setup),
	    cmocka_unit_test_setup(test_state_saved_and_loaded, test_setup),
	};

	harness_init();
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
