/* The jobs API (jobs_api.h). */
#include "jobs_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "answer.h"
#include "audit_log.h"
#include "config.h"
#include "crypto.h"
#include "db_queue.h"
#include "delivery_route.h"
#include "dispatch.h"
#include "http_glue.h"
#include "id.h"
#include "job_copy.h"
#include "job_csv.h"
#include "job_items.h"
#include "job_request.h"
#include "job_secrets.h"
#include "job_target.h"
#include "json.h"
#include "json_scan.h"
#include "log.h"
#include "schema.h"
#include "secret_value.h"
#include "versori_request.h"
#include "xalloc.h"

#define TOKEN_PREFIX    "hrt_"
#define TOKEN_CHARS     43 /* base64url of 32 bytes */
#define JOBS_PATH       "/v1/jobs"
#define DELIVERIES_PATH "/v1/deliveries"
#define PROBLEMS_MAX    100 /* problems listed when items are refused */

static const struct db_prepared jobs_statements[] = {
    {"use_token", "SELECT token_id, organisations, access, coalesce($2 = ANY (organisations), "
                  "false) FROM hookrun.use_token($1::bytea)"},
    {"job", "SELECT hookrun.job_json($1::uuid, $2::text[])"},
    {"jobs", "SELECT hookrun.jobs_page($1::text[], $2, $3, $4, $5::integer, $6::uuid)"},
    {"items", "SELECT hookrun.job_items_page($1::uuid, $2::text[], $3, $4::integer, "
              "$5::bigint)"},
    {"cancel", "SELECT hookrun.cancel_job($1::uuid, $2::text[], $3)"},
    {"retry", "SELECT hookrun.retry_job($1::uuid, $2::text[], $3)"},
    {"delivery", "SELECT hookrun.delivery_json($1::uuid, $3::jsonb, $2::text[])"},
    {"replay_input", "SELECT source, body, last_routing FROM "
                     "hookrun.delivery_replay_input($1::uuid, $3::jsonb, $2::text[])"},
    {"replay", "SELECT outcome, coalesce(job_id::text, ''), coalesce(reason, '') FROM "
               "hookrun.replay_delivery($1::uuid, $2::jsonb, $3, $4::boolean)"},
    {"record_calls", "SELECT hookrun.record_api_calls($1, $2, $3::jsonb)"},
    {"job_by_key", "SELECT id, request_sha256 IS NOT DISTINCT FROM $3::bytea, items_total "
                   "FROM hookrun.jobs WHERE submitted_by = $1 AND idempotency_key = $2"},
};

/* What a request asks for. */
enum call_op {
	CALL_SUBMIT,
	CALL_GET,
	CALL_LIST,
	CALL_ITEMS,
	CALL_CANCEL,
	CALL_RETRY,
	CALL_DELIVERY,
	CALL_REPLAY,
};

/* One route of the API: its path, a base and what follows it (NULL: the base itself; "":
 * base/{id}; "/items": base/{id}/items ...), its method (GET takes HEAD too) and operation,
 * whether it needs a write token, its label in the request counter and the methods its path
 * takes. */
struct api_route {
	const char *base, *suffix;
	enum http_method method;
	enum call_op op;
	bool write;
	const char *label, *allow;
};

static const struct api_route api_routes[] = {
    {JOBS_PATH, NULL, HTTP_METHOD_POST, CALL_SUBMIT, true, "jobs", "GET, HEAD, POST"},
    {JOBS_PATH, NULL, HTTP_METHOD_GET, CALL_LIST, false, "jobs", "GET, HEAD, POST"},
    {JOBS_PATH, "", HTTP_METHOD_GET, CALL_GET, false, "job", "GET, HEAD"},
    {JOBS_PATH, "/items", HTTP_METHOD_GET, CALL_ITEMS, false, "job_items", "GET, HEAD"},
    {JOBS_PATH, "/cancel", HTTP_METHOD_POST, CALL_CANCEL, true, "job_cancel", "POST"},
    {JOBS_PATH, "/retry", HTTP_METHOD_POST, CALL_RETRY, true, "job_retry", "POST"},
    {DELIVERIES_PATH, "", HTTP_METHOD_GET, CALL_DELIVERY, false, "delivery", "GET, HEAD"},
    {DELIVERIES_PATH, "/replay", HTTP_METHOD_POST, CALL_REPLAY, true, "delivery_replay", "POST"},
};

/* A request waiting for its statements; linked in its API's list until answered. */
struct call {
	struct call *prev, *next;
	struct jobs_api *api;
	struct http_exchange *ex;
	const struct api_route *route;
	enum call_op op;
	char path_id[37];                           /* the job or delivery id of the path */
	char hash[2 + CRYPTO_SHA256_HEX_SIZE];      /* the token's SHA-256 as bytea text */
	char body_hash[2 + CRYPTO_SHA256_HEX_SIZE]; /* a submission's (submit_hash()), or "" */
	struct job_request req; /* its problem is answered once the token is known to be good */
	char *token_id, *organisations;
	/* a submission */
	struct job_target_ask *ask; /* waiting for the project's schema or environment */
	size_t n_items;             /* submitted */
	size_t skipped;             /* refused, with skip_invalid */
	json_t *problems;           /* of the refused items: the first PROBLEMS_MAX */
	struct job_copy *copy;      /* the items to store, read again from the body */
	struct job_secrets secrets; /* which values are secret; sealed as they are stored */
	char *secret_missing;       /* a secret value's field, found with no secrets_key */
	struct call *store_next;    /* in the API's queue of submissions to store */
	bool storing;               /* in that queue */
	/* The API calls made for the submission are being recorded: it is answered, or queued to
	 * be stored, only once they are (nothing is acknowledged before its record commits). */
	bool recording;
	bool store_after;           /* then queue it to be stored */
	struct answer_problem held; /* else answer this (message and fields are the call's) */
	char *held_message;
};

