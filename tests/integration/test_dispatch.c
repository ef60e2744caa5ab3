/* The job engine end to end, as separate processes: hookrun-ingress dispatching over ZeroMQ,
 * hookrun-worker processes converging items against a real versori-sim, PostgreSQL holding
 * jobs, items and audit rows. Jobs are submitted the way every producer does, with
 * hookrun.submit_job(). Every wait is a poll with a deadline. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "crypto.h"
#include "harness.h"
#include "test_keys.h"
#include "xalloc.h"

/* Ids of deploy/dev/versori-sim.fixture.json. */
#define ORG               "01JGFJJZ00M9S346Q3D25VT4F5"
#define PROJECT           "01JGFJK3W8P1XPA7Z3DJ8FSSZ5"
#define ENVIRONMENT       "01JGFJK4VGAWSH8VHTPRE95B9E"
#define TEMPLATE_DYNAMIC  "01JGFJK5TRE0ZBGJ09TQM83XSS"
#define TEMPLATE_STATIC   "01JGFJK6T0SS6YS3C4DWA7N360"
#define CONNECTION_STATIC "01JGFJK7S896Q14DR9GPQY77ZX"

#define HUB               "01JGFJK9QR5GQAPENECFSECZP1"
#define INTEGRATION       "01JGFJKAQ01HYGCPWPQ5E6EYCN"
#define TEMPLATE_EMBEDDED "01JGFJKBP8DY0YP57RCYBVN5SX"
#define CONNECTION_EMB    "01JGFJKCNM2X3Y4Z5A6B7C8D9E"

/* The Embedded v1 flavour: the fixture's integration, its one template bound. */
#define EMBEDDED_PARAMETERS                                                                        \
	"{\"integrationId\":\"" INTEGRATION "\",\"hubId\":\"" HUB "\","                            \
	"\"connections\":{\"" TEMPLATE_EMBEDDED "\":\"" CONNECTION_EMB "\"}}"

/* The job parameters that bind both templates of the demo environment. */
#define PROVISION_PARAMETERS                                                                       \
	"{\"environmentId\":\"" ENVIRONMENT "\",\"projectId\":\"" PROJECT "\","                    \
	"\"connections\":{\"" TEMPLATE_STATIC "\":\"" CONNECTION_STATIC "\"},"                     \
	"\"dynamicConnections\":{\"" TEMPLATE_DYNAMIC "\":"                                        \
	"{\"name\":\"fluent-{externalId}\",\"credentials\":[]}}}"

/* The same without the environment: routed sources name it themselves. */
#define SOURCE_PARAMETERS                                                                          \
	"{\"projectId\":\"" PROJECT "\","                                                          \
	"\"connections\":{\"" TEMPLATE_STATIC "\":\"" CONNECTION_STATIC "\"},"                     \
	"\"dynamicConnections\":{\"" TEMPLATE_DYNAMIC "\":"                                        \
	"{\"name\":\"fluent-{externalId}\",\"credentials\":[]}}}"

/* Two routed sources: provisioning trigger callbacks, and events whose type picks the job. */
#define SOURCES_INI                                                                                \
	"[source.crm]\n"                                                                           \
	"auth = hmac\n"                                                                            \
	"signature_prefix = sha256=\n"                                                             \
	"route = provision\n"                                                                      \
	"organisation = demo\n"                                                                    \
	"environment_id = " ENVIRONMENT "\n"                                                       \
	"[source.events]\n"                                                                        \
	"auth = hmac\n"                                                                            \
	"signature_prefix = sha256=\n"                                                             \
	"route = by-field\n"                                                                       \
	"organisation = demo\n"                                                                    \
	"environment_id = " ENVIRONMENT "\n"                                                       \
	"kind_pointer = /type\n"                                                                   \
	"kinds = customer.created=provision,customer.deleted=remove\n"

#define SOURCE_SECRET "routed-source-secret"

/* A second organisation: the demo one copied under another id and API key. */
#define ORG_B "01JGFJJZ00M9S346Q3D25VT4F6"

#define DEADLINE_MS 60000

/* Signs completion callbacks (the example secret of the Standard Webhooks specification). */
#define CALLBACK_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

struct dispatch_group {
	struct harness_group g;
	struct harness_service *sim;
	char *endpoint;      /* the ingress's dispatcher */
	char *env_sim[4];    /* the simulator's secrets */
	char *env_worker[3]; /* the worker's API keys */
	char api_key[65], api_key_b[65];
	char *worker_ini;
	/* Processes a test started, stopped and freed by its teardown whatever happened. */
	struct harness_service *procs[8];
	size_t n_procs;
	bool procs_failed; /* one exited badly (a sanitizer report counts) */
};

/* Keep svc for the test's teardown; returns it. */
static struct harness_service *keep(struct dispatch_group *t, struct harness_service *svc)
{
	if (svc && t->n_procs < ELEMENTSOF(t->procs))
		t->procs[t->n_procs++] = svc;
	return svc;
}

/* Stop (SIGCONT first, for a stopped one) and free what the test started, newest first; the
 * logs of all of them print when the test failed. */
static int test_teardown(void **state)
{
	struct dispatch_group *t = *state;
	int bad = 0;

	while (t->n_procs > 0) {
		struct harness_service *svc = t->procs[--t->n_procs];
		int r;

		(void)harness_service_signal(svc, SIGCONT);
		r = harness_service_stop(svc, 15000);
		if (r != 0 && r != 137)
			bad = -1;
		harness_service_free(svc, !t->g.passed || (r != 0 && r != 137));
	}
	return harness_test_teardown(state) < 0 ? -1 : bad;
}

/* The demo fixture with a second organisation, ORG_B, a copy of the first with its own API
 * key (VERSORI_SIM_API_KEY_B) and no signing key; a new path. */
static char *fixture_two_orgs(void)
{
	_cleanup_free_ char *src =
	    xasprintf("%s/deploy/dev/versori-sim.fixture.json", harness_source_root());
	_cleanup_free_ char *dir = harness_mkdtemp("fixture");
	json_t *doc = json_load_file(src, 0, NULL);
	json_t *orgs = json_object_get(doc, "organisations");
	json_t *b = json_deep_copy(json_array_get(orgs, 0));
	_cleanup_free_ char *text = NULL;

	json_object_set_new(b, "id", json_string(ORG_B));
	json_object_set_new(b, "name", json_string("second"));
	json_object_set_new(b, "signingKeys", json_array());
	json_object_set_new(
	    b, "apiKeys",
	    json_pack("[{s:s, s:s}]", "name", "second", "keyEnv", "VERSORI_SIM_API_KEY_B"));
	json_array_append_new(orgs, b);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text ? harness_write_file(dir, "two-orgs.json", text) : NULL;
}

