/* Submissions checked before anything is stored, against the real hookrun-ingress, a real
 * PostgreSQL and versori-sim on the demo fixture: POST /v1/jobs with a CSV body (kind,
 * organisation and parameters in the query) becomes a job whose items are typed by the
 * project's variable schema; rows whose variables the schema refuses are listed by row,
 * column and reason and nothing is stored (or, with skip_invalid=true, only the good rows
 * are); JSON items get the same check by item and field; an environment named by name is
 * resolved to its id; the schema is read once for many submissions and every call is in the
 * audit trail; an unknown project or environment is 422, an API answering 5xx is 503; a
 * completion callback may only go where callback_urls allows; a large submission is streamed
 * into PostgreSQL (one transaction: cut off mid-stream, it leaves nothing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "crypto.h"
#include "harness.h"
#include "job_target.h"
#include "xalloc.h"

#define ORG_ID      "01JGFJJZ00M9S346Q3D25VT4F5"
#define PROJECT_ID  "01JGFJK3W8P1XPA7Z3DJ8FSSZ5"
#define ENV_ID      "01JGFJK4VGAWSH8VHTPRE95B9E"
#define NO_PROJECT  "01JGFJK3W8P1XPA7Z3DJ8FSSZ9"
#define SCHEMA_CALL "hookrun_ingress_api_calls_total{op=\"variables_schema.get\""

/* State of the group: the database, the simulator, the ingress and a write token. */
struct suite {
	struct harness_group g; /* first: the harness_group_*() functions take the state */
	struct harness_service *sim;
	char *token;
	char *env_sim[2];
	char api_key[65];
};

/* The demo fixture with its API key only (no signing key to make): a file path, new. */
static char *fixture_api_key_only(void)
{
	_cleanup_free_ char *src =
	    xasprintf("%s/deploy/dev/versori-sim.fixture.json", harness_source_root());
	_cleanup_free_ char *dir = harness_mkdtemp("fixture");
	json_t *doc = json_load_file(src, 0, NULL);
	_cleanup_free_ char *text = NULL;

	json_object_set_new(json_array_get(json_object_get(doc, "organisations"), 0), "signingKeys",
	                    json_array());
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text ? harness_write_file(dir, "api-key-only.json", text) : NULL;
}

/* Group setup: versori-sim on the demo fixture, an ingress whose [versori.local] has the
 * simulator's API key (no dispatch: jobs stay queued), a write token for local. */
static int group_setup(void **state)
{
	struct suite *s;
	unsigned char raw[32];
	_cleanup_free_ char *fixture = NULL, *sources = NULL, *key_env = NULL;

	if (harness_group_setup(state, sizeof(*s), NULL, NULL) < 0)
		return -1;
	s = *state;
	if (!s->g.db)
		return 0;
	if (crypto_random_bytes(raw, sizeof(raw)) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(s->api_key + 2 * i, 3, "%02x", raw[i]);
	s->env_sim[0] = xasprintf("VERSORI_SIM_API_KEY=%s", s->api_key);
	fixture = fixture_api_key_only();
	if (!fixture)
		return -1;
	s->sim = harness_sim_start(fixture, NULL, (const char *const *)s->env_sim);
	if (!s->sim)
		return -1;
	sources = xasprintf("[versori.local]\n"
	                    "base_url = http://127.0.0.1:%d\n"
	                    "organisation_id = " ORG_ID "\n"
	                    "[versori.nokey]\n"
	                    "base_url = http://127.0.0.1:9\n"
	                    "organisation_id = " ORG_ID "\n",
	                    harness_service_port(s->sim));
	key_env = xasprintf("HOOKRUN_VERSORI_LOCAL_API_KEY=%s", s->api_key);
	s->g.in = harness_ingress_start(s->g.db,
	                                "api_timeout_ms = 2000\n"
	                                "callback_urls = https://hooks.example.com/done, "
	                                "http://127.0.0.1:9/\n",
	                                sources, (const char *const[]){key_env, NULL});
	if (!s->g.in)
		return -1;
	s->g.in_shared = true;
	s->g.port = harness_service_port(s->g.in);
	s->token = harness_token_create(s->g.db, "w", "local,nokey", "write");
	return s->token ? 0 : -1;
}

/* Stop the simulator and free the token, then what harness_group_teardown() frees. */
static int group_teardown(void **state)
{
	struct suite *s = *state;
	int r = 0;

	if (s->sim && harness_service_stop(s->sim, 5000) != 0)
		r = -1;
	harness_service_free(s->sim, r < 0);
	free(s->token);
	free(s->env_sim[0]);
	return harness_group_teardown(state) < 0 ? -1 : r;
}

/* Per-test setup: no jobs left from the test before, no simulator faults. */
static int test_setup(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};

	harness_test_setup(state);
	if (!s->g.db)
		return 0;
	harness_http(harness_service_port(s->sim),
	             &(struct harness_request){.method = "DELETE", .path = "/_sim/faults"}, &r);
	harness_response_fini(&r);
	return harness_sql_exec(s->g.conn,
	                        "TRUNCATE hookrun.delivery_routes, hookrun.jobs, hookrun.job_items")
	           ? 0
	           : -1;
}

