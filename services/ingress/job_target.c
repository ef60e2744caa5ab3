/* A submitted job's project schema and environment, from the Versori API (job_target.h). */
#include "job_target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "http_client.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "schema.h"
#include "versori.h"
#include "versori_auth.h"
#include "versori_org.h"
#include "xalloc.h"

/* What the userdata of a Versori call is: an ask (environment) or a cache entry (schema). */
enum call_owner { OWNER_ASK, OWNER_ENTRY };

/* One organisation with a credential. */
struct org {
	const struct versori_org_config *cfg;
	struct versori_auth *auth;
	struct versori_client *client;
};

/* One project's schema, fetched once for every ask that waits on it. */
struct entry {
	enum call_owner owner; /* first: a call's userdata */
	struct entry *next;
	struct job_target *t;
	struct org *org;
	char *project;
	struct schema *schema; /* NULL: none, or unusable */
	bool have;             /* schema is an answer (fetched_ms says how old) */
	uint64_t fetched_ms;
	bool loading;
	unsigned tries;                 /* attempts of the fetch under way */
	struct event *retry;            /* the wait before the next one, or NULL */
	struct job_target_ask *waiters; /* oldest first; the first one records the calls */
};

struct job_target_ask {
	enum call_owner owner;              /* first: a call's userdata */
	struct job_target_ask *prev, *next; /* every open ask */
	struct job_target_ask *wnext;       /* waiting on the same entry */
	struct job_target *t;
	struct org *org;
	char *project, *environment_name, *environment_id;
	job_target_fn done;
	void *userdata;
	struct entry *waiting; /* the entry whose fetch it waits on */
	bool resolving;        /* its environment call is in flight */
	unsigned tries;        /* attempts of that call so far */
	struct event *retry;   /* the wait before the next one, or NULL */
	bool cancelled;        /* freed when that call answers */
	struct event *later;   /* starts the ask, or answers one that could not start a call */
	bool started;
	int later_r;
	char *later_message;
	json_t *calls;
};

struct job_target {
	struct event_base *base;
	struct metrics *metrics;
	struct http_client *http;
	struct org *orgs;
	size_t n_orgs;
	struct entry *entries;
	struct job_target_ask *asks;
	bool stopping; /* job_target_free(): calls cut off answer -ECANCELED */
};

/* The organisation called name, if it has a credential. */
static struct org *org_find(const struct job_target *t, const char *name)
{
	for (size_t i = 0; i < t->n_orgs; i++)
		if (t->orgs[i].client && strcmp(t->orgs[i].cfg->name, name) == 0)
			return &t->orgs[i];
	return NULL;
}

/* Unlink and free an ask. */
static void ask_free(struct job_target_ask *a)
{
	if (a->prev)
		a->prev->next = a->next;
	else
		a->t->asks = a->next;
	if (a->next)
		a->next->prev = a->prev;
	if (a->later)
		event_free(a->later);
	if (a->retry)
		event_free(a->retry);
	free(a->project);
	free(a->environment_name);
	free(a->environment_id);
	free(a->later_message);
	json_decref(a->calls);
	free(a);
}

/* Answer an ask and free it. */
static void ask_answer(struct job_target_ask *a, int r, const char *message,
                       const struct schema *schema)
{
	struct job_target_answer ans = {
	    .r = a->t->stopping ? -ECANCELED : r,
	    .message = a->t->stopping ? "the ingress is stopping"
	               : r < 0        ? message
	                              : NULL,
	    .schema = r < 0 || a->t->stopping ? NULL : schema,
	    .environment_id = r < 0 || a->t->stopping ? NULL : a->environment_id,
	    .calls = a->calls,
	};

	a->done(&ans, a->userdata);
	ask_free(a);
}

static void ask_start(struct job_target_ask *a);

/* The next turn of the loop: start the ask, or give the answer it could not start with. */
static void ask_on_later(evutil_socket_t fd, short what, void *arg)
{
	struct job_target_ask *a = arg;

	if (!a->started) {
		a->started = true;
		ask_start(a);
		return;
	}
	ask_answer(a, a->later_r, a->later_message, NULL);
}

/* Answer an ask on the next turn of the loop. */
static void ask_answer_later(struct job_target_ask *a, int r, const char *message)
{
	struct timeval now = {0, 0};

	a->later_r = r;
	a->later_message = xstrdup(message);
	evtimer_add(a->later, &now);
}

/* Why a call failed, for the submitter: a new string. */
static char *outcome_message(const struct versori_outcome *o, const char *what)
{
	switch (o->result) {
	case -ENOENT:
		return xasprintf("%s: the Versori API knows no such project", what);
	case -EACCES:
		return xasprintf("%s: the Versori API refused the organisation's credential (%ld)",
		                 what, o->status);
	case -EAGAIN:
		if (o->status)
			return xasprintf("%s: the Versori API answered %ld; retry later", what,
			                 o->status);
		return xasprintf("%s: the Versori API did not answer; retry later", what);
	default:
		return xasprintf("%s: the Versori API answered %ld%s%s", what, o->status,
		                 o->error_message ? ": " : "",
		                 o->error_message ? o->error_message : "");
	}
}

