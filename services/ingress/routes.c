/* Request dispatch for the ingress and its JSON answers. */
#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "answer.h"
#include "audit_log.h"
#include "config.h"
#include "delivery_route.h"
#include "delivery_writer.h"
#include "dispatch.h"
#include "err.h"
#include "http_glue.h"
#include "job_secrets.h"
#include "jobs_api.h"
#include "log.h"
#include "metrics.h"
#include "oauth_token.h"
#include "webhook_receipt.h"

#define HOOKS_PREFIX "/hooks/"

/* One webhook waiting for its commit. */
struct webhook_ctx {
	struct http_exchange *ex;
	struct routes_deps *deps;
	long long started_us;
	struct delivery d;
};

/* Answer with {"error":{"code":...,"message":...}}. */
void routes_respond_error(struct http_exchange *ex, struct routes_deps *deps, const char *route,
                          int status, const char *code, const char *message)
{
	answer_error(ex, deps->metrics, route,
	             &(struct answer_problem){
	                 .status = status,
	                 .code = code,
	                 .message = message,
	                 .retry_after_s = deps->config->retry_after_s,
	                 .allow = strcmp(route, "hooks") == 0 ? "POST" : "GET, HEAD",
	             });
}

/* Count a rejected webhook by source and reason, in /metrics and the audit trail's tallies
 * (a source that is not configured is "-": a name a sender chose is never recorded). */
static void routes_count_rejection(struct routes_deps *deps, const char *source, const char *reason)
{
	char labels[160];
	_cleanup_free_ char *actor = xasprintf("source:%s", source);

	audit_log_tally(deps->audit, "delivery.rejected", actor, NULL, reason);
	snprintf(labels, sizeof(labels), "source=\"%s\",reason=\"%s\"", source, reason);
	metric_counter_inc(metrics_counter(deps->metrics, "hookrun_webhook_rejections_total",
	                                   "Webhooks refused, by source and reason", labels));
}

/* A routed delivery was committed: its job (if it got one) is runnable now. */
static void routes_count_routed(struct routes_deps *deps, const struct delivery *d)
{
	bool unroutable = strncmp(d->route, "{\"error\"", 8) == 0;
	char labels[128] = "";

	(void)metrics_labels_add(labels, sizeof(labels), "source", d->source);
	(void)metrics_labels_add(labels, sizeof(labels), "outcome",
	                         unroutable ? "unroutable" : "routed");
	metric_counter_inc(metrics_counter(deps->metrics, "hookrun_webhook_routes_total",
	                                   "Routed deliveries stored, by source and outcome",
	                                   labels));
	if (!unroutable)
		dispatch_wake(deps->dispatch);
}

/* The commit of one webhook finished: answer it. */
static void webhook_on_done(struct delivery *d, int r, const char *id, bool duplicate, void *arg)
{
	struct webhook_ctx *ctx = arg;
	struct routes_deps *deps = ctx->deps;
	long long dur_us = deps->now_us() - ctx->started_us;
	int status = r < 0 ? (r == -EIO ? 500 : 503) : duplicate ? 200 : 202;

	if (r < 0) {
		routes_count_rejection(deps, d->source,
		                       r == -EIO ? "commit_failed" : "unavailable");
		routes_respond_error(
		    ctx->ex, deps, "hooks", status, r == -EIO ? "internal_error" : "unavailable",
		    r == -EIO ? "the delivery could not be stored"
		              : "the delivery could not be stored in time; retry later");
	} else {
		/* The id is a UUID the ingress minted (hex and dashes): no escaping needed, and no
		 * JSON tree for the one answer every stored request gets. */
		char body[96];
		int n = snprintf(body, sizeof(body), "{\"delivery_id\":\"%s\"%s}", id,
		                 duplicate ? ",\"duplicate\":true" : "");
		answer_count(deps->metrics, "hooks", status);
		if (d->route && !duplicate)
			routes_count_routed(deps, d);
		http_exchange_respond(ctx->ex, status, "application/json", body, (size_t)n, NULL,
		                      0);
	}
	/* A stored delivery is its own record (hookrun.deliveries) and is counted in /metrics,
	 * so its line is debug: a stderr write per request is a cost at tens of thousands of
	 * requests a second. Failures stay visible at warn. */
	log_event(r < 0 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG, "webhook.received",
	          "source=%s delivery_id=%s status=%d duplicate=%s dur_ms=%.3f", d->source,
	          id ? id : "", status, duplicate ? "true" : "false", (double)dur_us / 1000.0);
	delivery_fini(d);
	free(ctx);
}

/* Refuse a webhook before anything is stored. */
static void webhook_reject(struct http_exchange *ex, struct routes_deps *deps, const char *source,
                           int status, const char *code, const char *message)
{
	routes_count_rejection(deps, source, code);
	log_event(LOG_LEVEL_INFO, "webhook.rejected", "source=%s status=%d reason=%s", source,
	          status, code);
	routes_respond_error(ex, deps, "hooks", status, code, message);
}

/* Seal the secret values of a routed delivery before it is stored (its source's
 * organisation's secret_variables, its job's connection credentials): in its job's route, and
 * in the body itself, which then holds them sealed (or withheld, with no key). 0, or -EIO. */
static int routes_seal(const struct routes_deps *deps, const struct source_config *src,
                       struct delivery *d)
{
	const struct versori_org_config *org =
	    config_versori_find(deps->config, src->organisation ? src->organisation : "");
	const struct job_secrets s = {.keys = deps->keys,
	                              .names = org ? org->secret_variables : NULL};
	size_t len = 0;
	int r;

