/* One run of one job item: load, run the kind, record every API call, settle (item_run.h). */
#include "item_run.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "db_queue.h"
#include "http_client.h"
#include "item_store.h"
#include "job_kind.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "schema_cache.h"
#include "secret_value.h"

/* A mutating call starts only when the lease outlasts the call's timeout by this much. */
#define ITEM_LEASE_MARGIN_MS        1000
/* A read or an idempotent write that meets a transport error or a 5xx is tried again within
 * the run, up to this many times, after a short jittered pause (or a Retry-After of at most
 * ITEM_CALL_RETRY_AFTER_MAX_S); past that, or for a POST (which is not idempotent: the item is
 * run again from its first check instead), the run ends and the item is queued again. */
#define ITEM_CALL_RETRIES           3
#define ITEM_CALL_RETRY_BASE_MS     50
#define ITEM_CALL_RETRY_AFTER_MAX_S 2

enum item_settle {
	SETTLE_SUCCEEDED,
	SETTLE_FAILED,
	SETTLE_RETRY,
	SETTLE_ABANDON, /* the lease is gone: record the calls only */
};

static const char *const settle_states[] = {"succeeded", "failed", "queued", "queued"};

/* Monotonic milliseconds, signed for deadline arithmetic. */
static long long mono_ms(void)
{
	return (long long)loop_now_ms();
}

