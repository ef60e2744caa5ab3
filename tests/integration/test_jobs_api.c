/* The jobs API of the real hookrun-ingress against a real PostgreSQL, with tokens made by the
 * real hookrun CLI: POST /v1/jobs stores a job and answers 202 with its id and Location;
 * GET /v1/jobs/{id} shows it; an Idempotency-Key returns the first job for the same body and
 * 409 for another; a missing, malformed, unknown or revoked token gets 401, a read token 403
 * for a submission; a token never sees another organisation's job (404) nor submits for it;
 * every bad body gets its status and code and stores nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "xalloc.h"

#define JOB_BODY                                                                                   \
	"{\"kind\":\"activation.provision\",\"organisation\":\"acme\","                            \
	"\"parameters\":{\"environmentId\":\"env-1\"},\"items\":[{\"externalId\":\"u1\","          \
	"\"variables\":{\"region\":\"eu\"}},{\"externalId\":\"u2\"},{\"externalId\":\"u3\"}]}"

/* State of the group: the database, the ingress, and tokens for the tests. */
struct suite {
	struct harness_group g; /* first: the harness_group_*() functions take the state */
	char *write_acme, *read_acme, *write_globex, *revoked;
};

/* Group setup: a migrated database, an ingress knowing the organisations acme and globex
 * (no dispatch: jobs stay queued), and the tokens. */
static int group_setup(void **state)
{
	struct suite *s;
	_cleanup_free_ char *id = NULL;

	if (harness_group_setup(state, sizeof(*s), NULL, NULL) < 0)
		return -1;
	s = *state;
	if (!s->g.db)
		return 0;
	s->g.in =
	    harness_ingress_start(s->g.db, "jobs_body_limit = 2KiB\n",
	                          /* A source allowing larger bodies than the jobs API: the API's
	                           * own 413 (JSON) is seen, not evhttp's. */
	                          "[source.open]\n"
	                          "auth = none\n"
	                          "allow_unauthenticated = true\n"
	                          "body_limit = 64KiB\n"
	                          "[versori.acme]\n"
	                          "base_url = http://127.0.0.1:9\n"
	                          "organisation_id = 01JGFJJZ00M9S346Q3D25VT4F5\n"
	                          "[versori.globex]\n"
	                          "base_url = http://127.0.0.1:9\n"
	                          "organisation_id = 01JGFJJZ00M9S346Q3D25VT4F6\n",
	                          (const char *const[]){"HOOKRUN_VERSORI_ACME_API_KEY=k1",
	                                                "HOOKRUN_VERSORI_GLOBEX_API_KEY=k2", NULL});
	if (!s->g.in)
		return -1;
	s->g.in_shared = true;
	s->g.port = harness_service_port(s->g.in);
	s->write_acme = harness_token_create(s->g.db, "w", "acme", "write");
	s->read_acme = harness_token_create(s->g.db, "r", "acme", "read");
	s->write_globex = harness_token_create(s->g.db, "g", "globex,unconfigured", "write");
	s->revoked = harness_token_create(s->g.db, "x", "acme", "write");
	if (!s->write_acme || !s->read_acme || !s->write_globex || !s->revoked)
		return -1;
	id =
	    harness_sql_text(s->g.conn, "SELECT id FROM hookrun.api_tokens WHERE name = 'x'", NULL);
	return id && harness_sql_int(s->g.conn, "SELECT hookrun.revoke_token($1, 'test')::int", id,
	                             NULL) == 1
	           ? 0
	           : -1;
}

/* Free the tokens, then what harness_group_teardown() frees. */
static int group_teardown(void **state)
{
	struct suite *s = *state;

	free(s->write_acme);
	free(s->read_acme);
	free(s->write_globex);
	free(s->revoked);
	return harness_group_teardown(state);
}

/* Per-test setup: no jobs left from the test before. */
static int test_setup(void **state)
{
	struct suite *s = *state;

	harness_test_setup(state);
	if (s->g.db &&
	    !harness_sql_exec(s->g.conn,
	                      "TRUNCATE hookrun.delivery_routes, hookrun.jobs, hookrun.job_items"))
		return -1;
	return 0;
}

/* One request to the ingress with token (NULL: no Authorization) and extra headers
 * ("Name: value", NULL-terminated, may be NULL); the response in *r (reset first). */