	delivery_route_seal(&d->route, &s);
	r = delivery_route_seal_body(src, d->body, d->body_len, &s, &d->body_copy, &len);
	if (r < 0)
		return -EIO;
	if (r > 0) {
		d->body = (const unsigned char *)d->body_copy;
		d->body_len = len;
	}
	return 0;
}

/* POST /hooks/{source}: verify, then queue for the next group commit. */
static void webhook_handle(struct http_exchange *ex, const struct http_req *req,
                           struct routes_deps *deps, const char *name)
{
	const struct source_config *src = config_source_find(deps->config, name);
	struct webhook_receipt_error e = {0};
	struct webhook_ctx *ctx;
	char id[37];
	int r;

	/* A decoded NUL ("%00") would make strcmp() see a prefix of the name: no such source. */
	if (!src || strchr(name, '/') || strlen(req->path) != req->path_len)
		return webhook_reject(ex, deps, "-", 404, "unknown_source",
		                      "no webhook source with this name is configured");
	if (deps->draining || deps->mint_id(id) < 0)
		return webhook_reject(ex, deps, src->name, 503, "unavailable",
		                      "the ingress is shutting down");
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->ex = ex;
	ctx->deps = deps;
	ctx->started_us = deps->now_us();
	r = webhook_receipt_prepare(src, req, ctx->started_us, id, &ctx->d, &e);
	if (r < 0) {
		free(ctx);
		return webhook_reject(ex, deps, src->name, err_to_http_status(r), e.problem.code,
		                      e.problem.message);
	}
	if (ctx->d.route && routes_seal(deps, src, &ctx->d) < 0) {
		delivery_fini(&ctx->d);
		free(ctx);
		return webhook_reject(ex, deps, src->name, 503, "unavailable",
		                      "a secret value could not be encrypted; retry later");
	}
	r = delivery_writer_submit(deps->writer, &ctx->d, webhook_on_done, ctx);
	if (r < 0) {
		delivery_fini(&ctx->d);
		free(ctx);
		return webhook_reject(ex, deps, src->name, 503,
		                      r == -EBUSY ? "overloaded" : "database_unavailable",
		                      r == -EBUSY ? "too many requests are waiting to be stored"
		                                  : "the database is unreachable; retry later");
	}
}

/* GET /healthz, /readyz, /metrics. */
static void ops_handle(struct http_exchange *ex, const struct http_req *req,
                       struct routes_deps *deps, const char *route)
{
	if (req->method != HTTP_METHOD_GET && req->method != HTTP_METHOD_HEAD)
		return routes_respond_error(ex, deps, route, 405, "method_not_allowed", "use GET");
	if (strcmp(route, "healthz") == 0)
		return answer_json(ex, deps->metrics, route, 200,
		                   json_pack("{s:s}", "status", "ok"), NULL);
	if (strcmp(route, "readyz") == 0) {
		/* Both connections: a job submitted just after start must not meet a 503. */
		bool db = delivery_writer_ready(deps->writer) && jobs_api_ready(deps->jobs);
		bool ready = db && !deps->draining;
		return answer_json(ex, deps->metrics, route, ready ? 200 : 503,
		                   json_pack("{s:s,s:b,s:b}", "status",
		                             ready ? "ready" : "unavailable", "database", db,
		                             "draining", deps->draining),
		                   NULL);
	}
	answer_count(deps->metrics, route, 200);
	_cleanup_free_ char *text = metrics_render(deps->metrics);
	http_exchange_respond(ex, 200, "text/plain; version=0.0.4; charset=utf-8", text,
	                      strlen(text), NULL, 0);
}

/* A request the HTTP layer refused before routing: answer, count and log it. */
void routes_refuse(struct http_exchange *ex, int status, const char *code, const char *message,
                   void *userdata)
{
	struct routes_deps *deps = userdata;
	const struct http_req *req = http_exchange_req(ex);

	log_event(LOG_LEVEL_INFO, "http.refused", "status=%d reason=%s peer=%s", status, code,
	          req->peer);
	if (req->path && strncmp(req->path, HOOKS_PREFIX, strlen(HOOKS_PREFIX)) == 0) {
		const char *name = req->path + strlen(HOOKS_PREFIX);
		bool known = config_source_find(deps->config, name) && !strchr(name, '/') &&
		             strlen(req->path) == req->path_len;

		routes_count_rejection(deps, known ? name : "-", code);
	}
	routes_respond_error(ex, deps, "protocol", status, code, message);
}

/* Dispatch one request by path. */
void routes_handle(struct http_exchange *ex, const struct http_req *req, void *userdata)
{
	struct routes_deps *deps = userdata;
	const char *p = req->path;

	if (strncmp(p, HOOKS_PREFIX, strlen(HOOKS_PREFIX)) == 0)
		return webhook_handle(ex, req, deps, p + strlen(HOOKS_PREFIX));
	if (strcmp(p, "/healthz") == 0 || strcmp(p, "/readyz") == 0 || strcmp(p, "/metrics") == 0)
		return ops_handle(ex, req, deps, p + 1);
	if (jobs_api_owns(p))
		return jobs_api_handle(deps->jobs, ex, req, deps->draining);
	if (strcmp(p, OAUTH_TOKEN_PATH) == 0)
		return oauth_token_handle(ex, req, deps->config, deps->metrics,
		                          deps->now_us() / 1000000);
	routes_respond_error(ex, deps, "other", 404, "not_found", "no such route");
}