struct jobs_api {
	const struct config *config;
	char *source_orgs; /* {"source": "organisation", ...} of the routing sources */
	struct metrics *metrics;
	struct audit_log *audit; /* token uses are tallied there */
	struct dispatch *dispatch;
	struct db_queue *db;
	/* Submissions are stored on a connection of their own, one at a time, each a streamed
	 * COPY that may run for seconds: the other calls' statements never wait behind one. */
	struct db_async *store;
	struct call *store_head, *store_tail;
	struct job_target *target;
	struct secret_keys *keys; /* secrets_key: seals secret values; NULL: none configured */
	struct call *calls;
};

/* Unlink and free a call. */
static void call_free(struct call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->api->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->ask)
		job_target_cancel(c->ask);
	if (c->storing) { /* only when the API is freed with submissions waiting */
		struct call **pp = &c->api->store_head, *prev = NULL;
		while (*pp && *pp != c)
			prev = *pp, pp = &(*pp)->store_next;
		if (*pp)
			*pp = c->store_next;
		if (c->api->store_tail == c)
			c->api->store_tail = prev;
	}
	job_copy_free(c->copy);
	free(c->secret_missing);
	free(c->held_message);
	json_decref(c->held.fields);
	json_decref(c->problems);
	job_request_fini(&c->req);
	free(c->token_id);
	free(c->organisations);
	free(c);
}

/* Answer with an error and free the call (once its calls are recorded, when they are being:
 * fields is taken either way). */
static void call_error(struct call *c, int status, const char *code, const char *message,
                       json_t *fields)
{
	if (c->recording) {
		c->held_message = xstrdup(message);
		c->held = (struct answer_problem){
		    .status = status, .code = code, .message = c->held_message, .fields = fields};
		return;
	}
	answer_error(c->ex, c->api->metrics, c->route->label,
	             &(struct answer_problem){.status = status,
	                                      .code = code,
	                                      .message = message,
	                                      .fields = fields,
	                                      .retry_after_s = c->api->config->retry_after_s});
	call_free(c);
}

/* The token of "Authorization: Bearer hrt_…" as its SHA-256 in bytea text; false when the
 * header is missing, repeated or not such a token. */
