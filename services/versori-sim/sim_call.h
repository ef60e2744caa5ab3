/* One simulated API call: the request, its path parameters, the authenticated organisation and
 * the response being written, plus the writers every handler uses (JSON replies, Error bodies,
 * cursor pages). Used by versori-sim's handlers; pure, never blocks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http_req.h"
#include "sim_response.h"
#include "xalloc.h"

struct sim_store;

#define SIM_CALL_MAX_PARAMS 6
#define SIM_PAGE_DEFAULT    20
#define SIM_PAGE_MAX        1000

/* Lives for one sim_handle(); every pointer is borrowed from its caller. */
struct sim_call {
	struct sim_store *store;
	const struct http_req *req;
	int64_t now_ms;
	const char *params[SIM_CALL_MAX_PARAMS]; /* path parameters in pattern order */
	size_t n_params;
	json_t *org;        /* the caller's organisation state; NULL on public routes */
	const char *org_id; /* its id */
	struct sim_response *resp;
};

/* A handler always answers through c->resp; it returns 0 after a success answer, or the
 * negative errno matching the error it answered (informational: the router ignores it). */
typedef int (*sim_handler_fn)(struct sim_call *c);

enum {
	SIM_ROUTE_PUBLIC = 1 << 0,        /* no credential needed */
	SIM_ROUTE_NOT_SIMULATED = 1 << 1, /* documented upstream, answered 501 here */
};

/* One endpoint. name is "METHOD /pattern": "{x}" matches one path segment (a parameter),
 * a final "**" any number of further segments, METHOD "*" any method. The name is also the
 * stable route template reported in sim_response.route. */
struct sim_route {
	const char *name;
	sim_handler_fn handle;
	unsigned flags;
};

/* A route answered 501 "not simulated" (endpoints the reference lists but the simulator does
 * not model). */
#define SIM_ROUTE_NOT_SIMULATED_ENTRY(route_name)                                                  \
	{                                                                                          \
		route_name, sim_call_not_simulated, SIM_ROUTE_NOT_SIMULATED                        \
	}

/* Answer 501 with an Error body saying the route is not simulated; returns -ENOSYS. */
int sim_call_not_simulated(struct sim_call *c);
/* Answer with status and a JSON body (taken; NULL for no body); returns 0. */
int sim_call_reply(struct sim_call *c, int status, json_t *owned_body);
/* Answer with an Error object {code: "<status>000", message, fields?: [{field, message}]};
 * field may be NULL. Returns the matching negative errno (-EINVAL for 400, -EACCES 401,
 * -EPERM 403, -ENOENT 404, -EEXIST 409, -ENOSYS 501, -EIO otherwise). */
int sim_call_fail(struct sim_call *c, int status, const char *field, const char *fmt, ...)
    _printf_(4, 5);
/* The negative errno of the error status already answered (0 when it was a success), for
 * handlers returning after a helper answered. */
int sim_call_answered(const struct sim_call *c);
/* The request body as a JSON object (new reference), or NULL after answering 400. */
json_t *sim_call_body_or_respond(struct sim_call *c);
/* A decoded query parameter (new string) or NULL. */
char *sim_call_query(const struct sim_call *c, const char *name);
/* A boolean query parameter: *ret is -1 when absent, else 0 or 1; -EINVAL after a 400. */
_warn_unused_result_ int sim_call_query_bool_or_respond(struct sim_call *c, const char *name,
                                                        int *ret);
/* Page owned_items (an array of objects, each with a unique string member cursor_key) by the
 * first/after/before parameters into {totalCount, <field>: [...], next, prev}; -EINVAL after
 * a 400 for a bad parameter. */
_warn_unused_result_ int sim_call_page_or_respond(struct sim_call *c, json_t *owned_items,
                                                  const char *field, const char *cursor_key,
                                                  json_t **ret);