/* POST /v1/jobs?query with body of content_type and extra headers (may be NULL); the
 * response in *r (reset first). */
static void post(struct suite *s, const char *query, const char *content_type, const char *body,
                 const char *const *extra, struct harness_response *r)
{
	_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", s->token);
	_cleanup_free_ char *path = query ? xasprintf("/v1/jobs?%s", query) : xstrdup("/v1/jobs");
	const char *headers[4] = {auth, extra ? extra[0] : NULL, NULL, NULL};

	harness_response_fini(r);
	harness_http(s->g.port,
	             &(struct harness_request){.method = "POST",
	                                       .path = path,
	                                       .content_type = content_type,
	                                       .body = body,
	                                       .body_len = strlen(body),
	                                       .headers = headers,
	                                       .timeout_ms = 60000},
	             r);
	if (r->status == 0)
		print_message("# POST %s: transport error (curl %d)\n", path, r->curl_code);
}

/* The query of a CSV submission of kind for organisation with parameters (JSON text). */
static char *csv_query(const char *kind, const char *org, const char *params, const char *more)
{
	char *enc = curl_easy_escape(NULL, params, 0);
	char *q = xasprintf("kind=%s&organisation=%s&parameters=%s%s%s", kind, org, enc,
	                    more ? "&" : "", more ? more : "");

	curl_free(enc);
	return q;
}

/* Submit CSV as a provisioning job for the demo project's environment, named by name. */
static void post_csv(struct suite *s, const char *csv, const char *more, struct harness_response *r)
{
	_cleanup_free_ char *q =
	    csv_query("activation.provision", "local",
	              "{\"projectId\":\"" PROJECT_ID "\",\"environment\":\"production\"}", more);

	post(s, q, "text/csv", csv, NULL, r);
}

/* post_csv() with an Idempotency-Key. */
static void post_csv_keyed(struct suite *s, const char *csv, const char *key,
                           struct harness_response *r)
{
	_cleanup_free_ char *q =
	    csv_query("activation.provision", "local",
	              "{\"projectId\":\"" PROJECT_ID "\",\"environment\":\"production\"}", NULL);
	_cleanup_free_ char *h = xasprintf("Idempotency-Key: %s", key);

	post(s, q, "text/csv", csv, (const char *const[]){h, NULL}, r);
}

/* Jobs stored. */
static long long jobs_count(struct suite *s)
{
	return harness_sql_int(s->g.conn, "SELECT count(*) FROM hookrun.jobs", NULL);
}

/* Whether the problems of an answer (error.fields) hold one for row and column whose text
 * has fragment. */
static bool has_problem(const struct harness_response *r, long long row, const char *column,
                        const char *fragment)
{
	const json_t *fields = json_object_get(json_object_get(r->json, "error"), "fields");
	const json_t *f;
	size_t i;

	if (!fields)
		fields = json_object_get(r->json, "problems");
	json_array_foreach (fields, i, f) {
		const char *col = json_string_value(json_object_get(f, "column"));
		const char *p = json_string_value(json_object_get(f, "problem"));
		if (json_integer_value(json_object_get(f, "row")) == row &&
		    (column ? col && strcmp(col, column) == 0 : !col) && p && strstr(p, fragment))
			return true;
	}
	return false;
}