static void call(struct suite *s, const char *method, const char *path, const char *token,
                 const char *content_type, const char *body, size_t len, const char *const *extra,
                 struct harness_response *r)
{
	_cleanup_free_ char *auth = token ? xasprintf("Authorization: Bearer %s", token) : NULL;
	const char *headers[8] = {0};
	size_t n = 0;
	struct harness_request req = {.method = method,
	                              .path = path,
	                              .content_type = content_type,
	                              .body = body,
	                              .body_len = len,
	                              .headers = headers};

	if (auth)
		headers[n++] = auth;
	for (; extra && *extra && n < 7; extra++)
		headers[n++] = *extra;
	harness_response_fini(r);
	harness_http(s->g.port, &req, r);
}

/* POST /v1/jobs with a JSON body. */
static void submit(struct suite *s, const char *token, const char *body, const char *const *extra,
                   struct harness_response *r)
{
	call(s, "POST", "/v1/jobs", token, "application/json", body, strlen(body), extra, r);
}

/* Jobs stored. */
static long long jobs_count(struct suite *s)
{
	return harness_sql_int(s->g.conn, "SELECT count(*) FROM hookrun.jobs", NULL);
}

/* Submitted and read back: 202, Location, the job queued with its three items. */
static void test_submit_and_read(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	_cleanup_free_ char *path = NULL;
	const char *id;
	json_t *items;

	HARNESS_REQUIRE_DB();
	submit(s, s->write_acme, JOB_BODY, NULL, &r);
	assert_int_equal(r.status, 202);
	id = json_string_value(json_object_get(r.json, "job_id"));
	assert_non_null(id);
	assert_int_equal(json_integer_value(json_object_get(r.json, "items")), 3);
	path = xasprintf("/v1/jobs/%s", id);
	assert_string_equal(harness_response_header(&r, "Location"), path);
	assert_int_equal(
	    harness_sql_int(s->g.conn,
	                    "SELECT count(*) FROM hookrun.jobs j JOIN "
	                    "hookrun.api_tokens t ON j.submitted_by = 'token:' || t.id "
	                    "WHERE j.id = $1 AND t.name = 'w' AND j.items_total = 3 "
	                    "AND j.request_sha256 IS NOT NULL",
	                    id, NULL),
	    1);
	call(s, "GET", path, s->read_acme, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "state")), "queued");
	assert_string_equal(json_string_value(json_object_get(r.json, "organisation")), "acme");
	items = json_object_get(r.json, "items");
	assert_int_equal(json_integer_value(json_object_get(items, "total")), 3);
	assert_int_equal(json_integer_value(json_object_get(items, "queued")), 3);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* The same Idempotency-Key: the first job for the same body (200), 409 for another body. */
