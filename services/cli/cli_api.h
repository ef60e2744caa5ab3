/* hookrun's client of the ingress's HTTP API (/v1/...): one request at a time, blocking, with
 * the bearer token of the caller, through http_client on a private event loop. Used by the
 * hookrun CLI. */
#pragma once

#include <jansson.h>

#include "http_req.h"

struct cli_api;

/* An answer: the HTTP status and the JSON body (NULL when the body is not JSON); status 0
 * when no answer came, with the reason in error. Released with cli_api_answer_fini(). */
struct cli_api_answer {
	long status;
	json_t *json;
	char *error;
};

/* A client of the API at url (e.g. "http://127.0.0.1:8080") with token (copied; never
 * printed; NULL: no Authorization header). */
struct cli_api *cli_api_new(const char *url, const char *token);
void cli_api_free(struct cli_api *a);
/* One request: path with its query; body and the key may be NULL. */
struct cli_api_request {
	enum http_method method;
	const char *path, *content_type, *idempotency_key;
	const void *body;
	size_t len;
	const struct http_header *headers; /* more, at most CLI_API_MAX_HEADERS; may be NULL */
	size_t n_headers;
};

#define CLI_API_MAX_HEADERS 8

/* Send one request and wait for its answer. */
void cli_api_call(struct cli_api *a, const struct cli_api_request *q, struct cli_api_answer *ret);
/* The message of an error answer ("message (code)"), or a description of what went wrong;
 * borrowed from the answer. */
const char *cli_api_answer_message(const struct cli_api_answer *r);
void cli_api_answer_fini(struct cli_api_answer *r);