static bool token_hash(const struct http_req *req, char out[2 + CRYPTO_SHA256_HEX_SIZE])
{
	const char *auth = NULL, *t;
	size_t n = 0;

	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, "Authorization") == 0) {
			auth = req->headers[i].value;
			n++;
		}
	if (n != 1 || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	t = auth + 7;
	while (*t == ' ')
		t++;
	if (strncmp(t, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0 ||
	    strlen(t) != strlen(TOKEN_PREFIX) + TOKEN_CHARS ||
	    strspn(t + strlen(TOKEN_PREFIX),
	           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
	        TOKEN_CHARS)
		return false;
	out[0] = '\\';
	out[1] = 'x';
	return crypto_sha256_hex(t, strlen(t), out + 2) >= 0;
}

/* The job is stored (created) or was stored before under the same key: 202 or 200, with its
 * Location, the items stored and those skipped. */
static void submit_answer(struct call *c, const char *job_id, bool created)
{
	char location[64];
	struct http_header loc[2] = {{0}};

	snprintf(location, sizeof(location), JOBS_PATH "/%s", job_id);
	loc[0] = (struct http_header){"Location", location};
	if (created && c->api->dispatch)
		dispatch_wake(c->api->dispatch);
	log_event(LOG_LEVEL_INFO, "jobs.submitted", "job=%s token=%s created=%s", job_id,
	          c->token_id, created ? "true" : "false");
	answer_json(c->ex, c->api->metrics, "jobs", created ? 202 : 200,
	            json_pack("{s:s,s:b,s:I,s:I,s:O*}", "job_id", job_id, "duplicate", !created,
	                      "items", (json_int_t)c->n_items, "skipped", (json_int_t)c->skipped,
	                      "problems", c->skipped ? c->problems : NULL),
	            loc);
	call_free(c);
}

static void store_kick(struct jobs_api *a);

/* The submission committed (or was refused): answer it, then store the next. */
static void submit_on_stored(void *userdata, const PGresult *res, int r)
{
	struct call *c = userdata;
	struct jobs_api *a = c->api;
	const char *state = r == 0 ? db_result_sqlstate(res) : NULL;

	a->store_head = c->store_next;
	if (!a->store_head)
		a->store_tail = NULL;
	c->storing = false;
	store_kick(a);
	if (r < 0)
		return call_error(c, 503, "unavailable", "the database connection was lost", NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
			return call_error(c, 422, "invalid_items", db_result_message(res),
			                  json_pack("[{s:s,s:s}]", "field", "items", "problem",
			                            db_result_message(res)));
		log_event(LOG_LEVEL_ERROR, "jobs.submit_failed", "sqlstate=%s detail=%s",
		          state ? state : "-", db_result_message(res));
		return call_error(c, 500, "internal_error", "the job could not be stored", NULL);
	}
	if (strcmp(PQgetvalue(res, 0, 2), "t") == 0)
		return call_error(c, 409, "idempotency_conflict",
		                  "this Idempotency-Key was used for a different request", NULL);
	log_event(LOG_LEVEL_DEBUG, "jobs.items_stored", "job=%s items=%zu", PQgetvalue(res, 0, 0),
	          job_copy_lines(c->copy));
	submit_answer(c, PQgetvalue(res, 0, 0), strcmp(PQgetvalue(res, 0, 1), "t") == 0);
}

/* The COPY wants its next chunk: the kept items of the body, under the job just made; none
 * when the Idempotency-Key found an earlier job (created false). */
static int submit_copy_next(void *userdata, const PGresult *before, const void **data, size_t *len)
{
	struct call *c = userdata;

	if (PQresultStatus(before) != PGRES_TUPLES_OK || PQntuples(before) != 1 ||
	    strcmp(PQgetvalue(before, 0, 1), "t") != 0)
		return 0;
	if (job_copy_lines(c->copy) == 0)
		job_copy_start(c->copy, PQgetvalue(before, 0, 0));
	return job_copy_next(c->copy, data, len);
}

/* The request's hash for its Idempotency-Key, once: of the body, and of the query when there
 * is one (a CSV submission's job is there), as bytea text. */
static const char *submit_hash(struct call *c)
{
	const struct http_req *req = http_exchange_req(c->ex);
	char body[CRYPTO_SHA256_HEX_SIZE];
	_cleanup_free_ char *both = NULL;
	char *hash = c->body_hash;

	if (hash[0])
		return hash;
	hash[0] = '\\';
	hash[1] = 'x';
	if (crypto_sha256_hex(req->body, req->body_len, body) < 0)
		abort();
	if (!req->query || !*req->query) {
		memcpy(hash + 2, body, CRYPTO_SHA256_HEX_SIZE);
		return hash;
	}
	both = xasprintf("%s\n%s", body, req->query);
	if (crypto_sha256_hex(both, strlen(both), hash + 2) < 0)
		abort();
	return hash;
}

/* The text that stores the submission at the head of the queue: the job, then the COPY of its
 * items; NULL when the connection went. */
static char *store_sql(struct call *c)
{
	struct db_async *db = c->api->store;
	const json_t *p = json_object_get(c->req.body, "parameters");
	_cleanup_free_ char *params = p ? json_dumps(p, JSON_COMPACT) : xstrdup("{}");
	_cleanup_free_ char *by = xasprintf("token:%s", c->token_id);
	_cleanup_free_ char *l_kind = NULL, *l_org = NULL, *l_params = NULL, *l_by = NULL,
	                    *l_key = NULL, *l_hash = NULL;

	if (!params)
		abort();
	l_kind = db_async_literal(db, json_string_value(json_object_get(c->req.body, "kind")));
	l_org =
	    db_async_literal(db, json_string_value(json_object_get(c->req.body, "organisation")));
	l_params = db_async_literal(db, params);
	l_by = db_async_literal(db, by);
	l_key =
	    c->req.idempotency_key ? db_async_literal(db, c->req.idempotency_key) : xstrdup("NULL");
	l_hash = db_async_literal(db, submit_hash(c));
	if (!l_kind || !l_org || !l_params || !l_by || !l_key || !l_hash)
		return NULL;
	return xasprintf("SELECT job_id, created, conflict FROM hookrun.submit_job_open(%s, %s, "
	                 "%s::jsonb, %zu, %s, %s, %s::bytea); "
	                 "COPY hookrun.job_items (job_id, external_id, desired) FROM STDIN "
	                 "(FORMAT csv)",
	                 l_kind, l_org, l_params, c->n_items, l_by, l_key, l_hash);
}

/* Store the submission at the head of the queue when the connection is free; those that
 * cannot be sent (the connection went) are answered 503. */
static void store_kick(struct jobs_api *a)
{
	struct call *c;

	while ((c = a->store_head) && db_async_idle(a->store)) {
		_cleanup_free_ char *sql = store_sql(c);

		if (sql && db_async_send_copy_stream(a->store, sql, submit_copy_next,
		                                     submit_on_stored, c) == 0)
			return;
		a->store_head = c->store_next;
		if (!a->store_head)
			a->store_tail = NULL;
		c->storing = false;
		call_error(c, 503, "database_unavailable",
		           "the database is unreachable; retry later", NULL);
	}
}

/* The store connection came (store what waits) or went (what is in flight fails with it). */
static void store_on_state(void *userdata, bool connected)
{
	if (connected)
		store_kick(userdata);
}

/* The job's items are known good, or the bad ones skipped (n kept): queue the job to be
 * stored. */
static void submit_store(struct call *c, size_t n)
{
	struct jobs_api *a = c->api;

	if (c->recording) {
		c->n_items = n;
		c->store_after = true;
		return;
	}
	if (!db_async_connected(a->store))
		return call_error(c, 503, "database_unavailable",
		                  "the database is unreachable; retry later", NULL);
	c->n_items = n;
	c->storing = true;
	if (a->store_tail)
		a->store_tail->store_next = c;
	else
		a->store_head = c;
	a->store_tail = c;
	store_kick(a);
}

/* A good item in the first pass: kept for the COPY stream; without a secrets_key, the first
 * secret value it holds is noted (the submission is then refused). */
static void submit_item_good(void *userdata, size_t index, const json_t *item)
{
	struct call *c = userdata;

	/* With no key, sealing only looks: it fails at the first secret value, changing nothing. */
	if (!c->secrets.keys && !c->secret_missing)
		(void)job_secrets_seal(&c->secrets, NULL, (json_t *)item, &c->secret_missing);
	job_copy_keep(c->copy, index, item);
}

/* A CSV body's items, typed and checked by schema (may be NULL), the good ones marked in the
 * call's COPY stream (*ret_n of them); problems as [{"row", "column", "field", "problem"}];
 * fatal: a problem of the whole text (its header). */
static void submit_csv_items(struct call *c, const struct schema *schema, size_t *ret_n,
                             struct job_items_check *ret_chk, bool *ret_fatal)
{
	const struct http_req *req = http_exchange_req(c->ex);
	const json_t *doc = schema ? schema_document(schema) : NULL;
	struct job_csv *p = job_csv_new(doc, PROBLEMS_MAX);
	const struct job_csv_problem *probs;
	_cleanup_free_ char *text = NULL;
	size_t n = 0, len = 0;

	c->copy = job_copy_new_csv(req->body, req->body_len, doc);
	job_csv_set_good(p, submit_item_good, c);
	if (schema)
		job_csv_validate_with(p, schema);
	(void)job_csv_feed(p, req->body, req->body_len);
	(void)job_csv_finish_text(p, &text, &len, ret_n);
	probs = job_csv_problems(p, &n, &ret_chk->total);
	ret_chk->problems = json_array();
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *field =
		    probs[i].column ? xasprintf("row %zu, %s", probs[i].row, probs[i].column)
		                    : xasprintf("row %zu", probs[i].row);
		json_array_append_new(ret_chk->problems,
		                      json_pack("{s:I,s:s?,s:s,s:s}", "row",
		                                (json_int_t)probs[i].row, "column", probs[i].column,
		                                "field", field, "problem", probs[i].message));
	}
	ret_chk->refused = job_csv_rows(p) - *ret_n;
	*ret_fatal = job_csv_fatal(p);
	job_csv_free(p);
}

/* json_scan_each(): one item of a JSON body, parsed alone, checked, and let go. */
static int submit_json_item(void *userdata, const char *key, const void *value, size_t len)
{
	struct job_items *k = userdata;
	json_error_t e;
	json_t *item = json_loadb(value, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);

	job_items_add(k, item, item ? NULL : e.text);
	json_decref(item);
	return 0;
}

/* A JSON body's items checked against schema (may be NULL) one at a time (never a tree of
 * values for all of them), the good ones marked in the call's COPY stream (*ret_n of them). */
static void submit_json_items(struct call *c, const struct schema *schema, size_t *ret_n,
                              struct job_items_check *ret_chk)
{
	struct job_items *k = job_items_new(schema, PROBLEMS_MAX);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;

	c->copy = job_copy_new_json(c->req.items, c->req.items_len);
	job_items_set_good(k, submit_item_good, c);
	if (json_scan_each(c->req.items, c->req.items_len, submit_json_item, k) < 0)
		abort(); /* checked by json_scan_check() in job_request: only on out of memory */
	(void)job_items_finish(k, &text, &len, ret_n, ret_chk);
	job_items_free(k);
}

/* Refuse a submission holding a secret value (in field) that this ingress cannot store
 * encrypted: it has no secrets_key. */
static void submit_refuse_secret(struct call *c, const char *field)
{
	_cleanup_free_ char *msg =
	    xasprintf("%s is secret and this ingress has no secrets_key to store it encrypted; "
	              "nothing was submitted",
	              field);

	log_event(LOG_LEVEL_WARN, "jobs.secrets_key_missing", "field=%s", field);
	call_error(c, 422, "secrets_key_missing", msg,
	           json_pack("[{s:s,s:s}]", "field", field, "problem",
	                     "a secret value, and no secrets_key is configured"));
}

/* The items are read (and checked against schema, when there is one): refuse the job when
 * any is bad (unless the caller skips those), else store it. The items are read twice: here,
 * each checked and let go, and again as they are streamed into PostgreSQL (job_copy), so
 * that no copy of them is ever whole next to the body. */
static void submit_items(struct call *c, const struct schema *schema)
{
	const struct versori_org_config *org = config_versori_find(
	    c->api->config, json_string_value(json_object_get(c->req.body, "organisation")));
	struct job_items_check chk = {0};
	_cleanup_free_ char *msg = NULL, *field = NULL;
	bool fatal = false;
	size_t n = 0;
	int r;

	c->secrets = (struct job_secrets){
	    .keys = c->api->keys,
	    .schema = schema ? schema_document(schema) : NULL,
	    .names = org ? org->secret_variables : NULL,
	};
	r = job_secrets_seal(&c->secrets, json_object_get(c->req.body, "parameters"), NULL, &field);
	if (r == -ENOKEY)
		return submit_refuse_secret(c, field);
	if (r < 0)
		return call_error(c, 500, "internal_error", "a secret value could not be encrypted",
		                  NULL);
	if (c->req.csv)
		submit_csv_items(c, schema, &n, &chk, &fatal);
	else
		submit_json_items(c, schema, &n, &chk);
	c->problems = TAKE_PTR(chk.problems);
	if (chk.total == 0 && n == 0) {
		job_items_check_fini(&chk);
		return call_error(
		    c, 422, "invalid_items", "the body holds no items (no data rows)",
		    json_pack("[{s:s,s:s}]", "field", "items", "problem", "no data rows"));
	}
	if (chk.total > 0 && (!c->req.skip_invalid || fatal || n == 0)) {
		msg = xasprintf("%zu problem%s in the items%s%s; nothing was submitted%s",
		                chk.total, chk.total == 1 ? "" : "s",
		                chk.total > PROBLEMS_MAX ? " (the first " : "",
		                chk.total > PROBLEMS_MAX ? "100 are listed)" : "",
		                n && !fatal ? " (skip_invalid=true submits the good ones)" : "");
		job_items_check_fini(&chk);
		return call_error(c, 422, "invalid_items", msg, json_incref(c->problems));
	}
	c->skipped = chk.refused;
	job_items_check_fini(&chk);
	if (c->secret_missing)
		return submit_refuse_secret(c, c->secret_missing);
	if (c->secrets.keys)
		job_copy_set_secrets(c->copy, &c->secrets);
	submit_store(c, n);
}

/* The audit rows of the API calls made for a submission were written (or not: logged). */
static void submit_on_recorded(void *userdata, const PGresult *res, int r)
{
	struct call *c = userdata;
	json_t *fields = TAKE_PTR(c->held.fields);

	if (r < 0 || PQresultStatus(res) != PGRES_TUPLES_OK)
		log_event(LOG_LEVEL_ERROR, "jobs.calls_not_recorded", "detail=%s",
		          r < 0 ? "the database connection was lost" : db_result_message(res));
	c->recording = false;
	if (c->store_after)
		return submit_store(c, c->n_items);
	if (c->held.status)
		return call_error(c, c->held.status, c->held.code, c->held.message, fields);
}

/* Answer a submission whose project or environment could not be read. */
static void submit_target_failed(struct call *c, const struct job_target_answer *a)
{
	const char *field = strncmp(a->message, "parameters.environment", 22) == 0
	                        ? "parameters.environment"
	                        : "parameters.projectId";

	switch (a->r) {
	case -ENOENT:
		return call_error(c, 422, "invalid_job", a->message,
		                  json_pack("[{s:s,s:s}]", "field", field, "problem", a->message));
	case -EAGAIN:
	case -ECANCELED:
		return call_error(c, 503, "versori_unavailable", a->message, NULL);
	default:
		return call_error(c, 502, "versori_error", a->message, NULL);
	}
}

/* The project's schema (and environment) arrived: record the calls, then the items. */
static void submit_on_target(const struct job_target_answer *a, void *userdata)
{
	struct call *c = userdata;
	const char *org = json_string_value(json_object_get(c->req.body, "organisation"));
	_cleanup_free_ char *calls = NULL, *by = NULL;
	const char *values[3];

	c->ask = NULL;
	if (json_array_size(a->calls) > 0 && a->r != -ECANCELED) {
		calls = json_dumps(a->calls, JSON_COMPACT);
		by = xasprintf("token:%s", c->token_id);
		values[0] = by;
		values[1] = org;
		values[2] = calls;
		if (calls)
			db_queue_send(c->api->db, "record_calls", 3, values, submit_on_recorded, c);
		c->recording = calls != NULL;
	}
	if (a->r < 0)
		return submit_target_failed(c, a);
	if (a->environment_id)
		json_object_set_new(json_object_get(c->req.body, "parameters"), "environmentId",
		                    json_string(a->environment_id));
	submit_items(c, a->schema);
}

/* The request is new (no job under its key): what the items need from the Versori API (the
 * project's schema, an environment's id), then the items. */
static void submit_prepare(struct call *c)
{
	const char *org = json_string_value(json_object_get(c->req.body, "organisation"));
	const json_t *p = json_object_get(c->req.body, "parameters");
	const char *project = json_string_value(json_object_get(p, "projectId"));
	const char *env = json_object_get(p, "environmentId")
	                      ? NULL
	                      : json_string_value(json_object_get(p, "environment"));
	const json_t *cb = json_object_get(p, "callbackUrl");
	bool can_ask;

	if (cb && !config_callback_url_allowed(c->api->config, json_string_value(cb)))
		return call_error(
		    c, 422, "invalid_job",
		    "parameters.callbackUrl: not a URL this ingress may call back (callback_urls)",
		    json_pack("[{s:s,s:s}]", "field", "parameters.callbackUrl", "problem",
		              c->api->config->callback_urls
		                  ? "must start with one of the prefixes callback_urls allows"
		                  : "completion callbacks are not enabled (callback_urls)"));
	can_ask = job_target_can_ask(c->api->target, org);
	if (env && !can_ask)
		return call_error(
		    c, 422, "invalid_job",
		    "parameters.environment: this ingress has no credential for the organisation "
		    "to look the name up; give parameters.environmentId",
		    json_pack("[{s:s,s:s}]", "field", "parameters.environment", "problem",
		              "give parameters.environmentId"));
	if (can_ask && (env || (project && versori_ulid_is_valid(project)))) {
		c->ask = job_target_get(c->api->target, org, project, env, submit_on_target, c);
		return;
	}
	submit_items(c, NULL);
}

/* The job stored under the request's Idempotency-Key, if any: the same request gets that job
 * at once (200, without asking the Versori API or reading the items again), another one 409;
 * none: on with the request. */
static void submit_on_key(void *userdata, const PGresult *res, int r)
{
	struct call *c = userdata;

	if (r < 0)
		return call_error(c, 503, "unavailable", "the database connection was lost", NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_event(LOG_LEVEL_ERROR, "jobs.key_failed", "detail=%s", db_result_message(res));
		return call_error(c, 500, "internal_error", "the key could not be looked up", NULL);
	}
	if (PQntuples(res) == 0)
		return submit_prepare(c);
	if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
		return call_error(c, 409, "idempotency_conflict",
		                  "this Idempotency-Key was used for a different request", NULL);
	c->n_items = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
	submit_answer(c, PQgetvalue(res, 0, 0), false);
}

/* A good token may submit: the request's problems first, then its organisation, then its
 * Idempotency-Key, then the rest. */
static void submit_send(struct call *c, bool in_scope)
{
	const char *org = json_string_value(json_object_get(c->req.body, "organisation"));
	_cleanup_free_ char *by = NULL;
	const char *values[3];

	if (c->req.status)
		return call_error(c, c->req.status, c->req.code, c->req.message,
		                  json_incref(c->req.fields));
	if (!in_scope || !config_versori_find(c->api->config, org))
		return call_error(c, 404, "unknown_organisation",
		                  "no such organisation for this token", NULL);
	if (!c->req.idempotency_key)
		return submit_prepare(c);
	by = xasprintf("token:%s", c->token_id);
	values[0] = by;
	values[1] = c->req.idempotency_key;
	values[2] = submit_hash(c);
	db_queue_send(c->api->db, "job_by_key", 3, values, submit_on_key, c);
}

/* A job, a list, a cancel, a retry or a delivery answered: the JSON the database made, or
 * not found. */
static void json_on_result(void *userdata, const PGresult *res, int r)
{
	struct call *c = userdata;
	const char *state = r == 0 ? db_result_sqlstate(res) : NULL;
	const char *json;

	if (r < 0)
		return call_error(c, 503, "unavailable", "the database connection was lost", NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (state && strcmp(state, "22023") == 0)
			return call_error(c, 400, "invalid_query", db_result_message(res),
			                  json_pack("[{s:s,s:s}]", "field", "cursor", "problem",
			                            db_result_message(res)));
		log_event(LOG_LEVEL_ERROR, "jobs.statement_failed", "route=%s detail=%s",
		          c->route->label, db_result_message(res));
		return call_error(c, 500, "internal_error", "the request could not be carried out",
		                  NULL);
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		return call_error(c, 404, "not_found",
		                  c->op == CALL_DELIVERY ? "no such delivery" : "no such job",
		                  NULL);
	json = PQgetvalue(res, 0, 0);
	if (c->op == CALL_CANCEL || c->op == CALL_RETRY) {
		log_event(LOG_LEVEL_INFO, c->op == CALL_CANCEL ? "jobs.cancelled" : "jobs.retried",
		          "job=%s token=%s", c->path_id, c->token_id);
		if (c->op == CALL_RETRY && c->api->dispatch)
			dispatch_wake(c->api->dispatch);
	}
	answer_count(c->api->metrics, c->route->label, 200);
	http_exchange_respond(c->ex, 200, "application/json", json, strlen(json), NULL, 0);
	call_free(c);
}

/* hookrun.replay_delivery() answered: the routing it recorded. */
static void replay_on_result(void *userdata, const PGresult *res, int r)
{
	struct call *c = userdata;
	const char *state = r == 0 ? db_result_sqlstate(res) : NULL;
	json_t *body;

	if (r < 0)
		return call_error(c, 503, "unavailable", "the database connection was lost", NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		if (state && strcmp(state, "23505") == 0)
			return call_error(c, 409, "already_routed", db_result_message(res), NULL);
		if (state && strcmp(state, "55000") == 0)
			return call_error(c, 410, "body_pruned", db_result_message(res), NULL);
		log_event(LOG_LEVEL_ERROR, "jobs.replay_failed", "delivery=%s detail=%s",
		          c->path_id, db_result_message(res));
		return call_error(c, 500, "internal_error", "the replay could not be recorded",
		                  NULL);
	}
	if (strcmp(PQgetvalue(res, 0, 0), "routed") == 0 && c->api->dispatch)
		dispatch_wake(c->api->dispatch);
	log_event(LOG_LEVEL_INFO, "deliveries.replayed", "delivery=%s token=%s outcome=%s",
	          c->path_id, c->token_id, PQgetvalue(res, 0, 0));
	body = json_pack("{s:s,s:s}", "delivery_id", c->path_id, "outcome", PQgetvalue(res, 0, 0));
	if (*PQgetvalue(res, 0, 1))
		json_object_set_new(body, "job_id", json_string(PQgetvalue(res, 0, 1)));
	if (*PQgetvalue(res, 0, 2))
		json_object_set_new(body, "reason", json_string(PQgetvalue(res, 0, 2)));
	answer_json(c->ex, c->api->metrics, c->route->label, 200, body, NULL);
	call_free(c);
}

/* What a replay needs arrived: the route today's [source.NAME] gives the stored body, then
 * hookrun.replay_delivery(), unless there is nothing to route or it was routed already. */
static void replay_on_input(void *userdata, const PGresult *res, int r)
{
	struct call *c = userdata;
	const struct source_config *src;
	_cleanup_free_ char *route = NULL, *by = NULL, *msg = NULL;
	const char *values[4], *last;
	unsigned char *body;
	size_t len = 0;

	if (r < 0)
		return call_error(c, 503, "unavailable", "the database connection was lost", NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_event(LOG_LEVEL_ERROR, "jobs.replay_failed", "delivery=%s detail=%s",
		          c->path_id, db_result_message(res));
		return call_error(c, 500, "internal_error", "the delivery could not be read", NULL);
	}
	if (PQntuples(res) != 1)
		return call_error(c, 404, "not_found", "no such delivery", NULL);
	src = config_source_find(c->api->config, PQgetvalue(res, 0, 0));
	if (!src)
		return call_error(c, 409, "source_unknown",
		                  "the delivery's source is not configured any more", NULL);
	last = PQgetvalue(res, 0, 2);
	if (!c->req.force && strncmp(last, "routed ", 7) == 0) {
		msg = xasprintf("the delivery was routed to job %s already; force=true routes it "
		                "again (a second job)",
		                last + 7);
		return call_error(c, 409, "already_routed", msg, NULL);
	}
	body = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 1), &len);
	if (!body)
		return call_error(c, 500, "internal_error", "the stored body could not be read",
		                  NULL);
	route = delivery_route_build(src, body, len);
	PQfreemem(body);
	{
		const struct versori_org_config *org =
		    config_versori_find(c->api->config, src->organisation ? src->organisation : "");

		delivery_route_seal(
		    &route, &(struct job_secrets){.keys = c->api->keys,
		                                  .names = org ? org->secret_variables : NULL});
	}
	if (!route)
		return call_error(c, 409, "not_routable",
		                  "the delivery's source only stores (route = store)", NULL);
	by = xasprintf("token:%s", c->token_id);
	values[0] = c->path_id;
	values[1] = route;
	values[2] = by;
	values[3] = c->req.force ? "true" : "false";
	db_queue_send(c->api->db, "replay", 4, values, replay_on_result, c);
}

