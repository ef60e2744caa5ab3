/* The versori-sim HTTP server: faults around sim_handle(), the /_sim/ admin endpoint, call
 * counting and logging. */
#include "sim_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "err.h"
#include "http_glue.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "sim.h"
#include "sim_faults.h"

#define SIM_MAX_BODY ((size_t)1024 * 1024)

/* Calls answered, per endpoint, status and fault. */
struct sim_count {
	char *route;
	int status;
	const char *fault; /* static */
	int64_t count;
};

/* One API call; lives from arrival to answer, held on a timer while a fault delays it. */
struct server_call {
	struct sim_server *server;
	struct http_exchange *ex;
	struct event *timer;
	struct sim_fault_decision d;
	const char *route; /* static, from sim_route_name() */
	enum http_method method;
	int64_t start_ms; /* monotonic */
	char req_id[ID_UUID_STRING_MAX];
	LIST_ENTRY(server_call) link;
};

struct sim_server {
	struct event_base *base;
	struct http_server *http;
	struct sim *sim;
	struct sim_faults *faults;
	json_t *fixture;
	char **switches;
	size_t n_switches;
	int64_t (*now_ms)(void);
	struct sim_count *counts;
	size_t n_counts;
	int64_t total;
	LIST_HEAD(, server_call) pending;
	size_t n_pending;
};

/* Milliseconds on clock id. */
static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The real-time clock in milliseconds since the epoch. */
static int64_t sim_server_real_now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

/* Apply one "name=value" switch to s->sim. */
static int sim_server_switch_apply(struct sim *sim, const char *spec)
{
	const char *eq = strchr(spec, '=');
	_cleanup_free_ char *name = NULL;

	if (!eq)
		return -EINVAL;
	name = xstrndup(spec, (size_t)(eq - spec));
	return sim_switch_set(sim, name, eq + 1);
}

/* A new simulator from doc with the configured switches applied. */
static int sim_server_build(struct sim_server *s, const json_t *doc, struct sim **ret,
                            char **ret_error)
{
	char err[256] = "";
	struct sim *sim = NULL;
	int r = sim_new(doc, &sim, err, sizeof(err));

	if (r < 0) {
		*ret_error = xstrdup(err[0] ? err : strerror(-r));
		return r;
	}
	for (size_t i = 0; i < s->n_switches; i++) {
		r = sim_server_switch_apply(sim, s->switches[i]);
		if (r < 0) {
			*ret_error = xasprintf("unknown switch or value '%s'", s->switches[i]);
			sim_free(sim);
			return r;
		}
	}
	*ret = sim;
	return 0;
}

/* Count one answered call. */
static void sim_server_count(struct sim_server *s, const char *route, int status, const char *fault)
{
	struct sim_count *c;

	s->total++;
	for (size_t i = 0; i < s->n_counts; i++) {
		c = &s->counts[i];
		if (c->status == status && c->fault == fault && strcmp(c->route, route) == 0) {
			c->count++;
			return;
		}
	}
	s->counts = xreallocarray(s->counts, s->n_counts + 1, sizeof(*s->counts));
	s->counts[s->n_counts++] = (struct sim_count){
	    .route = xstrdup(route), .status = status, .fault = fault, .count = 1};
}

/* Forget every counted call. */
static void sim_server_counts_clear(struct sim_server *s)
{
	for (size_t i = 0; i < s->n_counts; i++)
		free(s->counts[i].route);
	free(s->counts);
	s->counts = NULL;
	s->n_counts = 0;
	s->total = 0;
}

/* Answer with a JSON body (or none), X-Request-Id and an optional Retry-After. */
static void sim_server_respond(struct http_exchange *ex, int status, const char *body, size_t len,
                               const char *req_id, const char *retry_after)
{
	struct http_header extra[2] = {{"X-Request-Id", req_id}};
	size_t n = 1;

	if (retry_after && *retry_after)
		extra[n++] = (struct http_header){"Retry-After", retry_after};
	http_exchange_respond(ex, status, body ? "application/json" : NULL, body, body ? len : 0,
	                      extra, n);
}