/* A CSV job: 202, the environment resolved, the items typed by the schema, the calls made
 * for it in the audit trail under the token. */
static void test_csv_submit(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	_cleanup_free_ char *job = NULL, *env = NULL, *vars = NULL, *actor = NULL;

	HARNESS_REQUIRE_DB();
	post_csv(s,
	         "externalId,displayName,var.retailerId,var.pollIntervalMinutes,var.syncEnabled,"
	         "var.locations\r\n"
	         "c1,\"Acme, Inc.\",r-1,15,true,\"[{\"\"ref\"\":\"\"L1\"\"}]\"\r\n"
	         "c2,Globex,r-2,,FALSE,\r\n"
	         "c3,,r-3,5,,\r\n",
	         NULL, &r);
	assert_int_equal(r.status, 202);
	assert_int_equal(json_integer_value(json_object_get(r.json, "items")), 3);
	assert_int_equal(json_integer_value(json_object_get(r.json, "skipped")), 0);
	job = xstrdup(json_string_value(json_object_get(r.json, "job_id")));
	env = harness_sql_text(
	    s->g.conn, "SELECT parameters ->> 'environmentId' FROM hookrun.jobs WHERE id = $1", job,
	    NULL);
	assert_string_equal(env, ENV_ID);
	vars = harness_sql_text(s->g.conn,
	                        "SELECT desired::text FROM hookrun.job_items WHERE job_id = $1 AND "
	                        "external_id = 'c1'",
	                        job, NULL);
	assert_non_null(strstr(vars, "\"pollIntervalMinutes\": 15"));
	assert_non_null(strstr(vars, "\"syncEnabled\": true"));
	assert_non_null(strstr(vars, "\"displayName\": \"Acme, Inc.\""));
	assert_non_null(strstr(vars, "[{\"ref\": \"L1\"}]"));
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.job_items WHERE job_id = $1 "
	                                 "AND desired -> 'variables' ? 'syncEnabled' AND "
	                                 "desired #> '{variables,syncEnabled}' = 'false'",
	                                 job, NULL),
	                 1);
	/* The project lookup and the schema read are audit rows under the token. */
	actor = harness_sql_text(s->g.conn,
	                         "SELECT string_agg(DISTINCT actor, ',') FROM hookrun.audit_events "
	                         "WHERE kind = 'api.call' AND organisation = 'local' AND "
	                         "detail ->> 'op' IN ('project.get', 'variables_schema.get')",
	                         NULL);
	assert_non_null(actor);
	assert_true(strncmp(actor, "token:", 6) == 0);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* Rows that the schema (or CSV) refuses: 422 naming row, column and reason; nothing stored.
 * With skip_invalid=true the good rows are a job and the others are listed. */
static void test_csv_invalid_rows(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	const char *csv = "externalId,var.retailerId,var.pollIntervalMinutes,var.defaultCurrency\n"
	                  "ok1,r1,10,EUR\n"
	                  "bad-int,r2,ten,EUR\n"
	                  "bad-min,r3,0,GBP\n"
	                  "bad-enum,r4,5,JPY\n"
	                  "ok1,r5,5,USD\n"
	                  ",r6,5,USD\n"
	                  "short,r7\n"
	                  "ok2,r8,20,\n";

	HARNESS_REQUIRE_DB();
	post_csv(s, csv, NULL, &r);
	assert_int_equal(r.status, 422);
	assert_string_equal(harness_response_error_code(&r), "invalid_items");
	assert_true(has_problem(&r, 3, "var.pollIntervalMinutes", "'ten' is not an integer"));
	assert_true(has_problem(&r, 4, "var.pollIntervalMinutes", "minimum"));
	assert_true(has_problem(&r, 5, "var.defaultCurrency", "enum"));
	assert_true(has_problem(&r, 6, "externalId", "already on row 2"));
	assert_true(has_problem(&r, 7, "externalId", "empty"));
	assert_true(has_problem(&r, 8, NULL, "2 fields, the header 4"));
	assert_int_equal(jobs_count(s), 0);
	/* The good ones alone. */
	post_csv(s, csv, "skip_invalid=true", &r);
	assert_int_equal(r.status, 202);
	assert_int_equal(json_integer_value(json_object_get(r.json, "items")), 2);
	assert_int_equal(json_integer_value(json_object_get(r.json, "skipped")), 6);
	assert_true(has_problem(&r, 5, "var.defaultCurrency", "enum"));
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.job_items WHERE external_id "
	                                 "IN ('ok1', 'ok2')",
	                                 NULL),
	                 2);
	assert_int_equal(harness_sql_int(s->g.conn, "SELECT count(*) FROM hookrun.job_items", NULL),
	                 2);
	/* A header the schema does not know: no row can be trusted, skipping or not. */
	post_csv(s, "externalId,var.nosuch\nu1,x\n", "skip_invalid=true", &r);
	assert_int_equal(r.status, 422);
	assert_true(has_problem(&r, 1, "var.nosuch", "does not declare nosuch"));
	harness_response_fini(&r);
	s->g.passed = true;
}