/* Wall-clock time ms from now as an ISO 8601 UTC timestamp (with milliseconds). */
static void iso_time(long long from_now_ms, char buf[64])
{
	struct timespec ts;
	struct tm tm;
	long long ms;
	time_t secs;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + from_now_ms;
	secs = (time_t)(ms / 1000);
	gmtime_r(&secs, &tm);
	snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

/* xorshift32 over the environment's state, for jitter. */
static uint32_t env_random(struct item_env *env)
{
	uint32_t x = env->rng ? env->rng : 2463534242u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return env->rng = x;
}

/* Take a run out of its organisation's list of calls waiting for a permit. */
static void item_wait_remove(struct item_run *r)
{
	struct item_run **p = &r->org->waiting;

	while (*p && *p != r)
		p = &(*p)->wait_next;
	if (*p)
		*p = r->wait_next;
	r->wait_next = NULL;
	r->waiting = false;
}

/* Free a run and everything it owns. */
static void item_run_free(struct item_run *r)
{
	versori_request_fini(&r->pending);
	if (r->waiting)
		item_wait_remove(r);
	if (r->ev_retry)
		event_free(r->ev_retry);
	if (r->schema_entry)
		schema_cache_abandon(r->schema_entry, r);
	schema_hold_release(r->schema);
	json_decref(r->parameters);
	json_decref(r->desired);
	json_decref(r->result);
	json_decref(r->scratch);
	json_array_text_fini(&r->calls);
	free(r->job_id);
	free(r->external_id);
	free(r->environment_id);
	free(r->activation_id);
	free(r->post_path);
	free(r);
}

/* Count a settled item by kind and outcome. */
static void item_count(struct item_run *r, const char *outcome)
{
	char labels[128] = "";

	(void)metrics_labels_add(labels, sizeof(labels), "kind",
	                         r->kind ? job_kind_name(r->kind) : "unknown");
	(void)metrics_labels_add(labels, sizeof(labels), "outcome", outcome);
	metric_counter_inc(metrics_counter(r->env->metrics, "hookrun_worker_items_total",
	                                   "Item runs by kind and how they ended", labels));
}

/* Report the end of the run to the worker and free it. */
static void item_run_end(struct item_run *r, enum wire_outcome outcome)
{
	item_count(r, wire_outcome_to_string(outcome));
	r->env->finished(r->env->userdata, r, outcome);
	item_run_free(r);
}

static void item_settle(struct item_run *r, enum item_settle how, const char *error,
                        long long retry_in_ms);

/* What a settlement needs once it is answered. */
struct settle_ctx {
	struct item_run *r;
	enum item_settle how;
	char *error;
};

/* The settlement was stored (held 1), found the lease gone (0) or failed for good (-1). */
static void item_on_settled(void *userdata, int held)
{
	struct settle_ctx *s = userdata;
	struct item_run *r = s->r;
	enum item_settle how = s->how;
	static const enum wire_outcome outcomes[] = {WIRE_OUTCOME_SUCCEEDED, WIRE_OUTCOME_FAILED,
	                                             WIRE_OUTCOME_RETRY, WIRE_OUTCOME_FENCED};

	log_event(held > 0 ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, "item.settled",
	          "item=%" PRIu64 " job=%s kind=%s state=%s attempt=%d held=%s error=%s",
	          r->item_id, r->job_id ? r->job_id : "", r->kind ? job_kind_name(r->kind) : "",
	          settle_states[how], r->attempt, held > 0 ? "true" : "false",
	          s->error ? s->error : "");
	free(s->error);
	free(s);
	item_run_end(r, held > 0 ? outcomes[how] : WIRE_OUTCOME_FENCED);
}

/* Settle the item: finish_item() with the calls made, batched with other runs'. */
static void item_settle(struct item_run *r, enum item_settle how, const char *error,
                        long long retry_in_ms)
{
	struct settle_ctx *s = xcalloc(1, sizeof(*s));
	struct item_settlement st = {.item = r->item_id, .token = r->token};
	_cleanup_free_ char *calls = NULL;
	char run_at[64];

	assert(!r->settling);
	r->settling = true;
	if (r->env->settling)
		r->env->settling(r->env->userdata, r);
	*s = (struct settle_ctx){r, how, error ? xstrdup(error) : NULL};
	iso_time(retry_in_ms, run_at);
	st.state = settle_states[how];
	st.result = how == SETTLE_SUCCEEDED ? r->result : NULL;
	st.error = error;
	st.run_at = how == SETTLE_RETRY ? run_at : NULL;
	/* A settling run makes no more calls: its records go with the settlement. */
	calls = json_array_text_take(&r->calls, &st.calls_len);
	st.calls = calls;
	item_store_settle(r->env->store, &st, item_on_settled, s);
}

void item_run_succeed(struct item_run *r, json_t *result)
{
	if (result) {
		json_decref(r->result);
		r->result = result;
	}
	item_settle(r, SETTLE_SUCCEEDED, NULL, 0);
}

void item_run_fail(struct item_run *r, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	item_settle(r, SETTLE_FAILED, msg, 0);
}

/* The delay before the next attempt: full jitter over a capped exponential, never sooner
 * than the API's Retry-After. */
static long long item_retry_delay_ms(struct item_run *r, const struct versori_outcome *o)
{
	const struct config *c = r->env->config;
	unsigned shift = r->attempt > 1 ? (unsigned)(r->attempt - 1) : 0;
	long long cap = c->retry_max_ms, d = (long long)c->retry_base_ms;

	while (shift-- > 0 && d < cap)
		d *= 2;
	if (d > cap)
		d = cap;
	d = (long long)(env_random(r->env) % (uint32_t)(d + 1));
	if (o && o->retry_after_s >= 0 && d < o->retry_after_s * 1000)
		d = o->retry_after_s * 1000;
	return d;
}

/* "create end user: 409 conflict: message (request id X)" into a new string. */
static char *item_describe(const struct versori_outcome *o, const char *what)
{
	if (o->status == 0)
		return xasprintf("%s: %s", what, strerror(-o->transport_error));
	return xasprintf("%s: HTTP %ld%s%s%s%s%s%s", what, o->status, o->error_code ? " " : "",
	                 o->error_code ? o->error_code : "", o->error_message ? ": " : "",
	                 o->error_message ? o->error_message : "",
	                 o->request_id ? " (request id " : "", o->request_id ? o->request_id : "");
}

void item_run_unexpected(struct item_run *r, const struct versori_outcome *o, const char *what)
{
	const struct config *c = r->env->config;
	_cleanup_free_ char *desc = item_describe(o, what);
	_cleanup_free_ char *full = NULL;
	char labels[64] = "";

	if (o->request_id)
		full = xasprintf("%s)", desc);
	if (o->class != VERSORI_OUTCOME_RETRYABLE) {
		item_settle(r, SETTLE_FAILED, full ? full : desc, 0);
		return;
	}
	if (o->status == 429 && r->env->throttled && !r->outside_api)
		r->env->throttled(
		    r->env->userdata, r->org->cfg->name,
		    (uint32_t)(o->retry_after_s > 0 ? o->retry_after_s * 1000 : 1000));
	if (r->attempt >= c->max_attempts || r->job_age_ms >= c->max_item_age_s * 1000) {
		_cleanup_free_ char *why =
		    xasprintf("%s (gave up after %d attempts over %lld s)", full ? full : desc,
		              r->attempt, r->job_age_ms / 1000);
		item_settle(r, SETTLE_FAILED, why, 0);
		return;
	}
	(void)metrics_labels_add(labels, sizeof(labels), "status",
	                         o->status ? (o->status == 429 ? "429" : "5xx") : "transport");
	metric_counter_inc(metrics_counter(r->env->metrics, "hookrun_worker_retries_total",
	                                   "Items queued again after a retryable outcome", labels));
	item_settle(r, SETTLE_RETRY, full ? full : desc, item_retry_delay_ms(r, o));
}

void item_run_build_failed(struct item_run *r, const char *what, const struct problem *p)
{
	item_run_fail(r, "%s: %s%s%s", what, p->field ? p->field : "", p->field ? ": " : "",
	              p->message ? p->message : "invalid");
}

const char *item_run_param(const struct item_run *r, const char *name)
{
	return json_string_value(json_object_get(r->parameters, name));
}

/* Set one member of the result. */
void item_run_result_set(struct item_run *r, const char *key, json_t *value)
{
	if (!r->result)
		r->result = json_object();
	json_object_set_new(r->result, key, value);
}

/* The client saw one attempt of a call: record it for the audit trail and count it. */
void item_run_on_attempt(const struct versori_attempt *a, void *call_userdata)
{
	struct item_run *r = call_userdata;
	const struct versori_outcome *o = a->outcome;
	char labels[128] = "";
	json_t *rec;

	rec = versori_attempt_json(a);
	if (rec) {
		json_object_set_new(rec, "attempt", json_integer(r->attempt));
		json_array_text_add(&r->calls, rec);
		json_decref(rec);
	}
	(void)metrics_labels_add(labels, sizeof(labels), "op", a->op);
	(void)metrics_labels_add(labels, sizeof(labels), "class",
	                         versori_outcome_class_to_string(o->class));
	metric_counter_inc(metrics_counter(r->env->metrics, "hookrun_worker_api_calls_total",
	                                   "Versori API attempts by operation and outcome class",
	                                   labels));
}

static void item_call_go(struct item_run *r);
static void item_call_lease(struct item_run *r);
static void item_call_wait(struct item_run *r, long long ms);
static void item_on_retry(evutil_socket_t fd, short what, void *arg);

/* Whether the call just answered with o is worth trying again within the run. */
static bool item_call_retryable(const struct item_run *r, const struct versori_outcome *o)
{
	return o->class == VERSORI_OUTCOME_RETRYABLE && o->status != 429 &&
	       r->pending.method != HTTP_METHOD_POST && r->call_retries < ITEM_CALL_RETRIES &&
	       o->retry_after_s <= ITEM_CALL_RETRY_AFTER_MAX_S;
}

/* The pause before the call is tried again. */
static void item_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct item_run *r = arg;

	if (!r->released)
		item_call_go(r);
}