/* Log, count and free a finished call. */
static void server_call_done(struct server_call *c, int status)
{
	struct sim_server *s = c->server;
	const char *fault = c->d.action == SIM_FAULT_LATENCY ? "none" : c->d.fault;

	sim_server_count(s, c->route, status, fault);
	log_event(LOG_LEVEL_INFO, "sim.call",
	          "req_id=%s method=%s route=%s status=%d dur_ms=%lld fault=%s", c->req_id,
	          http_method_to_string(c->method), c->route, status,
	          (long long)(clock_ms(CLOCK_MONOTONIC) - c->start_ms), c->d.fault);
	if (c->timer)
		event_free(c->timer);
	free(c);
}

/* Answer a call with a simulated 5xx or 429. */
static void server_call_fail(struct server_call *c)
{
	_cleanup_free_ char *body =
	    c->d.status == 429
	        ? xstrdup("{\"code\":\"429000\",\"message\":\"too many requests (simulated)\"}")
	        : xasprintf("{\"code\":\"%d000\",\"message\":\"simulated server error\"}",
	                    c->d.status);

	sim_server_respond(c->ex, c->d.status, body, strlen(body), c->req_id, c->d.retry_after);
	server_call_done(c, c->d.status);
}

/* Send part of the answer raw, then reset the connection. */
static void server_call_reset(struct server_call *c, const struct sim_response *resp)
{
	const char *body = resp->body ? resp->body : "";
	size_t body_len = resp->body ? resp->body_len : 0;
	_cleanup_free_ char *raw = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	                                     "Content-Length: %zu\r\nX-Request-Id: %s\r\n\r\n%.*s",
	                                     resp->status, err_http_reason(resp->status), body_len,
	                                     c->req_id, (int)body_len, body);
	size_t total = strlen(raw);
	size_t partial = c->d.partial_bytes < 0 ? total / 2 : (size_t)c->d.partial_bytes;

	http_exchange_reset(c->ex, raw, partial < total ? partial : total);
}

/* Let the simulator answer the call (possibly only partly, for a reset fault). */
static void server_call_answer(struct server_call *c)
{
	struct sim_server *s = c->server;
	struct sim_response resp = {0};
	int status;

	sim_handle(s->sim, http_exchange_req(c->ex), s->now_ms(), &resp);
	if (resp.route)
		c->route = resp.route;
	status = resp.status;
	if (c->d.action == SIM_FAULT_RESET)
		server_call_reset(c, &resp);
	else
		sim_server_respond(c->ex, resp.status, resp.body, resp.body_len, c->req_id, NULL);
	sim_response_fini(&resp);
	server_call_done(c, status);
}

static void server_call_step(struct server_call *c);

/* A held call's timer expired: continue with it. */
static void server_call_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct server_call *c = arg;

	LIST_REMOVE(c, link);
	c->server->n_pending--;
	event_free(c->timer);
	c->timer = NULL;
	server_call_step(c);
}

/* Hold the call for ms milliseconds; false when there is nothing to wait for. */
static bool server_call_hold(struct server_call *c, int64_t ms)
{
	/* libevent may time with CLOCK_MONOTONIC_COARSE (ticks of up to 1 ms) and from the
	 * loop's cached time: one extra millisecond and a fresh cache keep a hold from ever
	 * ending early. */
	int64_t wait = ms + 1;
	struct timeval tv = {.tv_sec = (time_t)(wait / 1000), .tv_usec = (wait % 1000) * 1000};

	if (ms <= 0)
		return false;
	c->timer = evtimer_new(c->server->base, server_call_on_timer, c);
	if (c->timer) {
		event_base_update_cache_time(c->server->base);
		if (evtimer_add(c->timer, &tv) == 0) {
			LIST_INSERT_HEAD(&c->server->pending, c, link);
			c->server->n_pending++;
			return true;
		}
		event_free(c->timer);
		c->timer = NULL;
	}
	/* libevent is out of memory: answer now rather than never. */
	log_event(LOG_LEVEL_WARN, "sim.hold_failed", "req_id=%s delay_ms=%lld", c->req_id,
	          (long long)ms);
	return false;
}