/* Start the simulator on the demo fixture, an ingress that dispatches, and nothing else. */
static int group_setup(void **state)
{
	struct dispatch_group *t;
	unsigned char raw[32];
	_cleanup_free_ char *priv = NULL, *pub = NULL, *fixture = NULL;

	if (harness_group_setup(state, sizeof(*t), NULL, NULL) < 0)
		return -1;
	t = *state;
	if (!t->g.db)
		return 0;
	if (test_keys_rsa_pair(2048, &priv, &pub) < 0 || crypto_random_bytes(raw, sizeof(raw)) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(t->api_key + 2 * i, 3, "%02x", raw[i]);
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(t->api_key_b + 2 * i, 3, "%02x", raw[sizeof(raw) - 1 - i] ^ 0x5a);
	t->env_sim[0] = xasprintf("VERSORI_SIM_API_KEY=%s", t->api_key);
	t->env_sim[1] = xasprintf("VERSORI_SIM_SIGNING_PUBLIC_KEY=%s", pub);
	t->env_sim[2] = xasprintf("VERSORI_SIM_API_KEY_B=%s", t->api_key_b);
	t->env_worker[0] = xasprintf("HOOKRUN_VERSORI_DEMO_API_KEY=%s", t->api_key);
	t->env_worker[1] = xasprintf("HOOKRUN_VERSORI_SECOND_API_KEY=%s", t->api_key_b);
	fixture = fixture_two_orgs();
	if (!fixture)
		return -1;
	t->sim = harness_sim_start(fixture, NULL, (const char *const *)t->env_sim);
	if (!t->sim)
		return -1;
	t->g.in = harness_ingress_start(
	    t->g.db,
	    "dispatch_listen = tcp://127.0.0.1:0\n"
	    "lease = 2s\n"
	    "api_timeout_ms = 800\n"
	    "dispatch_poll_ms = 200\n"
	    "heartbeat_ms = 200\n"
	    "heartbeat_timeout_ms = 1000\n",
	    SOURCES_INI,
	    (const char *const[]){"HOOKRUN_SOURCE_CRM_SECRET=" SOURCE_SECRET,
	                          "HOOKRUN_SOURCE_EVENTS_SECRET=" SOURCE_SECRET,
	                          "HOOKRUN_SOURCE_CRM_JOB_PARAMETERS=" SOURCE_PARAMETERS,
	                          "HOOKRUN_SOURCE_EVENTS_JOB_PARAMETERS=" SOURCE_PARAMETERS, NULL});
	if (!t->g.in)
		return -1;
	t->g.in_shared = true;
	t->g.port = harness_service_port(t->g.in);
	t->endpoint = harness_service_log_value(t->g.in, "dispatch");
	t->worker_ini = xasprintf("lease = 2s\n"
	                          "callback_urls = http://127.0.0.1:\n"
	                          "heartbeat_ms = 200\n"
	                          "heartbeat_timeout_ms = 1000\n"
	                          "api_timeout_ms = 800\n"
	                          "retry_base_ms = 20\n"
	                          "retry_max_ms = 200\n"
	                          "worker_slots = 8\n"
	                          "[versori.demo]\n"
	                          "base_url = http://127.0.0.1:%d\n"
	                          "organisation_id = " ORG "\n"
	                          "callback_secret = " CALLBACK_SECRET "\n"
	                          "[versori.second]\n"
	                          "base_url = http://127.0.0.1:%d\n"
	                          "organisation_id = " ORG_B "\n",
	                          harness_service_port(t->sim), harness_service_port(t->sim));
	return t->endpoint ? 0 : -1;
}

/* Stop the simulator, then what harness_group_teardown() stops. */
static int group_teardown(void **state)
{
	struct dispatch_group *t = *state;
	int r = t && t->sim ? harness_service_stop(t->sim, 10000) : 0;

	if (t) {
		harness_service_free(t->sim, r != 0);
		free(t->endpoint);
		free(t->worker_ini);
		for (size_t i = 0; i < 3; i++)
			free(t->env_sim[i]);
		free(t->env_worker[1]);
		free(t->env_worker[0]);
	}
	return harness_group_teardown(state) < 0 || r != 0 ? -1 : 0;
}

/* An admin call to the simulator that must succeed. */
static void sim_admin(struct dispatch_group *t, const char *method, const char *path,
                      const char *body)
{
	struct harness_response r = {0};

	harness_http(harness_service_port(t->sim),
	             &(struct harness_request){.method = method,
	                                       .path = path,
	                                       .content_type = body ? "application/json" : NULL,
	                                       .body = body,
	                                       .body_len = body ? strlen(body) : 0},
	             &r);
	if (r.status != 200 && r.status != 204)
		fail_msg("%s %s: %ld %s", method, path, r.status, r.body ? r.body : "");
	harness_response_fini(&r);
}

/* Fresh simulator state and empty job tables for each test. */
static int test_setup(void **state)
{
	struct dispatch_group *t = *state;

	harness_test_setup(state);
	if (!t->g.db)
		return 0;
	sim_admin(t, "POST", "/_sim/reset", NULL);
	sim_admin(t, "DELETE", "/_sim/faults", NULL);
	/* The group's dispatcher keeps claiming meanwhile: its locks can meet the TRUNCATE's in
	 * the other order, and PostgreSQL then cancels one of them (deadlock_detected). */
	for (int i = 0; i < 5; i++)
		if (harness_sql_exec(
		        t->g.conn,
		        "SET session_replication_role = replica; " /* see test_tokens.c */
		        "TRUNCATE hookrun.delivery_routes, hookrun.job_items, "
		        "hookrun.jobs, hookrun.audit_events; "
		        "RESET session_replication_role"))
			return 0;
	fail_msg("TRUNCATE failed five times");
	return 0;
}

/* A worker for the group's dispatcher. */
static struct harness_service *worker_start(struct dispatch_group *t)
{
	return keep(t, harness_worker_start(t->g.db, t->endpoint, t->worker_ini,
	                                    (const char *const *)t->env_worker));
}

/* A worker for another dispatcher. */
static struct harness_service *worker_start_for(struct dispatch_group *t, const char *endpoint)
{
	return keep(t, harness_worker_start(t->g.db, endpoint, t->worker_ini,
	                                    (const char *const *)t->env_worker));
}

/* Submit a provisioning job of n users "<prefix>-<i>", each with a retailerId variable. */
static char *submit_provision(struct dispatch_group *t, const char *prefix, int n)
{
	_cleanup_free_ char *count = xasprintf("%d", n);

	return harness_sql_text(
	    t->g.conn,
	    "SELECT job_id FROM hookrun.submit_job('activation.provision', 'demo', $1::jsonb, "
	    "(SELECT jsonb_agg(jsonb_build_object('externalId', $2 || '-' || g, 'displayName', "
	    "'Customer ' || g, 'variables', jsonb_build_object('retailerId', 'r' || g))) "
	    "FROM generate_series(1, $3::integer) g), 'test')",
	    PROVISION_PARAMETERS, prefix, count, NULL);
}

/* Poll until the job has no queued or leased item; false at the deadline. Prints the first
 * failed item's error, if any, so that a failure explains itself. */
static bool job_wait_finished(struct dispatch_group *t, const char *job, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (harness_now_ms() < deadline) {
		if (harness_sql_int(t->g.conn,
		                    "SELECT count(*) FROM hookrun.jobs WHERE id = $1 "
		                    "AND finished_at IS NOT NULL",
		                    job, NULL) == 1) {
			_cleanup_free_ char *err = harness_sql_text(
			    t->g.conn,
			    "SELECT coalesce(min(last_error), '') FROM hookrun.job_items "
			    "WHERE job_id = $1 AND state = 'failed'",
			    job, NULL);
			if (err && *err)
				print_message("# failed item: %s\n", err);
			return true;
		}
		harness_poll_pause();
	}
	return false;
}

/* The simulator's activations in the demo environment by end user externalId: a new
 * object mapping externalId to the number of activations (/_sim/state lists the
 * organisation's users and activations as arrays, as a fixture does). */
static json_t *sim_activations_by_user(struct dispatch_group *t)
{
	struct harness_response r = {0};
	json_t *org, *ext_of = json_object(), *by = json_object(), *e;
	size_t i;

	harness_http_get(harness_service_port(t->sim), "/_sim/state", &r);
	assert_int_equal(r.status, 200);
	org = json_array_get(json_object_get(r.json, "organisations"), 0);
	json_array_foreach (json_object_get(org, "users"), i, e)
		json_object_set(ext_of, json_string_value(json_object_get(e, "id")),
		                json_object_get(e, "externalId"));
	json_array_foreach (json_object_get(org, "activations"), i, e) {
		const char *uid = json_string_value(json_object_get(e, "userId"));
		const char *ext = json_string_value(json_object_get(ext_of, uid ? uid : ""));

		const char *env = json_string_value(json_object_get(e, "environmentId"));

		if (!ext || !env || strcmp(env, ENVIRONMENT) != 0)
			continue;
		json_object_set_new(by, ext,
		                    json_integer(json_integer_value(json_object_get(by, ext)) + 1));
	}
	json_decref(ext_of);
	harness_response_fini(&r);
	return by;
}

/* One item: the user and one activation with the variables exist in the simulator, and the
 * job, item and audit rows tell the story. */
static void test_provision_one(void **state)
{
	struct dispatch_group *t = *state;
	struct harness_service *w;
	_cleanup_free_ char *job = NULL, *result = NULL, *vars = NULL;
	json_t *by;

	HARNESS_REQUIRE_DB();
	w = worker_start(t);
	assert_non_null(w);
	job = submit_provision(t, "one", 1);
	assert_non_null(job);
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1",
	                                 job, NULL),
	                 1);
	result = harness_sql_text(t->g.conn,
	                          "SELECT result->>'activationId' FROM hookrun.job_items "
	                          "WHERE job_id = $1",
	                          job, NULL);
	assert_non_null(result);
	by = sim_activations_by_user(t);
	assert_int_equal(json_integer_value(json_object_get(by, "one-1")), 1);
	assert_int_equal(json_object_size(by), 1);
	json_decref(by);
	/* Every call is on record, with method, path and status; and the state changes. */
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE job_id = "
	                                 "$1 AND kind = 'api.call' AND detail ? 'method' AND "
	                                 "detail ? 'path' AND (detail->>'status')::int BETWEEN 200 "
	                                 "AND 404",
	                                 job, NULL),
	                 6); /* schema, user get and create, activations, templates, create */
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE job_id = "
	                                 "$1 AND kind = 'item.state' AND "
	                                 "detail->>'state' = 'succeeded'",
	                                 job, NULL),
	                 1);
	/* The same job again converges: nothing new is created. */
	free(job);
	job = submit_provision(t, "one", 1);
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	vars = harness_sql_text(t->g.conn,
	                        "SELECT result->>'activationCreated' || ',' || "
	                        "(result->>'userCreated') FROM hookrun.job_items WHERE job_id = $1",
	                        job, NULL);
	assert_string_equal(vars, "false,false");
	by = sim_activations_by_user(t);
	assert_int_equal(json_integer_value(json_object_get(by, "one-1")), 1);
	json_decref(by);
	assert_int_equal(harness_service_stop(w, 15000), 0);
	t->g.passed = true;
}

/* The end user's activations of the fixture's integration, read through the Embedded v1 API
 * as a client would (ListEndUserActivations); a new array. */
static json_t *sim_embedded_activations(struct dispatch_group *t, const char *external_id)
{
	_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", t->api_key);
	_cleanup_free_ char *path = xasprintf("/api/embedded/v1/embed/" HUB
	                                      "/users/%s/activations?integration_id=" INTEGRATION,
	                                      external_id);
	const char *headers[] = {auth, NULL};
	struct harness_response r = {0};
	json_t *acts;

	harness_http(harness_service_port(t->sim),
	             &(struct harness_request){.method = "GET", .path = path, .headers = headers},
	             &r);
	assert_int_equal(r.status, 200);
	acts = json_incref(json_object_get(r.json, "activations"));
	assert_true(json_is_array(acts));
	harness_response_fini(&r);
	return acts;
}

/* One embedded activation's dynamic variables as JSON text, read through the API. */
static char *sim_embedded_variables(struct dispatch_group *t, const char *activation)
{
	_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", t->api_key);
	_cleanup_free_ char *path = xasprintf("/api/embedded/v1/activations/%s", activation);
	const char *headers[] = {auth, NULL};
	struct harness_response r = {0};
	char *vars;

	harness_http(harness_service_port(t->sim),
	             &(struct harness_request){.method = "GET", .path = path, .headers = headers},
	             &r);
	if (r.status != 200)
		fail_msg("GET %s: %ld %s", path, r.status, r.body ? r.body : "");
	vars =
	    json_dumps(json_object_get(r.json, "dynamicVariables"), JSON_SORT_KEYS | JSON_COMPACT);
	harness_response_fini(&r);
	return vars;
}

/* Submit an Embedded v1 provisioning job for one end user with retailerId, and one for an
 * end user the hub does not know. */
static char *submit_embedded(struct dispatch_group *t, const char *external_id,
                             const char *retailer)
{
	return harness_sql_text(
	    t->g.conn,
	    "SELECT job_id FROM hookrun.submit_job('activation.provision', 'demo', $1::jsonb, "
	    "jsonb_build_array(jsonb_build_object('externalId', $2::text, 'variables', "
	    "jsonb_build_object('retailerId', $3::text)), jsonb_build_object('externalId', "
	    "'nobody-here')), 'test')",
	    EMBEDDED_PARAMETERS, external_id, retailer, NULL);
}

/* The Embedded v1 flavour: an end user (made by a Platform v2 job first) gets exactly one
 * activation of the integration, bound to the job's connection, with its variables; the same
 * job again changes the variables in place and creates nothing; once they hold, nothing is
 * written at all. An end user the hub does not know fails, naming the reason. */