/* Try the pending call again after a jittered pause, never sooner than a Retry-After. */
static void item_call_retry(struct item_run *r, const struct versori_outcome *o)
{
	long long ms = (long long)(env_random(r->env) %
	                           (uint32_t)((ITEM_CALL_RETRY_BASE_MS << r->call_retries) + 1));

	if (o->retry_after_s > 0 && ms < o->retry_after_s * 1000)
		ms = o->retry_after_s * 1000;
	r->call_retries++;
	item_call_wait(r, ms);
}

/* The API call finished: try it again, or on to the kind's next step. */
static void item_on_call(struct versori_outcome *o, void *userdata)
{
	struct item_run *r = userdata;
	item_step_fn next = r->next;

	r->in_call = false;
	if (r->released) {
		if (r->release_done)
			item_run_end(r, WIRE_OUTCOME_RETRY);
		return;
	}
	if (item_call_retryable(r, o)) {
		item_call_retry(r, o);
		return;
	}
	r->next = NULL;
	r->call_retries = 0;
	versori_request_fini(&r->pending);
	next(r, o);
}

/* Send the pending request now; it is kept until the call is answered (for a retry). */
static void item_call_send(struct item_run *r)
{
	int rc = versori_call(r->org->client, &r->pending, item_on_call, r);

	r->in_call = rc == 0;
	if (rc < 0) {
		const char *op = r->pending.op;
		versori_request_fini(&r->pending);
		item_run_fail(r, "%s: the request could not be sent: %s", op, strerror(-rc));
	}
}

