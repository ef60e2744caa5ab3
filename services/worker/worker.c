/* The worker process: dispatcher links, credits, item runs, health and metrics (worker.h). */
#include "worker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "audit_log.h"
#include "config.h"
#include "db_queue.h"
#include "hookrun_build.h"
#include "http_client.h"
#include "http_glue.h"
#include "item_run.h"
#include "item_store.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "queue.h"
#include "schema_cache.h"
#include "secret_value.h"
#include "versori_auth.h"
#include "versori_org.h"

/* After the drain deadline, API calls of released items get this long before cancelling. */
#define WORKER_CANCEL_GRACE_MS 2000
/* A project's variable schema is read again after this long. */
#define WORKER_SCHEMA_TTL_MS   60000
/* Most dispatchers one worker serves. */
#define WORKER_LINKS_MAX       16
/* Runs one worker keeps for slots slots: each slot's, and as many again whose settlements
 * wait for the database. */
#define WORKER_RUNS(slots)     (2 * (size_t)(slots))

struct worker;

/* One dispatcher this worker serves. */
struct link {
	struct worker *w;
	size_t index;
	char *endpoint;
	struct queue *q;
	bool up;           /* it answered since our last HELLO */
	uint32_t promised; /* credits it holds from us */
	uint64_t seen_ms;
};

struct worker {
	struct event_base *base;
	const struct config *c;
	char *name;
	struct link *links;
	size_t n_links;
	uint32_t slots;
	/* Runs: those making API calls (running, at most slots) and those whose settlement is
	 * being stored (settling). A settling run holds no slot: its credit goes out again at
	 * once, so that the settlements' group commit does not hold up the next calls. */
	struct item_run **runs; /* WORKER_RUNS(slots) entries; NULL where free */
	uint32_t running, settling;
	struct item_env env;
	struct db_queue *db;
	struct audit_log *audit;  /* config.loaded */
	struct secret_keys *keys; /* secrets_key (and the previous one), or NULL */
	struct item_store *store;
	struct http_client *http;
	struct worker_org *orgs;
	size_t n_orgs;
	struct metrics *metrics;
	struct schema_cache *schemas;
	struct http_server *server;
	struct event *ev_beat, *ev_drain;
	uint64_t beat_seq;
	bool draining, releasing, cancelled;
	void (*drained)(void *);
	void *drained_userdata;
	struct metric_gauge *g_running, *g_settling, *g_links;
	struct metric_counter *c_tasks;
};

static const struct db_prepared worker_statements[] = {
    {"release", "SELECT hookrun.release_item($1::bigint, $2::bigint, $3, $4)"},
    {"renew", "SELECT hookrun.renew_lease($1::bigint, $2::bigint, $3::interval)"},
};

/* Send one message to a dispatcher; a full queue or a gone peer is the lease's problem. */
static void link_send(struct link *l, const struct wire_msg *m)
{
	(void)queue_send(l->q, NULL, m);
}

/* Introduce ourselves (again): name, slots, pid. */
static void link_hello(struct link *l)
{
	struct wire_msg m = {.type = WIRE_HELLO,
	                     .hello = {.slots = l->w->slots, .pid = (uint32_t)getpid()}};

	snprintf(m.hello.name, sizeof(m.hello.name), "%s", l->w->name);
	link_send(l, &m);
}

/* The dispatcher is gone or forgot us: its promises come back to the pool. */
static void link_down(struct link *l, const char *why)
{
	if (l->up)
		log_event(LOG_LEVEL_WARN, "worker.dispatcher_lost",
		          "endpoint=%s why=%s promised=%" PRIu32, l->endpoint, why, l->promised);
	l->up = false;
	l->promised = 0;
}

/* Free slots not promised to any dispatcher; none while the settlements waiting to be stored
 * are as many as the slots (the database is slower than the calls: wait for it). */
