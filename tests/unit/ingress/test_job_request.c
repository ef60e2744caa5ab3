/* Unit tests for services/ingress/job_request.c, the jobs API's requests read without I/O: a
 * submission's key, content type, size, JSON and fields; a list's filters, limit and cursor;
 * a replay's force. Each refusal has its status, code and field, and the first problem wins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "job_request.h"

#define GOOD_BODY                                                                                  \
	"{\"kind\":\"activation.provision\",\"organisation\":\"acme\",\"parameters\":{},"          \
	"\"items\":[{\"externalId\":\"u1\"}]}"

/* A POST with body, its content type and an Idempotency-Key header (NULL: none). */
static struct http_req post(const char *body, const char *content_type, const char *key,
                            struct http_header headers[2])
{
	struct http_req req = {.method = HTTP_METHOD_POST,
	                       .uri = "/v1/jobs",
	                       .path = "/v1/jobs",
	                       .path_len = 8,
	                       .headers = headers,
	                       .body = (const unsigned char *)body,
	                       .body_len = strlen(body)};

	headers[0] = (struct http_header){"Content-Type", content_type};
	headers[1] = (struct http_header){"Idempotency-Key", key};
	req.n_headers = key ? 2 : 1;
	return req;
}

/* The submission of body (JSON, no key) read with a 1 KiB limit: its status and code, and the
 * field of its problem in *ret_field ("" when none). */
static int submission_status(const char *body, const char **ret_code, const char **ret_field)
{
	static char field[64];
	struct http_header h[2];
	struct http_req req = post(body, "application/json", NULL, h);
	struct job_request r = {0};
	int status;

	job_request_submission(&r, &req, 1024);
	status = r.status;
	*ret_code = r.code ? r.code : "";
	snprintf(field, sizeof(field), "%s",
	         r.fields ? json_string_value(json_object_get(json_array_get(r.fields, 0), "field"))
	                  : "");
	*ret_field = field;
	job_request_fini(&r);
	return status;
}

/* A good submission: the body object and the key, no problem. */
static void test_submission_good(void **state)
{
	struct http_header h[2];
	struct http_req req = post(GOOD_BODY, "application/json; charset=utf-8", "import-1", h);
	struct job_request r = {0};

	job_request_submission(&r, &req, 1024);
	assert_int_equal(r.status, 0);
	assert_string_equal(json_string_value(json_object_get(r.body, "kind")),
	                    "activation.provision");
	assert_string_equal(r.idempotency_key, "import-1");
	job_request_fini(&r);
	assert_null(r.body);
}

/* Every refusal of a body: status, code and field. */
static void test_submission_refusals(void **state)
{
	static const struct {
		const char *body;
		int status;
		const char *code, *field;
	} cases[] = {
	    {"{\"kind\":", 400, "malformed_json", ""},
	    {"{\"a\":1,\"a\":1}", 400, "malformed_json", ""},
	    {"{\"kind\":\"\xc3\x28\"}", 400, "malformed_json", ""},
	    {"[]", 422, "invalid_job", ""},
	    {"{\"kind\":\"activation.remove\",\"organisation\":\"a\",\"items\":[{}],\"x\":1}", 422,
	     "invalid_job", "x"},
	    {"{\"kind\":\"nope\",\"organisation\":\"a\",\"items\":[{}]}", 422, "invalid_job",
	     "kind"},
	    {"{\"kind\":\"activation.remove\",\"items\":[{}]}", 422, "invalid_job", "organisation"},
	    {"{\"kind\":\"activation.remove\",\"organisation\":\"\",\"items\":[{}]}", 422,
	     "invalid_job", "organisation"},
	    {"{\"kind\":\"activation.remove\",\"organisation\":\"a\",\"parameters\":1,"
	     "\"items\":[{}]}",
	     422, "invalid_job", "parameters"},
	    {"{\"kind\":\"activation.remove\",\"organisation\":\"a\",\"items\":[]}", 422,
	     "invalid_job", "items"},
	    {"{\"kind\":\"activation.remove\",\"organisation\":\"a\",\"items\":{}}", 422,
	     "invalid_job", "items"},
	};
	const char *code, *field;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status = submission_status(cases[i].body, &code, &field);
		if (status != cases[i].status || strcmp(code, cases[i].code) != 0 ||
		    strcmp(field, cases[i].field) != 0)
			fail_msg("case %zu: %d %s %s", i, status, code, field);
	}
}

/* A CSV submission of query: its status and code ("" when none), its job in *r. */
static int csv_status(const char *query, struct job_request *r)
{
	struct http_header h[2];
	struct http_req req = post("externalId\nu1\n", "text/csv; charset=UTF-8", NULL, h);

	req.query = query;
	*r = (struct job_request){0};
	job_request_submission(r, &req, 1024);
	return r->status;
}

/* CSV: kind, organisation and parameters come from the query, which takes nothing else;
 * skip_invalid is read for both kinds of body. */