/* hookrun.renew_lease() answered before a mutating call. */
static void item_on_renewed(void *userdata, const PGresult *res, int rc)
{
	struct item_run *r = userdata;

	if (r->released) {
		versori_request_fini(&r->pending);
		return; /* item_on_released ends the run */
	}
	if (rc < 0 || PQresultStatus(res) != PGRES_TUPLES_OK) {
		/* Unknown whether we still hold it: do not act; the lease decides. */
		versori_request_fini(&r->pending);
		item_settle(r, SETTLE_ABANDON, "lease renewal failed", 0);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		log_event(LOG_LEVEL_WARN, "item.fenced", "item=%" PRIu64 " job=%s op=%s",
		          r->item_id, r->job_id, r->pending.op);
		versori_request_fini(&r->pending);
		item_settle(r, SETTLE_ABANDON, NULL, 0);
		return;
	}
	r->lease_deadline_ms = mono_ms() + r->env->config->lease_s * 1000;
	item_call_send(r);
}

/* A paced organisation's call needs a permit: take one, or wait at the end of the
 * organisation's list and ask for one; false while waiting. */
static bool item_permit_take(struct item_run *r)
{
	struct item_run **p = &r->org->waiting;

	if (r->org->permits > 0 && !r->org->waiting) {
		r->org->permits--;
		return true;
	}
	while (*p)
		p = &(*p)->wait_next;
	*p = r;
	r->wait_next = NULL;
	r->waiting = true;
	r->env->want(r->env->userdata, r->org->cfg->name, r->link);
	return false;
}

void item_run_permits(struct worker_org *org, uint32_t n)
{
	org->permits += n;
	while (org->permits > 0 && org->waiting) {
		struct item_run *r = org->waiting;

		org->waiting = r->wait_next;
		r->wait_next = NULL;
		r->waiting = false;
		if (r->released)
			continue; /* item_on_released ends it; the permit stays for the next */
		org->permits--;
		item_call_lease(r);
	}
}

/* Go on with the pending call ms from now (a retry's pause, or the end of the
 * organisation's pause). */
static void item_call_wait(struct item_run *r, long long ms)
{
	struct timeval tv = loop_tv((uint64_t)ms);

	if (!r->ev_retry)
		r->ev_retry = evtimer_new(r->env->base, item_on_retry, r);
	evtimer_add(r->ev_retry, &tv);
}

/* Send the pending call, renewing the lease first when a change might outlast it. */
static void item_call_lease(struct item_run *r)
{
	const struct config *c = r->env->config;
	char item[24], token[24], lease[32];
	const char *values[3] = {item, token, lease};

	if (r->pending.method == HTTP_METHOD_GET ||
	    mono_ms() + c->api_timeout_ms + ITEM_LEASE_MARGIN_MS < r->lease_deadline_ms) {
		item_call_send(r);
		return;
	}
	snprintf(item, sizeof(item), "%" PRIu64, r->item_id);
	snprintf(token, sizeof(token), "%" PRIu64, r->token);
	snprintf(lease, sizeof(lease), "%lld seconds", c->lease_s);
	db_queue_send(r->env->db, "renew", 3, values, item_on_renewed, r);
}

/* Go on with the pending call: while the organisation is paused (a 429) wait for the end of
 * the pause; a paced organisation's call waits for a permit; then the lease rule. */
static void item_call_go(struct item_run *r)
{
	long long now = mono_ms();

	if (r->org->paused_until_ms > now) {
		item_call_wait(r, r->org->paused_until_ms - now);
		return;
	}
	if (r->org->cfg->rate_limit > 0 && !item_permit_take(r))
		return; /* item_run_permits() goes on */
	item_call_lease(r);
}