/* JSON items get the same check, by item and field, each read alone; an update may leave
 * required variables out. */
static void test_json_items_checked(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	const json_t *f;

	HARNESS_REQUIRE_DB();
	post(s, NULL, "application/json",
	     "{\"kind\":\"activation.variables\",\"organisation\":\"local\",\"parameters\":"
	     "{\"projectId\":\"" PROJECT_ID "\",\"environmentId\":\"" ENV_ID "\"},\"items\":["
	     "{\"externalId\":\"u1\",\"variables\":{\"batchSize\":10}},"
	     "{\"externalId\":\"u2\",\"variables\":{\"batchSize\":\"ten\"}},"
	     "{\"externalId\":\"u3\",\"variable\":{\"name\":\"nosuch\",\"value\":1}},"
	     "{\"externalId\":\"u4\",\"variable\":{\"name\":\"defaultCurrency\",\"value\":\"X\"}},"
	     "{\"externalId\":\"u5\",\"externalId\":\"u6\"},"
	     "{\"externalId\":\"u7\",\"variables\":{\"batchSize\":1e999}}]}",
	     NULL, &r);
	assert_int_equal(r.status, 422);
	f = json_object_get(json_object_get(r.json, "error"), "fields");
	assert_int_equal(json_array_size(f), 5);
	/* Items jansson cannot read are problems of their own: a key twice, a number too large. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(f, 3), "field")),
	                    "items[4]");
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(f, 3), "problem")),
	                       "not JSON"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(f, 4), "field")),
	                    "items[5]");
	assert_string_equal(json_string_value(json_object_get(json_array_get(f, 0), "field")),
	                    "items[1].variables");
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(f, 0), "problem")),
	                       "batchSize"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(f, 1), "field")),
	                    "items[2].variable.name");
	assert_string_equal(json_string_value(json_object_get(json_array_get(f, 2), "field")),
	                    "items[3].variable.value");
	assert_int_equal(jobs_count(s), 0);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* Many submissions, one schema read (the cache); a project given by name resolves too. */
static void test_schema_read_once(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	_cleanup_free_ char *q = NULL;
	double before, after;

	HARNESS_REQUIRE_DB();
	post_csv(s, "externalId,var.retailerId\nw0,r\n", NULL, &r);
	assert_int_equal(r.status, 202);
	before = harness_metric(s->g.port, SCHEMA_CALL ",class=\"success\"}");
	for (int i = 1; i <= 5; i++) {
		char csv[64];

		snprintf(csv, sizeof(csv), "externalId,var.retailerId\nw%d,r\n", i);
		post_csv(s, csv, NULL, &r);
		assert_int_equal(r.status, 202);
	}
	after = harness_metric(s->g.port, SCHEMA_CALL ",class=\"success\"}");
	assert_true(before >= 1);
	assert_true(after == before);
	/* The project by its name: the environment still resolves (no schema: it needs the id). */
	q = csv_query("activation.remove", "local",
	              "{\"projectId\":\"order-sync\",\"environment\":\"production\"}", NULL);
	post(s, q, "text/csv", "externalId\nw1\n", NULL, &r);
	assert_int_equal(r.status, 202);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.jobs WHERE kind = "
	                                 "'activation.remove' AND parameters ->> 'environmentId' = "
	                                 "'" ENV_ID "'",
	                                 NULL),
	                 1);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* Fail the simulator's next count calls (0: every call) with status. */