static uint32_t worker_free_slots(const struct worker *w)
{
	uint32_t used = w->running, all;

	for (size_t i = 0; i < w->n_links; i++)
		used += w->links[i].promised;
	all = used + w->settling;
	if (used >= w->slots || all >= WORKER_RUNS(w->slots))
		return 0;
	return w->slots - used < WORKER_RUNS(w->slots) - all
	           ? w->slots - used
	           : (uint32_t)(WORKER_RUNS(w->slots) - all);
}

/* Promise every free slot, each to the answering dispatcher holding the fewest. */
static void worker_credit(struct worker *w)
{
	uint32_t add[WORKER_LINKS_MAX];
	uint32_t free_slots = w->draining ? 0 : worker_free_slots(w);

	memset(add, 0, sizeof(add));
	while (free_slots > 0) {
		struct link *best = NULL;
		for (size_t i = 0; i < w->n_links; i++)
			if (w->links[i].up && (!best || w->links[i].promised < best->promised))
				best = &w->links[i];
		if (!best)
			break;
		best->promised++;
		add[best->index]++;
		free_slots--;
	}
	for (size_t i = 0; i < w->n_links; i++)
		if (add[i] > 0)
			link_send(&w->links[i],
			          &(struct wire_msg){.type = WIRE_CREDIT, .credit = {.n = add[i]}});
}

/* Refresh the gauges. */
static void worker_gauges(struct worker *w)
{
	size_t up = 0;

	for (size_t i = 0; i < w->n_links; i++)
		up += w->links[i].up;
	metric_gauge_set(w->g_running, w->running);
	metric_gauge_set(w->g_settling, w->settling);
	metric_gauge_set(w->g_links, (double)up);
}

/* A task: run it in a free slot. */
static void worker_task(struct worker *w, struct link *l, const struct wire_msg *m)
{
	if (l->promised > 0)
		l->promised--;
	if (w->draining || w->running >= w->slots ||
	    w->running + w->settling >= WORKER_RUNS(w->slots)) {
		log_event(LOG_LEVEL_WARN, "worker.task_refused", "item=%" PRIu64 " reason=%s",
		          m->task.item_id, w->draining ? "draining" : "no free slot");
		return; /* the lease brings it back */
	}
	for (uint32_t i = 0; i < WORKER_RUNS(w->slots); i++)
		if (!w->runs[i]) {
			w->running++;
			metric_counter_inc(w->c_tasks);
			w->runs[i] =
			    item_run_start(&w->env, m->task.item_id, m->task.token, l->index);
			return;
		}
}

static bool worker_pause(struct worker *w, const char *organisation, uint32_t ms);
static void worker_grant(struct worker *w, const char *organisation, uint32_t n);

/* A message from one dispatcher. */
static void worker_on_msg(void *userdata, const struct queue_peer *from, const struct wire_msg *m,
                          int error)
{
	struct link *l = userdata;
	struct worker *w = l->w;

	if (!m)
		return;
	l->seen_ms = loop_now_ms();
	if (m->type == WIRE_BYE) {
		link_down(l, "bye");
		if (!w->draining)
			link_hello(l);
		worker_gauges(w);
		return;
	}
	if (!l->up && !w->draining) {
		l->up = true;
		log_event(LOG_LEVEL_INFO, "worker.dispatcher_joined", "endpoint=%s", l->endpoint);
		worker_credit(w);
	}
	if (m->type == WIRE_TASK)
		worker_task(w, l, m);
	if (m->type == WIRE_THROTTLE) /* another worker saw 429: no call to it here either */
		(void)worker_pause(w, m->throttle.organisation, m->throttle.retry_after_ms);
	if (m->type == WIRE_GRANT)
		worker_grant(w, m->permits.organisation, m->permits.n);
	worker_gauges(w);
}

/* Heartbeat tick: notice silent dispatchers, greet the others, promise free slots. */
static void worker_on_beat(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	uint64_t now = loop_now_ms();
	struct wire_msg beat = {.type = WIRE_HEARTBEAT, .heartbeat = {.seq = ++w->beat_seq}};

	for (size_t i = 0; i < w->n_links; i++) {
		struct link *l = &w->links[i];

		if (l->up && now - l->seen_ms > (uint64_t)w->c->heartbeat_timeout_ms)
			link_down(l, "silent");
		if (w->draining)
			continue;
		if (l->up)
			link_send(l, &beat);
		else
			link_hello(l);
	}
	worker_credit(w);
	worker_gauges(w);
}