void item_run_call(struct item_run *r, struct versori_request *req, item_step_fn next)
{
	r->pending = *req;
	*req = (struct versori_request){0};
	r->next = next;
	r->call_retries = 0;
	item_call_go(r);
}

/* The URL without its user information, query or fragment, for the audit row (each may hold
 * a secret): scheme, host and path. */
static char *url_for_audit(const char *url)
{
	const char *auth = strstr(url, "://");
	size_t end = strcspn(url, "?#");
	const char *at;

	if (!auth)
		return xstrndup(url, end);
	auth += 3;
	at = memchr(auth, '@', strcspn(auth, "/?#"));
	if (!at)
		return xstrndup(url, end);
	return xasprintf("%.*s%.*s", (int)(auth - url), url, (int)(url + end - (at + 1)), at + 1);
}

/* item_run_post()'s request was answered: record it, then the kind's next step. */
static void item_on_post(const struct http_client_response *resp, void *userdata)
{
	struct item_run *r = userdata;
	item_step_fn next = r->next;
	struct versori_outcome o;
	json_t *rec;

	r->in_call = false;
	if (versori_outcome_classify(resp, (int64_t)time(NULL), &o) < 0)
		log_event(LOG_LEVEL_DEBUG, "item.post_answered", "item=%" PRIu64 " status=%ld",
		          r->item_id, o.status);
	rec = versori_attempt_json(&(struct versori_attempt){.op = r->pending.op,
	                                                     .method = "POST",
	                                                     .path = r->post_path,
	                                                     .number = 1,
	                                                     .outcome = &o});
	if (rec) {
		json_object_set_new(rec, "attempt", json_integer(r->attempt));
		json_array_text_add(&r->calls, rec);
		json_decref(rec);
	}
	free(r->post_path);
	r->post_path = NULL;
	r->pending.op = NULL;
	if (r->released) {
		if (r->release_done)
			item_run_end(r, WIRE_OUTCOME_RETRY);
	} else {
		r->next = NULL;
		next(r, &o);
	}
	versori_outcome_fini(&o);
}

void item_run_post(struct item_run *r, const struct http_client_request *req, const char *op,
                   item_step_fn next)
{
	int rc;

	r->next = next;
	r->pending.op = op; /* static: named in the audit record */
	r->post_path = url_for_audit(req->url);
	rc = r->env->http ? http_client_send(r->env->http, req, item_on_post, r) : -ENOTCONN;
	r->in_call = rc == 0;
	if (rc < 0) {
		free(r->post_path);
		r->post_path = NULL;
		r->pending.op = NULL;
		r->next = NULL;
		item_run_fail(r, "%s: the request could not be sent: %s", op, strerror(-rc));
	}
}

/* The organisation called name, or NULL. */
static struct worker_org *item_org_find(struct item_env *env, const char *name)
{
	for (size_t i = 0; i < env->n_orgs; i++)
		if (strcmp(env->orgs[i].cfg->name, name) == 0)
			return &env->orgs[i];
	return NULL;
}

/* A JSON column of a load result row, or NULL. */
static json_t *column_json(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : json_loads(PQgetvalue(res, row, col), 0, NULL);
}

/* Columns of hookrun.load_items(). */
enum {
	COL_ITEM,
	COL_JOB,
	COL_KIND,
	COL_ORG,
	COL_PARAMETERS,
	COL_EXTERNAL_ID,
	COL_DESIRED,
	COL_ATTEMPT,
	COL_LEASE_MS,
	COL_DUE_MS,
	COL_JOB_AGE_MS,
};

/* Fill the run from its row of hookrun.load_items(); the kind and organisation may be
 * unknown. */