static void sim_fail(struct suite *s, int status, int count)
{
	_cleanup_free_ char *rules =
	    count ? xasprintf("{\"rules\":[{\"kind\":\"error\",\"statuses\":[%d],\"count\":%d}]}",
	                      status, count)
	          : xasprintf("{\"rules\":[{\"kind\":\"error\",\"statuses\":[%d]}]}", status);
	struct harness_response r = {0};

	harness_http(harness_service_port(s->sim),
	             &(struct harness_request){.method = "PUT",
	                                       .path = "/_sim/faults",
	                                       .content_type = "application/json",
	                                       .body = rules,
	                                       .body_len = strlen(rules)},
	             &r);
	assert_int_equal(r.status, 200);
	harness_response_fini(&r);
}

/* What the API cannot give: an unknown environment or project is 422 naming the parameter;
 * an API answering 5xx is 503 with Retry-After after three attempts (a keyed request sent
 * again still gets its job), a brief fault is ridden out; an organisation without a
 * credential cannot name an environment by name. Nothing is stored but what succeeded. */
static void test_target_errors(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	_cleanup_free_ char *q1 = NULL, *q2 = NULL, *q3 = NULL;
	const json_t *f;

	HARNESS_REQUIRE_DB();
	q1 = csv_query("activation.provision", "local",
	               "{\"projectId\":\"" PROJECT_ID "\",\"environment\":\"staging\"}", NULL);
	post(s, q1, "text/csv", "externalId\nu1\n", NULL, &r);
	assert_int_equal(r.status, 422);
	f = json_array_get(json_object_get(json_object_get(r.json, "error"), "fields"), 0);
	assert_string_equal(json_string_value(json_object_get(f, "field")),
	                    "parameters.environment");
	q2 = csv_query("activation.provision", "local",
	               "{\"projectId\":\"" NO_PROJECT "\",\"environmentId\":\"" ENV_ID "\"}", NULL);
	post(s, q2, "text/csv", "externalId\nu1\n", NULL, &r);
	assert_int_equal(r.status, 422);
	f = json_array_get(json_object_get(json_object_get(r.json, "error"), "fields"), 0);
	assert_string_equal(json_string_value(json_object_get(f, "field")), "parameters.projectId");
	/* A keyed job, then the simulator fails every call: the same request again is the first
	 * job (no call needed), a new one cannot be checked (503). */
	post_csv_keyed(s, "externalId,var.retailerId\nkf-1,r\n", "kf", &r);
	assert_int_equal(r.status, 202);
	sim_fail(s, 503, 0);
	post_csv_keyed(s, "externalId,var.retailerId\nkf-1,r\n", "kf", &r);
	assert_int_equal(r.status, 200);
	assert_true(harness_response_duplicate(&r));
	assert_int_equal(json_integer_value(json_object_get(r.json, "items")), 1);
	post(s, q2, "text/csv", "externalId\nu1\n", NULL, &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(harness_response_error_code(&r), "versori_unavailable");
	assert_non_null(harness_response_header(&r, "Retry-After"));
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                                 "'api.call' AND detail ->> 'status' = '503'",
	                                 NULL),
	                 JOB_TARGET_TRIES);
	/* Two calls fail, the third answers: the submission does not notice. */
	sim_fail(s, 502, 2);
	post_csv(s, "externalId,var.retailerId\nbrief-1,r\n", NULL, &r);
	assert_int_equal(r.status, 202);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.audit_events WHERE kind = "
	                                 "'api.call' AND detail ->> 'status' = '502'",
	                                 NULL),
	                 2);
	q3 = csv_query("activation.provision", "nokey",
	               "{\"projectId\":\"" PROJECT_ID "\",\"environment\":\"production\"}", NULL);
	post(s, q3, "text/csv", "externalId\nu1\n", NULL, &r);
	assert_int_equal(r.status, 422);
	assert_non_null(strstr(r.body, "environmentId"));
	assert_int_equal(jobs_count(s), 2);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* A callback URL must start with a prefix of callback_urls: others are 422 and store nothing. */