static void test_provision_embedded(void **state)
{
	struct dispatch_group *t = *state;
	struct harness_service *w;
	_cleanup_free_ char *job = NULL, *res = NULL, *err = NULL, *vars = NULL, *act = NULL;
	json_t *acts;

	HARNESS_REQUIRE_DB();
	w = worker_start(t);
	assert_non_null(w);
	job = submit_provision(t, "emb", 1);
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	free(job);

	job = submit_embedded(t, "emb-1", "42");
	assert_non_null(job);
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	res = harness_sql_text(t->g.conn,
	                       "SELECT state || ',' || (result->>'activationCreated') FROM "
	                       "hookrun.job_items WHERE job_id = $1 AND external_id = 'emb-1'",
	                       job, NULL);
	assert_string_equal(res, "succeeded,true");
	err = harness_sql_text(t->g.conn,
	                       "SELECT state || ': ' || last_error FROM hookrun.job_items "
	                       "WHERE job_id = $1 AND external_id = 'nobody-here'",
	                       job, NULL);
	assert_non_null(strstr(err, "failed: "));
	assert_non_null(strstr(err, "not found in hub " HUB));
	acts = sim_embedded_activations(t, "emb-1");
	assert_int_equal(json_array_size(acts), 1);
	act = xstrdup(json_string_value(json_object_get(json_array_get(acts, 0), "id")) ?: "");
	vars = sim_embedded_variables(t, act);
	assert_string_equal(vars, "{\"retailerId\":\"42\"}");
	free(vars);

	/* Again with another value: set in place, nothing created. */
	free(job);
	free(res);
	job = submit_embedded(t, "emb-1", "43");
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	res = harness_sql_text(t->g.conn,
	                       "SELECT (result->>'activationCreated') || ',' || "
	                       "(result->>'variables') || ',' || (result->>'activationId') FROM "
	                       "hookrun.job_items WHERE job_id = $1 AND external_id = 'emb-1'",
	                       job, NULL);
	assert_true(strncmp(res, "false,set,", 10) == 0);
	assert_string_equal(res + 10, act);
	json_decref(acts);
	acts = sim_embedded_activations(t, "emb-1");
	assert_int_equal(json_array_size(acts), 1);
	vars = sim_embedded_variables(t, act);
	assert_string_equal(vars, "{\"retailerId\":\"43\"}");

	/* Once more: the variables hold, so no PUT is sent. */
	free(job);
	free(res);
	job = submit_embedded(t, "emb-1", "43");
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	res = harness_sql_text(t->g.conn,
	                       "SELECT result->>'variables' FROM hookrun.job_items WHERE job_id = "
	                       "$1 AND external_id = 'emb-1'",
	                       job, NULL);
	assert_string_equal(res, "unchanged");
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE job_id = "
	                                 "$1 AND kind = 'api.call' AND detail->>'method' = 'PUT'",
	                                 job, NULL),
	                 0);
	json_decref(acts);
	assert_int_equal(harness_service_stop(w, 15000), 0);
	t->g.passed = true;
}

/* kill -9 of a worker in the middle of a job: every item still ends once, in its desired
 * state, and the simulator holds exactly one activation per user. */
static void test_worker_killed(void **state)
{
	struct dispatch_group *t = *state;
	struct harness_service *a, *b;
	_cleanup_free_ char *job = NULL, *tokens = NULL;
	long long deadline, killed_at, held;
	json_t *by, *v;
	const char *key;
	const int n = 300;

	HARNESS_REQUIRE_DB();
	/* Writes take a while, so the worker killed is certain to hold items it has started. */
	sim_admin(t, "PUT", "/_sim/faults",
	          "{\"rules\":[{\"kind\":\"latency\",\"ms\":20,\"method\":\"POST\"}]}");
	a = worker_start(t);
	b = worker_start(t);
	assert_non_null(a);
	assert_non_null(b);
	job = submit_provision(t, "kill", n);
	assert_non_null(job);
	deadline = harness_now_ms() + DEADLINE_MS;
	while (harness_sql_int(t->g.conn, "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1",
	                       job, NULL) < n / 4 &&
	       harness_now_ms() < deadline)
		harness_poll_pause();
	/* Kill it while it runs items (on a loaded machine it may be between tasks). */
	while (harness_metric(harness_service_port(a), "hookrun_worker_running") < 1 &&
	       harness_now_ms() < deadline)
		;
	assert_int_equal(harness_service_kill(a), 137);
	killed_at = harness_now_ms();
	/* The leases held at that moment, by their tokens: the killed worker's are among them
	 * (loaded by it, or sent to it and not loaded yet); the other worker settles its own. */
	tokens = harness_sql_text(t->g.conn,
	                          "SELECT coalesce(array_agg(fencing_token), '{}')::text "
	                          "FROM hookrun.job_items WHERE state = 'leased'",
	                          NULL);
	assert_non_null(tokens);
	held = harness_sql_int(t->g.conn, "SELECT cardinality($1::bigint[])", tokens, NULL);
	assert_true(held > 0);
	/* Every one of those leases ends within the lease time (2 s), a poll (0.2 s) and a
	 * margin: settled by the live worker, or expired and claimed again (a new token). */
	while (harness_sql_int(t->g.conn,
	                       "SELECT count(*) FROM hookrun.job_items WHERE state = 'leased' "
	                       "AND fencing_token = ANY ($1::bigint[])",
	                       tokens, NULL) > 0 &&
	       harness_now_ms() - killed_at < 5000)
		harness_poll_pause();
	print_message("# %lld leases held when a worker was killed; all ended after %lld ms\n",
	              held, harness_now_ms() - killed_at);
	assert_true(harness_now_ms() - killed_at < 5000);
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	/* They were taken over: claimed again after their leases ran out. */
	assert_true(harness_sql_int(t->g.conn,
	                            "SELECT count(DISTINCT item_id) FROM hookrun.audit_events "
	                            "WHERE job_id = $1 AND kind = 'item.state' AND "
	                            "detail->>'state' = 'leased' AND (detail->>'attempt')::int > 1",
	                            job, NULL) > 0);
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1",
	                                 job, NULL),
	                 n);
	by = sim_activations_by_user(t);
	assert_int_equal(json_object_size(by), n);
	json_object_foreach (by, key, v)
		assert_int_equal(json_integer_value(v), 1);
	json_decref(by);
	assert_int_equal(harness_service_stop(b, 15000), 0);
	t->g.passed = true;
}

/* The calls the simulator holds (delayed by a latency fault) at this moment. */
static long long sim_pending(struct dispatch_group *t)
{
	struct harness_response r = {0};
	long long n;

	harness_http_get(harness_service_port(t->sim), "/_sim/healthz", &r);
	assert_int_equal(r.status, 200);
	n = json_integer_value(json_object_get(r.json, "pending"));
	harness_response_fini(&r);
	return n;
}

/* Items that failed for good (max_attempts) while the API answered 503 run again after retry_job()
 * (the jobs API's retry) once the fault is cleared, their attempts counted afresh, and succeed: one
 * user and one activation each. */
static void test_retry_after_fault(void **state)
{
	struct dispatch_group *t = *state;
	_cleanup_free_ char *job = NULL, *changed = NULL;
	json_t *by, *v;
	const char *key;

	HARNESS_REQUIRE_DB();
	sim_admin(t, "PUT", "/_sim/faults",
	          "{\"rules\":[{\"kind\":\"error\",\"method\":\"POST\",\"statuses\":[503]}]}");
	assert_non_null(worker_start(t));
	job = submit_provision(t, "retry", 3);
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT items_failed FROM hookrun.jobs WHERE id = $1", job,
	                                 NULL),
	                 3);
	sim_admin(t, "DELETE", "/_sim/faults", NULL);
	changed = harness_sql_text(
	    t->g.conn, "SELECT hookrun.retry_job($1, '{demo}', 'test') ->> 'changed'", job, NULL);
	assert_string_equal(changed, "3");
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1 "
	                                 "AND state = 'succeeded'",
	                                 job, NULL),
	                 3);
	by = sim_activations_by_user(t);
	assert_int_equal(json_object_size(by), 3);
	json_object_foreach (by, key, v)
		assert_int_equal(json_integer_value(v), 1);
	json_decref(by);
	t->g.passed = true;
}

/* A worker stopped (SIGSTOP) past its lease loses its items to another worker; resumed, it
 * cannot complete them (fencing) or act for them, and each item still ends exactly once. */
static void test_worker_stalled(void **state)
{
	struct dispatch_group *t = *state;
	struct harness_service *a, *b;
	_cleanup_free_ char *job = NULL, *log = NULL;
	long long deadline;
	json_t *by, *v;
	const char *key;
	const int n = 20;

	HARNESS_REQUIRE_DB();
	/* Slow writes, so that the stopped worker is caught in the middle of its items. */
	sim_admin(t, "PUT", "/_sim/faults",
	          "{\"rules\":[{\"kind\":\"latency\",\"ms\":300,\"method\":\"POST\"}]}");
	a = worker_start(t);
	assert_non_null(a);
	job = submit_provision(t, "stall", n);
	/* a is in the middle of its items once the simulator holds one of its calls. */
	deadline = harness_now_ms() + DEADLINE_MS;
	while (sim_pending(t) < 1 && harness_now_ms() < deadline)
		harness_poll_pause();
	assert_int_equal(harness_service_signal(a, SIGSTOP), 0);
	b = worker_start(t);
	assert_non_null(b);
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	assert_int_equal(harness_service_signal(a, SIGCONT), 0);
	/* Resumed, the first worker finds its leases gone: it settles nothing. */
	deadline = harness_now_ms() + DEADLINE_MS;
	do {
		free(log);
		log = harness_read_file(harness_service_log_path(a), NULL);
		harness_poll_pause();
	} while ((!log || !strstr(log, "held=false")) && harness_now_ms() < deadline);
	assert_non_null(log);
	assert_non_null(strstr(log, "held=false"));
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1",
	                                 job, NULL),
	                 n);
	by = sim_activations_by_user(t);
	assert_int_equal(json_object_size(by), n);
	json_object_foreach (by, key, v)
		assert_int_equal(json_integer_value(v), 1);
	json_decref(by);
	assert_int_equal(harness_service_stop(a, 15000), 0);
	assert_int_equal(harness_service_stop(b, 15000), 0);
	t->g.passed = true;
}

/* POST a signed body to a source; the delivery id of its 202 (a new string). */
static char *post_signed(struct dispatch_group *t, const char *source, const char *body)
{
	_cleanup_free_ char *path = xasprintf("/hooks/%s", source);
	_cleanup_free_ char *sig =
	    harness_hmac_header(&harness_hmac_signer, SOURCE_SECRET, path, body, strlen(body));
	struct harness_response r = {0};
	char *id;

	harness_http(t->g.port,
	             &(struct harness_request){.path = path,
	                                       .content_type = "application/json",
	                                       .body = body,
	                                       .body_len = strlen(body),
	                                       .headers = (const char *const[]){sig, NULL}},
	             &r);
	assert_int_equal(r.status, 202);
	id = xstrdup(harness_response_delivery_id(&r));
	harness_response_fini(&r);
	return id;
}

/* The job a delivery was routed to, once its routing is recorded; NULL for none. */
static char *delivery_job(struct dispatch_group *t, const char *delivery)
{
	return harness_sql_text(t->g.conn,
	                        "SELECT job_id::text FROM hookrun.delivery_routes "
	                        "WHERE delivery_id = $1 AND outcome = 'routed'",
	                        delivery, NULL);
}

/* A request to the ingress's API with token; the response in *r (reset first). */
static long api_call(struct dispatch_group *t, const char *method, const char *path,
                     const char *token, struct harness_response *r)
{
	_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", token);
	const char *headers[] = {auth, NULL};

	harness_response_fini(r);
	harness_http(t->g.port,
	             &(struct harness_request){.method = method, .path = path, .headers = headers},
	             r);
	return r->status;
}