/* The statement of a request that reads or acts on jobs, for a good token. */
static void call_send(struct call *c)
{
	_cleanup_free_ char *by = xasprintf("token:%s", c->token_id);
	const char *values[7] = {NULL};

	if (c->req.status)
		return call_error(c, c->req.status, c->req.code, c->req.message,
		                  json_incref(c->req.fields));
	if (c->op != CALL_LIST && !id_uuid_is_valid(c->path_id))
		return call_error(c, 404, "not_found",
		                  c->op == CALL_DELIVERY || c->op == CALL_REPLAY
		                      ? "no such delivery"
		                      : "no such job",
		                  NULL);
	values[0] = c->path_id;
	values[1] = c->organisations;
	values[2] = c->api->source_orgs;
	switch (c->op) {
	case CALL_DELIVERY:
		return db_queue_send(c->api->db, "delivery", 3, values, json_on_result, c);
	case CALL_REPLAY:
		return db_queue_send(c->api->db, "replay_input", 3, values, replay_on_input, c);
	case CALL_GET:
		return db_queue_send(c->api->db, "job", 2, values, json_on_result, c);
	case CALL_CANCEL:
	case CALL_RETRY:
		values[2] = by;
		return db_queue_send(c->api->db, c->op == CALL_CANCEL ? "cancel" : "retry", 3,
		                     values, json_on_result, c);
	default:
		break;
	}
	if (c->op == CALL_ITEMS) {
		values[2] = c->req.state;
		values[3] = c->req.limit ? c->req.limit : "100";
		values[4] = c->req.cursor;
		return db_queue_send(c->api->db, "items", 5, values, json_on_result, c);
	}
	values[0] = c->organisations;
	values[1] = c->req.state;
	values[2] = c->req.kind;
	values[3] = c->req.organisation;
	values[4] = c->req.limit ? c->req.limit : "100";
	values[5] = c->req.cursor;
	db_queue_send(c->api->db, "jobs", 6, values, json_on_result, c);
}