static void test_callback_url(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	const char *urls[] = {
	    "https://hooks.example.com/done?job=1", "http://127.0.0.1:9/x",
	    "https://hooks.example.com/other",      "http://127.0.0.1:90/x",
	    "https://hooks.example.com/done x",     "ftp://hooks.example.com/done"};

	HARNESS_REQUIRE_DB();
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		_cleanup_free_ char *body = xasprintf(
		    "{\"kind\":\"activation.remove\",\"organisation\":\"local\",\"parameters\":"
		    "{\"callbackUrl\":\"%s\"},\"items\":[{\"externalId\":\"u%zu\"}]}",
		    urls[i], i);
		post(s, NULL, "application/json", body, NULL, &r);
		if (r.status != (i < 2 ? 202 : 422))
			fail_msg("%s: %ld %s", urls[i], r.status, r.body ? r.body : "");
		if (i >= 2)
			assert_non_null(strstr(r.body, "parameters.callbackUrl"));
	}
	post(s, NULL, "application/json",
	     "{\"kind\":\"activation.remove\",\"organisation\":\"local\",\"parameters\":"
	     "{\"callbackUrl\":7},\"items\":[{\"externalId\":\"u\"}]}",
	     NULL, &r);
	assert_int_equal(r.status, 422);
	assert_int_equal(jobs_count(s), 2);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* A bad CSV request: its status and code, nothing stored. */
struct bad_case {
	const char *query; /* NULL: the demo job's */
	const char *content_type;
	const char *body;
	long status;
	const char *code;
};

/* CSV requests that are wrong in every way get a clear answer and store nothing; the same
 * Idempotency-Key returns the first job for the same request and 409 for another. */
static void test_csv_bad_requests(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	_cleanup_free_ char *q = csv_query("activation.remove", "local", "{}", NULL);
	_cleanup_free_ char *first = NULL;
	const struct bad_case cases[] = {
	    {NULL, "text/csv; charset=latin1", "externalId\nu1\n", 415, "unsupported_media_type"},
	    {NULL, "text/plain", "externalId\nu1\n", 415, "unsupported_media_type"},
	    {"kind=activation.remove&organisation=local&x=1", "text/csv", "externalId\nu1\n", 400,
	     "invalid_query"},
	    {"organisation=local", "text/csv", "externalId\nu1\n", 422, "invalid_job"},
	    {"kind=activation.remove&organisation=local&parameters=%7B", "text/csv",
	     "externalId\nu1\n", 400, "invalid_query"},
	    {"kind=activation.remove&organisation=local&parameters=%5B%5D", "text/csv",
	     "externalId\nu1\n", 422, "invalid_job"},
	    {"kind=activation.remove&organisation=local&skip_invalid=maybe", "text/csv",
	     "externalId\nu1\n", 400, "invalid_query"},
	    {"kind=activation.remove&organisation=other", "text/csv", "externalId\nu1\n", 404,
	     "unknown_organisation"},
	    {NULL, "text/csv", "", 422, "invalid_items"},
	    {NULL, "text/csv", "externalId\n", 422, "invalid_items"},
	    {NULL, "text/csv", "externalId\nu\"1\n", 422, "invalid_items"},
	    {NULL, "text/csv", "externalId\n\xff\xfe\n", 422, "invalid_items"},
	    {NULL, "text/csv", "name\nu1\n", 422, "invalid_items"},
	};

	HARNESS_REQUIRE_DB();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];

		post(s, c->query ? c->query : q, c->content_type, c->body, NULL, &r);
		if (r.status != c->status || !harness_response_error_code(&r) ||
		    strcmp(harness_response_error_code(&r), c->code) != 0)
			fail_msg("case %zu: %ld %s, want %ld %s", i, r.status, r.body ? r.body : "",
			         c->status, c->code);
	}
	assert_int_equal(jobs_count(s), 0);
	/* Idempotency: the same request is the first job; another body or query is 409. */
	post(s, q, "text/csv", "externalId\nu1\n", (const char *const[]){"Idempotency-Key: k1"},
	     &r);
	assert_int_equal(r.status, 202);
	first = xstrdup(json_string_value(json_object_get(r.json, "job_id")));
	post(s, q, "text/csv", "externalId\nu1\n", (const char *const[]){"Idempotency-Key: k1"},
	     &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "job_id")), first);
	post(s, q, "text/csv", "externalId\nu2\n", (const char *const[]){"Idempotency-Key: k1"},
	     &r);
	assert_int_equal(r.status, 409);
	post(s, "kind=activation.remove&organisation=local", "text/csv", "externalId\nu1\n",
	     (const char *const[]){"Idempotency-Key: k1"}, &r);
	assert_int_equal(r.status, 409);
	assert_int_equal(jobs_count(s), 1);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* Run the CLI with args (NULL-terminated) against the ingress with the token in a file of
 * dir: its exit code, its output and its errors. */