/* The result of a call as an ask's result: the outcome's, with anything unexpected as
 * -EPROTO. */
static int outcome_result(const struct versori_outcome *o)
{
	if (o->result == -ENOENT || o->result == -EACCES || o->result == -EAGAIN)
		return o->result;
	return -EPROTO;
}

/* How long to wait before attempt tries + 1 of a call that answered o, or -1: not again (it
 * may not succeed, the attempts are spent, a Retry-After is too long, the ingress stops). */
static long retry_delay_ms(const struct job_target *t, const struct versori_outcome *o,
                           unsigned tries)
{
	long ms = tries == 1 ? 100 : 400;

	if (o->result != -EAGAIN || tries >= JOB_TARGET_TRIES || t->stopping)
		return -1;
	if (o->retry_after_s >= 0) {
		if (o->retry_after_s * 1000 > JOB_TARGET_RETRY_AFTER_MAX_MS)
			return -1;
		if (o->retry_after_s * 1000 > ms)
			ms = (long)o->retry_after_s * 1000;
	}
	return ms;
}

/* Arm *ev (made on first use) to call fn(arg) in ms. */
static void retry_arm(struct job_target *t, struct event **ev, event_callback_fn fn, void *arg,
                      long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (!*ev)
		*ev = evtimer_new(t->base, fn, arg);
	evtimer_add(*ev, &tv);
}

/* Free an entry. */
static void entry_free(struct entry *e)
{
	if (e->retry)
		event_free(e->retry);
	schema_free(e->schema);
	free(e->project);
	free(e);
}

/* Compile a fetched schema document; NULL for none or one this validator cannot use. */
static struct schema *entry_compile(const struct entry *e, const json_t *doc)
{
	struct schema *s = NULL;
	struct schema_error err = {0};

	if (!doc || json_is_null(doc) || (json_is_object(doc) && json_object_size(doc) == 0))
		return NULL;
	if (schema_compile(doc, &s, &err) < 0) {
		log_event(LOG_LEVEL_WARN, "jobs.schema_unusable",
		          "organisation=%s project=%s path=%s detail=\"%s\"", e->org->cfg->name,
		          e->project, err.path, err.message);
		return NULL;
	}
	return s;
}

static void entry_on_retry(evutil_socket_t fd, short what, void *arg);

/* The schema fetch answered: keep the schema and answer every ask waiting on it (or try again
 * after a brief fault, the asks still waiting). */
static void entry_on_fetched(struct versori_outcome *o, void *userdata)
{
	struct entry *e = userdata;
	struct job_target_ask *a = e->waiters;
	_cleanup_free_ char *msg = NULL;
	long wait_ms = retry_delay_ms(e->t, o, e->tries);

	if (wait_ms >= 0)
		return retry_arm(e->t, &e->retry, entry_on_retry, e, wait_ms);
	e->loading = false;
	e->waiters = NULL;
	if (o->result == 0) {
		schema_free(e->schema);
		e->schema = entry_compile(e, o->body);
		e->have = true;
		e->fetched_ms = loop_now_ms();
	} else {
		msg = outcome_message(o, "parameters.projectId");
	}
	while (a) {
		struct job_target_ask *next = a->wnext;

		a->waiting = NULL;
		ask_answer(a, o->result == 0 ? 0 : outcome_result(o), msg, e->schema);
		a = next;
	}
}

/* Forget entries that are idle (nothing waits, nothing loads) and stale or failed, so that
 * asks for many projects (or for ones that do not exist) cannot grow the cache for ever. */
static void entries_sweep(struct job_target *t)
{
	uint64_t now = loop_now_ms();

	for (struct entry **p = &t->entries; *p;) {
		struct entry *e = *p;

		if (e->loading || e->waiters ||
		    (e->have && now - e->fetched_ms < JOB_TARGET_SCHEMA_TTL_MS)) {
			p = &e->next;
			continue;
		}
		*p = e->next;
		entry_free(e);
	}
}

/* The entry of org and project, made when new. */
static struct entry *entry_get(struct job_target *t, struct org *org, const char *project)
{
	struct entry *e;

	entries_sweep(t);
	for (e = t->entries; e; e = e->next)
		if (e->org == org && strcmp(e->project, project) == 0)
			return e;
	e = xcalloc(1, sizeof(*e));
	*e = (struct entry){.owner = OWNER_ENTRY, .next = t->entries, .t = t, .org = org};
	e->project = xstrdup(project);
	t->entries = e;
	return e;
}

