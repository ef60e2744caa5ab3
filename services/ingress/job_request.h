/* The jobs API's requests read without I/O: a submission's headers and JSON body, a list's
 * query (filters, limit, cursor), a replay's force. Each reader notes the request's first
 * problem (status, code, message, the field) for the answer. Pure; used by jobs_api (the
 * ingress) and its fuzz target. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "http_req.h"

/* One request as read; fields the request did not give stay NULL. Owned by the caller,
 * released with job_request_fini(). */
struct job_request {
	int status; /* the first problem's HTTP status; 0: none */
	const char *code;
	char *message;
	json_t *fields; /* [{"field", "problem"}] when the problem has a field */
	/* POST /v1/jobs */
	json_t *body;      /* kind, organisation, parameters (the items stay in the request) */
	const char *items; /* a JSON body's items array as written, borrowed from the request */
	size_t items_len;
	bool csv;          /* the items are the request's body as CSV (text/csv); kind, organisation
	                    * and parameters came from the query */
	bool skip_invalid; /* ?skip_invalid=true: submit the good items, list the others */
	char *idempotency_key;
	/* GET /v1/jobs (state, kind, organisation) and GET /v1/jobs/{id}/items (state; "running"
	 * read as "leased") */
	char *state, *kind, *organisation, *limit, *cursor;
	/* POST /v1/deliveries/{id}/replay */
	bool force;
};

/* Whether kind is a job kind (the CHECK on hookrun.jobs.kind). */
bool job_request_kind_known(const char *kind);
/* A submission: one printable Idempotency-Key (1..255), at most body_limit bytes, and either
 * Content-Type JSON with a JSON object (UTF-8, no NUL, no repeated key at its top level) with
 * a known kind, an organisation, an optional parameters object, a non-empty items array and
 * nothing else (the items are only found, never parsed here: see job_items), or
 * Content-Type text/csv (the items, read later) with kind, organisation and parameters (a
 * JSON object) in the query. Both take skip_invalid=true|false in the query. */
void job_request_submission(struct job_request *r, const struct http_req *req, size_t body_limit);
/* A list's query: state, kind and organisation (jobs), state (items), limit 1..1000 and the
 * cursor of the page before (a job id, or an item id for items). */
void job_request_list(struct job_request *r, const struct http_req *req, bool items);
/* A replay's query: force=true|false. */
void job_request_replay(struct job_request *r, const struct http_req *req);
void job_request_fini(struct job_request *r);