static int cli(struct suite *s, const char *dir, char **out, char **err, ...)
{
	_cleanup_free_ char *token = harness_write_file(dir, "token", s->token);
	_cleanup_free_ char *url = xasprintf("HOOKRUN_API_URL=http://127.0.0.1:%d", s->g.port);
	_cleanup_free_ char *file = xasprintf("HOOKRUN_TOKEN_FILE=%s", token);
	const char *argv[20] = {harness_cli_bin()};
	size_t n = 1;
	va_list ap;

	va_start(ap, err);
	for (const char *a; n < 19 && (a = va_arg(ap, const char *));)
		argv[n++] = a;
	va_end(ap);
	free(*out);
	free(*err);
	*out = *err = NULL;
	return harness_run(argv, (const char *const[]){url, file, NULL}, 30000, out, err);
}

/* hookrun jobs submit FILE.csv: --project and --env (a name) set the target; a bad row is
 * listed by row and column and nothing is submitted (exit 1); --skip-invalid submits the
 * others and lists what it skipped. */
static void test_cli_csv(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *dir = harness_mkdtemp("cli"), *csv = NULL, *out = NULL, *err = NULL;

	HARNESS_REQUIRE_DB();
	csv = harness_write_file(dir, "users.csv",
	                         "externalId,displayName,var.retailerId,var.pollIntervalMinutes\n"
	                         "a1,\"Smith, Ann\",r1,10\n"
	                         "a2,Bo,r2,often\n"
	                         "a3,Cy,r3,\n");
	assert_non_null(csv);
	assert_int_equal(cli(s, dir, &out, &err, "jobs", "submit", "--kind", "activation.provision",
	                     "--org", "local", "--project", PROJECT_ID, "--env", "production", csv,
	                     NULL),
	                 1);
	assert_non_null(strstr(err, "1 problem in the items"));
	assert_non_null(strstr(err, "row 3, var.pollIntervalMinutes: 'often' is not an integer"));
	assert_int_equal(jobs_count(s), 0);
	assert_int_equal(cli(s, dir, &out, &err, "jobs", "submit", "--kind", "activation.provision",
	                     "--org", "local", "--project", PROJECT_ID, "--env", "production",
	                     "--skip-invalid", csv, NULL),
	                 0);
	assert_non_null(strstr(out, "submitted (2 items)"));
	assert_non_null(strstr(err, "skipped 1 invalid rows"));
	assert_non_null(strstr(err, "row 3, var.pollIntervalMinutes"));
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.jobs WHERE parameters ->> "
	                                 "'environmentId' = '" ENV_ID "' AND items_total = 2",
	                                 NULL),
	                 1);
	s->g.passed = true;
}

/* A JSON submission of n environment.variables items ("u0", "u1", ...), every bad-th (0:
 * none) with variables that are not an object: a new string. */
static char *big_json(size_t n, size_t bad)
{
	size_t cap = n * 80 + 256, at;
	char *body = xmalloc(cap);

	at = (size_t)snprintf(body, cap,
	                      "{\"kind\":\"environment.variables\",\"organisation\":\"local\","
	                      "\"parameters\":{\"environmentId\":\"" ENV_ID "\"},\"items\":[");
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(body + at, cap - at,
		                       "%s{\"externalId\":\"u%zu\",\"variables\":%s}", i ? "," : "",
		                       i, bad && i % bad == bad - 1 ? "\"x\"" : "{\"n\":1}");
	snprintf(body + at, cap - at, "]}");
	return body;
}