/* hookrun.use_token() answered: who is asking, then the request's own statement. */
static void call_on_token(void *userdata, const PGresult *res, int r)
{
	struct call *c = userdata;

	if (r < 0)
		return call_error(c, 503, "unavailable", "the database connection was lost", NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_event(LOG_LEVEL_ERROR, "jobs.token_failed", "detail=%s",
		          db_result_message(res));
		return call_error(c, 500, "internal_error", "the token could not be checked", NULL);
	}
	if (PQntuples(res) != 1)
		return call_error(c, 401, "invalid_token",
		                  "the token is unknown, expired or revoked", NULL);
	c->token_id = xstrdup(PQgetvalue(res, 0, 0));
	c->organisations = xstrdup(PQgetvalue(res, 0, 1));
	{
		_cleanup_free_ char *actor = xasprintf("token:%s", c->token_id);
		audit_log_tally(c->api->audit, "token.used", actor, NULL, c->route->label);
	}
	if (c->route->write && strcmp(PQgetvalue(res, 0, 2), "write") != 0)
		return call_error(c, 403, "forbidden", "this token may only read", NULL);
	if (c->op == CALL_SUBMIT)
		return submit_send(c, strcmp(PQgetvalue(res, 0, 3), "t") == 0);
	call_send(c);
}