/* Advance a call: latency first, then a stall, then the answer the fault calls for. */
static void server_call_step(struct server_call *c)
{
	int64_t wait = c->d.delay_ms;

	c->d.delay_ms = 0;
	if (wait <= 0 && c->d.action == SIM_FAULT_STALL) {
		wait = c->d.stall_ms;
		c->d.stall_ms = 0;
	}
	if (server_call_hold(c, wait))
		return;
	if (c->d.action == SIM_FAULT_ERROR || c->d.action == SIM_FAULT_THROTTLE)
		server_call_fail(c);
	else
		server_call_answer(c);
}

/* An API call: decide its fault and start it. */
static void sim_server_api_call(struct sim_server *s, struct server_call *c,
                                const struct http_req *req)
{
	char org[64];
	struct sim_fault_call fc = {
	    .method = http_method_to_string(req->method), .path = req->path, .org = org};

	c->route = sim_route_name(req);
	fc.route = c->route;
	sim_faults_org_from_path(req->path, org, sizeof(org));
	sim_faults_decide(s->faults, &fc, s->now_ms(), &c->d);
	server_call_step(c);
}

/* What an admin route answers. body NULL: no body. */
struct admin_reply {
	int status;
	json_t *body;
};

/* Fill an error reply in the Versori Error shape. */
static void admin_error(struct admin_reply *r, int status, const char *message)
{
	r->status = status;
	r->body = json_pack("{s:s, s:s}", "code", status == 400 ? "400000" : "500000", "message",
	                    message);
}

/* Parse a JSON request body, or fill a 400 reply. */
static json_t *admin_body(const struct http_req *req, struct admin_reply *r)
{
	struct json_error jerr;
	json_t *doc = NULL;

	if (json_body_parse(req->body, req->body_len, &doc, &jerr) < 0) {
		admin_error(r, 400, jerr.text);
		return NULL;
	}
	return doc;
}

/* GET /_sim/healthz */
static void admin_healthz(struct sim_server *s, const struct http_req *req, struct admin_reply *r)
{
	r->body = json_pack("{s:s, s:I}", "status", "ok", "pending", (json_int_t)s->n_pending);
}

/* GET /_sim/state */
static void admin_state(struct sim_server *s, const struct http_req *req, struct admin_reply *r)
{
	r->body = sim_state_to_json(s->sim);
}

/* GET /_sim/calls */
static void admin_calls_get(struct sim_server *s, const struct http_req *req, struct admin_reply *r)
{
	json_t *calls = json_array();

	for (size_t i = 0; i < s->n_counts; i++) {
		const struct sim_count *c = &s->counts[i];

		json_array_append_new(calls, json_pack("{s:s, s:i, s:s, s:I}", "route", c->route,
		                                       "status", c->status, "fault", c->fault,
		                                       "count", (json_int_t)c->count));
	}
	r->body = json_pack("{s:I, s:o}", "total", (json_int_t)s->total, "calls", calls);
}

/* DELETE /_sim/calls */
static void admin_calls_delete(struct sim_server *s, const struct http_req *req,
                               struct admin_reply *r)
{
	sim_server_counts_clear(s);
	r->status = 204;
}

/* GET /_sim/switches */
static void admin_switches_get(struct sim_server *s, const struct http_req *req,
                               struct admin_reply *r)
{
	r->body = sim_switches_to_json(s->sim);
}

/* Set every switch of doc, or restore the previous values and fill a 400 reply. */
static void admin_switches_apply(struct sim_server *s, const json_t *doc, struct admin_reply *r)
{
	json_auto_t *before = sim_switches_to_json(s->sim);
	const char *name, *old_name;
	json_t *v, *old;

	json_object_foreach ((json_t *)doc, name, v) {
		_cleanup_free_ char *value = json_scalar_to_string(v);

		if (!value || sim_switch_set(s->sim, name, value) < 0) {
			_cleanup_free_ char *msg =
			    xasprintf("unknown switch or value: %s=%s", name, value ? value : "?");

			json_object_foreach (before, old_name, old)
				(void)!sim_switch_set(s->sim, old_name, json_string_value(old));
			admin_error(r, 400, msg);
			return;
		}
	}
	r->body = sim_switches_to_json(s->sim);
}

/* PUT /_sim/switches: {"name": "value", ...}, all or nothing. */
static void admin_switches_put(struct sim_server *s, const struct http_req *req,
                               struct admin_reply *r)
{
	json_auto_t *doc = admin_body(req, r);

