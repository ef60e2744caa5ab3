/* One run of one job item in hookrun-worker: load the item under the lease its task names,
 * hand it to its kind (job_kind), make the kind's Versori API calls while recording every
 * attempt, decide between success, failure and a later retry, and settle the item in
 * PostgreSQL with the calls it made. Runs on the worker's loop; never blocks.
 *
 * A kind sees a struct item_run and drives it with item_run_call() (one API call, then the
 * kind's next step), and ends it with item_run_succeed(), item_run_fail() or
 * item_run_unexpected() (an outcome the kind cannot use: retried when retryable, failed
 * otherwise). Exactly one of these ends every run. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "json.h"
#include "versori.h"
#include "wire.h"
#include "xalloc.h"

struct config;
struct db_queue;
struct event;
struct event_base;
struct http_client;
struct http_client_request;
struct item_store;
struct metrics;
struct item_run;
struct job_kind;
struct schema_cache;
struct secret_keys;
struct schema_hold;
struct versori_org_config;

/* One configured Versori organisation, with its client. Owned by the worker. */
struct worker_org {
	const struct versori_org_config *cfg;
	struct versori_auth *auth;
	struct versori_client *client;
	long long paused_until_ms; /* monotonic: no call before (after a 429, here or elsewhere) */
	/* rate_limit: calls start only with a permit granted by a dispatcher's bucket. */
	uint32_t permits;
	struct item_run *waiting; /* runs whose call waits for a permit, oldest first */
};

/* What every run shares; owned by the worker, outlives its runs. */
struct item_env {
	struct event_base *base;
	struct item_store *store; /* loads and settlements, batched */
	struct db_queue *db;      /* lease renewals and releases */
	const char *worker_name;
	const struct config *config;
	struct metrics *metrics;
	struct worker_org *orgs;
	size_t n_orgs;
	struct schema_cache *schemas;
	const struct secret_keys *keys; /* open the values stored encrypted; NULL: none */
	struct http_client *http;       /* calls outside the Versori API (completion callbacks) */
	uint32_t rng;                   /* retry jitter */
	/* The run made its last call: its settlement is sent to be stored (r->settling), and
	 * env->finished follows once it is. */
	void (*settling)(void *userdata, struct item_run *r);
	/* The run is settled (outcome) or abandoned (FENCED); r is freed after this returns. */
	void (*finished)(void *userdata, struct item_run *r, enum wire_outcome outcome);
	/* The organisation answered 429: pause it for every worker. */
	void (*throttled)(void *userdata, const char *organisation, uint32_t retry_after_ms);
	/* A call to a paced organisation waits for a permit: ask the dispatcher of link. */
	void (*want)(void *userdata, const char *organisation, size_t link);
	void *userdata;
};

/* The next step of a kind after one API call; o is borrowed for the call. */
typedef void (*item_step_fn)(struct item_run *r, struct versori_outcome *o);

struct item_run {
	struct item_env *env;
	uint64_t item_id, token;
	size_t link; /* the dispatcher that sent the task */
	/* From hookrun.load_item(). */
	char *job_id;
	const struct job_kind *kind;
	struct worker_org *org;
	json_t *parameters;
	char *external_id;
	json_t *desired;
	int attempt;
	long long job_age_ms;
	long long lease_deadline_ms; /* monotonic: the lease ends here */
	/* What the kind found or made, for the result and its next steps. */
	json_t *result;
	char *environment_id;
	char *activation_id;
	size_t step; /* a kind's own counter (templates bound, activations removed...) */
	json_t *scratch;
	struct schema_hold *schema; /* the project's variable schema, once fetched */
	void *schema_entry;         /* the cache entry this run is fetching, or NULL */
	void (*after_schema)(struct item_run *r); /* where a kind goes once variables pass */
	struct item_run *wait_next;               /* in its organisation's waiting list */
	bool outside_api; /* a kind calling no Versori API (job.callback): its 429 pauses nothing */
	bool waiting;
	/* Private to item_run.c. */
	struct json_array_text calls; /* the call records, as text: a tree each cost 5x more */
	item_step_fn next;
	struct versori_request pending;
	char *post_path;        /* item_run_post(): what the audit row names */
	unsigned call_retries;  /* retries of the call in flight, within this run */
	struct event *ev_retry; /* the wait before such a retry */
	bool settling;          /* finish_item() sent */
	bool in_call;           /* an API call is in flight */
	bool released;          /* release_item() sent: steps stop */
	bool release_done;      /* ... and answered */
};

/* Start running the item a task named: load it, then run its kind. */
struct item_run *item_run_start(struct item_env *env, uint64_t item_id, uint64_t token,
                                size_t link);
/* Hand the item back at once (the worker is stopping): no further step runs. The run ends
 * through env->finished with WIRE_OUTCOME_RETRY once the release is answered and its API call
 * in flight, if any, returned (cancelling the client's calls makes that immediate). A run
 * already settling ends as it would have. */
void item_run_release(struct item_run *r);
/* A dispatcher granted n calls to org: start the calls waiting for them. */
void item_run_permits(struct worker_org *org, uint32_t n);
/* The versori_attempt_fn of every organisation's client (the call's userdata is the run). */
void item_run_on_attempt(const struct versori_attempt *a, void *call_userdata);

/* For kinds. */
/* Make one API call (req is taken: finished whatever happens) and continue with next. A
 * call that changes something is made only under a lease known to outlast it: the lease is
 * renewed first when it might not, and the run is abandoned when it was lost. */
void item_run_call(struct item_run *r, struct versori_request *req, item_step_fn next);
/* The item reached its desired state; result (taken, may be NULL: r->result) is stored. */
void item_run_succeed(struct item_run *r, json_t *result);
/* The item cannot reach its desired state: failed for good, with the reason. */
_printf_(2, 3) void item_run_fail(struct item_run *r, const char *fmt, ...);
/* Make one HTTP request outside the Versori API (a completion callback to its receiver, who
 * deduplicates by its webhook-id): no permit, pause or lease renewal; recorded for the audit
 * trail as op with the URL's scheme, host and path (never its query), its response classified
 * as an API call's; then next. req is borrowed for this call only. */
void item_run_post(struct item_run *r, const struct http_client_request *req, const char *op,
                   item_step_fn next);
/* An outcome the step cannot use: retried later when it is retryable (and attempts and age
 * allow), otherwise failed; what names the step ("create end user"). */
void item_run_unexpected(struct item_run *r, const struct versori_outcome *o, const char *what);
/* A request builder refused its input: the item fails naming the field. */
void item_run_build_failed(struct item_run *r, const char *what, const struct problem *p);
/* A string member of the job's parameters, or NULL. */
const char *item_run_param(const struct item_run *r, const char *name);
/* Set one member of r->result (made on first use); value is taken. */
void item_run_result_set(struct item_run *r, const char *key, json_t *value);