/* Whether p is base (then *ret_suffix is NULL) or base/{id}[suffix] (the id, at most 36
 * characters, in path_id; a longer one becomes "-", no id). */
static bool path_split(const char *p, const char *base, char path_id[37], const char **ret_suffix)
{
	size_t n = strlen(base), id_len;

	*ret_suffix = NULL;
	if (strcmp(p, base) == 0)
		return true;
	if (strncmp(p, base, n) != 0 || p[n] != '/')
		return false;
	id_len = strcspn(p + n + 1, "/");
	if (id_len == 0)
		return false;
	if (id_len <= 36)
		snprintf(path_id, 37, "%.*s", (int)id_len, p + n + 1);
	else
		snprintf(path_id, 37, "-");
	*ret_suffix = p + n + 1 + id_len;
	return true;
}

/* The route of path and method, with the id from the path; NULL after answering 404 or
 * 405. */
static const struct api_route *call_route(struct jobs_api *a, struct http_exchange *ex,
                                          const struct http_req *req, char path_id[37])
{
	const char *p = strlen(req->path) == req->path_len ? req->path : ""; /* a NUL: no route */
	const struct api_route *shape = NULL;
	bool get = req->method == HTTP_METHOD_GET || req->method == HTTP_METHOD_HEAD;

	for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
		const struct api_route *r = &api_routes[i];
		const char *suffix;
		if (!path_split(p, r->base, path_id, &suffix) ||
		    (r->suffix == NULL) != (suffix == NULL) ||
		    (suffix && strcmp(r->suffix, suffix) != 0))
			continue;
		shape = r;
		if (r->method == req->method || (r->method == HTTP_METHOD_GET && get))
			return r;
	}
	if (shape)
		answer_error(ex, a->metrics, shape->label,
		             &(struct answer_problem){.status = 405,
		                                      .code = "method_not_allowed",
		                                      .message = "this path takes other methods",
		                                      .allow = shape->allow});
	else
		answer_error(ex, a->metrics, "other",
		             &(struct answer_problem){
		                 .status = 404, .code = "not_found", .message = "no such route"});
	return NULL;
}