/* Run the CLI with a token in a file named by --token-file and the API's URL by --api-url
 * (url NULL: the group's ingress); its exit code, stdout and stderr. */
static int cli_api_run(struct dispatch_group *t, const char *token, const char *url,
                       const char *const *args, char **out, char **err)
{
	_cleanup_free_ char *dir = harness_mkdtemp("cli-token");
	_cleanup_free_ char *file = harness_write_file(dir, "token", token);
	_cleanup_free_ char *base =
	    url ? xstrdup(url) : xasprintf("http://127.0.0.1:%d", t->g.port);
	const char *argv[16] = {harness_cli_bin(), "--api-url", base, "--token-file", file};
	size_t n = 5;

	for (; *args && n < 15; args++)
		argv[n++] = *args;
	free(*out);
	free(*err);
	*out = *err = NULL;
	return harness_run(argv, NULL, 30000, out, err);
}

/* hookrun deliveries show|replay and jobs show over the API: what the token may see, the
 * routings for people and as JSON, a replay's outcome as the exit status, another
 * organisation's token refused, an unreachable API exit 3. */
static void cli_over_api(struct dispatch_group *t, const char *demo, const char *second,
                         const char *lost, const char *routed)
{
	_cleanup_free_ char *out = NULL, *err = NULL, *job = delivery_job(t, routed);

	assert_int_equal(cli_api_run(t, demo, NULL,
	                             (const char *[]){"deliveries", "show", lost, NULL}, &out,
	                             &err),
	                 0);
	assert_non_null(strstr(out, "source        crm"));
	assert_non_null(strstr(out, "unroutable"));
	assert_non_null(strstr(out, "(asked by token:"));
	assert_int_equal(cli_api_run(t, demo, NULL,
	                             (const char *[]){"deliveries", "show", routed, "--json", NULL},
	                             &out, &err),
	                 0);
	assert_non_null(strstr(out, "\"routings\""));
	/* Unroutable again: exit 1 with the reason; another organisation's token: not found. */
	assert_int_equal(cli_api_run(t, demo, NULL,
	                             (const char *[]){"deliveries", "replay", lost, NULL}, &out,
	                             &err),
	                 1);
	assert_non_null(strstr(err, "externalId"));
	assert_int_equal(cli_api_run(t, second, NULL,
	                             (const char *[]){"deliveries", "show", lost, NULL}, &out,
	                             &err),
	                 1);
	assert_non_null(strstr(err, "no such delivery (not_found)"));
	assert_int_equal(cli_api_run(t, demo, NULL,
	                             (const char *[]){"deliveries", "replay", routed, NULL}, &out,
	                             &err),
	                 1);
	assert_non_null(strstr(err, "already_routed"));
	/* The job it made, for people. */
	assert_non_null(job);
	assert_int_equal(
	    cli_api_run(t, demo, NULL, (const char *[]){"jobs", "show", job, NULL}, &out, &err), 0);
	assert_non_null(strstr(out, "kind          activation.provision"));
	assert_non_null(strstr(out, "organisation  demo"));
	assert_int_equal(
	    cli_api_run(t, second, NULL, (const char *[]){"jobs", "show", job, NULL}, &out, &err),
	    1);
	assert_int_equal(cli_api_run(t, demo, "http://127.0.0.1:9",
	                             (const char *[]){"deliveries", "show", lost, NULL}, &out,
	                             &err),
	                 3);
	assert_int_equal(
	    cli_api_run(t, demo, NULL, (const char *[]){"deliveries", "--help", NULL}, &out, &err),
	    0);
	assert_non_null(strstr(out, "usage: hookrun deliveries show ID"));
	assert_int_equal(cli_api_run(t, demo, NULL,
	                             (const char *[]){"deliveries", "drop", lost, NULL}, &out,
	                             &err),
	                 2);
}

/* GET /v1/deliveries/{id} shows a delivery and its routings to its organisation's tokens only;
 * POST .../replay routes it again with the ingress's configuration: unroutable again (the
 * reason recorded), 409 for a delivery routed before unless force=true, then a second job. */
static void test_deliveries_api(void **state)
{
	struct dispatch_group *t = *state;
	struct harness_response r = {0};
	_cleanup_free_ char *demo = NULL, *reader = NULL, *second = NULL, *lost = NULL;
	_cleanup_free_ char *routed = NULL, *path = NULL;

	HARNESS_REQUIRE_DB();
	demo = harness_token_create(t->g.db, "t", "demo", "write");
	reader = harness_token_create(t->g.db, "t", "demo", "read");
	second = harness_token_create(t->g.db, "t", "second", "write");
	assert_true(demo && reader && second);
	lost = post_signed(t, "crm", "{\"customer\":{\"ref\":\"api-lost\"}}");
	routed = post_signed(t, "crm", "{\"externalId\":\"api-routed\"}");
	path = xasprintf("/v1/deliveries/%s", lost);
	assert_int_equal(api_call(t, "GET", path, reader, &r), 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "source")), "crm");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(r.json, "payload"), "customer"), "ref")),
	    "api-lost");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(r.json, "routings"), 0), "outcome")),
	                    "unroutable");
	assert_int_equal(api_call(t, "GET", path, second, &r), 404);
	free(path);
	path = xasprintf("/v1/deliveries/%s/replay", lost);
	assert_int_equal(api_call(t, "POST", path, reader, &r), 403);
	assert_int_equal(api_call(t, "POST", path, second, &r), 404);
	assert_int_equal(api_call(t, "POST", path, demo, &r), 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "outcome")), "unroutable");
	assert_non_null(strstr(json_string_value(json_object_get(r.json, "reason")), "externalId"));
	free(path);
	path = xasprintf("/v1/deliveries/%s/replay", routed);
	assert_int_equal(api_call(t, "POST", path, demo, &r), 409);
	assert_string_equal(harness_response_error_code(&r), "already_routed");
	free(path);
	path = xasprintf("/v1/deliveries/%s/replay?force=maybe", routed);
	assert_int_equal(api_call(t, "POST", path, demo, &r), 400);
	free(path);
	path = xasprintf("/v1/deliveries/%s/replay?force=true", routed);
	assert_int_equal(api_call(t, "POST", path, demo, &r), 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "outcome")), "routed");
	assert_non_null(json_string_value(json_object_get(r.json, "job_id")));
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT count(*) FROM hookrun.delivery_routes WHERE "
	                                 "delivery_id = $1 AND requested_by LIKE 'token:%'",
	                                 routed, NULL),
	                 1);
	/* Each replay that happened is in the audit trail, with who asked and what came of it
	 * (the refused ones are not: nothing happened). */
	assert_int_equal(
	    harness_sql_int(t->g.conn,
	                    "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                    "'delivery.replayed' AND actor LIKE 'token:%' AND "
	                    "((delivery_id = $1 AND detail ->> 'outcome' = "
	                    "'unroutable' AND NOT (detail ->> 'forced')::boolean) OR "
	                    "(delivery_id = $2 AND detail ->> 'outcome' = 'routed' AND "
	                    "job_id IS NOT NULL AND (detail ->> 'forced')::boolean))",
	                    lost, routed, NULL),
	    2);
	assert_int_equal(api_call(t, "GET", "/v1/deliveries/not-an-id", demo, &r), 404);
	assert_int_equal(api_call(t, "GET", "/v1/deliveries", demo, &r), 404);
	harness_response_fini(&r);
	cli_over_api(t, demo, second, lost, routed);
	t->g.passed = true;
}

/* A signed trigger callback to a provision source ends as one user with one activation; a
 * body without the externalId is stored and answered, its reason recorded and no job made;
 * an event whose type routes to remove takes the activation away again. */
static void test_webhook_routed(void **state)
{
	struct dispatch_group *t = *state;
	struct harness_service *w;
	_cleanup_free_ char *d1 = NULL, *d2 = NULL, *d3 = NULL, *job = NULL, *job3 = NULL;
	_cleanup_free_ char *reason = NULL;
	json_t *by;

	HARNESS_REQUIRE_DB();
	w = worker_start(t);
	assert_non_null(w);
	d1 = post_signed(t, "crm",
	                 "{\"externalId\":\"hook-1\",\"displayName\":\"Hook One\","
	                 "\"variables\":{\"retailerId\":\"h1\"}}");
	/* The job was committed with the delivery: it is there as soon as the 202 is. */
	job = delivery_job(t, d1);
	assert_non_null(job);
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1 "
	                                 "AND delivery_id = $2 AND submitted_by = 'source:crm'",
	                                 job, d1, NULL),
	                 1);
	by = sim_activations_by_user(t);
	assert_int_equal(json_integer_value(json_object_get(by, "hook-1")), 1);
	json_decref(by);

	d2 = post_signed(t, "crm", "{\"displayName\":\"no id\"}");
	reason = harness_sql_text(t->g.conn,
	                          "SELECT reason FROM hookrun.delivery_routes WHERE delivery_id = "
	                          "$1 AND outcome = 'unroutable'",
	                          d2, NULL);
	assert_non_null(reason);
	assert_non_null(strstr(reason, "/externalId: missing from the body"));
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT count(*) FROM hookrun.jobs WHERE delivery_id = $1",
	                                 d2, NULL),
	                 0);
	assert_int_equal(harness_deliveries_count(t->g.conn, "crm"), 2);

	d3 = post_signed(t, "events", "{\"type\":\"customer.deleted\",\"externalId\":\"hook-1\"}");
	job3 = delivery_job(t, d3);
	assert_non_null(job3);
	assert_true(job_wait_finished(t, job3, DEADLINE_MS));
	assert_int_equal(
	    harness_sql_int(t->g.conn,
	                    "SELECT count(*) FROM hookrun.jobs WHERE id = $1 AND kind = "
	                    "'activation.remove' AND items_succeeded = 1",
	                    job3, NULL),
	    1);
	by = sim_activations_by_user(t);
	assert_null(json_object_get(by, "hook-1"));
	json_decref(by);
	assert_int_equal(harness_service_stop(w, 15000), 0);
	t->g.passed = true;
}

/* Run `hookrun --config ini deliveries ARGS...` with the sources' job parameters (and none of
 * their secrets); its exit code, stdout and stderr. */
static int cli_deliveries(struct dispatch_group *t, const char *ini, const char *cmd,
                          const char *id, const char *flag, char **out, char **err)
{
	_cleanup_free_ char *db_env = xasprintf("HOOKRUN_DB_URL=%s", t->g.db->url);
	const char *argv[] = {
	    harness_cli_bin(), "--config", ini, "deliveries", cmd, id, flag, NULL};
	/* No source secret: the CLI never verifies a webhook and does not need them. */
	const char *env[] = {db_env, "HOOKRUN_SOURCE_CRM_JOB_PARAMETERS=" SOURCE_PARAMETERS,
	                     "HOOKRUN_SOURCE_EVENTS_JOB_PARAMETERS=" SOURCE_PARAMETERS, NULL};

	free(*out);
	free(*err);
	*out = *err = NULL;
	return harness_run(argv, env, 30000, out, err);
}

