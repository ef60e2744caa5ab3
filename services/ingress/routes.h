/* Request dispatch for the ingress: /hooks/{source}, /healthz, /readyz, /metrics, the jobs
 * API (/v1/..., jobs_api), /oauth/token (oauth_token), and the JSON error answers. Runs on the
 * event loop; never blocks (webhooks finish after commit). */
#pragma once

#include <stdbool.h>

#include "http_req.h"

struct audit_log;
struct secret_keys;
struct config;
struct delivery_writer;
struct http_exchange;
struct jobs_api;
struct metrics;

/* What request handlers may use; filled and owned by struct ingress (ingress.c) for its lifetime.
 */
struct routes_deps {
	const struct config *config;
	struct delivery_writer *writer;
	struct metrics *metrics;
	long long (*now_us)(void);      /* wall clock, microseconds since the epoch */
	int (*mint_id)(char out[37]);   /* a new delivery id */
	bool draining;                  /* shutting down: refuse new work with 503 */
	struct dispatch *dispatch;      /* this ingress's dispatcher, or NULL */
	struct jobs_api *jobs;          /* the jobs API (/v1/...) */
	struct audit_log *audit;        /* refused webhooks are tallied there */
	const struct secret_keys *keys; /* seal routed jobs' secret values; NULL: none */
};

/* The http_glue handler; userdata is a struct routes_deps. */
void routes_handle(struct http_exchange *ex, const struct http_req *req, void *userdata);
/* The http_glue refuse callback: a request refused before routing (framing, sizes) is answered
 * with the JSON error, counted under route "protocol" and logged. */
void routes_refuse(struct http_exchange *ex, int status, const char *code, const char *message,
                   void *userdata);
/* Answer with {"error":{"code":...,"message":...}}; adds Retry-After on 503 and Allow on 405. */
void routes_respond_error(struct http_exchange *ex, struct routes_deps *deps, const char *route,
                          int status, const char *code, const char *message);
