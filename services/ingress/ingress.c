/* The ingress process's state and graceful shutdown. */
#include "ingress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "audit_log.h"
#include "audit_sealer.h"
#include "config.h"
#include "delivery_writer.h"
#include "dispatch.h"
#include "hookrun_build.h"
#include "http_glue.h"
#include "http_tls.h"
#include "id.h"
#include "jobs_api.h"
#include "log.h"
#include "metrics.h"
#include "pruner.h"
#include "routes.h"
#include "secret_value.h"
#include "webhook_auth.h"

struct ingress {
	struct event_base *base;
	struct routes_deps deps;
	struct metrics *metrics;
	struct delivery_writer *writer;
	struct dispatch *dispatch; /* NULL without dispatch_listen */
	struct jobs_api *jobs;
	struct audit_sealer *sealer; /* NULL when audit_seal_interval is 0 */
	struct pruner *pruner;       /* NULL when both retention limits are 0 */
	struct audit_log *audit;     /* config.loaded, tallies of refused webhooks and token uses */
	struct secret_keys *keys;    /* secrets_key: seals routed jobs' secret values, or NULL */
	bool audit_flushed;          /* draining: the tallies were sent */
	struct http_server *http;
	struct http_tls *tls; /* tls_cert_file: the listener's TLS context, or NULL */
	struct event *ev_drain;
	long long drain_deadline_us;
	void (*drained)(void *);
	void *drained_userdata;
};

/* Wall clock in microseconds. */
static long long ingress_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A new delivery id. */
static int ingress_mint_id(char out[37])
{
	return id_uuid7_new(out);
}

/* Pre-register the rejection counters so /metrics shows zeros before the first failure. */
static void ingress_metrics_init(struct ingress *in)
{
	char labels[160];

	for (size_t i = 0; i < in->deps.config->n_sources; i++)
		for (const char *const *r = webhook_auth_reasons(); *r; r++) {
			snprintf(labels, sizeof(labels), "source=\"%s\",reason=\"%s\"",
			         in->deps.config->sources[i].name, *r);
			(void)metrics_counter(in->metrics, "hookrun_webhook_rejections_total",
			                      "Webhooks refused, by source and reason", labels);
		}
}

/* The organisations' concurrency caps as a JSON object, a new string. */
static char *ingress_caps_json(const struct config *c)
{
	json_t *caps = json_object();
	char *text;

	for (size_t i = 0; i < c->n_versori; i++)
		json_object_set_new(caps, c->versori[i].name,
		                    json_integer(c->versori[i].concurrency));
	text = json_dumps(caps, JSON_COMPACT);
	json_decref(caps);
	return text ? text : xstrdup("{}");
}

/* This process's name in logs, leases and the audit trail: ingress-HOST-PID, a new string. */
static char *ingress_name(void)
{
	char host[64] = "host";

	(void)gethostname(host, sizeof(host) - 1);
	return xasprintf("ingress-%.40s-%ld", host, (long)getpid());
}

/* The audit log, and its first event: the configuration this ingress runs with. */
static void ingress_audit_start(struct ingress *in, const struct config *c)
{
	_cleanup_free_ char *name = ingress_name();
	char digest[65] = "";

	in->audit = audit_log_new(in->base,
	                          &(struct audit_log_options){
	                              .db_url = c->db_url,
	                              .period_ms = (unsigned)(c->audit_tally_interval_s * 1000),
	                              .reconnect_max_ms = (unsigned)c->db_reconnect_max_ms,
	                          },
	                          in->metrics);
	if (config_digest(c, digest) < 0)
		log_event(LOG_LEVEL_WARN, "ingress.config_digest_failed", "detail=%s",
		          "no digest of the configuration for the audit trail");
	audit_log_event(in->audit, "config.loaded", name, NULL,
	                json_pack("{s:s, s:s, s:I, s:s*, s:i, s:i}", "service", "hookrun-ingress",
	                          "version", HOOKRUN_VERSION, "pid", (json_int_t)getpid(),
	                          "config_sha256", digest[0] ? digest : NULL, "sources",
	                          (int)c->n_sources, "organisations", (int)c->n_versori));
}

