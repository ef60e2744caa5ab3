/* The ingress process's state and graceful shutdown. */
#include "ingress.h"

#include <stdio.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "delivery_writer.h"
#include "http_glue.h"
#include "id.h"
#include "log.h"
#include "metrics.h"
#include "routes.h"
#include "webhook_auth.h"

struct ingress {
	struct event_base *base;
	struct routes_deps deps;
	struct metrics *metrics;
	struct delivery_writer *writer;
	struct http_server *http;
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
	    .max_body = c->max_body_limit,
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

/* Free everything; pending requests are failed first. */
void ingress_free(struct ingress *in)
{
	if (!in)
		return;
	delivery_writer_free(in->writer);
	http_server_free(in->http);
	if (in->ev_drain)
		event_free(in->ev_drain);
	metrics_free(in->metrics);
	free(in);
}

/* Poll until the backlog is empty or the deadline passes. */
static void ingress_on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct ingress *in = arg;
	size_t left = delivery_writer_backlog(in->writer);

	if (left && ingress_now_us() < in->drain_deadline_us)
		return;
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