void jobs_api_handle(struct jobs_api *a, struct http_exchange *ex, const struct http_req *req,
                     bool draining)
{
	const struct api_route *route;
	struct call *c;
	char path_id[37] = "";
	const char *values[2];

	route = call_route(a, ex, req, path_id);
	if (!route)
		return;
	c = xcalloc(1, sizeof(*c));
	c->api = a;
	c->ex = ex;
	c->route = route;
	c->op = route->op;
	snprintf(c->path_id, sizeof(c->path_id), "%s", path_id);
	c->next = a->calls;
	if (a->calls)
		a->calls->prev = c;
	a->calls = c;
	if (draining)
		return call_error(c, 503, "unavailable", "the ingress is shutting down", NULL);
	if (!token_hash(req, c->hash))
		return call_error(c, 401, "invalid_token",
		                  "an Authorization: Bearer token from `hookrun tokens create` is "
		                  "required",
		                  NULL);
	if (!db_queue_connected(a->db))
		return call_error(c, 503, "database_unavailable",
		                  "the database is unreachable; retry later", NULL);
	if (c->op == CALL_SUBMIT)
		job_request_submission(&c->req, req, a->config->jobs_body_limit);
	else if (c->op == CALL_LIST || c->op == CALL_ITEMS)
		job_request_list(&c->req, req, c->op == CALL_ITEMS);
	else if (c->op == CALL_REPLAY)
		job_request_replay(&c->req, req);
	values[0] = c->hash;
	values[1] = c->op == CALL_SUBMIT && c->req.body
	                ? json_string_value(json_object_get(c->req.body, "organisation"))
	                : NULL;
	db_queue_send(a->db, "use_token", 2, values, call_on_token, c);
}