/* A run made its last call and its settlement is on its way to the database: its slot is
 * free for the next item. */
static void worker_on_settling(void *userdata, struct item_run *r)
{
	struct worker *w = userdata;

	w->running--;
	w->settling++;
	worker_credit(w);
	worker_gauges(w);
}

/* A run ended: forget it, tell its dispatcher, promise its slot again. */
static void worker_on_finished(void *userdata, struct item_run *r, enum wire_outcome outcome)
{
	struct worker *w = userdata;
	struct link *l = &w->links[r->link];
	struct wire_msg done = {
	    .type = WIRE_DONE,
	    .done = {.item_id = r->item_id, .token = r->token, .outcome = outcome}};

	for (uint32_t i = 0; i < WORKER_RUNS(w->slots); i++)
		if (w->runs[i] == r)
			w->runs[i] = NULL;
	if (r->settling)
		w->settling--;
	else
		w->running--;
	if (l->up)
		link_send(l, &done);
	worker_credit(w);
	worker_gauges(w);
	if (w->draining && w->running + w->settling == 0 && w->drained) {
		void (*drained)(void *) = w->drained;
		w->drained = NULL;
		drained(w->drained_userdata);
	}
}

/* Pause an organisation here: no call to it starts before ms from now. false when it was
 * paused that long already. */
static bool worker_pause(struct worker *w, const char *organisation, uint32_t ms)
{
	long long until = (long long)loop_now_ms() + ms;

	for (size_t i = 0; i < w->n_orgs; i++)
		if (strcmp(w->orgs[i].cfg->name, organisation) == 0) {
			if (w->orgs[i].paused_until_ms >= until)
				return false;
			w->orgs[i].paused_until_ms = until;
			log_event(LOG_LEVEL_INFO, "worker.paused",
			          "organisation=%s retry_after_ms=%" PRIu32, organisation, ms);
			return true;
		}
	return false;
}

/* A dispatcher's bucket let n calls to a paced organisation through. */
static void worker_grant(struct worker *w, const char *organisation, uint32_t n)
{
	for (size_t i = 0; i < w->n_orgs; i++)
		if (strcmp(w->orgs[i].cfg->name, organisation) == 0)
			item_run_permits(&w->orgs[i], n);
}

/* A call to a paced organisation waits: ask the dispatcher that sent its item (or, when
 * that one does not answer any more, another) for a permit. */
static void worker_on_want(void *userdata, const char *organisation, size_t link)
{
	struct worker *w = userdata;
	struct wire_msg m = {.type = WIRE_WANT, .permits = {.n = 1}};
	struct link *l = link < w->n_links && w->links[link].up ? &w->links[link] : NULL;

	for (size_t i = 0; !l && i < w->n_links; i++)
		if (w->links[i].up)
			l = &w->links[i];
	snprintf(m.permits.organisation, sizeof(m.permits.organisation), "%s", organisation);
	if (l)
		link_send(l, &m);
	/* else no dispatcher answers: the lease brings the item back */
}

/* A run saw 429: pause the organisation here, and every dispatcher pauses it for every
 * worker. */
static void worker_on_throttled(void *userdata, const char *organisation, uint32_t ms)
{
	struct worker *w = userdata;
	struct wire_msg m = {.type = WIRE_THROTTLE, .throttle = {.retry_after_ms = ms}};

	if (!worker_pause(w, organisation, ms))
		return; /* already paused that long: the dispatchers know */
	snprintf(m.throttle.organisation, sizeof(m.throttle.organisation), "%s", organisation);
	for (size_t i = 0; i < w->n_links; i++)
		if (w->links[i].up)
			link_send(&w->links[i], &m);
}