/* 50,000 items streamed into PostgreSQL: the bad ones skipped on request, the rest stored in
 * the body's order with their desired state, counted once on the job. */
static void test_stream_large(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	_cleanup_free_ char *body = NULL, *job = NULL, *first = NULL, *desired = NULL;

	HARNESS_REQUIRE_DB();
	body = big_json(50000, 1000);
	post(s, NULL, "application/json", body, NULL, &r);
	assert_int_equal(r.status, 422); /* 50 bad items: refused whole */
	assert_int_equal(jobs_count(s), 0);
	post(s, "skip_invalid=true", "application/json", body, NULL, &r);
	assert_int_equal(r.status, 202);
	assert_int_equal(json_integer_value(json_object_get(r.json, "items")), 49950);
	assert_int_equal(json_integer_value(json_object_get(r.json, "skipped")), 50);
	job = xstrdup(json_string_value(json_object_get(r.json, "job_id")));
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT items_total + items_queued FROM hookrun.jobs "
	                                 "WHERE id = $1",
	                                 job, NULL),
	                 2 * 49950);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.job_items WHERE job_id = $1 "
	                                 "AND external_id IN ('u999', 'u1999', 'u49999')",
	                                 job, NULL),
	                 0);
	first = harness_sql_text(s->g.conn,
	                         "SELECT string_agg(external_id, ',' ORDER BY id) FROM (SELECT "
	                         "id, external_id FROM hookrun.job_items WHERE job_id = $1 "
	                         "ORDER BY id LIMIT 3) f",
	                         job, NULL);
	assert_string_equal(first, "u0,u1,u2");
	desired = harness_sql_text(s->g.conn,
	                           "SELECT desired::text FROM hookrun.job_items WHERE job_id = $1 "
	                           "AND external_id = 'u49998'",
	                           job, NULL);
	assert_string_equal(desired, "{\"variables\": {\"n\": 1}}");
	harness_response_fini(&r);
	s->g.passed = true;
}

/* A submission whose COPY is cut off (its backend terminated mid-stream) answers 503 and
 * leaves no job and no item; sent again, it is stored whole on the reconnected connection. */
static void test_stream_cut(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	_cleanup_free_ char *body = NULL;
	long long cut = 0;
	int fds[2], status = 0;
	pid_t pid;

	HARNESS_REQUIRE_DB();
	body = big_json(150000, 0);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		post(s, NULL, "application/json", body, NULL, &r);
		status = r.status;
		_exit(write(fds[1], &status, sizeof(status)) == sizeof(status) ? 0 : 1);
	}
	close(fds[1]);
	for (int i = 0; i < 3000 && cut == 0; i++) { /* up to 30 s for the COPY to start */
		cut = harness_sql_int(
		    s->g.conn,
		    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
		    "WHERE state = 'active' AND query LIKE "
		    "'SELECT job_id, created, conflict FROM hookrun.submit_job_open%'",
		    NULL);
		if (cut == 0)
			usleep(10000);
	}
	assert_int_equal(read(fds[0], &status, sizeof(status)), sizeof(status));
	close(fds[0]);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(cut, 1);
	assert_int_equal(status, 503);
	assert_int_equal(jobs_count(s), 0);
	assert_int_equal(harness_sql_int(s->g.conn, "SELECT count(*) FROM hookrun.job_items", NULL),
	                 0);
	for (int i = 0; i < 500 && r.status != 202; i++) { /* the connection comes back */
		post(s, NULL, "application/json", body, NULL, &r);
		if (r.status != 202)
			usleep(20000);
	}
	assert_int_equal(r.status, 202);
	assert_int_equal(harness_sql_int(s->g.conn, "SELECT count(*) FROM hookrun.job_items", NULL),
	                 150000);
	harness_response_fini(&r);
	s->g.passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_csv_submit, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_csv_invalid_rows, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_json_items_checked, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_schema_read_once, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_target_errors, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_csv_bad_requests, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_cli_csv, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_callback_url, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_stream_large, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_stream_cut, test_setup, harness_test_teardown),
	};

	harness_init();
	return cmocka_run_group_tests_name("jobs_submit", tests, group_setup, group_teardown);
}