/* Send one attempt of an entry's schema fetch. */
static int entry_fetch(struct entry *e)
{
	struct versori_request req = {0};
	struct problem p = {0};
	int r = versori_request_project_variables_schema_get_build(e->org->cfg->organisation_id,
	                                                           e->project, &req, &p);

	if (r >= 0)
		r = versori_call(e->org->client, &req, entry_on_fetched, e);
	versori_request_fini(&req);
	if (r >= 0)
		e->tries++;
	return r;
}

/* The wait after a brief fault is over: fetch again (asks waiting on it go on waiting). */
static void entry_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct entry *e = arg;
	struct versori_outcome o = {.result = -EAGAIN, .retry_after_s = -1};

	if (entry_fetch(e) < 0) {
		e->tries = JOB_TARGET_TRIES; /* no more attempts: answer the waiters */
		entry_on_fetched(&o, e);
	}
}

/* The ask's schema: from the cache while fresh, else after the one fetch in flight. */
static void ask_schema(struct job_target_ask *a)
{
	struct entry *e;
	struct job_target_ask **tail;
	int r;

	if (!a->project || !versori_ulid_is_valid(a->project))
		return ask_answer(a, 0, NULL, NULL);
	e = entry_get(a->t, a->org, a->project);
	if (e->have && loop_now_ms() - e->fetched_ms < JOB_TARGET_SCHEMA_TTL_MS)
		return ask_answer(a, 0, NULL, e->schema);
	for (tail = &e->waiters; *tail; tail = &(*tail)->wnext)
		;
	*tail = a;
	a->waiting = e;
	if (e->loading)
		return;
	e->tries = 0;
	r = entry_fetch(e);
	if (r < 0) {
		e->waiters = a->wnext;
		a->waiting = NULL;
		return ask_answer_later(a, -EPROTO,
		                        "parameters.projectId: the schema could not be asked for");
	}
	e->loading = true;
}

static int ask_environment(struct job_target_ask *a);

/* The wait after a brief fault is over: read the project again. */
static void ask_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct job_target_ask *a = arg;

	if (ask_environment(a) < 0)
		ask_answer(a, -EPROTO, "parameters.projectId: the project could not be asked for",
		           NULL);
}

/* The project was read: find the environment's id by its name, then go on to the schema (or
 * read it again after a brief fault). */
static void ask_on_project(struct versori_outcome *o, void *userdata)
{
	struct job_target_ask *a = userdata;
	_cleanup_free_ char *msg = NULL;
	const char *id = NULL;
	long wait_ms;
	int r;

	a->resolving = false;
	if (a->cancelled)
		return ask_free(a);
	wait_ms = retry_delay_ms(a->t, o, a->tries);
	if (wait_ms >= 0)
		return retry_arm(a->t, &a->retry, ask_on_retry, a, wait_ms);
	if (o->result < 0) {
		msg = outcome_message(o, "parameters.projectId");
		return ask_answer(a, outcome_result(o), msg, NULL);
	}
	r = versori_environment_find(o->body, a->project, a->environment_name, &id);
	if (r == -ENOENT) {
		msg = xasprintf("parameters.environment: project %s has no environment called %s",
		                a->project, a->environment_name);
		return ask_answer(a, -ENOENT, msg, NULL);
	}
	if (r < 0)
		return ask_answer(a, -EPROTO,
		                  "parameters.environment: the Versori API's project has no "
		                  "environments",
		                  NULL);
	a->environment_id = xstrdup(id);
	ask_schema(a);
}

/* Read the project (by id, or the list to find it by name) to resolve the environment. */
static int ask_environment(struct job_target_ask *a)
{
	struct versori_request req = {0};
	const char *org = a->org->cfg->organisation_id;
	int r;

	if (!a->project || !*a->project)
		return -EINVAL;
	if (versori_ulid_is_valid(a->project))
		r = versori_request_project_get_build(org, a->project, &req, NULL);
	else
		r = versori_request_project_list_build(org, &req, NULL);
	if (r >= 0)
		r = versori_call(a->org->client, &req, ask_on_project, a);
	versori_request_fini(&req);
	if (r >= 0) {
		a->resolving = true;
		a->tries++;
	}
	return r;
}

/* Record one attempt of a call for the ask it was made for (a schema fetch: the first ask
 * waiting on it), and count it. */