bool jobs_api_ready(const struct jobs_api *a)
{
	return !a || db_async_connected(a->store);
}

bool jobs_api_owns(const char *path)
{
	return strcmp(path, "/v1") == 0 || strncmp(path, "/v1/", 4) == 0;
}

struct jobs_api *jobs_api_new(struct event_base *base, const struct config *c, struct metrics *m,
                              struct audit_log *audit, struct dispatch *dispatch)
{
	struct jobs_api *a = xcalloc(1, sizeof(*a));
	struct db_async_options o = {
	    .url = c->db_url,
	    .prepare = jobs_statements,
	    .n_prepare = sizeof(jobs_statements) / sizeof(jobs_statements[0]),
	    .reconnect_max_ms = (unsigned)c->db_reconnect_max_ms,
	    .statement_timeout_ms = 60000,
	};
	struct db_async_options store_o = {
	    .url = c->db_url,
	    .reconnect_max_ms = (unsigned)c->db_reconnect_max_ms,
	    .statement_timeout_ms = 300000, /* a submission as large as jobs_body_limit allows */
	};
	json_t *orgs = json_object();

	for (size_t i = 0; i < c->n_sources; i++)
		if (c->sources[i].route != ROUTE_STORE && c->sources[i].organisation)
			json_object_set_new(orgs, c->sources[i].name,
			                    json_string(c->sources[i].organisation));
	a->source_orgs = json_dumps(orgs, JSON_COMPACT);
	json_decref(orgs);
	if (!a->source_orgs)
		abort();
	a->config = c;
	a->metrics = m;
	a->audit = audit;
	a->dispatch = dispatch;
	a->db = db_queue_new(base, &o, NULL, NULL);
	a->store = db_async_new(base, &store_o, store_on_state, a);
	a->target = job_target_new(base, c, m);
	{
		_cleanup_free_ char *problem = NULL;

		/* config_load() checked them: a failure here is out of memory. */
		if (config_secret_keys(c, &a->keys, &problem) < 0)
			abort();
	}
	return a;
}

void jobs_api_free(struct jobs_api *a)
{
	if (!a)
		return;
	job_target_free(a->target); /* submissions waiting on it are answered 503 */
	secret_keys_free(a->keys);
	db_queue_free(a->db);
	db_async_free(a->store);
	for (struct call *c = a->calls, *next; c; c = next) {
		next = c->next;
		c->recording = false; /* its record's answer will not come */
		call_error(c, 503, "unavailable", "the ingress is shutting down", NULL);
	}
	free(a->source_orgs);
	free(a);
}