/* GET /healthz, /readyz, /metrics. */
static void worker_http(struct http_exchange *ex, const struct http_req *req, void *userdata)
{
	struct worker *w = userdata;
	size_t up = 0;
	_cleanup_free_ char *body = NULL;
	int status = 200;

	for (size_t i = 0; i < w->n_links; i++)
		up += w->links[i].up;
	if (strcmp(req->path, "/metrics") == 0) {
		body = metrics_render(w->metrics);
		http_exchange_respond(ex, 200, "text/plain; version=0.0.4; charset=utf-8", body,
		                      strlen(body), NULL, 0);
		return;
	}
	if (strcmp(req->path, "/healthz") == 0) {
		body = xasprintf("{\"status\":\"ok\"}");
	} else if (strcmp(req->path, "/readyz") == 0) {
		bool db = db_queue_connected(w->db) && item_store_connected(w->store);
		bool ready = db && up > 0 && !w->draining;
		status = ready ? 200 : 503;
		body =
		    xasprintf("{\"status\":\"%s\",\"database\":%s,\"dispatchers\":%zu,"
		              "\"running\":%" PRIu32 ",\"settling\":%" PRIu32 ",\"draining\":%s}",
		              ready ? "ready" : "unavailable", db ? "true" : "false", up,
		              w->running, w->settling, w->draining ? "true" : "false");
	} else {
		status = 404;
		body =
		    xasprintf("{\"error\":{\"code\":\"not_found\",\"message\":\"no such route\"}}");
	}
	http_exchange_respond(ex, status, "application/json", body, strlen(body), NULL, 0);
}

/* A client per configured organisation. */
static int worker_orgs_open(struct worker *w, char **ret_error)
{
	w->n_orgs = w->c->n_versori;
	w->orgs = xcalloc(w->n_orgs ? w->n_orgs : 1, sizeof(*w->orgs));
	for (size_t i = 0; i < w->n_orgs; i++) {
		const struct versori_org_config *v = &w->c->versori[i];
		struct worker_org *o = &w->orgs[i];

		o->cfg = v;
		int r = versori_org_auth_new(v, &o->auth);
		if (r < 0) {
			*ret_error = versori_org_auth_error(v, r);
			return -EINVAL;
		}
		o->client = versori_org_client_new(v, w->http, o->auth, w->c->api_timeout_ms,
		                                   item_run_on_attempt);
		if (!o->client) {
			*ret_error = xasprintf("[versori.%s]: base_url is not usable", v->name);
			return -EINVAL;
		}
	}
	return 0;
}

/* One link per endpoint in the comma-separated list. */
static int worker_links_open(struct worker *w, char **ret_error)
{
	_cleanup_free_ char *list = xstrdup(w->c->dispatchers ? w->c->dispatchers : "");
	char *save = NULL;

	for (char *e = strtok_r(list, ", ", &save); e; e = strtok_r(NULL, ", ", &save)) {
		struct link *l;

		if (w->n_links == WORKER_LINKS_MAX) {
			*ret_error =
			    xasprintf("dispatchers: at most %d endpoints", WORKER_LINKS_MAX);
			return -EINVAL;
		}
		w->links = xreallocarray(w->links, w->n_links + 1, sizeof(*w->links));
		l = &w->links[w->n_links];
		*l = (struct link){.w = w, .index = w->n_links, .endpoint = xstrdup(e)};
		w->n_links++;
	}
	if (w->n_links == 0) {
		*ret_error = xstrdup("dispatchers: at least one endpoint is required "
		                     "(HOOKRUN_DISPATCHERS, e.g. tcp://127.0.0.1:7070)");
		return -EINVAL;
	}
	/* The array is final: the links' addresses are stable from here on. */
	for (size_t i = 0; i < w->n_links; i++) {
		struct link *l = &w->links[i];
		l->q = queue_new(w->base, QUEUE_DEALER, worker_on_msg, l, ret_error);
		if (!l->q || queue_connect(l->q, l->endpoint, ret_error) < 0)
			return -EINVAL;
		link_hello(l);
	}
	return 0;
}