/* A delivery the route could not use at receipt (its externalId elsewhere in the body) is
 * routed by `hookrun deliveries replay` once the configuration points at the field: one job,
 * one activation; today's unchanged configuration only records why again; a routed delivery
 * is replayed again only with --force (a second job, which converges without creating
 * anything); `deliveries show` lists every routing with who asked for it. */
static void test_replay(void **state)
{
	struct dispatch_group *t = *state;
	_cleanup_free_ char *dir = harness_mkdtemp("replay");
	_cleanup_free_ char *d = NULL, *out = NULL, *err = NULL, *job = NULL, *job2 = NULL;
	_cleanup_free_ char *old_ini = NULL, *new_ini = NULL;
	struct harness_service *w;
	json_t *by;

	HARNESS_REQUIRE_DB();
	old_ini = harness_write_file(dir, "old.ini", SOURCES_INI);
	/* The fix: the crm source reads the externalId where this sender puts it. */
	new_ini = harness_write_file(dir, "new.ini",
	                             "[source.crm]\n"
	                             "auth = hmac\n"
	                             "signature_prefix = sha256=\n"
	                             "route = provision\n"
	                             "organisation = demo\n"
	                             "environment_id = " ENVIRONMENT "\n"
	                             "external_id_pointer = /customer/ref\n"
	                             "[source.events]\n"
	                             "auth = hmac\n"
	                             "signature_prefix = sha256=\n"
	                             "route = by-field\n"
	                             "organisation = demo\n"
	                             "kind_pointer = /type\n"
	                             "kinds = customer.created=provision\n");
	assert_non_null(old_ini);
	assert_non_null(new_ini);
	w = worker_start(t);
	assert_non_null(w);
	d = post_signed(t, "crm",
	                "{\"customer\":{\"ref\":\"replayed-1\"},\"displayName\":\"R\","
	                "\"variables\":{\"retailerId\":\"r1\"}}");
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT count(*) FROM hookrun.delivery_routes WHERE "
	                                 "delivery_id = $1 AND outcome = 'unroutable' AND "
	                                 "requested_by IS NULL",
	                                 d, NULL),
	                 1);

	/* The same configuration: still unroutable, the reason recorded again, exit 1. */
	if (cli_deliveries(t, old_ini, "replay", d, NULL, &out, &err) != 1)
		fail_msg("replay: stdout %s stderr %s", out ? out : "", err ? err : "");
	if (!strstr(out, "unroutable: /externalId: missing from the body"))
		fail_msg("replay: stdout %s stderr %s", out ? out : "", err ? err : "");
	/* Fixed: a job, run to its end. */
	if (cli_deliveries(t, new_ini, "replay", d, NULL, &out, &err) != 0)
		fail_msg("replay: stdout %s stderr %s", out ? out : "", err ? err : "");
	assert_non_null(strstr(out, "routed to job "));
	job = harness_sql_text(t->g.conn,
	                       "SELECT job_id FROM hookrun.delivery_routes WHERE delivery_id = $1 "
	                       "AND outcome = 'routed' AND requested_by = 'cli'",
	                       d, NULL);
	assert_non_null(job);
	assert_non_null(strstr(out, job));
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1 "
	                                 "AND delivery_id = $2",
	                                 job, d, NULL),
	                 1);
	by = sim_activations_by_user(t);
	assert_int_equal(json_integer_value(json_object_get(by, "replayed-1")), 1);
	json_decref(by);

	/* Routed already: refused without --force, a second job with it. */
	assert_int_equal(cli_deliveries(t, new_ini, "replay", d, NULL, &out, &err), 1);
	assert_non_null(strstr(err, "was routed to job"));
	assert_int_equal(cli_deliveries(t, new_ini, "replay", d, "--force", &out, &err), 0);
	job2 = harness_sql_text(t->g.conn,
	                        "SELECT job_id FROM hookrun.delivery_routes WHERE delivery_id = $1 "
	                        "ORDER BY id DESC LIMIT 1",
	                        d, NULL);
	assert_string_not_equal(job, job2);
	assert_true(job_wait_finished(t, job2, DEADLINE_MS));
	by = sim_activations_by_user(t);
	assert_int_equal(json_integer_value(json_object_get(by, "replayed-1")), 1);
	json_decref(by);

	/* Every routing on record: receipt, then three replays by the CLI. */
	assert_int_equal(cli_deliveries(t, new_ini, "show", d, NULL, &out, &err), 0);
	assert_non_null(strstr(out, "(receipt)"));
	assert_non_null(strstr(out, "unroutable: /externalId: missing from the body (cli)"));
	assert_non_null(strstr(out, job));
	assert_non_null(strstr(out, job2));
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT count(*) FROM hookrun.delivery_routes WHERE "
	                                 "delivery_id = $1",
	                                 d, NULL),
	                 4);
	/* Bad input: not an id, an unknown delivery. */
	assert_int_equal(cli_deliveries(t, new_ini, "replay", "nope", NULL, &out, &err), 1);
	assert_non_null(strstr(err, "is not a delivery id"));
	assert_int_equal(cli_deliveries(t, new_ini, "show", "00000000-0000-7000-8000-000000000000",
	                                NULL, &out, &err),
	                 1);
	assert_non_null(strstr(err, "no delivery"));
	assert_int_equal(harness_service_stop(w, 15000), 0);
	t->g.passed = true;
}

/* The simulator's call counts: a new reference to /_sim/calls' "calls" array. */
static json_t *sim_calls(struct dispatch_group *t)
{
	struct harness_response r = {0};
	json_t *calls;

	harness_http_get(harness_service_port(t->sim), "/_sim/calls", &r);
	assert_int_equal(r.status, 200);
	calls = json_incref(json_object_get(r.json, "calls"));
	harness_response_fini(&r);
	return calls;
}

/* Submit a provisioning job of the items given (a JSON array), run it to its end, and return
 * its failed item's last_error (a new string; the test fails when no item failed). */
static char *provision_failure(struct dispatch_group *t, const char *items)
{
	_cleanup_free_ char *job = harness_sql_text(
	    t->g.conn,
	    "SELECT job_id FROM hookrun.submit_job('activation.provision', 'demo', $1::jsonb, "
	    "$2::jsonb, 'test')",
	    PROVISION_PARAMETERS, items, NULL);
	char *error;

	assert_non_null(job);
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	error = harness_sql_text(t->g.conn,
	                         "SELECT last_error FROM hookrun.job_items WHERE job_id = $1 AND "
	                         "state = 'failed'",
	                         job, NULL);
	assert_non_null(error);
	return error;
}

/* Variables that break the project's schema fail the item, naming the field, before any call
 * for it: the simulator saw only the schema being read. */
static void test_invalid_variables(void **state)
{
	struct dispatch_group *t = *state;
	struct harness_service *w;
	_cleanup_free_ char *error = NULL;
	json_t *calls, *c;
	size_t i;

	HARNESS_REQUIRE_DB();
	w = worker_start(t);
	assert_non_null(w);
	error = provision_failure(t, "[{\"externalId\": \"bad-1\", \"variables\": "
	                             "{\"retailerId\": 5, \"syncEnabled\": true}}]");
	assert_non_null(strstr(error, "variables.retailerId"));
	calls = sim_calls(t);
	json_array_foreach (calls, i, c)
		if (!strstr(json_string_value(json_object_get(c, "route")), "/variables"))
			fail_msg("a call was made for the invalid item: %s",
			         json_string_value(json_object_get(c, "route")));
	assert_true(json_array_size(calls) >= 1);
	json_decref(calls);

	/* An item without variables, for an end user with no activation yet: the activation
	 * would be created without the variable the schema requires, so it fails naming it,
	 * and no create is sent. */
	free(error);
	error = provision_failure(t, "[{\"externalId\": \"bare-1\"}]");
	assert_non_null(strstr(error, "retailerId"));
	assert_non_null(strstr(error, "project's variable schema"));
	calls = sim_calls(t);
	json_array_foreach (calls, i, c) {
		const char *route = json_string_value(json_object_get(c, "route"));

		if (route && strncmp(route, "POST ", 5) == 0 && strstr(route, "/activations"))
			fail_msg("an activation was created for the item without variables: %s",
			         route);
	}
	json_decref(calls);
	assert_int_equal(harness_service_stop(w, 15000), 0);
	t->g.passed = true;
}

/* An organisation's concurrency cap holds over every worker: with two workers of 8 slots and
 * a cap of 3, never more than 3 of its items are leased, and the job still completes. */
static void test_concurrency_cap(void **state)
{
	struct dispatch_group *t = *state;
	struct harness_service *in, *a, *b;
	_cleanup_free_ char *endpoint = NULL, *job = NULL;
	long long most = 0, deadline;

	HARNESS_REQUIRE_DB();
	sim_admin(t, "PUT", "/_sim/faults", "{\"rules\":[{\"kind\":\"latency\",\"ms\":30}]}");
	in = keep(t, harness_ingress_start(t->g.db,
	                                   "dispatch_listen = tcp://127.0.0.1:0\n"
	                                   "dispatch_poll_ms = 200\n"
	                                   "heartbeat_ms = 200\n"
	                                   "[versori.demo]\n"
	                                   "organisation_id = " ORG "\n"
	                                   "concurrency = 3\n",
	                                   NULL, NULL));
	assert_non_null(in);
	endpoint = harness_service_log_value(in, "dispatch");
	a = worker_start_for(t, endpoint);
	b = worker_start_for(t, endpoint);
	assert_non_null(a);
	assert_non_null(b);
	job = submit_provision(t, "cap", 30);
	deadline = harness_now_ms() + DEADLINE_MS;
	while (harness_now_ms() < deadline &&
	       harness_sql_int(t->g.conn,
	                       "SELECT count(*) FROM hookrun.jobs WHERE id = $1 AND "
	                       "finished_at IS NOT NULL",
	                       job, NULL) == 0) {
		long long leased = harness_sql_int(
		    t->g.conn, "SELECT coalesce(sum(items_leased), 0) FROM hookrun.jobs", NULL);
		most = leased > most ? leased : most;
	}
	print_message("# most items leased at once: %lld (cap 3)\n", most);
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1",
	                                 job, NULL),
	                 30);
	assert_true(most <= 3);
	assert_true(most >= 2); /* the cap was what held it back, not a lack of work */
	assert_int_equal(harness_service_stop(a, 15000), 0);
	assert_int_equal(harness_service_stop(b, 15000), 0);
	assert_int_equal(harness_service_stop(in, 15000), 0);
	t->g.passed = true;
}