static void test_submission_csv(void **state)
{
	static const struct {
		const char *query;
		int status;
		const char *code;
	} bad[] = {
	    {"organisation=a", 422, "invalid_job"},
	    {"kind=activation.remove", 422, "invalid_job"},
	    {"kind=nope&organisation=a", 422, "invalid_job"},
	    {"kind=activation.remove&organisation=a&parameters=%5B%5D", 422, "invalid_job"},
	    {"kind=activation.remove&organisation=a&parameters=%7B", 400, "invalid_query"},
	    {"kind=activation.remove&organisation=a&items=1", 400, "invalid_query"},
	    {"kind=activation.remove&organisation=a&skip_invalid=yes", 400, "invalid_query"},
	    {"kind=activation.remove&organisation=a%00b", 400, "invalid_query"},
	    {NULL, 422, "invalid_job"},
	};
	struct job_request r;

	assert_int_equal(csv_status("kind=activation.remove&organisation=acme&parameters="
	                            "%7B%22projectId%22%3A%22p%22%7D&skip_invalid=true",
	                            &r),
	                 0);
	assert_true(r.csv);
	assert_true(r.skip_invalid);
	assert_string_equal(json_string_value(json_object_get(r.body, "organisation")), "acme");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(r.body, "parameters"), "projectId")),
	    "p");
	job_request_fini(&r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (csv_status(bad[i].query, &r) != bad[i].status ||
		    strcmp(r.code, bad[i].code) != 0)
			fail_msg("case %zu: %d %s", i, r.status, r.code ? r.code : "");
		job_request_fini(&r);
	}
}

/* Headers and size: content type, limit, the key's form and repetition; the first problem
 * is the one reported. */
static void test_submission_headers(void **state)
{
	struct http_header h[3];
	struct http_req req = post(GOOD_BODY, "text/plain", NULL, h);
	struct job_request r = {0};

	job_request_submission(&r, &req, 1024);
	assert_int_equal(r.status, 415);
	job_request_fini(&r);
	req = post("externalId\nu1\n", "text/csv; charset=iso-8859-1", NULL, h);
	job_request_submission(&r, &req, 1024);
	assert_int_equal(r.status, 415);
	job_request_fini(&r);
	req = post(GOOD_BODY, "application/json", NULL, h);
	job_request_submission(&r, &req, 16);
	assert_int_equal(r.status, 413);
	assert_string_equal(r.code, "body_too_large");
	job_request_fini(&r);
	req = post("not json", "application/json", "has space", h);
	job_request_submission(&r, &req, 1024);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.code, "invalid_idempotency_key");
	job_request_fini(&r);
	req = post(GOOD_BODY, "application/json", "\xc3\xa9", h);
	job_request_submission(&r, &req, 1024);
	assert_string_equal(r.code, "invalid_idempotency_key");
	job_request_fini(&r);
	req = post(GOOD_BODY, "application/json", "a", h);
	h[2] = (struct http_header){"idempotency-key", "b"};
	req.n_headers = 3;
	job_request_submission(&r, &req, 1024);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.code, "conflicting_headers");
	job_request_fini(&r);
}

/* A list's query, as given after '?': the request's status after reading it. */
static int list_status(const char *query, bool items, struct job_request *r)
{
	struct http_req req = {.method = HTTP_METHOD_GET, .query = query};

	job_request_list(r, &req, items);
	return r->status;
}

/* Filters, limit and cursor: good ones kept ("running" items read as leased), bad ones 400
 * naming the field. */
static void test_list(void **state)
{
	struct job_request r = {0};

	assert_int_equal(list_status("state=failed&kind=activation.remove&organisation=acme&"
	                             "limit=10&cursor=0190f3c4-0000-7000-8000-000000000000",
	                             false, &r),
	                 0);
	assert_string_equal(r.state, "failed");
	assert_string_equal(r.organisation, "acme");
	assert_string_equal(r.limit, "10");
	job_request_fini(&r);
	assert_int_equal(list_status("state=running&cursor=42", true, &r), 0);
	assert_string_equal(r.state, "leased");
	assert_string_equal(r.cursor, "42");
	job_request_fini(&r);
	assert_int_equal(list_status("state=leased", false, &r), 400);
	job_request_fini(&r);
	assert_int_equal(list_status("kind=x", false, &r), 400);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(r.fields, 0), "field")), "kind");
	job_request_fini(&r);
	assert_int_equal(list_status("limit=0", false, &r), 400);
	job_request_fini(&r);
	assert_int_equal(list_status("limit=10x", false, &r), 400);
	job_request_fini(&r);
	assert_int_equal(list_status("cursor=42", false, &r), 400);
	job_request_fini(&r);
	assert_int_equal(list_status("cursor=-1", true, &r), 400);
	job_request_fini(&r);
	assert_int_equal(list_status("state=queued%00", false, &r), 400);
	job_request_fini(&r);
	assert_int_equal(list_status("organisation=", false, &r), 400);
	job_request_fini(&r);
}

/* force=true|false, nothing else. */
static void test_replay(void **state)
{
	struct job_request r = {0};
	struct http_req req = {.method = HTTP_METHOD_POST, .query = "force=true"};

	job_request_replay(&r, &req);
	assert_int_equal(r.status, 0);
	assert_true(r.force);
	job_request_fini(&r);
	req.query = NULL;
	job_request_replay(&r, &req);
	assert_false(r.force);
	req.query = "force=yes";
	job_request_replay(&r, &req);
	assert_int_equal(r.status, 400);
	job_request_fini(&r);
}

/* Run the job_request tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_submission_good),
	    cmocka_unit_test(test_submission_refusals),
	    cmocka_unit_test(test_submission_headers),
	    cmocka_unit_test(test_submission_csv),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_replay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