/* Start the dispatcher when dispatch_listen is set; false with *ret_error when it cannot. */
static bool ingress_dispatch_start(struct ingress *in, const struct config *c, char **ret_error)
{
	_cleanup_free_ char *name = NULL, *caps = NULL;
	_cleanup_free_ struct dispatch_rate *rates = NULL;
	struct dispatch_options o = {
	    .endpoint = c->dispatch_listen,
	    .db_url = c->db_url,
	    .lease_ms = (unsigned)c->lease_s * 1000,
	    .poll_ms = (unsigned)c->dispatch_poll_ms,
	    .heartbeat_ms = (unsigned)c->heartbeat_ms,
	    .silence_ms = (unsigned)c->heartbeat_timeout_ms,
	    .claim_max = (unsigned)c->claim_batch,
	    .reconnect_max_ms = (unsigned)c->db_reconnect_max_ms,
	};

	if (!c->dispatch_listen)
		return true;
	caps = ingress_caps_json(c);
	o.caps_json = caps;
	rates = xcalloc(c->n_versori ? c->n_versori : 1, sizeof(*rates));
	for (size_t i = 0; i < c->n_versori; i++)
		if (c->versori[i].rate_limit > 0)
			rates[o.n_rates++] = (struct dispatch_rate){
			    c->versori[i].name, (unsigned)c->versori[i].rate_limit};
	o.rates = rates;
	name = ingress_name();
	o.name = name;
	in->dispatch = dispatch_new(in->base, &o, in->metrics, ret_error);
	return in->dispatch != NULL;
}

/* Build the ingress: metrics, writer (connects in the background), HTTP server. */
struct ingress *ingress_new(struct event_base *base, const struct config *c, char **ret_error)
{
	struct ingress *in = xcalloc(1, sizeof(*in));
	struct delivery_writer_options wo = {
	    .db_url = c->db_url,
	    .connections = (size_t)c->db_connections,
	    .max_backlog = c->max_backlog,
	    .batch_max_rows = c->batch_max_rows,
	    .batch_max_bytes = c->batch_max_bytes,
	    .commit_timeout_ms = c->commit_timeout_ms,
	    .dedup_window_s = c->dedup_window_s,
	    .reconnect_max_ms = (unsigned)c->db_reconnect_max_ms,
	};
	struct http_server_options ho = {
	    .addr = c->listen_addr,
	    .port = c->listen_port,
	    .max_body =
	        c->max_body_limit > c->jobs_body_limit ? c->max_body_limit : c->jobs_body_limit,
	    .refuse = routes_refuse,
	};