/* A credential and a variable that must not be stored in clear. */
#define PLANTED_CREDENTIAL "planted-credential-7f3a9c"
#define PLANTED_RETAILER   "planted-retailer-2b8e41"
#define SECRETS_KEY        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

/* A provisioning job over the API whose dynamic connection carries a credential and whose
 * item's retailerId the configuration marks secret (secret_variables). */
#define SECRET_JOB                                                                                 \
	"{\"kind\":\"activation.provision\",\"organisation\":\"demo\",\"parameters\":"             \
	"{\"environmentId\":\"" ENVIRONMENT "\",\"projectId\":\"" PROJECT "\","                    \
	"\"connections\":{\"" TEMPLATE_STATIC "\":\"" CONNECTION_STATIC "\"},"                     \
	"\"dynamicConnections\":{\"" TEMPLATE_DYNAMIC "\":{\"name\":\"fluent-{externalId}\","      \
	"\"credentials\":[{\"id\":\"00000000000000000000000000\",\"credential\":{\"type\":"        \
	"\"string\",\"data\":{\"string\":{\"value\":\"" PLANTED_CREDENTIAL "\"}}}}]}}},"           \
	"\"items\":[{\"externalId\":\"secret-1\",\"displayName\":\"S\",\"variables\":"             \
	"{\"retailerId\":\"" PLANTED_RETAILER "\",\"syncEnabled\":true}}]}"

/* A routed source whose jobs' parameters create a connection with a credential. */
#define SECRET_SOURCE                                                                              \
	"[source.vault]\n"                                                                         \
	"auth = none\n"                                                                            \
	"allow_unauthenticated = true\n"                                                           \
	"route = provision\n"                                                                      \
	"organisation = demo\n"                                                                    \
	"environment_id = " ENVIRONMENT "\n"
#define SECRET_SOURCE_PARAMETERS                                                                   \
	"HOOKRUN_SOURCE_VAULT_JOB_PARAMETERS={\"projectId\":\"" PROJECT "\","                      \
	"\"connections\":{\"" TEMPLATE_STATIC "\":\"" CONNECTION_STATIC "\"},"                     \
	"\"dynamicConnections\":{\"" TEMPLATE_DYNAMIC "\":{\"name\":\"fluent-{externalId}\","      \
	"\"credentials\":[{\"id\":\"00000000000000000000000000\",\"credential\":{\"type\":"        \
	"\"string\",\"data\":{\"string\":{\"value\":\"" PLANTED_CREDENTIAL "\"}}}}]}}}"

/* The job's items all succeeded, n of them; else fail with the first item's error. */
static void expect_items_succeeded(struct dispatch_group *t, const char *job, long long n)
{
	_cleanup_free_ char *err = NULL;

	if (harness_sql_int(t->g.conn, "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1",
	                    job, NULL) == n)
		return;
	err = harness_sql_text(t->g.conn,
	                       "SELECT coalesce(min(last_error), 'none') FROM hookrun.job_items "
	                       "WHERE job_id = $1",
	                       job, NULL);
	fail_msg("job %s: not %lld items succeeded (an error: %s)", job, n, err ? err : "?");
}

/* POST a webhook body to /hooks/vault of the ingress on port: the status. */
static long post_vault(int port, const char *body)
{
	struct harness_response r = {0};
	long status;

	harness_http(port,
	             &(struct harness_request){.method = "POST",
	                                       .path = "/hooks/vault",
	                                       .content_type = "application/json",
	                                       .body = body,
	                                       .body_len = strlen(body)},
	             &r);
	status = r.status;
	harness_response_fini(&r);
	return status;
}

/* POST body to /v1/jobs of the ingress on port with token; the status. */
static long post_job(int port, const char *token, const char *body, struct harness_response *r)
{
	_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", token);

	harness_response_fini(r);
	harness_http(port,
	             &(struct harness_request){.method = "POST",
	                                       .path = "/v1/jobs",
	                                       .content_type = "application/json",
	                                       .body = body,
	                                       .body_len = strlen(body),
	                                       .headers = (const char *const[]){auth, NULL}},
	             r);
	return r->status;
}

/* Secret values are stored encrypted (secrets_key) and reach the API in clear: the job's
 * connection credential and the variable its organisation's secret_variables names are
 * "$encrypted" in jobs and job_items, in no table in clear, while the simulator got both as
 * sent. An ingress without a secrets_key refuses such a job (422), storing nothing; a worker
 * without the key fails the item, naming the key, never the value. */
static void test_secrets_at_rest(void **state)
{
	struct dispatch_group *t = *state;
	struct harness_response r = {0};
	struct harness_service *in, *w;
	_cleanup_free_ char *endpoint = NULL, *token = NULL, *job = NULL, *dump = NULL;
	const char *env_w[] = {t->env_worker[0], t->env_worker[1],
	                       "HOOKRUN_SECRETS_KEY=" SECRETS_KEY, NULL};

	HARNESS_REQUIRE_DB();
	token = harness_token_create(t->g.db, "t", "demo", "write");
	assert_non_null(token);
	/* Without a key: refused whole; a routed delivery is stored, its job not made. */
	in = keep(t, harness_ingress_start(t->g.db,
	                                   "[versori.demo]\norganisation_id = " ORG "\n"
	                                   "secret_variables = retailerId\n",
	                                   SECRET_SOURCE,
	                                   (const char *const[]){SECRET_SOURCE_PARAMETERS, NULL}));
	assert_non_null(in);
	assert_int_equal(post_vault(harness_service_port(in),
	                            "{\"externalId\":\"secret-0\",\"variables\":{\"retailerId\":"
	                            "\"" PLANTED_RETAILER "\"}}"),
	                 202);
	/* The body is stored with the secret variable withheld. */
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT count(*) FROM hookrun.deliveries WHERE "
	                                 "position('" PLANTED_RETAILER "'::bytea IN body) = 0 AND "
	                                 "position('$withheld'::bytea IN body) > 0",
	                                 NULL),
	                 1);
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT count(*) FROM hookrun.delivery_routes WHERE "
	                                 "outcome = 'unroutable' AND reason LIKE "
	                                 "'%credentials is secret and no secrets_key%'",
	                                 NULL),
	                 1);
	assert_int_equal(post_job(harness_service_port(in), token, SECRET_JOB, &r), 422);
	assert_string_equal(harness_response_error_code(&r), "secrets_key_missing");
	assert_non_null(
	    strstr(r.body, "parameters.dynamicConnections." TEMPLATE_DYNAMIC ".credentials"));
	assert_null(strstr(r.body, PLANTED_CREDENTIAL));
	assert_int_equal(harness_sql_int(t->g.conn, "SELECT count(*) FROM hookrun.jobs", NULL), 0);
	assert_int_equal(harness_service_stop(in, 15000), 0);

	in = keep(t, harness_ingress_start(t->g.db,
	                                   "dispatch_listen = tcp://127.0.0.1:0\n"
	                                   "dispatch_poll_ms = 200\n"
	                                   "heartbeat_ms = 200\n"
	                                   "[versori.demo]\n"
	                                   "organisation_id = " ORG "\n"
	                                   "secret_variables = retailerId, apiPassword\n",
	                                   SECRET_SOURCE,
	                                   (const char *const[]){"HOOKRUN_SECRETS_KEY=" SECRETS_KEY,
	                                                         SECRET_SOURCE_PARAMETERS, NULL}));
	assert_non_null(in);
	endpoint = harness_service_log_value(in, "dispatch");
	w = keep(t, harness_worker_start(t->g.db, endpoint, t->worker_ini, env_w));
	assert_non_null(w);
	assert_int_equal(post_job(harness_service_port(in), token, SECRET_JOB, &r), 202);
	job = xstrdup(json_string_value(json_object_get(r.json, "job_id")));
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1",
	                                 job, NULL),
	                 1);
	/* A routed delivery's job: its parameters' credential and its secret variable sealed. */
	assert_int_equal(post_vault(harness_service_port(in),
	                            "{\"externalId\":\"secret-r\",\"variables\":{\"retailerId\":"
	                            "\"" PLANTED_RETAILER "\",\"syncEnabled\":false}}"),
	                 202);
	free(job);
	job = harness_sql_text(
	    t->g.conn, "SELECT id FROM hookrun.jobs WHERE submitted_by = 'source:vault'", NULL);
	assert_non_null(job);
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	expect_items_succeeded(t, job, 1);
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT count(*) FROM hookrun.deliveries WHERE "
	                                 "position('" PLANTED_RETAILER "'::bytea IN body) > 0",
	                                 NULL),
	                 0);
	/* Its audit event names the organisation it routes to. */
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                                 "'delivery.accepted' AND actor = 'source:vault' AND "
	                                 "organisation = 'demo'",
	                                 NULL),
	                 1);
	assert_int_equal(
	    harness_sql_int(t->g.conn,
	                    "SELECT count(*) FROM hookrun.deliveries WHERE route::text LIKE "
	                    "'%" PLANTED_CREDENTIAL "%' OR route::text LIKE '%" PLANTED_RETAILER
	                    "%'",
	                    NULL),
	    0);
	/* Stored encrypted in both jobs (submitted, routed): both values are "$encrypted" (the
	 * other variable in clear), neither is anywhere in clear. */
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT count(*) FROM hookrun.jobs j JOIN "
	                                 "hookrun.job_items i ON i.job_id = j.id WHERE "
	                                 "j.parameters #> '{dynamicConnections," TEMPLATE_DYNAMIC
	                                 ",credentials}' ? '$encrypted' AND "
	                                 "i.desired #> '{variables,retailerId}' ? '$encrypted' AND "
	                                 "jsonb_typeof(i.desired #> '{variables,syncEnabled}') = "
	                                 "'boolean'",
	                                 NULL),
	                 2);
	dump = harness_sql_text(
	    t->g.conn,
	    "SELECT string_agg(t, ' ') FROM (SELECT parameters::text t FROM hookrun.jobs UNION ALL "
	    "SELECT desired::text || coalesce(result::text, '') || coalesce(last_error, '') FROM "
	    "hookrun.job_items UNION ALL SELECT detail::text FROM hookrun.audit_events) x",
	    NULL);
	assert_non_null(dump);
	assert_null(strstr(dump, PLANTED_CREDENTIAL));
	assert_null(strstr(dump, PLANTED_RETAILER));
	/* The API got them in clear. */
	{
		struct harness_response st = {0};

		harness_http_get(harness_service_port(t->sim), "/_sim/state", &st);
		assert_int_equal(st.status, 200);
		assert_non_null(strstr(st.body, PLANTED_RETAILER));
		assert_non_null(strstr(st.body, PLANTED_CREDENTIAL));
		harness_response_fini(&st);
	}
	assert_int_equal(harness_service_stop(w, 15000), 0);

	/* A worker without the key fails the item, naming the key and not the value. */
	w = worker_start_for(t, endpoint);
	assert_non_null(w);
	free(job);
	assert_int_equal(post_job(harness_service_port(in), token, SECRET_JOB, &r), 202);
	job = xstrdup(json_string_value(json_object_get(r.json, "job_id")));
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	free(dump);
	dump = harness_sql_text(
	    t->g.conn, "SELECT last_error FROM hookrun.job_items WHERE job_id = $1", job, NULL);
	assert_non_null(dump);
	assert_non_null(strstr(dump, "is not configured"));
	assert_null(strstr(dump, PLANTED_CREDENTIAL));
	harness_response_fini(&r);
	assert_int_equal(harness_service_stop(w, 15000), 0);
	assert_int_equal(harness_service_stop(in, 15000), 0);
	t->g.passed = true;
}

