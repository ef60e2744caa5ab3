/* The ingress's JSON answers: a body from a JSON tree, the error shape
 * {"error":{"code","message"[,"fields"]}}, and the request counter by route and status that
 * every answer bumps. Used by routes and jobs_api on the event loop; never blocks. */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "http_req.h"

struct http_exchange;
struct metrics;

/* Count an answer by route and status (hookrun_http_requests_total). */
void answer_count(struct metrics *m, const char *route, int status);
/* Answer with obj (consumed) as a compact JSON body, counted; extra: headers ending with one
 * whose name is NULL, or NULL. */
void answer_json(struct http_exchange *ex, struct metrics *m, const char *route, int status,
                 json_t *obj, const struct http_header *extra);

/* An error answer: {"error":{"code","message"[,"fields"]}}. */
struct answer_problem {
	int status;
	const char *code, *message;
	json_t *fields;    /* consumed; NULL: none */
	int retry_after_s; /* a 503's Retry-After */
	const char *allow; /* a 405's Allow, or NULL */
};

/* Answer with the problem, counted. A 401 also gets WWW-Authenticate: Bearer. */
void answer_error(struct http_exchange *ex, struct metrics *m, const char *route,
                  const struct answer_problem *p);