	if (!doc)
		return;
	if (!json_is_object(doc)) {
		admin_error(r, 400, "expected an object of switch names to values");
		return;
	}
	admin_switches_apply(s, doc, r);
}

/* GET /_sim/faults */
static void admin_faults_get(struct sim_server *s, const struct http_req *req,
                             struct admin_reply *r)
{
	r->body = sim_faults_to_json(s->faults);
}

/* PUT /_sim/faults replaces all rules; POST /_sim/faults appends one. */
static void admin_faults_put(struct sim_server *s, const struct http_req *req,
                             struct admin_reply *r)
{
	json_auto_t *doc = admin_body(req, r);
	char err[256] = "";
	int ret;

	if (!doc)
		return;
	if (req->method == HTTP_METHOD_POST)
		ret = sim_faults_add(s->faults, doc, err, sizeof(err));
	else
		ret = sim_faults_set(s->faults, doc, err, sizeof(err));
	if (ret < 0) {
		admin_error(r, 400, err);
		return;
	}
	r->body = sim_faults_to_json(s->faults);
}

/* DELETE /_sim/faults */
static void admin_faults_delete(struct sim_server *s, const struct http_req *req,
                                struct admin_reply *r)
{
	sim_faults_clear(s->faults);
	r->status = 204;
}

/* POST /_sim/reset: state from the fixture again (with the start switches), counts cleared. */
static void admin_reset(struct sim_server *s, const struct http_req *req, struct admin_reply *r)
{
	_cleanup_free_ char *err = NULL;
	struct sim *fresh = NULL;

	if (sim_server_build(s, s->fixture, &fresh, &err) < 0) {
		admin_error(r, 500, err);
		return;
	}
	sim_free(s->sim);
	s->sim = fresh;
	sim_server_counts_clear(s);
	r->body = json_pack("{s:s}", "status", "reset");
}

typedef void (*admin_fn)(struct sim_server *s, const struct http_req *req, struct admin_reply *r);

static const struct admin_route {
	const char *path;
	enum http_method method;
	admin_fn fn;
} admin_routes[] = {
    {"/_sim/healthz", HTTP_METHOD_GET, admin_healthz},
    {"/_sim/state", HTTP_METHOD_GET, admin_state},
    {"/_sim/calls", HTTP_METHOD_GET, admin_calls_get},
    {"/_sim/calls", HTTP_METHOD_DELETE, admin_calls_delete},
    {"/_sim/switches", HTTP_METHOD_GET, admin_switches_get},
    {"/_sim/switches", HTTP_METHOD_PUT, admin_switches_put},
    {"/_sim/faults", HTTP_METHOD_GET, admin_faults_get},
    {"/_sim/faults", HTTP_METHOD_PUT, admin_faults_put},
    {"/_sim/faults", HTTP_METHOD_POST, admin_faults_put},
    {"/_sim/faults", HTTP_METHOD_DELETE, admin_faults_delete},
    {"/_sim/reset", HTTP_METHOD_POST, admin_reset},
};

/* Route an admin request and fill the reply (404 / 405 when nothing matches). */
static void admin_dispatch(struct sim_server *s, const struct http_req *req, struct admin_reply *r)
{
	bool path_known = false;

	for (size_t i = 0; i < ELEMENTSOF(admin_routes); i++) {
		if (strcmp(admin_routes[i].path, req->path) != 0)
			continue;
		path_known = true;
		if (admin_routes[i].method == req->method) {
			admin_routes[i].fn(s, req, r);
			return;
		}
	}
	r->status = path_known ? 405 : 404;
	r->body = json_pack("{s:s, s:s}", "code", path_known ? "405000" : "404000", "message",
	                    path_known ? "method not allowed" : "no such admin endpoint");
}