/* A job's items end exactly once in their desired state: the job has n succeeded items and
 * the simulator one activation per user. */
static void expect_converged(struct dispatch_group *t, const char *job, int n)
{
	json_t *by, *v;
	const char *key;

	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1",
	                                 job, NULL),
	                 n);
	by = sim_activations_by_user(t);
	assert_int_equal(json_object_size(by), n);
	json_object_foreach (by, key, v)
		assert_int_equal(json_integer_value(v), 1);
	json_decref(by);
}

/* With 10 % of calls answered 5xx and 5 % of connections dropped mid-answer, every item still
 * converges: retries, and check-then-act after a create whose answer was lost. */
static void test_faulty_api(void **state)
{
	struct dispatch_group *t = *state;
	_cleanup_free_ char *job = NULL;
	const int n = 100;

	HARNESS_REQUIRE_DB();
	sim_admin(t, "PUT", "/_sim/faults",
	          "{\"rules\":[{\"kind\":\"error\",\"rate\":0.1,\"statuses\":[500,503]},"
	          "{\"kind\":\"reset\",\"rate\":0.05}]}");
	assert_non_null(worker_start(t));
	assert_non_null(worker_start(t));
	job = submit_provision(t, "faulty", n);
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	expect_converged(t, job, n);
	print_message("# retried runs: %lld\n",
	              harness_sql_int(t->g.conn,
	                              "SELECT count(*) FROM hookrun.audit_events WHERE job_id = $1 "
	                              "AND kind = 'item.state' AND detail->>'state' = 'queued'",
	                              job, NULL));
	assert_true(
	    harness_sql_int(t->g.conn,
	                    "SELECT count(*) FROM hookrun.audit_events WHERE job_id = $1 AND "
	                    "kind = 'api.call' AND (detail->>'status')::int >= 500",
	                    job, NULL) > 0);
	t->g.passed = true;
}

/* A free TCP port on 127.0.0.1 (bound, then released). */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* The ingress that dispatches is killed and started again on the same endpoint while its
 * workers run: they reconnect by themselves, and nothing is lost or done twice. */
static void test_ingress_restart(void **state)
{
	struct dispatch_group *t = *state;
	struct harness_service *in;
	_cleanup_free_ char *ini = NULL, *endpoint = NULL, *job = NULL;
	long long deadline;
	const int n = 200;

	HARNESS_REQUIRE_DB();
	sim_admin(t, "PUT", "/_sim/faults",
	          "{\"rules\":[{\"kind\":\"latency\",\"ms\":10,\"method\":\"POST\"}]}");
	endpoint = xasprintf("tcp://127.0.0.1:%d", free_port());
	ini = xasprintf("dispatch_listen = %s\nlease = 2s\napi_timeout_ms = 800\n"
	                "dispatch_poll_ms = 200\n"
	                "heartbeat_ms = 200\nheartbeat_timeout_ms = 1000\n",
	                endpoint);
	in = harness_ingress_start(t->g.db, ini, NULL, NULL);
	assert_non_null(in);
	assert_non_null(worker_start_for(t, endpoint));
	assert_non_null(worker_start_for(t, endpoint));
	job = submit_provision(t, "restart", n);
	deadline = harness_now_ms() + DEADLINE_MS;
	while (harness_sql_int(t->g.conn, "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1",
	                       job, NULL) < n / 4 &&
	       harness_now_ms() < deadline)
		harness_poll_pause();
	assert_int_equal(harness_service_kill(in), 137);
	harness_service_free(in, false);
	in = keep(t, harness_ingress_start(t->g.db, ini, NULL, NULL));
	assert_non_null(in);
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	expect_converged(t, job, n);
	t->g.passed = true;
}

/* One item from a webhook, submitted while a 20,000-item job runs, starts within a second:
 * claims take a share of every job, webhook jobs first. */
static void test_webhook_not_behind_bulk(void **state)
{
	struct dispatch_group *t = *state;
	_cleanup_free_ char *bulk = NULL, *hook = NULL;
	struct harness_service *ws[4];
	long long deadline, waited_ms;

	HARNESS_REQUIRE_DB();
	for (int i = 0; i < 4; i++)
		assert_non_null(ws[i] = worker_start(t));
	bulk = harness_sql_text(
	    t->g.conn,
	    "SELECT job_id FROM hookrun.submit_job('environment.variables', 'demo', $1::jsonb, "
	    "(SELECT jsonb_agg(jsonb_build_object('externalId', 'env-' || g, 'variables', "
	    "jsonb_build_object('defaultCurrency', 'EUR'))) FROM generate_series(1, 20000) g), "
	    "'bulk')",
	    "{\"environmentId\":\"" ENVIRONMENT "\"}", NULL);
	assert_non_null(bulk);
	deadline = harness_now_ms() + DEADLINE_MS;
	while (harness_sql_int(t->g.conn, "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1",
	                       bulk, NULL) < 500 &&
	       harness_now_ms() < deadline)
		harness_poll_pause();
	/* /metrics shows the queue the dispatcher reads on its poll. */
	deadline = harness_now_ms() + 5000;
	while (harness_metric(t->g.port, "hookrun_queue_depth") <= 0 && harness_now_ms() < deadline)
		harness_poll_pause();
	assert_true(harness_metric(t->g.port, "hookrun_queue_depth") > 0);
	assert_true(harness_metric(t->g.port, "hookrun_queue_oldest_due_seconds") > 0);
	hook =
	    harness_sql_text(t->g.conn,
	                     "SELECT job_id FROM hookrun.submit_job('activation.provision', "
	                     "'demo', $1::jsonb, '[{\"externalId\": \"urgent-1\", \"variables\": "
	                     "{\"retailerId\": \"u1\"}}]', "
	                     "'source:crm', NULL, gen_random_uuid())",
	                     PROVISION_PARAMETERS, NULL);
	assert_non_null(hook);
	assert_true(job_wait_finished(t, hook, DEADLINE_MS));
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1",
	                                 hook, NULL),
	                 1);
	waited_ms = harness_sql_int(
	    t->g.conn,
	    "SELECT (extract(epoch FROM min(a.at) - j.created_at) * 1000)::bigint "
	    "FROM hookrun.audit_events a JOIN hookrun.jobs j ON j.id = a.job_id "
	    "WHERE a.job_id = $1 AND a.kind = 'item.state' AND a.detail->>'state' = 'leased' "
	    "GROUP BY j.created_at",
	    hook, NULL);
	print_message("# webhook item started %lld ms after its commit; bulk job %lld/20000 done\n",
	              waited_ms,
	              harness_sql_int(t->g.conn,
	                              "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1",
	                              bulk, NULL));
	assert_true(waited_ms >= 0 && waited_ms < 1000);
	assert_true(harness_sql_int(t->g.conn,
	                            "SELECT items_queued FROM hookrun.jobs WHERE id = $1", bulk,
	                            NULL) > 0); /* the bulk job was still running */
	/* The rest of the bulk job is not this test's business: stop the workers, then cancel it
	 * (with dispatch still going, PostgreSQL could pick the UPDATE as a deadlock victim). */
	for (int i = 0; i < 4; i++)
		assert_int_equal(harness_service_stop(ws[i], 15000), 0);
	assert_true(harness_sql_exec(t->g.conn, "UPDATE hookrun.job_items SET state = 'cancelled' "
	                                        "WHERE state = 'queued'"));
	t->g.passed = true;
}

/* A 429 storm for one organisation: every worker pauses it for the whole Retry-After (no call
 * to it starts inside a window, beyond the moment the news takes to spread), its items still
 * all succeed, and the other organisation's items flow meanwhile. */
static void test_throttled_organisation(void **state)
{
	struct dispatch_group *t = *state;
	_cleanup_free_ char *job_a = NULL, *job_b = NULL;
	long long inside, storms, a_ms, b_ms;
	const char *submit = "SELECT job_id FROM hookrun.submit_job('environment.variables', $1, "
	                     "$2::jsonb, (SELECT jsonb_agg(jsonb_build_object('externalId', "
	                     "'env-' || g, 'variables', jsonb_build_object('defaultCurrency', "
	                     "'GBP'))) FROM generate_series(1, 40) g), 'test')";
	const char *elapsed =
	    "SELECT (extract(epoch FROM finished_at - created_at) * 1000)::bigint "
	    "FROM hookrun.jobs WHERE id = $1";

	HARNESS_REQUIRE_DB();
	sim_admin(t, "PUT", "/_sim/faults",
	          "{\"rules\":[{\"kind\":\"throttle\",\"per_second\":10,\"burst\":5,"
	          "\"path\":\"/api/v2/o/" ORG "/\"}]}");
	assert_non_null(worker_start(t));
	assert_non_null(worker_start(t));
	job_a = harness_sql_text(t->g.conn, submit, "demo",
	                         "{\"environmentId\":\"" ENVIRONMENT "\"}", NULL);
	job_b = harness_sql_text(t->g.conn, submit, "second",
	                         "{\"environmentId\":\"" ENVIRONMENT "\"}", NULL);
	assert_true(job_wait_finished(t, job_b, DEADLINE_MS));
	assert_true(job_wait_finished(t, job_a, DEADLINE_MS));
	assert_int_equal(
	    harness_sql_int(t->g.conn, "SELECT sum(items_succeeded) FROM hookrun.jobs", NULL), 80);
	storms = harness_sql_int(t->g.conn,
	                         "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                         "'api.call' AND (detail->>'status')::int = 429",
	                         NULL);
	/* Calls to the throttled organisation that started inside a window: from 250 ms after a
	 * 429 arrived (the time the pause takes to reach every worker, a few milliseconds, with
	 * room for a machine busy with other tests) to its Retry-After (a second or more). */
	inside = harness_sql_int(
	    t->g.conn,
	    "WITH c AS (SELECT at AS started, at + make_interval(secs => "
	    "(detail->>'duration_ms')::float8 / 1000) AS answered, (detail->>'status')::int AS "
	    "status, (detail->>'retry_after_s')::int AS ra FROM hookrun.audit_events WHERE kind = "
	    "'api.call' AND organisation = 'demo') SELECT count(*) FROM c w JOIN c x ON "
	    "x.started > w.answered + interval '250 milliseconds' AND x.started < w.answered + "
	    "make_interval(secs => w.ra) WHERE w.status = 429",
	    NULL);
	a_ms = harness_sql_int(t->g.conn, elapsed, job_a, NULL);
	b_ms = harness_sql_int(t->g.conn, elapsed, job_b, NULL);
	print_message(
	    "# 429s: %lld; calls inside a Retry-After window: %lld; throttled job %lld ms, "
	    "the other organisation's job %lld ms\n",
	    storms, inside, a_ms, b_ms);
	assert_true(storms > 0);
	assert_int_equal(inside, 0);
	assert_true(b_ms < a_ms);
	assert_true(
	    harness_metric(t->g.port, "hookrun_dispatch_pauses_total{organisation=\"demo\"}") > 0);
	t->g.passed = true;
}

