/* The jobs API's requests read without I/O (job_request.h). */
#include "job_request.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "id.h"
#include "json_scan.h"
#include "xalloc.h"

#define IDEMPOTENCY_KEY_MAX 255

/* The job kinds (the CHECK on hookrun.jobs.kind). */
static const char *const job_kinds[] = {
    "activation.provision",
    "activation.variables",
    "environment.variables",
    "activation.remove",
};

/* The states a job (jobs.state) and an item (job_items.state; "running" is "leased") may be
 * filtered by. */
static const char *const job_states[] = {"queued", "running", "succeeded", "failed", "cancelled"};
static const char *const item_states[] = {"queued",    "running", "leased",
                                          "succeeded", "failed",  "cancelled"};

/* Note the request's first problem (later ones are not looked at). */
static void problem(struct job_request *r, int status, const char *code, const char *field,
                    const char *fmt, ...) _printf_(5, 6);
static void problem(struct job_request *r, int status, const char *code, const char *field,
                    const char *fmt, ...)
{
	va_list ap;

	if (r->status)
		return;
	va_start(ap, fmt);
	if (vasprintf(&r->message, fmt, ap) < 0)
		abort();
	va_end(ap);
	r->status = status;
	r->code = code;
	if (field)
		r->fields = json_pack("[{s:s,s:s}]", "field", field, "problem", r->message);
}

/* Whether s is one of the n words. */
static bool word_in(const char *s, const char *const *words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, words[i]) == 0)
			return true;
	return false;
}

bool job_request_kind_known(const char *kind)
{
	return word_in(kind, job_kinds, sizeof(job_kinds) / sizeof(job_kinds[0]));
}

/* Check the job's kind, organisation and parameters; field names where each came from. */
static void submit_check_job(struct job_request *r, const char *where)
{
	const char *kind = json_string_value(json_object_get(r->body, "kind"));
	const char *org = json_string_value(json_object_get(r->body, "organisation"));
	const json_t *v = json_object_get(r->body, "parameters");

	if (!kind || !job_request_kind_known(kind))
		return problem(r, 422, "invalid_job", "kind",
		               "one of activation.provision, activation.variables, "
		               "environment.variables, activation.remove%s",
		               where);
	if (!org || !*org)
		return problem(r, 422, "invalid_job", "organisation",
		               "the name of a configured organisation%s", where);
	if (v && !json_is_object(v))
		return problem(r, 422, "invalid_job", "parameters", "must be a JSON object%s",
		               where);
}

/* The members of a JSON submission's top level. */
static const char *const submit_members[] = {"kind", "organisation", "parameters", "items"};

/* What the top level of a JSON submission held so far. */
struct submit_top {
	struct job_request *r;
	json_t *keys;  /* every key seen */
	char *unknown; /* the first key that is not a member */
};

/* One top-level member of a JSON submission: parsed into r->body (the items only found). A
 * key given twice is malformed JSON for us (400), an unknown one is noted (422 once the whole
 * top level is known to have no repeated key). */