static void target_on_attempt(const struct versori_attempt *at, void *call_userdata)
{
	enum call_owner *owner = call_userdata;
	struct job_target_ask *a;
	struct job_target *t;
	char labels[128] = "";

	if (*owner == OWNER_ENTRY) {
		struct entry *e = call_userdata;
		a = e->waiters;
		t = e->t;
	} else {
		a = call_userdata;
		t = a->t;
	}
	if (a)
		json_array_append_new(a->calls, versori_attempt_json(at));
	(void)metrics_labels_add(labels, sizeof(labels), "op", at->op);
	(void)metrics_labels_add(labels, sizeof(labels), "class",
	                         versori_outcome_class_to_string(at->outcome->class));
	metric_counter_inc(metrics_counter(t->metrics, "hookrun_ingress_api_calls_total",
	                                   "Versori API attempts made for submissions (a project's "
	                                   "schema, an environment's id) by operation and outcome",
	                                   labels));
}

struct job_target_ask *job_target_get(struct job_target *t, const char *organisation,
                                      const char *project, const char *environment_name,
                                      job_target_fn done, void *userdata)
{
	struct job_target_ask *a = xcalloc(1, sizeof(*a));
	struct timeval now = {0, 0};

	*a = (struct job_target_ask){.owner = OWNER_ASK,
	                             .next = t->asks,
	                             .t = t,
	                             .org = org_find(t, organisation),
	                             .done = done,
	                             .userdata = userdata,
	                             .calls = json_array()};
	if (t->asks)
		t->asks->prev = a;
	t->asks = a;
	a->project = project ? xstrdup(project) : NULL;
	a->environment_name = environment_name ? xstrdup(environment_name) : NULL;
	a->later = evtimer_new(t->base, ask_on_later, a);
	if (!a->later)
		abort();
	evtimer_add(a->later, &now);
	return a;
}

/* Start an ask on its own turn of the loop: done is never called from job_target_get(). */
static void ask_start(struct job_target_ask *a)
{
	if (!a->org)
		return ask_answer_later(a, -EPROTO,
		                        "the organisation has no credential to ask with");
	if (!a->environment_name)
		return ask_schema(a);
	if (ask_environment(a) < 0)
		ask_answer_later(a, -ENOENT,
		                 "parameters.environment: an environment is named within a project "
		                 "(parameters.projectId: its id or name)");
}

void job_target_cancel(struct job_target_ask *a)
{
	if (a->waiting) {
		struct job_target_ask **p = &a->waiting->waiters;

		while (*p != a)
			p = &(*p)->wnext;
		*p = a->wnext;
	}
	if (a->resolving) {
		a->cancelled = true; /* freed when its call answers */
		return;
	}
	ask_free(a);
}

bool job_target_can_ask(const struct job_target *t, const char *organisation)
{
	return org_find(t, organisation) != NULL;
}

struct job_target *job_target_new(struct event_base *base, const struct config *c,
                                  struct metrics *m)
{
	struct job_target *t = xcalloc(1, sizeof(*t));
	const char *err = NULL;

	t->base = base;
	t->metrics = m;
	t->http = http_client_new(
	    base, &(struct http_client_options){.timeout_ms = c->api_timeout_ms}, &err);
	if (!t->http)
		log_event(LOG_LEVEL_WARN, "jobs.api_client_failed",
		          "detail=\"%s\" effect=\"submissions are not checked against schemas\"",
		          err ? err : "?");
	t->orgs = xcalloc(c->n_versori ? c->n_versori : 1, sizeof(*t->orgs));
	t->n_orgs = c->n_versori;
	for (size_t i = 0; i < c->n_versori && t->http; i++) {
		struct org *o = &t->orgs[i];

		o->cfg = &c->versori[i];
		/* No credential, or a signing key that mints tokens for end users only (no
		 * jwt_subject for calls that act for none): the ingress only routes to it, and
		 * the worker checks each item alone. */
		if ((o->cfg->signing_key && !o->cfg->jwt_subject) ||
		    versori_org_auth_new(o->cfg, &o->auth) < 0)
			continue;
		o->client = versori_org_client_new(o->cfg, t->http, o->auth, c->api_timeout_ms,
		                                   target_on_attempt);
	}
	return t;
}

void job_target_free(struct job_target *t)
{
	if (!t)
		return;
	t->stopping = true;
	http_client_free(t->http); /* every call in flight answers, cut off */
	for (struct job_target_ask *a = TAKE_PTR(t->asks), *next; a; a = next) {
		next = a->next;
		a->prev = a->next = NULL; /* off the list: ask_free() unlinks nothing */
		if (a->cancelled) {
			ask_free(a);
			continue;
		}
		if (a->waiting) {
			a->waiting->waiters = NULL; /* its fetch was cancelled: answer them all */
			a->waiting = NULL;
		}
		ask_answer(a, -ECANCELED, "the ingress is stopping", NULL);
	}
	for (size_t i = 0; i < t->n_orgs; i++) {
		versori_client_free(t->orgs[i].client);
		versori_auth_free(t->orgs[i].auth);
	}
	free(t->orgs);
	for (struct entry *e = t->entries, *next; e; e = next) {
		next = e->next;
		entry_free(e);
	}
	free(t);
}