/* Metrics registered up front. */
static void worker_metrics_init(struct worker *w)
{
	w->g_running = metrics_gauge(w->metrics, "hookrun_worker_running",
	                             "Items this worker is running (making API calls)", NULL);
	w->g_settling = metrics_gauge(w->metrics, "hookrun_worker_settling",
	                              "Items whose outcome this worker is storing", NULL);
	w->g_links = metrics_gauge(w->metrics, "hookrun_worker_dispatchers_connected",
	                           "Dispatchers answering this worker", NULL);
	w->c_tasks = metrics_counter(w->metrics, "hookrun_worker_tasks_total",
	                             "Tasks received from dispatchers", NULL);
}

/* Name, slots, metrics, item environment. */
static void worker_init(struct worker *w, struct event_base *base, const struct config *c)
{
	char host[64] = "host";

	w->base = base;
	w->c = c;
	(void)gethostname(host, sizeof(host) - 1);
	w->name = c->worker_name ? xstrdup(c->worker_name)
	                         : xasprintf("worker-%.40s-%ld", host, (long)getpid());
	w->slots = (uint32_t)c->worker_slots;
	w->runs = xcalloc(WORKER_RUNS(w->slots), sizeof(void *));
	w->metrics = metrics_new();
	worker_metrics_init(w);
	w->env = (struct item_env){
	    .base = base,
	    .worker_name = w->name,
	    .config = c,
	    .metrics = w->metrics,
	    .rng = (uint32_t)getpid() * 2654435761u + (uint32_t)loop_now_ms(),
	    .settling = worker_on_settling,
	    .finished = worker_on_finished,
	    .throttled = worker_on_throttled,
	    .want = worker_on_want,
	    .userdata = w,
	};
}

/* The keys that open values stored encrypted, when secrets_key is set. */
static int worker_keys_open(struct worker *w, char **ret_error)
{
	_cleanup_free_ char *problem = NULL;

	if (config_secret_keys(w->c, &w->keys, &problem) < 0) {
		*ret_error = xasprintf("secrets_key: %s", problem);
		return -EINVAL;
	}
	return 0;
}

/* The audit log, and its one event: the configuration this worker runs with. */
static void worker_audit_start(struct worker *w)
{
	char digest[65] = "";

	w->audit = audit_log_new(w->base,
	                         &(struct audit_log_options){
	                             .db_url = w->c->db_url,
	                             .period_ms = (unsigned)(w->c->audit_tally_interval_s * 1000),
	                             .reconnect_max_ms = (unsigned)w->c->db_reconnect_max_ms,
	                         },
	                         w->metrics);
	if (config_digest(w->c, digest) < 0)
		log_event(LOG_LEVEL_WARN, "worker.config_digest_failed", "detail=%s",
		          "no digest of the configuration for the audit trail");
	audit_log_event(w->audit, "config.loaded", w->name, NULL,
	                json_pack("{s:s, s:s, s:I, s:s*, s:i, s:i}", "service", "hookrun-worker",
	                          "version", HOOKRUN_VERSION, "pid", (json_int_t)getpid(),
	                          "config_sha256", digest[0] ? digest : NULL, "slots",
	                          w->c->worker_slots, "organisations", (int)w->c->n_versori));
}

struct worker *worker_new(struct event_base *base, const struct config *c, char **ret_error)
{
	struct worker *w = xcalloc(1, sizeof(*w));
	const char *http_error = NULL;
	struct db_async_options dbo = {
	    .url = c->db_url,
	    .prepare = worker_statements,
	    .n_prepare = ELEMENTSOF(worker_statements),
	    .reconnect_max_ms = (unsigned)c->db_reconnect_max_ms,
	};
	struct http_server_options ho = {
	    .addr = c->worker_listen_addr, .port = c->worker_listen_port, .max_body = 1024};
	struct timeval beat = loop_tv(c->heartbeat_ms);