/* An organisation's rate_limit paces its calls over every worker: with the API allowing 25
 * calls a second and hookrun configured for 20, no call is refused with 429, and the job
 * takes the time the rate says. */
static void test_rate_limit(void **state)
{
	struct dispatch_group *t = *state;
	struct harness_service *in;
	_cleanup_free_ char *endpoint = NULL, *job = NULL;
	long long refused, took_ms;
	const int n = 60;
	const char *env[4];

	HARNESS_REQUIRE_DB();
	sim_admin(t, "PUT", "/_sim/faults",
	          "{\"rules\":[{\"kind\":\"throttle\",\"per_second\":25,\"burst\":5,"
	          "\"path\":\"/api/v2/o/" ORG "/\"}]}");
	in = keep(t, harness_ingress_start(t->g.db,
	                                   "dispatch_listen = tcp://127.0.0.1:0\n"
	                                   "dispatch_poll_ms = 200\n"
	                                   "heartbeat_ms = 200\n"
	                                   "[versori.demo]\n"
	                                   "organisation_id = " ORG "\n"
	                                   "rate_limit = 20\n",
	                                   NULL, NULL));
	assert_non_null(in);
	endpoint = harness_service_log_value(in, "dispatch");
	env[0] = t->env_worker[0];
	env[1] = t->env_worker[1];
	env[2] = "HOOKRUN_VERSORI_DEMO_RATE_LIMIT=20";
	env[3] = NULL;
	for (int i = 0; i < 2; i++)
		assert_non_null(
		    keep(t, harness_worker_start(t->g.db, endpoint, t->worker_ini, env)));
	job = harness_sql_text(
	    t->g.conn,
	    "SELECT job_id FROM hookrun.submit_job('environment.variables', 'demo', $1::jsonb, "
	    "(SELECT jsonb_agg(jsonb_build_object('externalId', 'env-' || g, 'variables', "
	    "jsonb_build_object('defaultCurrency', 'GBP'))) FROM generate_series(1, $2::integer) "
	    "g), "
	    "'test')",
	    "{\"environmentId\":\"" ENVIRONMENT "\"}", "60", NULL);
	assert_true(job_wait_finished(t, job, DEADLINE_MS));
	refused = harness_sql_int(t->g.conn,
	                          "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                          "'api.call' AND (detail->>'status')::int = 429",
	                          NULL);
	took_ms =
	    harness_sql_int(t->g.conn,
	                    "SELECT (extract(epoch FROM finished_at - created_at) * 1000)::bigint "
	                    "FROM hookrun.jobs WHERE id = $1",
	                    job, NULL);
	print_message("# %d calls paced at 20/s: %lld ms (%.1f calls/s), %lld refused with 429\n",
	              n, took_ms, n * 1000.0 / (double)(took_ms > 0 ? took_ms : 1), refused);
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT items_succeeded FROM hookrun.jobs WHERE id = $1",
	                                 job, NULL),
	                 n);
	assert_int_equal(refused, 0);
	assert_true(took_ms >= 2000); /* 60 calls at 20/s, a burst of 2 aside: about 2.9 s */
	assert_true(harness_metric(harness_service_port(in),
	                           "hookrun_dispatch_permits_total{organisation=\"demo\"}") >= n);
	t->g.passed = true;
}

/* The state of the callback job of job once it has finished, as a new string; NULL at the
 * deadline. */
static char *callback_wait(struct dispatch_group *t, const char *job)
{
	long long deadline = harness_now_ms() + DEADLINE_MS;

	while (harness_now_ms() < deadline) {
		char *state = harness_sql_text(
		    t->g.conn,
		    "SELECT coalesce((SELECT state FROM hookrun.jobs WHERE kind = 'job.callback' "
		    "AND "
		    "parameters ->> 'job_id' = $1 AND finished_at IS NOT NULL), 'none')",
		    job, NULL);
		if (state && strcmp(state, "none") != 0)
			return state;
		free(state);
		harness_poll_pause();
	}
	return NULL;
}

/* A job that names a callback URL: once it finishes, its receiver gets one event, signed the
 * Standard Webhooks way (checked by the receiver's own Python), after a 429 (which pauses no
 * organisation) and a 503 that are retried like any item; every attempt is an audit row. A 410
 * fails the callback for good, and a URL that callback_urls does not allow is never called. */
static void test_completion_callback(void **state)
{
	struct dispatch_group *t = *state;
	_cleanup_free_ char *job = NULL, *cb = NULL;
	_cleanup_free_ char *url = NULL, *st = NULL, *err = NULL, *job2 = NULL, *job3 = NULL;
	struct harness_receiver rc = {0}, gone = {0};
	json_t *reqs, *event;
	double pauses;
	const json_t *last;

	HARNESS_REQUIRE_DB();
	pauses = harness_metric(t->g.port, "hookrun_dispatch_pauses_total{organisation=\"demo\"}");
	assert_true(harness_receiver_start(CALLBACK_SECRET, "429,503,204", &rc));
	assert_non_null(worker_start(t));
	url = xasprintf("http://127.0.0.1:%d/hooks/done?token=in-query", rc.port);
	job = harness_sql_text(
	    t->g.conn,
	    "SELECT job_id FROM hookrun.submit_job('activation.provision', 'demo', $1::jsonb || "
	    "jsonb_build_object('callbackUrl', $2::text), '[{\"externalId\":\"cb-1\","
	    "\"variables\":{\"retailerId\":\"r1\"}},{\"externalId\":\"cb-2\",\"variables\":"
	    "{\"retailerId\":\"r2\"}}]', 'test')",
	    PROVISION_PARAMETERS, url, NULL);
	assert_non_null(job);
	st = callback_wait(t, job);
	assert_non_null(st);
	assert_string_equal(st, "succeeded");
	reqs = harness_receiver_requests(&rc);
	assert_int_equal(json_array_size(reqs), 3);
	last = json_array_get(reqs, 2);
	assert_int_equal(json_integer_value(json_object_get(last, "answered")), 204);
	/* The receiver's 429 paused nothing: it is not the Versori API's. */
	assert_true(
	    harness_metric(t->g.port, "hookrun_dispatch_pauses_total{organisation=\"demo\"}") ==
	    pauses);
	assert_true(json_is_true(json_object_get(last, "verified")));
	assert_string_equal(json_string_value(json_object_get(last, "path")),
	                    "/hooks/done?token=in-query");
	/* The same webhook-id on every attempt: the receiver deduplicates by it. */
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(reqs, 0), "webhook_id")),
	    json_string_value(json_object_get(last, "webhook_id")));
	event = json_loads(json_string_value(json_object_get(last, "body")), 0, NULL);
	assert_string_equal(json_string_value(json_object_get(event, "type")), "job.finished");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(event, "data"), "job_id")), job);
	json_decref(event);
	json_decref(reqs);
	event = NULL;
	/* Three attempts in the audit trail, the query left out of the path. */
	assert_int_equal(harness_sql_int(t->g.conn,
	                                 "SELECT count(*) FROM hookrun.audit_events a JOIN "
	                                 "hookrun.jobs j ON j.id = a.job_id WHERE j.kind = "
	                                 "'job.callback' AND a.kind = 'api.call' AND a.detail ->> "
	                                 "'op' = 'job.callback' AND a.detail ->> 'path' NOT LIKE "
	                                 "'%token%'",
	                                 NULL),
	                 3);
	cb = harness_sql_text(t->g.conn,
	                      "SELECT items_total || '/' || items_succeeded FROM hookrun.jobs "
	                      "WHERE kind = 'job.callback'",
	                      NULL);
	assert_string_equal(cb, "1/1");
	harness_receiver_stop(&rc);
	/* A 410 is final; a URL outside callback_urls is never called. */
	assert_true(harness_receiver_start(CALLBACK_SECRET, "410", &gone));
	free(url);
	url = xasprintf("http://127.0.0.1:%d/gone", gone.port);
	job2 =
	    harness_sql_text(t->g.conn,
	                     "SELECT job_id FROM hookrun.submit_job('activation.remove', 'demo', "
	                     "$1::jsonb || jsonb_build_object('callbackUrl', $2::text), "
	                     "'[{\"externalId\":\"nobody\"}]', 'test')",
	                     PROVISION_PARAMETERS, url, NULL);
	job3 =
	    harness_sql_text(t->g.conn,
	                     "SELECT job_id FROM hookrun.submit_job('activation.remove', 'demo', "
	                     "$1::jsonb || '{\"callbackUrl\":\"http://192.0.2.1/x\"}', "
	                     "'[{\"externalId\":\"nobody\"}]', 'test')",
	                     PROVISION_PARAMETERS, NULL);
	free(st);
	st = callback_wait(t, job2);
	assert_non_null(st);
	assert_string_equal(st, "failed");
	free(st);
	st = callback_wait(t, job3);
	assert_non_null(st);
	assert_string_equal(st, "failed");
	err = harness_sql_text(t->g.conn,
	                       "SELECT string_agg(i.last_error, ' | ' ORDER BY i.last_error) FROM "
	                       "hookrun.job_items i JOIN hookrun.jobs j ON j.id = i.job_id WHERE "
	                       "j.kind = 'job.callback' AND i.state = 'failed'",
	                       NULL);
	assert_non_null(strstr(err, "410"));
	assert_non_null(strstr(err, "callback_urls"));
	reqs = harness_receiver_requests(&gone);
	assert_int_equal(json_array_size(reqs), 1);
	json_decref(reqs);
	harness_receiver_stop(&gone);
	t->g.passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_provision_one, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_provision_embedded, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_webhook_routed, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_replay, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_variables, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_worker_killed, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrency_cap, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_secrets_at_rest, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_faulty_api, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_throttled_organisation, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_rate_limit, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_ingress_restart, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_webhook_not_behind_bulk, test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_worker_stalled, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_retry_after_fault, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_deliveries_api, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_completion_callback, test_setup, test_teardown),
	};

	harness_init();
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
