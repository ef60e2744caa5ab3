/* The Versori API client: authorised sends, one classified outcome per call, 401 re-mint. */
#include "versori.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "http_client.h"
#include "log.h"
#include "versori_auth.h"
#include "xalloc.h"

struct call_ctx;

struct versori_client {
	struct http_client *http;
	struct versori_auth *auth;
	char *base_url;
	char *org;
	long timeout_ms;
	versori_clock_fn clock;
	void *clock_userdata;
	versori_attempt_fn on_attempt;
	struct call_ctx *calls; /* in flight, so free can detach them */
};

/* All state of one call, freed in call_finish() only. */
struct call_ctx {
	struct versori_client *client; /* NULL once the client was freed */
	struct call_ctx *prev, *next;
	enum http_method method;
	const char *op;
	char *url;
	size_t path_at; /* where the path starts in url */
	char *body;
	size_t body_len;
	char *subject;
	bool retried;
	bool linked; /* in client->calls */
	versori_done_fn done;
	void *userdata;
};

/* State of one versori_environment_resolve(). */
struct resolve_ctx {
	char *project;
	char *environment_name;
	versori_environment_resolve_fn done;
	void *userdata;
};

/* Now, from the injected clock or the real one. */
static int64_t client_now(const struct versori_client *c)
{
	if (c && c->clock)
		return c->clock(c->clock_userdata);
	return (int64_t)time(NULL);
}

/* Whether a base URL has an http or https scheme and a host. */
static bool base_url_is_valid(const char *u)
{
	return (strncmp(u, "http://", 7) == 0 && u[7]) || (strncmp(u, "https://", 8) == 0 && u[8]);
}

/* A client over http with the given options. */
struct versori_client *versori_client_new(struct http_client *http,
                                          const struct versori_client_options *o)
{
	const char *base = o && o->base_url ? o->base_url : VERSORI_DEFAULT_BASE_URL;
	struct versori_client *c;
	size_t n = strlen(base);

	if (!http || !o || !o->auth || !base_url_is_valid(base) || o->timeout_ms < 0)
		return NULL;
	while (n > 0 && base[n - 1] == '/')
		n--;
	c = xcalloc(1, sizeof(*c));
	c->http = http;
	c->auth = o->auth;
	c->base_url = xstrndup(base, n);
	c->org = o->organisation_id ? xstrdup(o->organisation_id) : NULL;
	c->timeout_ms = o->timeout_ms;
	c->clock = o->clock;
	c->clock_userdata = o->clock_userdata;
	c->on_attempt = o->on_attempt;
	return c;
}

/* Free the client, detaching calls still in flight. */
void versori_client_free(struct versori_client *c)
{
	if (!c)
		return;
	for (struct call_ctx *x = c->calls; x; x = x->next)
		x->client = NULL;
	free(c->base_url);
	free(c->org);
	free(c);
}

/* Unlink a call from its client and free it. */
static void call_free(struct call_ctx *x)
{
	if (x->client && x->linked) {
		if (x->prev)
			x->prev->next = x->next;
		else
			x->client->calls = x->next;
		if (x->next)
			x->next->prev = x->prev;
	}
	free(x->url);
	free(x->body);
	free(x->subject);
	free(x);
}

static void call_done(const struct http_client_response *resp, void *userdata);

/* Hand one attempt of the call to the http_client. */
static int call_send(struct call_ctx *x)
{
	struct versori_client *c = x->client;
	char *authz = NULL;
	struct http_header headers[3];
	struct http_client_request req;
	int r;

	r = versori_auth_header(c->auth, x->subject, client_now(c), &authz);
	if (r < 0)
		return r;
	headers[0] = (struct http_header){"Authorization", authz};
	headers[1] = (struct http_header){"Accept", "application/json"};
	headers[2] = (struct http_header){"Content-Type", "application/json"};
	req = (struct http_client_request){
	    .method = x->method,
	    .url = x->url,
	    .headers = headers,
	    .n_headers = x->body ? 3 : 2,
	    .body = x->body,
	    .body_len = x->body_len,
	    .timeout_ms = c->timeout_ms,
	};
	r = http_client_send(c->http, &req, call_done, x);
	explicit_bzero(authz, strlen(authz));
	free(authz);
	return r;
}