	worker_init(w, base, c);
	w->http = http_client_new(base,
	                          &(struct http_client_options){
	                              .timeout_ms = c->api_timeout_ms,
	                              .max_host_connections = c->worker_slots,
	                              .max_in_flight = 2L * c->worker_slots,
	                          },
	                          &http_error);
	if (!w->http) {
		*ret_error = xasprintf("HTTP client: %s", http_error);
		goto fail;
	}
	if (worker_orgs_open(w, ret_error) < 0 || worker_keys_open(w, ret_error) < 0)
		goto fail;
	w->db = db_queue_new(base, &dbo, NULL, NULL);
	w->store = item_store_new(base, &dbo, w->name);
	worker_audit_start(w);
	w->env.db = w->db;
	w->env.store = w->store;
	w->env.schemas = w->schemas = schema_cache_new(WORKER_SCHEMA_TTL_MS);
	w->env.keys = w->keys;
	w->env.orgs = w->orgs;
	w->env.n_orgs = w->n_orgs;
	w->env.http = w->http;
	w->server = http_server_new(base, &ho, worker_http, w, ret_error);
	if (!w->server || worker_links_open(w, ret_error) < 0)
		goto fail;
	w->ev_beat = event_new(base, -1, EV_PERSIST, worker_on_beat, w);
	event_add(w->ev_beat, &beat);
	return w;
fail:
	worker_free(w);
	return NULL;
}

/* Drain deadline: hand back what still runs; then cancel the calls still in flight. */
static void worker_on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval grace = loop_tv(WORKER_CANCEL_GRACE_MS);

	if (!w->releasing) {
		w->releasing = true;
		log_event(LOG_LEVEL_WARN, "worker.drain_deadline", "running=%" PRIu32, w->running);
		for (uint32_t i = 0; i < WORKER_RUNS(w->slots); i++)
			if (w->runs[i])
				item_run_release(w->runs[i]);
		event_add(w->ev_drain, &grace);
		return;
	}
	if (!w->cancelled && w->http) {
		/* Cancelling ends each call at once; the released runs then end. */
		w->cancelled = true;
		for (size_t i = 0; i < w->n_orgs; i++)
			versori_client_free(w->orgs[i].client), w->orgs[i].client = NULL;
		http_client_free(w->http);
		w->http = NULL;
	}
}

void worker_shutdown(struct worker *w, void (*done)(void *), void *userdata)
{
	struct timeval tv = loop_tv(w->c->drain_timeout_ms);

	if (w->draining)
		return;
	w->draining = true;
	w->drained = done;
	w->drained_userdata = userdata;
	for (size_t i = 0; i < w->n_links; i++) {
		link_send(&w->links[i], &(struct wire_msg){.type = WIRE_BYE});
		w->links[i].promised = 0;
	}
	log_event(LOG_LEVEL_INFO, "worker.draining",
	          "running=%" PRIu32 " settling=%" PRIu32 " timeout_ms=%d", w->running, w->settling,
	          w->c->drain_timeout_ms);
	if (w->running + w->settling == 0) {
		w->drained = NULL;
		done(userdata);
		return;
	}
	w->ev_drain = event_new(w->base, -1, EV_PERSIST, worker_on_drain, w);
	event_add(w->ev_drain, &tv);
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n_links; i++) {
		queue_free(w->links[i].q);
		free(w->links[i].endpoint);
	}
	free(w->links);
	for (size_t i = 0; i < w->n_orgs; i++) {
		versori_client_free(w->orgs[i].client);
		versori_auth_free(w->orgs[i].auth);
	}
	http_client_free(w->http);
	free(w->orgs);
	db_queue_free(w->db);
	item_store_free(w->store);
	audit_log_free(w->audit);
	secret_keys_free(w->keys);
	schema_cache_free(w->schemas);
	http_server_free(w->server);
	if (w->ev_beat)
		event_free(w->ev_beat);
	if (w->ev_drain)
		event_free(w->ev_drain);
	metrics_free(w->metrics);
	free(w->runs);
	free(w->name);
	free(w);
}

int worker_port(const struct worker *w)
{
	return http_server_port(w->server);
}

const char *worker_name(const struct worker *w)
{
	return w->name;
}