/* Answer a /_sim/ request. */
static void sim_server_admin(struct sim_server *s, struct http_exchange *ex,
                             const struct http_req *req, const char *req_id)
{
	struct admin_reply r = {.status = 200};
	_cleanup_free_ char *text = NULL;

	admin_dispatch(s, req, &r);
	if (r.body)
		text = json_dumps(r.body, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(r.body);
	log_event(LOG_LEVEL_DEBUG, "sim.admin", "req_id=%s method=%s path=%s status=%d", req_id,
	          http_method_to_string(req->method), req->path, r.status);
	sim_server_respond(ex, r.status, text, text ? strlen(text) : 0, req_id, NULL);
}

/* The http_glue handler: admin routes, or an API call through the faults. */
static void sim_server_on_request(struct http_exchange *ex, const struct http_req *req,
                                  void *userdata)
{
	struct sim_server *s = userdata;
	struct server_call *c = xcalloc(1, sizeof(*c));

	c->server = s;
	c->ex = ex;
	c->method = req->method;
	c->start_ms = clock_ms(CLOCK_MONOTONIC);
	if (id_uuid7_new(c->req_id) < 0)
		snprintf(c->req_id, sizeof(c->req_id), "sim-%lld", (long long)c->start_ms);
	if (strncmp(req->path, "/_sim/", 6) == 0) {
		sim_server_admin(s, ex, req, c->req_id);
		free(c);
		return;
	}
	sim_server_api_call(s, c, req);
}

/* Free what sim_server_new() set up so far. */
static void sim_server_release(struct sim_server *s)
{
	http_server_free(s->http);
	sim_free(s->sim);
	sim_faults_free(s->faults);
	json_decref(s->fixture);
	for (size_t i = 0; i < s->n_switches; i++)
		free(s->switches[i]);
	free(s->switches);
	sim_server_counts_clear(s);
	free(s);
}

/* Build the simulator and start listening. */
int sim_server_new(struct event_base *base, const struct sim_server_options *o,
                   struct sim_faults *owned_faults, struct sim_server **ret, char **ret_error)
{
	struct sim_server *s = xcalloc(1, sizeof(*s));
	struct http_server_options ho = {.addr = o->addr,
	                                 .port = o->port,
	                                 .max_body = SIM_MAX_BODY,
	                                 .read_timeout_s = 60,
	                                 .detect_client_close = true};
	int r;

	s->base = base;
	s->faults = owned_faults;
	s->fixture = json_incref((json_t *)o->fixture);
	s->now_ms = o->now_ms ? o->now_ms : sim_server_real_now_ms;
	LIST_INIT(&s->pending);
	s->switches = xcalloc(o->n_switches ? o->n_switches : 1, sizeof(*s->switches));
	for (; s->n_switches < o->n_switches; s->n_switches++)
		s->switches[s->n_switches] = xstrdup(o->switches[s->n_switches]);
	r = sim_server_build(s, o->initial ? o->initial : o->fixture, &s->sim, ret_error);
	if (r < 0) {
		sim_server_release(s);
		return r;
	}
	s->http = http_server_new(base, &ho, sim_server_on_request, s, ret_error);
	if (!s->http) {
		sim_server_release(s);
		return -EIO;
	}
	*ret = s;
	return 0;
}

/* Stop accepting new connections. */
void sim_server_stop_accepting(struct sim_server *s)
{
	http_server_stop_accepting(s->http);
}

/* Free the server; held calls are dropped. */
void sim_server_free(struct sim_server *s)
{
	struct server_call *c;

	if (!s)
		return;
	/* Connections first: held exchanges then only lose their clients, and answering them
	 * below frees them without sending anything. */
	http_server_free(s->http);
	s->http = NULL;
	while ((c = LIST_FIRST(&s->pending))) {
		LIST_REMOVE(c, link);
		s->n_pending--;
		http_exchange_respond(c->ex, 503, NULL, NULL, 0, NULL, 0);
		event_free(c->timer);
		free(c);
	}
	sim_server_release(s);
}

/* The port actually bound. */
int sim_server_port(const struct sim_server *s)
{
	return http_server_port(s->http);
}

/* Calls held right now. */
size_t sim_server_pending(const struct sim_server *s)
{
	return s->n_pending;
}

/* Write all of buf to fd. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write the state to path atomically, mode 0600. */
int sim_server_state_save(const struct sim_server *s, const char *path)
{
	json_auto_t *state = sim_state_to_json(s->sim);
	_cleanup_free_ char *text =
	    state ? json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	_cleanup_free_ char *tmp = xasprintf("%s.XXXXXX", path);
	int fd, r;

	if (!text)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
	if (fd < 0)
		return -errno;
	r = write_all(fd, text, strlen(text));
	if (r >= 0)
		r = write_all(fd, "\n", 1);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}