/* Deliver the outcome to the caller and free the call. */
static void call_finish(struct call_ctx *x, struct versori_outcome *o)
{
	log_event(LOG_LEVEL_DEBUG, "versori.call",
	          "op=%s status=%ld result=%d class=%s dur_ms=%.1f "
	          "request_id=%s",
	          x->op, o->status, o->result, versori_outcome_class_to_string(o->class),
	          o->total_ms, o->request_id ? o->request_id : "");
	x->done(o, x->userdata);
	versori_outcome_fini(o);
	call_free(x);
}

/* An outcome for a call that could not be sent again (r is a negative errno). */
static void outcome_from_error(int r, struct versori_outcome *o)
{
	*o = (struct versori_outcome){
	    .result = err_is_retryable(r) ? -EAGAIN : r,
	    .class = err_is_retryable(r) ? VERSORI_OUTCOME_RETRYABLE : VERSORI_OUTCOME_PERMANENT,
	    .transport_error = r,
	    .retry_after_s = -1,
	};
}

/* The http_client finished one attempt: classify it, maybe retry once after a 401. */
static void call_done(const struct http_client_response *resp, void *userdata)
{
	struct call_ctx *x = userdata;
	struct versori_outcome o;
	int r;

	(void)!versori_outcome_classify(resp, client_now(x->client), &o);
	if (x->client && x->client->on_attempt) {
		struct versori_attempt a = {
		    .op = x->op,
		    .method = http_method_to_string(x->method),
		    .path = x->url + x->path_at,
		    .number = x->retried ? 2 : 1,
		    .outcome = &o,
		};
		x->client->on_attempt(&a, x->userdata);
	}
	/* A minted token may have been refused for its age or a rotated key: mint anew once. */
	if (o.status == 401 && x->client && !x->retried &&
	    versori_auth_invalidate(x->client->auth, x->subject)) {
		x->retried = true;
		r = call_send(x);
		if (r >= 0) {
			versori_outcome_fini(&o);
			return;
		}
		versori_outcome_fini(&o);
		outcome_from_error(r, &o);
	}
	call_finish(x, &o);
}

/* Send one request and call done with its outcome later. */
int versori_call(struct versori_client *c, const struct versori_request *req, versori_done_fn done,
                 void *userdata)
{
	struct call_ctx *x;
	int r;

	if (!c || !req || !req->path || req->path[0] != '/' || !done)
		return -EINVAL;
	if (c->org && req->org && strcmp(c->org, req->org) != 0)
		return -EINVAL;
	x = xcalloc(1, sizeof(*x));
	*x = (struct call_ctx){
	    .client = c,
	    .method = req->method,
	    .op = req->op ? req->op : "versori.call",
	    .url = xasprintf("%s%s", c->base_url, req->path),
	    .path_at = strlen(c->base_url),
	    .subject = req->subject ? xstrdup(req->subject) : NULL,
	    .done = done,
	    .userdata = userdata,
	};
	if (req->body) {
		x->body = json_dumps(req->body, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!x->body) {
			call_free(x);
			return -ENOMEM;
		}
		x->body_len = strlen(x->body);
	}
	r = call_send(x);
	if (r < 0) {
		call_free(x);
		return r;
	}
	/* Linked only once queued, so a failed send frees an unlinked call. */
	x->next = c->calls;
	if (c->calls)
		c->calls->prev = x;
	c->calls = x;
	x->linked = true;
	return 0;
}

/* The id of the environment called name inside one project object. */
static int project_environment_find(const json_t *project, const char *name, const char **ret_id)
{
	const json_t *envs = json_object_get(project, "environments");
	const json_t *env;
	size_t i;

	if (!json_is_array(envs))
		return -EPROTO;
	json_array_foreach (envs, i, env) {
		const char *n = json_string_value(json_object_get(env, "name"));
		const char *id = json_string_value(json_object_get(env, "id"));

		if (n && id && strcmp(n, name) == 0) {
			*ret_id = id;
			return 0;
		}
	}
	return -ENOENT;
}