static int submit_member(void *userdata, const char *key, const void *value, size_t len)
{
	struct submit_top *t = userdata;
	struct job_request *r = t->r;
	json_error_t e;
	json_t *v;
	size_t i;

	if (json_object_get(t->keys, key)) {
		problem(r, 400, "malformed_json", NULL, "the member %s is given twice", key);
		return -EINVAL;
	}
	json_object_set_new(t->keys, key, json_true());
	for (i = 0; i < 4 && strcmp(key, submit_members[i]) != 0; i++)
		;
	if (i == 4) {
		if (!t->unknown)
			t->unknown = xstrdup(key);
		return 0;
	}
	if (i == 3) {
		r->items = value;
		r->items_len = len;
		return 0;
	}
	v = json_loadb(value, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
	if (!v) {
		problem(r, 400, "malformed_json", NULL, "%s: %s", key, e.text);
		return -EINVAL;
	}
	json_object_set_new(r->body, key, v);
	return 0;
}

/* Check the body's members: kind, organisation, parameters, a non-empty items array, nothing
 * else. */
static void submit_check_fields(struct job_request *r, const struct http_req *req)
{
	struct submit_top t = {.r = r, .keys = json_object()};
	const char *p;
	int rc;

	r->body = json_object();
	rc = json_scan_each(req->body, req->body_len, submit_member, &t);
	json_decref(t.keys);
	if (rc < 0 && !r->status)
		problem(r, 400, "malformed_json", NULL, "the body could not be read");
	if (rc == 0 && !r->status && t.unknown)
		problem(r, 422, "invalid_job", t.unknown, "unknown field");
	free(t.unknown);
	if (rc < 0 || r->status)
		return;
	submit_check_job(r, "");
	p = r->items;
	if (p && *p == '[')
		for (p++; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'; p++)
			;
	if (!p || *p == ']' || r->items[0] != '[')
		return problem(r, 422, "invalid_job", "items",
		               "a non-empty array of objects, each with an externalId");
}

/* The Idempotency-Key header: absent, one printable value, or a problem. */
static void submit_check_key(struct job_request *r, const struct http_req *req)
{
	const char *key = NULL;
	size_t n = 0;

	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, "Idempotency-Key") == 0) {
			key = req->headers[i].value;
			n++;
		}
	if (n == 0)
		return;
	if (n > 1)
		return problem(r, 400, "conflicting_headers", NULL,
		               "Idempotency-Key is given more than once");
	n = strlen(key);
	for (size_t i = 0; i < n; i++)
		if (key[i] < 0x21 || key[i] > 0x7e)
			n = 0;
	if (n == 0 || n > IDEMPOTENCY_KEY_MAX)
		return problem(r, 400, "invalid_idempotency_key", NULL,
		               "Idempotency-Key is 1 to 255 printable ASCII characters");
	r->idempotency_key = xstrdup(key);
}

static bool query_take(struct job_request *r, const struct http_req *req, const char *name,
                       char **ret);

/* The query of a submission: only the names in allowed (a NULL-terminated list). */
static bool query_only(struct job_request *r, const struct http_req *req,
                       const char *const *allowed)
{
	const char *cursor = req->query;
	struct http_query_param q;

	while (cursor && http_query_next(&cursor, &q)) {
		size_t i;

		for (i = 0; allowed[i]; i++)
			if (q.name_len == strlen(allowed[i]) &&
			    memcmp(q.name, allowed[i], q.name_len) == 0)
				break;
		if (!allowed[i]) {
			problem(r, 400, "invalid_query", NULL,
			        "unknown query parameter %.*s (a submission takes %s)",
			        (int)(q.name_len > 64 ? 64 : q.name_len), q.name,
			        r->csv ? "kind, organisation, parameters, skip_invalid"
			               : "skip_invalid");
			return false;
		}
	}
	return true;
}

/* skip_invalid=true|false. */
static void submit_skip_invalid(struct job_request *r, const struct http_req *req)
{
	_cleanup_free_ char *skip = NULL;

	if (!query_take(r, req, "skip_invalid", &skip) || !skip)
		return;
	if (strcmp(skip, "true") != 0 && strcmp(skip, "false") != 0)
		return problem(r, 400, "invalid_query", "skip_invalid", "true or false");
	r->skip_invalid = strcmp(skip, "true") == 0;
}

/* A CSV submission's job, from the query: kind, organisation, parameters (JSON). */
static void submit_csv_job(struct job_request *r, const struct http_req *req)
{
	static const char *const allowed[] = {"kind", "organisation", "parameters", "skip_invalid",
	                                      NULL};
	_cleanup_free_ char *kind = NULL, *org = NULL, *params = NULL;
	json_error_t jerr;
	json_t *p;

	if (!query_only(r, req, allowed) || !query_take(r, req, "kind", &kind) ||
	    !query_take(r, req, "organisation", &org) || !query_take(r, req, "parameters", &params))
		return;
	r->body = json_pack("{s:s?,s:s?}", "kind", kind, "organisation", org);
	if (!r->body)
		return problem(r, 400, "invalid_query", NULL, "kind and organisation are text");
	if (params) {
		p = json_loads(params, JSON_REJECT_DUPLICATES, &jerr);
		if (!p)
			return problem(r, 400, "invalid_query", "parameters",
			               "not JSON (byte %d): %s", jerr.position, jerr.text);
		json_object_set_new(r->body, "parameters", p);
	}
	submit_check_job(r, " (in the query of a text/csv submission)");
}