static void test_idempotency(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	const char *const key[] = {"Idempotency-Key: import-42", NULL};
	_cleanup_free_ char *first = NULL;

	HARNESS_REQUIRE_DB();
	submit(s, s->write_acme, JOB_BODY, key, &r);
	assert_int_equal(r.status, 202);
	first = xstrdup(json_string_value(json_object_get(r.json, "job_id")));
	submit(s, s->write_acme, JOB_BODY, key, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "job_id")), first);
	assert_true(json_is_true(json_object_get(r.json, "duplicate")));
	submit(s, s->write_acme,
	       "{\"kind\":\"activation.remove\",\"organisation\":\"acme\","
	       "\"items\":[{\"externalId\":\"u9\"}]}",
	       key, &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(harness_response_error_code(&r), "idempotency_conflict");
	assert_int_equal(jobs_count(s), 1);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* Who may do what: 401 without a good token, 403 for a read token's submission. */
static void test_tokens(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	const char *const two[] = {"Authorization: Bearer x", NULL};

	HARNESS_REQUIRE_DB();
	submit(s, NULL, JOB_BODY, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(harness_response_header(&r, "WWW-Authenticate"), "Bearer");
	submit(s, "not-a-token", JOB_BODY, NULL, &r);
	assert_int_equal(r.status, 401);
	submit(s, "hrt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", JOB_BODY, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(harness_response_error_code(&r), "invalid_token");
	submit(s, s->revoked, JOB_BODY, NULL, &r);
	assert_int_equal(r.status, 401);
	submit(s, s->write_acme, JOB_BODY, two, &r);
	assert_int_equal(r.status, 401);
	submit(s, s->read_acme, JOB_BODY, NULL, &r);
	assert_int_equal(r.status, 403);
	assert_string_equal(harness_response_error_code(&r), "forbidden");
	assert_int_equal(jobs_count(s), 0);
	/* Each good token's use was counted. */
	assert_true(harness_sql_int(s->g.conn,
	                            "SELECT uses FROM hookrun.api_tokens WHERE name = 'r'",
	                            NULL) >= 1);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* A token sees and touches only its organisations: 404 for the rest, ids included. */
static void test_scope(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	_cleanup_free_ char *path = NULL;

	HARNESS_REQUIRE_DB();
	submit(s, s->write_acme, JOB_BODY, NULL, &r);
	assert_int_equal(r.status, 202);
	path = xasprintf("/v1/jobs/%s", json_string_value(json_object_get(r.json, "job_id")));
	call(s, "GET", path, s->write_globex, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(harness_response_error_code(&r), "not_found");
	submit(s, s->write_globex, JOB_BODY, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(harness_response_error_code(&r), "unknown_organisation");
	/* In the token's scope but not configured here: the same answer. */
	submit(s, s->write_globex,
	       "{\"kind\":\"activation.remove\",\"organisation\":\"unconfigured\","
	       "\"items\":[{\"externalId\":\"u1\"}]}",
	       NULL, &r);
	assert_int_equal(r.status, 404);
	call(s, "GET", "/v1/jobs/not-a-uuid", s->write_acme, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 404);
	call(s, "GET", "/v1/jobs/0190f3c4-0000-7000-8000-000000000000", s->write_acme, NULL, NULL,
	     0, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_int_equal(jobs_count(s), 1);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* One bad request: its status and error code. */
struct bad_case {
	const char *content_type;
	const char *body;
	size_t len; /* 0: strlen(body) */
	const char *header;
	long status;
	const char *code;
};

/* Every bad body or header: the status and code, and no job stored. */
static void test_bad_requests(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	static const char nul[] = "{\"kind\":\"activation.remove\",\0\"items\":[]}";
	char big[3000];
	const struct bad_case cases[] = {
	    {"text/plain", JOB_BODY, 0, NULL, 415, "unsupported_media_type"},
	    {"application/json", "{\"kind\":", 0, NULL, 400, "malformed_json"},
	    {"application/json", "{\"a\":1,\"a\":2}", 0, NULL, 400, "malformed_json"},
	    {"application/json", "{\"kind\":\"\xff\xfe\"}", 0, NULL, 400, "malformed_json"},
	    {"application/json", nul, sizeof(nul) - 1, NULL, 400, "malformed_json"},
	    {"application/json", "[1]", 0, NULL, 422, "invalid_job"},
	    {"application/json",
	     "{\"kind\":\"activation.remove\",\"organisation\":\"acme\","
	     "\"items\":[{\"externalId\":\"u1\"}],\"extra\":1}",
	     0, NULL, 422, "invalid_job"},
	    {"application/json",
	     "{\"kind\":\"activation.explode\",\"organisation\":\"acme\","
	     "\"items\":[{\"externalId\":\"u1\"}]}",
	     0, NULL, 422, "invalid_job"},
	    {"application/json",
	     "{\"kind\":\"activation.remove\",\"organisation\":\"acme\","
	     "\"items\":[]}",
	     0, NULL, 422, "invalid_job"},
	    {"application/json",
	     "{\"kind\":\"activation.remove\",\"organisation\":\"acme\","
	     "\"parameters\":[],\"items\":[{\"externalId\":\"u1\"}]}",
	     0, NULL, 422, "invalid_job"},
	    {"application/json",
	     "{\"kind\":\"activation.remove\",\"organisation\":\"acme\","
	     "\"items\":[{\"externalId\":\"u1\"},{\"name\":\"x\"}]}",
	     0, NULL, 422, "invalid_items"},
	    {"application/json",
	     "{\"kind\":\"activation.remove\",\"organisation\":\"acme\","
	     "\"items\":[{\"externalId\":\"u1\"},{\"externalId\":\"u1\"}]}",
	     0, NULL, 422, "invalid_items"},
	    {"application/json", JOB_BODY, 0, "Idempotency-Key: has space", 400,
	     "invalid_idempotency_key"},
	    {"application/json", big, 0, NULL, 413, "body_too_large"},
	};

	HARNESS_REQUIRE_DB();
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];
		const char *const extra[] = {c->header, NULL};
		call(s, "POST", "/v1/jobs", s->write_acme, c->content_type, c->body,
		     c->len ? c->len : strlen(c->body), extra, &r);
		if (r.status != c->status || !harness_response_error_code(&r) ||
		    strcmp(harness_response_error_code(&r), c->code) != 0)
			fail_msg("case %zu: %ld %s, want %ld %s", i, r.status, r.body ? r.body : "",
			         c->status, c->code);
	}
	/* The problems name the field. */
	submit(s, s->write_acme,
	       "{\"kind\":\"activation.remove\",\"organisation\":\"acme\","
	       "\"items\":[{\"externalId\":\"u1\"},{\"name\":\"x\"}]}",
	       NULL, &r);
	assert_non_null(strstr(r.body, "\"field\":\"items[1].externalId\""));
	assert_non_null(strstr(r.body, "\"item\":1"));
	/* Two Idempotency-Key headers disagree. */
	submit(s, s->write_acme, JOB_BODY,
	       (const char *const[]){"Idempotency-Key: a", "Idempotency-Key: b", NULL}, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(harness_response_error_code(&r), "conflicting_headers");
	/* Routes and methods. */
	call(s, "PUT", "/v1/jobs", s->write_acme, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(harness_response_header(&r, "Allow"), "GET, HEAD, POST");
	call(s, "DELETE", "/v1/jobs/0190f3c4-0000-7000-8000-000000000000", s->write_acme, NULL,
	     NULL, 0, NULL, &r);
	assert_int_equal(r.status, 405);
	call(s, "GET", "/v1/nothing", s->write_acme, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_int_equal(jobs_count(s), 0);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* GET path with token; the status, with the parsed body in *r. */
static long get(struct suite *s, const char *path, const char *token, struct harness_response *r)
{
	call(s, "GET", path, token, NULL, NULL, 0, NULL, r);
	return r->status;
}

/* Submit a job of kind with items (JSON array text) for acme; its id, a new string. */
static char *submit_items(struct suite *s, const char *kind, const char *items)
{
	_cleanup_free_ char *body =
	    xasprintf("{\"kind\":\"%s\",\"organisation\":\"acme\",\"items\":%s}", kind, items);
	struct harness_response r = {0};
	char *id;

	submit(s, s->write_acme, body, NULL, &r);
	assert_int_equal(r.status, 202);
	id = xstrdup(json_string_value(json_object_get(r.json, "job_id")));
	harness_response_fini(&r);
	return id;
}

/* Pages of jobs, newest first, only the token's organisations, with filters and cursors. */
static void test_list_jobs(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	_cleanup_free_ char *path = NULL, *removal = NULL;
	json_t *jobs;

	HARNESS_REQUIRE_DB();
	for (int i = 0; i < 4; i++)
		free(submit_items(s, "activation.provision", "[{\"externalId\":\"u1\"}]"));
	removal = submit_items(s, "activation.remove", "[{\"externalId\":\"u1\"}]");
	submit(s, s->write_globex,
	       "{\"kind\":\"activation.remove\",\"organisation\":\"globex\","
	       "\"items\":[{\"externalId\":\"g1\"}]}",
	       NULL, &r);
	assert_int_equal(r.status, 202);
	assert_int_equal(get(s, "/v1/jobs?limit=2", s->read_acme, &r), 200);
	jobs = json_object_get(r.json, "jobs");
	assert_int_equal(json_array_size(jobs), 2);
	/* Newest first: the removal was the last acme job. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(jobs, 0), "id")),
	                    removal);
	path = xasprintf("/v1/jobs?limit=2&cursor=%s",
	                 json_string_value(json_object_get(r.json, "next_cursor")));
	assert_int_equal(get(s, path, s->read_acme, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "jobs")), 2);
	free(path);
	path = xasprintf("/v1/jobs?limit=2&cursor=%s",
	                 json_string_value(json_object_get(r.json, "next_cursor")));
	assert_int_equal(get(s, path, s->read_acme, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "jobs")), 1);
	assert_null(json_object_get(r.json, "next_cursor"));
	/* Filters; the other organisation's job is never listed. */
	assert_int_equal(get(s, "/v1/jobs?kind=activation.remove", s->read_acme, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "jobs")), 1);
	assert_int_equal(get(s, "/v1/jobs?state=queued&organisation=acme", s->read_acme, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "jobs")), 5);
	assert_int_equal(get(s, "/v1/jobs?organisation=globex", s->read_acme, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "jobs")), 0);
	assert_int_equal(get(s, "/v1/jobs", s->write_globex, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "jobs")), 1);
	/* Bad queries. */
	assert_int_equal(get(s, "/v1/jobs?limit=0", s->read_acme, &r), 400);
	assert_string_equal(harness_response_error_code(&r), "invalid_query");
	assert_int_equal(get(s, "/v1/jobs?limit=1001", s->read_acme, &r), 400);
	assert_int_equal(get(s, "/v1/jobs?state=sleeping", s->read_acme, &r), 400);
	assert_int_equal(get(s, "/v1/jobs?kind=x", s->read_acme, &r), 400);
	assert_int_equal(get(s, "/v1/jobs?cursor=nope", s->read_acme, &r), 400);
	assert_int_equal(
	    get(s, "/v1/jobs?cursor=0190f3c4-0000-7000-8000-000000000000", s->read_acme, &r), 400);
	assert_int_equal(get(s, "/v1/jobs?state=queued%00x", s->read_acme, &r), 400);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* A job's items in pages, by state; another organisation's job is not found. */
static void test_list_items(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	_cleanup_free_ char *job = NULL, *path = NULL, *next = NULL;

	HARNESS_REQUIRE_DB();
	job =
	    submit_items(s, "activation.provision",
	                 "[{\"externalId\":\"a\"},{\"externalId\":\"b\"},{\"externalId\":\"c\"}]");
	path = xasprintf("/v1/jobs/%s/items?limit=2", job);
	assert_int_equal(get(s, path, s->read_acme, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(json_object_get(r.json, "items"), 0),
	                                      "external_id")),
	    "a");
	next = xasprintf("/v1/jobs/%s/items?limit=2&cursor=%lld", job,
	                 (long long)json_integer_value(json_object_get(r.json, "next_cursor")));
	assert_int_equal(get(s, next, s->read_acme, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
	assert_null(json_object_get(r.json, "next_cursor"));
	free(path);
	path = xasprintf("/v1/jobs/%s/items?state=failed", job);
	assert_int_equal(get(s, path, s->read_acme, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
	free(path);
	path = xasprintf("/v1/jobs/%s/items?state=queued", job);
	assert_int_equal(get(s, path, s->read_acme, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 3);
	free(path);
	path = xasprintf("/v1/jobs/%s/items", job);
	assert_int_equal(get(s, path, s->write_globex, &r), 404);
	free(path);
	path = xasprintf("/v1/jobs/%s/items?cursor=-1", job);
	assert_int_equal(get(s, path, s->read_acme, &r), 400);
	free(path);
	path = xasprintf("/v1/jobs/%sX/items", job);
	assert_int_equal(get(s, path, s->read_acme, &r), 404);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* Cancel stops what is queued; retry queues the failed items again, counted afresh. */
static void test_cancel_and_retry(void **state)
{
	struct suite *s = *state;
	struct harness_response r = {0};
	_cleanup_free_ char *a = NULL, *b = NULL, *path = NULL;

	HARNESS_REQUIRE_DB();
	a = submit_items(s, "activation.provision",
	                 "[{\"externalId\":\"a\"},{\"externalId\":\"b\"}]");
	path = xasprintf("/v1/jobs/%s/cancel", a);
	call(s, "POST", path, s->read_acme, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 403);
	call(s, "POST", path, s->write_globex, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_int_equal(get(s, path, s->write_acme, &r), 405);
	assert_string_equal(harness_response_header(&r, "Allow"), "POST");
	call(s, "POST", path, s->write_acme, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "changed")), 2);
	assert_string_equal(json_string_value(json_object_get(r.json, "state")), "cancelled");
	call(s, "POST", path, s->write_acme, NULL, NULL, 0, NULL, &r);
	assert_int_equal(json_integer_value(json_object_get(r.json, "changed")), 0);
	/* Two items failed for good (an operator's update here), then retried. */
	b = submit_items(s, "activation.provision",
	                 "[{\"externalId\":\"a\"},{\"externalId\":\"b\"},{\"externalId\":\"c\"}]");
	assert_true(harness_sql_exec(s->g.conn, "UPDATE hookrun.job_items SET state = 'failed', "
	                                        "attempt = 5, last_error = 'gave up' WHERE "
	                                        "external_id IN ('a', 'b') AND state = 'queued'"));
	free(path);
	path = xasprintf("/v1/jobs/%s/retry", b);
	call(s, "POST", path, s->write_acme, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "changed")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(r.json, "items"), "queued")), 3);
	assert_int_equal(
	    harness_sql_int(s->g.conn,
	                    "SELECT count(*) FROM hookrun.job_items WHERE job_id = $1 "
	                    "AND state = 'queued' AND attempt = 0 AND last_error IS NULL",
	                    b, NULL),
	    3);
	assert_int_equal(
	    harness_sql_int(s->g.conn,
	                    "SELECT count(*) FROM hookrun.audit_events WHERE kind IN "
	                    "('job.cancelled', 'job.retried') AND actor LIKE 'token:%'",
	                    NULL),
	    3);
	assert_int_equal(harness_sql_int(s->g.conn,
	                                 "SELECT count(*) FROM hookrun.jobs WHERE id = $1 AND "
	                                 "retried_at IS NOT NULL",
	                                 b, NULL),
	                 1);
	harness_response_fini(&r);
	s->g.passed = true;
}

/* The CLI's environment for the group's ingress and token (strings for env_add). */
struct cli_env {
	char *url, *token_file, *list[3];
};

/* Fill e for the write token of acme, its file in dir. */
static void cli_env_init(struct suite *s, const char *dir, struct cli_env *e)
{
	_cleanup_free_ char *path = harness_write_file(dir, "token", s->write_acme);

	assert_non_null(path);
	e->url = xasprintf("HOOKRUN_API_URL=http://127.0.0.1:%d", s->g.port);
	e->token_file = xasprintf("HOOKRUN_TOKEN_FILE=%s", path);
	e->list[0] = e->url;
	e->list[1] = e->token_file;
	e->list[2] = NULL;
}

/* Release e. */
static void cli_env_fini(struct cli_env *e)
{
	free(e->url);
	free(e->token_file);
}

/* Run the CLI with args (NULL-terminated, at most 12) in env: its exit code, output in *out. */
static int cli(const struct cli_env *e, char **out, ...)
{
	const char *argv[16] = {harness_cli_bin()};
	size_t n = 1;
	va_list ap;

	va_start(ap, out);
	for (const char *a; n < 14 && (a = va_arg(ap, const char *));)
		argv[n++] = a;
	va_end(ap);
	free(*out);
	*out = NULL;
	return harness_run(argv, (const char *const *)e->list, 30000, out, NULL);
}

/* Start `jobs submit --watch` of items (a file) with argv0..: the command's own argv prefix
 * (the CLI, or script(1) around it); wait until it printed its job's id; cancel that job over
 * the API so that the watch ends; its exit code, and its whole output in *ret_out. */
static int watch_until_cancelled(struct suite *s, const struct cli_env *e, const char *const *argv,
                                 const char *out_path, char **ret_out)
{
	struct harness_proc p;
	struct harness_response r = {0};
	_cleanup_free_ char *path = NULL;
	long long deadline = harness_now_ms() + 30000;
	char id[37] = "";
	int rc;

	assert_int_equal(
	    harness_proc_spawn(argv, (const char *const *)e->list, out_path, out_path, &p), 0);
	while (!*id && harness_now_ms() < deadline) {
		_cleanup_free_ char *text = harness_read_file(out_path, NULL);
		const char *j = text ? strstr(text, "job ") : NULL;
		if (j && strlen(j) >= 40)
			snprintf(id, sizeof(id), "%.36s", j + 4);
		else
			harness_poll_pause();
	}
	if (strlen(id) != 36) {
		_cleanup_free_ char *text = harness_read_file(out_path, NULL);
		fail_msg("no job id from the CLI; it printed: %s", text ? text : "(nothing)");
	}
	path = xasprintf("/v1/jobs/%s/cancel", id);
	call(s, "POST", path, s->write_acme, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	harness_response_fini(&r);
	rc = harness_proc_wait(&p, 30000);
	*ret_out = harness_read_file(out_path, NULL);
	return rc;
}

/* The CLI over the API: submit (and the same key again), list, items, retry, cancel, its
 * errors and exit codes; --watch draws plain lines on a pipe and a bar redrawn with \r on a
 * terminal (script(1) gives it one), and exits 1 for a job that ends cancelled. */
static void test_cli(void **state)
{
	struct suite *s = *state;
	_cleanup_free_ char *dir = harness_mkdtemp("cli"), *items = NULL, *out = NULL;
	_cleanup_free_ char *log = NULL, *cmd = NULL, *id = NULL, *items_arg = NULL;
	struct cli_env e;

	HARNESS_REQUIRE_DB();
	cli_env_init(s, dir, &e);
	items = harness_write_file(dir, "items.json",
	                           "[{\"externalId\":\"c1\"},{\"externalId\":\"c2\"}]");
	assert_int_equal(cli(&e, &out, "jobs", "submit", "--kind", "activation.remove", "--org",
	                     "acme", "--idempotency-key", "cli-k", items, NULL),
	                 0);
	assert_non_null(strstr(out, "submitted (2 items)"));
	id = xstrndup(out + 4, 36);
	assert_int_equal(cli(&e, &out, "jobs", "submit", "--kind", "activation.remove", "--org",
	                     "acme", "--idempotency-key", "cli-k", items, NULL),
	                 0);
	assert_non_null(strstr(out, "submitted before"));
	assert_non_null(strstr(out, id));
	assert_int_equal(cli(&e, &out, "jobs", "list", NULL), 0);
	assert_non_null(strstr(out, id));
	assert_int_equal(cli(&e, &out, "jobs", "list", "--json", NULL), 0);
	assert_non_null(strstr(out, "\"jobs\""));
	assert_int_equal(cli(&e, &out, "jobs", "items", id, "--state", "queued", NULL), 0);
	assert_non_null(strstr(out, "c2"));
	assert_int_equal(cli(&e, &out, "jobs", "cancel", id, NULL), 0);
	assert_non_null(strstr(out, "2 items cancelled"));
	assert_int_equal(cli(&e, &out, "jobs", "retry", id, NULL), 0);
	assert_non_null(strstr(out, "0 items queued again"));
	/* Refusals and usage. */
	assert_int_equal(cli(&e, &out, "jobs", "cancel", "nope", NULL), 1);
	assert_int_equal(cli(&e, &out, "jobs", "submit", "--org", "acme", items, NULL), 2);
	assert_int_equal(cli(&e, &out, "jobs", "submit", "--kind", "activation.remove", "--org",
	                     "globex", items, NULL),
	                 1);
	/* --watch on a pipe: plain progress lines, the end, exit 1 (cancelled). */
	log = xasprintf("%s/pipe.out", dir);
	items_arg = xasprintf("%s", items);
	free(out);
	out = NULL;
	assert_int_equal(
	    watch_until_cancelled(s, &e,
	                          (const char *const[]){harness_cli_bin(), "jobs", "submit",
	                                                "--kind", "activation.remove", "--org",
	                                                "acme", "--watch", items_arg, NULL},
	                          log, &out),
	    1);
	assert_non_null(strstr(out, "] 0/2 done"));
	assert_non_null(strstr(out, " cancelled\n"));
	assert_null(strchr(out, '\r'));
	/* --watch on a terminal: the bar is redrawn in place. */
	free(log);
	log = xasprintf("%s/tty.out", dir);
	cmd = xasprintf("%s jobs submit --kind activation.remove --org acme --watch %s",
	                harness_cli_bin(), items);
	free(out);
	out = NULL;
	assert_int_equal(watch_until_cancelled(s, &e,
	                                       (const char *const[]){"/usr/bin/script", "-qec", cmd,
	                                                             "/dev/null", NULL},
	                                       log, &out),
	                 1);
	assert_non_null(strchr(out, '\r'));
	assert_non_null(strstr(out, "cancelled"));
	cli_env_fini(&e);
	s->g.passed = true;
}

/* Run the jobs API tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_submit_and_read, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_idempotency, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_tokens, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_scope, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_list_jobs, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_list_items, test_setup, harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_and_retry, test_setup,
	                                    harness_test_teardown),
	    cmocka_unit_test_setup_teardown(test_cli, test_setup, harness_test_teardown),
	};

	harness_init();
	return cmocka_run_group_tests_name("jobs_api", tests, group_setup, group_teardown);
}