/* Find an environment id in a GetProject or ListProjects body. */
int versori_environment_find(const json_t *body, const char *project, const char *environment_name,
                             const char **ret_id)
{
	const json_t *projects = json_object_get(body, "projects");
	const json_t *p;
	size_t i;

	if (!environment_name)
		return -EINVAL;
	if (!projects)
		return json_is_object(body)
		           ? project_environment_find(body, environment_name, ret_id)
		           : -EPROTO;
	if (!json_is_array(projects) || !project)
		return json_is_array(projects) ? -EINVAL : -EPROTO;
	json_array_foreach (projects, i, p) {
		const char *id = json_string_value(json_object_get(p, "id"));
		const char *name = json_string_value(json_object_get(p, "name"));

		if ((id && strcmp(id, project) == 0) || (name && strcmp(name, project) == 0))
			return project_environment_find(p, environment_name, ret_id);
	}
	return -ENOENT;
}

/* The project lookup of versori_environment_resolve() finished. */
static void resolve_done(struct versori_outcome *o, void *userdata)
{
	struct resolve_ctx *x = userdata;
	const char *id = NULL;
	int r = o->result;

	if (r >= 0)
		r = versori_environment_find(o->body, x->project, x->environment_name, &id);
	x->done(r, r >= 0 ? id : NULL, o, x->userdata);
	free(x->project);
	free(x->environment_name);
	free(x);
}

/* Resolve an environment name to its id with one GetProject or ListProjects call. */
int versori_environment_resolve(struct versori_client *c, const char *project,
                                const char *environment_name, versori_environment_resolve_fn done,
                                void *userdata)
{
	struct versori_request req = {};
	struct resolve_ctx *x;
	int r;

	if (!c || !c->org || !project || !*project || !environment_name || !done)
		return -EINVAL;
	if (versori_ulid_is_valid(project))
		r = versori_request_project_get_build(c->org, project, &req, NULL);
	else
		r = versori_request_project_list_build(c->org, &req, NULL);
	if (r < 0)
		return r;
	x = xcalloc(1, sizeof(*x));
	*x = (struct resolve_ctx){xstrdup(project), xstrdup(environment_name), done, userdata};
	r = versori_call(c, &req, resolve_done, x);
	versori_request_fini(&req);
	if (r < 0) {
		free(x->project);
		free(x->environment_name);
		free(x);
	}
	return r;
}

json_t *versori_attempt_json(const struct versori_attempt *a)
{
	const struct versori_outcome *o = a->outcome;
	char started_at[64];
	struct timespec ts;
	long long us;
	struct tm tm;
	time_t secs;
	json_t *rec;

	/* In microseconds: the next call of an item starts after this one answered, so at least
	 * its duration later, and its "at" sorts after this one's (the audit trail orders an
	 * item's calls by it; in milliseconds two calls to a fast server would tie). */
	clock_gettime(CLOCK_REALTIME, &ts);
	us = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - (long long)(o->total_ms * 1000.0);
	secs = (time_t)(us / 1000000);
	gmtime_r(&secs, &tm);
	snprintf(started_at, sizeof(started_at), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         us % 1000000);

	rec = json_pack("{s:s, s:s, s:s, s:s, s:I, s:f, s:i, s:s}", "at", started_at, "op", a->op,
	                "method", a->method, "path", a->path, "status", (json_int_t)o->status,
	                "duration_ms", o->total_ms, "call_attempt", a->number, "outcome",
	                versori_outcome_class_to_string(o->class));
	if (rec && o->request_id)
		json_object_set_new(rec, "request_id", json_string(o->request_id));
	if (rec && o->error_code)
		json_object_set_new(rec, "error_code", json_string(o->error_code));
	if (rec && o->retry_after_s >= 0)
		json_object_set_new(rec, "retry_after_s", json_integer(o->retry_after_s));
	if (rec && o->transport_error)
		json_object_set_new(rec, "transport_error",
		                    json_string(strerror(-o->transport_error)));
	return rec;
}