void job_request_submission(struct job_request *r, const struct http_req *req, size_t body_limit)
{
	static const char *const allowed[] = {"skip_invalid", NULL};
	const char *ct = http_req_header(req, "Content-Type");
	struct json_error jerr;
	size_t i;

	submit_check_key(r, req);
	r->csv = http_content_type_is(ct, "text/csv");
	if (!r->csv && !http_content_type_is_json(ct))
		return problem(r, 415, "unsupported_media_type", NULL,
		               "the body must be JSON (Content-Type: application/json) or CSV "
		               "(Content-Type: text/csv)");
	if (req->body_len > body_limit)
		return problem(r, 413, "body_too_large", NULL,
		               "the body is larger than jobs_body_limit (%zu bytes)", body_limit);
	submit_skip_invalid(r, req);
	if (r->csv)
		return submit_csv_job(r, req);
	if (!query_only(r, req, allowed))
		return;
	if (json_scan_check(req->body, req->body_len, &jerr) < 0)
		return problem(r, 400, "malformed_json", NULL, "%s", jerr.text);
	for (i = 0; i < req->body_len && (req->body[i] == ' ' || req->body[i] == '\t' ||
	                                  req->body[i] == '\r' || req->body[i] == '\n');
	     i++)
		;
	if (i == req->body_len || req->body[i] != '{') /* an array */
		return problem(r, 422, "invalid_job", NULL, "the body must be a JSON object");
	submit_check_fields(r, req);
}

/* One query parameter, decoded, into *ret (NULL when absent); false after noting the problem
 * when it holds a NUL or is empty. */
static bool query_take(struct job_request *r, const struct http_req *req, const char *name,
                       char **ret)
{
	size_t len = 0;
	char *v = http_req_query_param(req, name, &len);

	*ret = NULL;
	if (!v)
		return true;
	if (len == 0 || strlen(v) != len) {
		free(v);
		problem(r, 400, "invalid_query", name, "an empty value or a NUL");
		return false;
	}
	*ret = v;
	return true;
}

void job_request_list(struct job_request *r, const struct http_req *req, bool items)
{
	char *end = NULL;
	long n;

	if (!query_take(r, req, "state", &r->state) || !query_take(r, req, "limit", &r->limit) ||
	    !query_take(r, req, "cursor", &r->cursor) ||
	    (!items && (!query_take(r, req, "kind", &r->kind) ||
	                !query_take(r, req, "organisation", &r->organisation))))
		return;
	if (r->state &&
	    !(items ? word_in(r->state, item_states, 6) : word_in(r->state, job_states, 5)))
		return problem(r, 400, "invalid_query", "state",
		               "one of queued, running, succeeded, failed, cancelled");
	if (r->kind && !job_request_kind_known(r->kind) && strcmp(r->kind, "job.callback") != 0)
		return problem(r, 400, "invalid_query", "kind", "not a job kind");
	if (r->limit) {
		n = strtol(r->limit, &end, 10);
		if (*end || n < 1 || n > 1000)
			return problem(r, 400, "invalid_query", "limit",
			               "an integer from 1 to 1000");
	}
	if (r->cursor &&
	    (items ? strspn(r->cursor, "0123456789") != strlen(r->cursor) || strlen(r->cursor) > 18
	           : !id_uuid_is_valid(r->cursor)))
		return problem(r, 400, "invalid_query", "cursor",
		               "the next_cursor of the page before");
	if (items && r->state && strcmp(r->state, "running") == 0) {
		free(r->state);
		r->state = xstrdup("leased");
	}
}

void job_request_replay(struct job_request *r, const struct http_req *req)
{
	_cleanup_free_ char *force = NULL;

	if (!query_take(r, req, "force", &force) || !force)
		return;
	if (strcmp(force, "true") != 0 && strcmp(force, "false") != 0)
		return problem(r, 400, "invalid_query", "force", "true or false");
	r->force = strcmp(force, "true") == 0;
}

void job_request_fini(struct job_request *r)
{
	free(r->message);
	json_decref(r->fields);
	json_decref(r->body);
	free(r->idempotency_key);
	free(r->state);
	free(r->kind);
	free(r->organisation);
	free(r->limit);
	free(r->cursor);
	*r = (struct job_request){0};
}