static void item_decode(struct item_run *r, const PGresult *res, int row)
{
	r->job_id = xstrdup(PQgetvalue(res, row, COL_JOB));
	r->kind = job_kind_find(PQgetvalue(res, row, COL_KIND));
	r->org = item_org_find(r->env, PQgetvalue(res, row, COL_ORG));
	r->parameters = column_json(res, row, COL_PARAMETERS);
	r->external_id = xstrdup(PQgetvalue(res, row, COL_EXTERNAL_ID));
	r->desired = column_json(res, row, COL_DESIRED);
	r->attempt = atoi(PQgetvalue(res, row, COL_ATTEMPT));
	r->lease_deadline_ms = mono_ms() + atoll(PQgetvalue(res, row, COL_LEASE_MS));
	r->job_age_ms = atoll(PQgetvalue(res, row, COL_JOB_AGE_MS));
	if (!r->parameters)
		r->parameters = json_object();
	if (!r->desired)
		r->desired = json_object();
}

/* Open the values the job and the item keep encrypted (credentials, secret variables), just
 * before the calls that need them; false (the item failed, naming the key, never a value)
 * when one does not open. */
static bool item_open_secrets(struct item_run *r)
{
	_cleanup_free_ char *err = NULL;

	if (secret_value_open_all(r->env->keys, &r->parameters, &err) < 0 ||
	    secret_value_open_all(r->env->keys, &r->desired, &err) < 0) {
		item_run_fail(r, "%s", err);
		return false;
	}
	return true;
}

/* Observe how long the item waited between becoming due and starting. */
static void item_observe_start(struct item_run *r, long long due_ms)
{
	static const double bounds[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
	                                0.1,   0.25,  0.5,   1,    2.5,  10};
	struct metric_histogram *h = metrics_histogram(
	    r->env->metrics, "hookrun_worker_start_latency_seconds",
	    "From an item becoming due (committed, or its retry time) to its run starting", NULL,
	    bounds, ELEMENTSOF(bounds));

	metric_histogram_observe(h, (double)due_ms / 1000.0);
}

/* The item was loaded (res and row), or is not ours (res NULL): run the kind, or end. */
static void item_on_loaded(void *userdata, const PGresult *res, int row, int rc)
{
	struct item_run *r = userdata;
	const char *org, *kind;

	if (r->released)
		return; /* item_on_released ends the run */
	if (!res) {
		item_run_end(r, WIRE_OUTCOME_FENCED); /* not ours (any more): the lease decides */
		return;
	}
	item_decode(r, res, row);
	item_observe_start(r, atoll(PQgetvalue(res, row, COL_DUE_MS)));
	org = PQgetvalue(res, row, COL_ORG);
	kind = PQgetvalue(res, row, COL_KIND);
	log_event(LOG_LEVEL_DEBUG, "item.started",
	          "item=%" PRIu64 " job=%s kind=%s organisation=%s attempt=%d", r->item_id,
	          r->job_id, kind, org, r->attempt);
	if (!r->kind) {
		item_run_fail(r, "this worker does not know the job kind %s", kind);
		return;
	}
	if (!item_open_secrets(r))
		return;
	if (!r->org) {
		item_run_fail(r, "organisation %s is not configured ([versori.%s])", org, org);
		return;
	}
	if (r->attempt > r->env->config->max_attempts) {
		item_run_fail(r, "gave up after %d attempts (max_attempts)", r->attempt - 1);
		return;
	}
	job_kind_run(r->kind, r);
}

struct item_run *item_run_start(struct item_env *env, uint64_t item_id, uint64_t token, size_t link)
{
	struct item_run *r = xcalloc(1, sizeof(*r));

	r->env = env;
	r->item_id = item_id;
	r->token = token;
	r->link = link;
	item_store_load(env->store, item_id, token, item_on_loaded, r);
	return r;
}

/* hookrun.release_item() answered: the run ends now, or when its API call returns. */
static void item_on_released(void *userdata, const PGresult *res, int rc)
{
	struct item_run *r = userdata;

	r->release_done = true;
	if (!r->in_call)
		item_run_end(r, WIRE_OUTCOME_RETRY);
}

void item_run_release(struct item_run *r)
{
	char item[24], token[24];
	const char *values[4] = {item, token, "worker stopping", r->env->worker_name};

	if (r->settling || r->released)
		return;
	r->released = true;
	snprintf(item, sizeof(item), "%" PRIu64, r->item_id);
	snprintf(token, sizeof(token), "%" PRIu64, r->token);
	db_queue_send(r->env->db, "release", 4, values, item_on_released, r);
}
