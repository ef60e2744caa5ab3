/* The Versori API client: sends built requests (versori_request) over an http_client with the
 * organisation's credential (versori_auth) and hands back one classified outcome per call
 * (versori_outcome). Used by the worker and the CLI on their event loop; never blocks. */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "versori_outcome.h"
#include "versori_request.h"
#include "xalloc.h"

#define VERSORI_DEFAULT_BASE_URL "https://platform.versori.com"

struct http_client;
struct versori_auth;
struct versori_client;

/* Seconds since the epoch; injectable so tests control token expiry and Retry-After dates. */
typedef int64_t (*versori_clock_fn)(void *userdata);

/* One HTTP attempt of a call, as the client made it: a 401 on a minted token and the retry
 * with a fresh one are two attempts. Borrowed for the duration of the observer's call. */
struct versori_attempt {
	const char *op;     /* "end_user.create" */
	const char *method; /* "POST" */
	const char *path;   /* from the server root, as sent; never carries a credential */
	int number;         /* 1, or 2 for the retry after a 401 */
	const struct versori_outcome *outcome;
};

/* An attempt as the audit trail records it (a new object), called when it answered: at (when
 * it started: the wall clock less its duration, ISO 8601 UTC in microseconds), op, method,
 * path, status, duration_ms, call_attempt, outcome, and request_id, error_code, retry_after_s,
 * transport_error when there are. NULL on OOM. */
json_t *versori_attempt_json(const struct versori_attempt *a);
/* Sees every attempt of every call (for the audit trail), with the userdata of the call. */
typedef void (*versori_attempt_fn)(const struct versori_attempt *a, void *call_userdata);

/* Borrowed for the duration of versori_client_new() only, except http and auth (see there). */
struct versori_client_options {
	const char *base_url;        /* scheme://host[:port], no path; NULL: the production base */
	const char *organisation_id; /* v2 requests for another organisation are refused; NULL:
	                              * no check (embedded-only use) */
	struct versori_auth *auth;   /* required; borrowed, must outlive the client */
	long timeout_ms;             /* total per attempt; 0: the http_client's default */
	versori_clock_fn clock;      /* NULL: time(NULL) */
	void *clock_userdata;
	versori_attempt_fn on_attempt; /* NULL: none */
};

/* Called exactly once per accepted call, on the loop, never from inside versori_call(). The
 * outcome is borrowed for the duration of the call; the callee may take o->body (TAKE_PTR). */
typedef void (*versori_done_fn)(struct versori_outcome *o, void *userdata);

/* A client sending through http (borrowed, must outlive the client); NULL when options are
 * invalid (no auth, a base URL that is not http:// or https://). */
struct versori_client *versori_client_new(struct http_client *http,
                                          const struct versori_client_options *o);
/* Free the client; takes NULL. Calls still in flight complete later with their outcome (as the
 * http_client reports them) but are no longer retried. */
void versori_client_free(struct versori_client *c);

/* Send req: Authorization from the credential (minted for req->subject when it is a signing
 * key), Accept and, with a body, Content-Type application/json. A 401 on a minted token drops
 * that token and retries once with a fresh one. req is borrowed for this call only. Returns 0
 * when queued (done will be called) or a negative errno (done will not be called): -EINVAL for
 * a request of another organisation or a credential that cannot sign for its subject. */
_warn_unused_result_ int versori_call(struct versori_client *c, const struct versori_request *req,
                                      versori_done_fn done, void *userdata);

/* Find the id of the environment called environment_name in a decoded GetProject body (a
 * project with "environments") or ListProjects body ({"projects": [...]}, matched by project
 * id or name). *ret_id is borrowed from body. -ENOENT when absent, -EPROTO for another shape. */
_warn_unused_result_ int versori_environment_find(const json_t *body, const char *project,
                                                  const char *environment_name,
                                                  const char **ret_id);

/* r is 0 with environment_id set, or a negative errno (then environment_id is NULL); o is the
 * outcome of the API call (NULL if none was made). Everything is borrowed for the call. */
typedef void (*versori_environment_resolve_fn)(int r, const char *environment_id,
                                               struct versori_outcome *o, void *userdata);
/* Resolve an environment name to its id in one call: GetProject when project is a ULID,
 * otherwise ListProjects matched by project name. Needs organisation_id in the options.
 * Returns 0 when queued (done will be called) or a negative errno. */
_warn_unused_result_ int versori_environment_resolve(struct versori_client *c, const char *project,
                                                     const char *environment_name,
                                                     versori_environment_resolve_fn done,
                                                     void *userdata);