	in->base = base;
	in->metrics = metrics_new();
	in->writer = delivery_writer_new(base, &wo, in->metrics);
	in->deps = (struct routes_deps){
	    .config = c,
	    .writer = in->writer,
	    .metrics = in->metrics,
	    .now_us = ingress_now_us,
	    .mint_id = ingress_mint_id,
	};
	ingress_metrics_init(in);
	ingress_audit_start(in, c);
	in->deps.audit = in->audit;
	{
		_cleanup_free_ char *problem = NULL;

		if (config_secret_keys(c, &in->keys, &problem) < 0) {
			*ret_error = xasprintf("secrets_key: %s", problem);
			ingress_free(in);
			return NULL;
		}
		in->deps.keys = in->keys;
	}
	if (!ingress_dispatch_start(in, c, ret_error)) {
		ingress_free(in);
		return NULL;
	}
	in->deps.dispatch = in->dispatch;
	in->jobs = jobs_api_new(base, c, in->metrics, in->audit, in->dispatch);
	in->deps.jobs = in->jobs;
	if (c->audit_seal_interval_s > 0)
		in->sealer =
		    audit_sealer_new(base,
		                     &(struct audit_sealer_options){
		                         .db_url = c->db_url,
		                         .interval_ms = (unsigned)(c->audit_seal_interval_s * 1000),
		                         .max_events = 50000,
		                         .reconnect_max_ms = (unsigned)c->db_reconnect_max_ms,
		                     },
		                     in->metrics);
	{
		_cleanup_free_ char *name = ingress_name();

		in->pruner =
		    pruner_new(base,
		               &(struct pruner_options){
		                   .db_url = c->db_url,
		                   .name = name,
		                   .interval_ms = (unsigned)(c->retention_interval_s * 1000),
		                   .bodies_after_s = c->retention_delivery_bodies_s,
		                   .items_after_s = c->retention_finished_items_s,
		                   .batch = 1000,
		                   .reconnect_max_ms = (unsigned)c->db_reconnect_max_ms,
		               },
		               in->metrics);
	}
	if (c->tls_cert_file) {
		in->tls = http_tls_new(c->tls_cert_file, c->tls_key_file, ret_error);
		if (!in->tls) {
			ingress_free(in);
			return NULL;
		}
		ho.tls = in->tls;
	}
	in->http = http_server_new(base, &ho, routes_handle, &in->deps, ret_error);
	if (!in->http) {
		ingress_free(in);
		return NULL;
	}
	return in;
}

/* The bound HTTP port. */
int ingress_port(const struct ingress *in)
{
	return http_server_port(in->http);
}

/* The dispatcher's bound endpoint, or NULL when this ingress dispatches nothing. */
const char *ingress_dispatch_endpoint(const struct ingress *in)
{
	return in->dispatch ? dispatch_endpoint(in->dispatch) : NULL;
}

/* Free everything; pending requests are failed first. */
void ingress_free(struct ingress *in)
{
	if (!in)
		return;
	audit_sealer_free(in->sealer);
	pruner_free(in->pruner);
	jobs_api_free(in->jobs);
	audit_log_free(in->audit);
	secret_keys_free(in->keys);
	dispatch_free(in->dispatch);
	delivery_writer_free(in->writer);
	http_server_free(in->http);
	http_tls_free(in->tls);
	if (in->ev_drain)
		event_free(in->ev_drain);
	metrics_free(in->metrics);
	free(in);
}

/* Poll until the backlog is empty and then the audit tallies written, or the deadline passes. */
static void ingress_on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct ingress *in = arg;
	size_t left = delivery_writer_backlog(in->writer);
	bool due = ingress_now_us() >= in->drain_deadline_us;

	if (!left && !in->audit_flushed) {
		audit_log_flush(in->audit); /* what the last requests counted too */
		in->audit_flushed = true;
	}
	if ((left || audit_log_pending(in->audit)) && !due)
		return;
	if (audit_log_pending(in->audit))
		log_event(LOG_LEVEL_WARN, "ingress.audit_unwritten", "pending=%zu",
		          audit_log_pending(in->audit));
	log_event(left ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, "ingress.drained", "abandoned=%zu", left);
	event_del(in->ev_drain);
	in->drained(in->drained_userdata);
}

/* Stop accepting, answer what was already read, then call done. */
void ingress_shutdown(struct ingress *in, int timeout_ms, void (*done)(void *), void *userdata)
{
	struct timeval tv = {0, 20000};

	if (in->deps.draining)
		return;
	in->deps.draining = true;
	http_server_stop_accepting(in->http);
	in->drained = done;
	in->drained_userdata = userdata;
	in->drain_deadline_us = ingress_now_us() + timeout_ms * 1000LL;
	in->ev_drain = event_new(in->base, -1, EV_PERSIST, ingress_on_drain, in);
	event_add(in->ev_drain, &tv);
	log_event(LOG_LEVEL_INFO, "ingress.draining", "backlog=%zu timeout_ms=%d",
	          delivery_writer_backlog(in->writer), timeout_ms);
}
