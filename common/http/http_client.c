/* Outbound HTTP: the transport seam, and libcurl's multi interface driven by libevent
 * (curl tells us which sockets and which timeout to watch; the loop tells curl what fired). */
#include "http_client.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "hookrun_build.h"

#define HTTP_CLIENT_MAX_RESPONSE_HEADERS 256
#define HTTP_CLIENT_DEFAULT_MAX_BODY     ((size_t)16 << 20)
/* curl's receive buffer per transfer: 16 KiB by default, held by every call in flight (2 MiB
 * of a worker's 128), where the Versori API's answers are a few hundred bytes to a few KiB;
 * a larger answer takes a few more reads. */
#define HTTP_CLIENT_RECV_BUFFER          4096L

/* What the caller handed to http_client_send(): done is wrapped so in_flight stays right
 * whatever the transport. */
struct http_pending {
	struct http_client *client; /* NULL once http_client_free() cancelled it */
	http_client_done_fn done;
	void *userdata;
	LIST_ENTRY(http_pending) link;
};

/* One socket curl asked us to watch. */
struct http_sock {
	struct event *ev;
	LIST_ENTRY(http_sock) link;
};

/* All state of one curl transfer, freed in exactly one place (xfer_free). */
struct curl_xfer {
	struct http_client *client;
	CURL *easy;
	struct curl_slist *headers;
	char *body_out; /* our copy of the request body, read by curl until the end */
	char *body;     /* response body, NUL-terminated */
	size_t body_len;
	size_t body_cap;
	struct http_header *resp_headers; /* names and values owned here */
	size_t n_resp_headers;
	size_t resp_headers_cap;
	bool too_big;
	bool too_many_headers;
	http_client_done_fn done;
	void *userdata;
	char errbuf[CURL_ERROR_SIZE];
	LIST_ENTRY(curl_xfer) link;
};

struct http_client {
	struct http_transport transport;
	size_t in_flight;
	long connections_opened;
	LIST_HEAD(, http_pending) pending;
	bool freeing;
	unsigned dispatching; /* > 0 while curl completions are being delivered */

	/* The curl transport only. */
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	char *user_agent;
	long connect_timeout_ms;
	long timeout_ms;
	long max_host_connections;
	long max_in_flight;
	size_t max_body;
	LIST_HEAD(, curl_xfer) xfers;
	LIST_HEAD(, http_sock) socks;
	/* Easy handles of finished transfers, reset, for the next ones: making one (its buffers,
	 * its state) for every call cost more than the call itself against a fast server. */
	CURL **idle;
	size_t n_idle;
};

static void client_free_struct(struct http_client *c);

static pthread_once_t client_global_once = PTHREAD_ONCE_INIT;
static CURLcode client_global_result = CURLE_FAILED_INIT;

/* Free a curl header list at scope exit. */
static inline void curl_slist_freep(struct curl_slist **l)
{
	curl_slist_free_all(*l);
}
#define _cleanup_curl_slist_ _cleanup_(curl_slist_freep)

/* Initialise libcurl once per process. */
static void client_global_init_once(void)
{
	client_global_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Map a finished transfer's CURLcode to the errno vocabulary of the header. */
static int xfer_errno(const struct curl_xfer *x, CURLcode code)
{
	switch (code) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
	/* The scheme was checked before queuing, so this is "Received HTTP/0.9": no status line. */
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_WRITE_ERROR:
		/* Our callbacks refuse data only for these two reasons. */
		if (x->too_big)
			return -EFBIG;
		if (x->too_many_headers)
			return -EPROTO;
		return -EIO;
	default:
		return -EIO;
	}
}

/* Drop the response headers collected so far. */
static void xfer_headers_reset(struct curl_xfer *x)
{
	for (size_t i = 0; i < x->n_resp_headers; i++) {
		free((char *)x->resp_headers[i].name);
		free((char *)x->resp_headers[i].value);
	}
	x->n_resp_headers = 0;
}

/* Free a transfer that is no longer in the multi handle. */
static void xfer_free(struct curl_xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	xfer_headers_reset(x);
	free(x->resp_headers);
	free(x->body_out);
	free(x->body);
	free(x);
}

/* curl's write callback: append to the body, refusing (and so failing) beyond the cap. */
static size_t xfer_on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct curl_xfer *x = userdata;
	size_t n = size * nmemb;

	if (n > x->client->max_body - x->body_len) {
		x->too_big = true;
		return 0;
	}
	if (x->body_len + n + 1 > x->body_cap) {
		size_t cap = x->body_cap ? x->body_cap : 4096;

		while (cap < x->body_len + n + 1)
			cap *= 2;
		x->body = xrealloc(x->body, cap);
		x->body_cap = cap;
	}
	memcpy(x->body + x->body_len, ptr, n);
	x->body_len += n;
	x->body[x->body_len] = '\0';
	return n;
}

/* Length of s[0..n) without trailing CR, LF, spaces and tabs. */
static size_t trim_right(const char *s, size_t n)
{
	while (n > 0 && strchr("\r\n \t", s[n - 1]))
		n--;
	return n;
}

/* Append an obsolete folded continuation line to the last header's value. */
static void xfer_header_fold(struct curl_xfer *x, const char *s, size_t n)
{
	struct http_header *h = &x->resp_headers[x->n_resp_headers - 1];
	char *v;

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	v = xasprintf("%s %.*s", h->value, (int)n, s);
	free((char *)h->value);
	h->value = v;
}

/* curl's header callback: one line at a time, status lines included. A new status line starts
 * a new response (after 1xx), so only the final response's headers remain. */
static size_t xfer_on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct curl_xfer *x = userdata;
	size_t n = size * nitems, len = trim_right(buf, n), vs;
	const char *colon;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		xfer_headers_reset(x);
		return n;
	}
	if (len == 0)
		return n;
	if ((buf[0] == ' ' || buf[0] == '\t') && x->n_resp_headers > 0) {
		xfer_header_fold(x, buf, len);
		return n;
	}
	colon = memchr(buf, ':', len);
	if (!colon || colon == buf)
		return n; /* not a header line; curl itself judges the framing */
	if (x->n_resp_headers == HTTP_CLIENT_MAX_RESPONSE_HEADERS) {
		x->too_many_headers = true;
		return 0;
	}
	if (x->n_resp_headers == x->resp_headers_cap) {
		x->resp_headers_cap = x->resp_headers_cap ? 2 * x->resp_headers_cap : 16;
		x->resp_headers =
		    xreallocarray(x->resp_headers, x->resp_headers_cap, sizeof(*x->resp_headers));
	}
	for (vs = (size_t)(colon - buf) + 1; vs < len && (buf[vs] == ' ' || buf[vs] == '\t'); vs++)
		;
	x->resp_headers[x->n_resp_headers++] = (struct http_header){
	    .name = xstrndup(buf, (size_t)(colon - buf)),
	    .value = xstrndup(buf + vs, len - vs),
	};
	return n;
}

/* An easy handle for a new transfer: an idle one, or a new one (NULL on out of memory). */
static CURL *client_easy_get(struct http_client *c)
{
	return c->n_idle > 0 ? c->idle[--c->n_idle] : curl_easy_init();
}

/* Keep a finished transfer's easy handle, reset, for the next (at most max_in_flight). */
static void client_easy_put(struct http_client *c, CURL *easy)
{
	if (c->freeing || c->n_idle >= (size_t)c->max_in_flight) {
		curl_easy_cleanup(easy);
		return;
	}
	curl_easy_reset(easy);
	c->idle[c->n_idle++] = easy;
}

/* Remove the transfer from the client, hand resp to its done callback, then free it. */
static void xfer_deliver(struct curl_xfer *x, const struct http_client_response *resp)
{
	struct http_client *c = x->client;

	LIST_REMOVE(x, link);
	(void)curl_multi_remove_handle(c->multi, x->easy);
	client_easy_put(c, TAKE_PTR(x->easy));
	x->done(resp, x->userdata);
	xfer_free(x);
}

/* A transfer curl reported done: build the response and deliver it. */
static void xfer_complete(struct curl_xfer *x, CURLcode code)
{
	struct http_client_response resp = {.body = "", .error_text = ""};
	curl_off_t total_us = 0;
	long conns = 0;

	(void)curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total_us);
	(void)curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &conns);
	x->client->connections_opened += conns;
	resp.total_ms = (double)total_us / 1000.0;
	if (code != CURLE_OK) {
		resp.transport_error = xfer_errno(x, code);
		if (x->too_big)
			snprintf(x->errbuf, sizeof(x->errbuf),
			         "response body larger than %zu bytes", x->client->max_body);
		else if (x->too_many_headers)
			snprintf(x->errbuf, sizeof(x->errbuf), "more than %d response headers",
			         HTTP_CLIENT_MAX_RESPONSE_HEADERS);
		resp.error_text = x->errbuf[0] ? x->errbuf : curl_easy_strerror(code);
		xfer_deliver(x, &resp);
		return;
	}
	(void)curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &resp.status);
	resp.headers = x->resp_headers;
	resp.n_headers = x->n_resp_headers;
	if (x->body) {
		resp.body = x->body;
		resp.body_len = x->body_len;
	}
	xfer_deliver(x, &resp);
}

/* Deliver every message curl has for finished transfers; stops when the client is freed. */
static void client_drain(struct http_client *c)
{
	CURLMsg *msg;
	int left;

	while (!c->freeing && (msg = curl_multi_info_read(c->multi, &left))) {
		CURLcode code = msg->data.result;
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		xfer_complete((struct curl_xfer *)priv, code);
	}
}

/* Let curl act on fd (or its timeout) and deliver what finished. A done callback may free the
 * client: the struct then outlives http_client_free() until the outermost dispatch returns. */
static void client_dispatch(struct http_client *c, curl_socket_t fd, int action)
{
	int running = 0;

	c->dispatching++;
	(void)curl_multi_socket_action(c->multi, fd, action, &running);
	client_drain(c);
	c->dispatching--;
	if (c->freeing && c->dispatching == 0)
		client_free_struct(c);
}

/* libevent: a socket curl watches is ready. */
static void client_on_event(evutil_socket_t fd, short what, void *arg)
{
	int action =
	    ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);

	client_dispatch(arg, fd, action);
}

/* libevent: curl's timeout expired. */
static void client_on_timer(evutil_socket_t fd, short what, void *arg)
{
	client_dispatch(arg, CURL_SOCKET_TIMEOUT, 0);
}

/* Stop watching a socket and forget it. */
static void client_sock_free(struct http_sock *hs)
{
	LIST_REMOVE(hs, link);
	event_free(hs->ev);
	free(hs);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what curl asks, or stop watching it. */
static int client_on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	struct http_sock *hs = socketp;
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (hs)
			client_sock_free(hs);
		return 0;
	}
	if (!hs) {
		struct event *ev = event_new(c->base, s, 0, client_on_event, c);

		if (!ev)
			return -1;
		hs = xcalloc(1, sizeof(*hs));
		hs->ev = ev;
		LIST_INSERT_HEAD(&c->socks, hs, link);
		(void)curl_multi_assign(c->multi, s, hs);
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	/* An event may only be reassigned when it is not pending (libevent's rule). */
	(void)event_del(hs->ev);
	(void)event_assign(hs->ev, c->base, s, kind, client_on_event, c);
	return event_add(hs->ev, NULL) < 0 ? -1 : 0;
}

/* CURLMOPT_TIMERFUNCTION: (re)arm or stop the one timer curl wants. */
static int client_on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

	if (timeout_ms < 0)
		return event_del(c->timer) < 0 ? -1 : 0;
	/* Never act from inside curl: even a zero timeout goes through the loop. */
	return evtimer_add(c->timer, &tv) < 0 ? -1 : 0;
}

/* Whether url parses and is http or https: -EINVAL when not. */
static int request_check_url(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	CURLUcode rc;
	int r = 0;

	if (!u)
		return -ENOMEM;
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (rc == CURLUE_OUT_OF_MEMORY)
		r = -ENOMEM;
	else if (rc != CURLUE_OK ||
	         (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0))
		r = -EINVAL;
	curl_free(scheme);
	curl_url_cleanup(u);
	return r;
}

/* Whether a header can be sent as given: a token-ish name, no line breaks anywhere. */
static bool request_header_ok(const struct http_header *h)
{
	if (!h->name || !h->value || !h->name[0])
		return false;
	if (strpbrk(h->name, ":\r\n \t") || strpbrk(h->value, "\r\n"))
		return false;
	return true;
}

/* Validate what curl would not: URL, method, body on HEAD, headers. */
static int request_check(const struct http_client_request *req)
{
	if (!req->url || req->method >= HTTP_METHOD_OTHER)
		return -EINVAL;
	if (req->method == HTTP_METHOD_HEAD && req->body_len > 0)
		return -EINVAL;
	if ((req->n_headers > 0 && !req->headers) || (req->body_len > 0 && !req->body))
		return -EINVAL;
	for (size_t i = 0; i < req->n_headers; i++)
		if (!request_header_ok(&req->headers[i]))
			return -EINVAL;
	return request_check_url(req->url);
}

/* Whether the request goes out with a body (maybe empty, then with Content-Length: 0). */
static bool request_has_body(const struct http_client_request *req)
{
	return req->body_len > 0 || req->method == HTTP_METHOD_POST ||
	       req->method == HTTP_METHOD_PUT || req->method == HTTP_METHOD_PATCH;
}

/* Whether the caller's headers include name. */
static bool request_has_header(const struct http_client_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return true;
	return false;
}

/* Append one header line; false on out-of-memory. */
static bool slist_add(struct curl_slist **l, const char *line)
{
	struct curl_slist *n = curl_slist_append(*l, line);

	if (!n)
		return false;
	*l = n;
	return true;
}

/* The request header list: the caller's, plus ours that switch off curl's defaults. */
static int xfer_set_headers(struct curl_xfer *x, const struct http_client_request *req)
{
	_cleanup_curl_slist_ struct curl_slist *l = NULL;
	bool ok = true;

	for (size_t i = 0; ok && i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		/* "Name;" is curl's spelling of a header with an empty value. */
		_cleanup_free_ char *line = h->value[0] ? xasprintf("%s: %s", h->name, h->value)
		                                        : xasprintf("%s;", h->name);

		ok = slist_add(&l, line);
	}
	/* No 100-continue round trip; no form Content-Type curl would add to a body. */
	if (ok && !request_has_header(req, "Expect"))
		ok = slist_add(&l, "Expect:");
	if (ok && request_has_body(req) && !request_has_header(req, "Content-Type"))
		ok = slist_add(&l, "Content-Type:");
	if (!ok)
		return -ENOMEM;
	x->headers = TAKE_PTR(l);
	return curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers) == CURLE_OK ? 0 : -EIO;
}

/* The method and the body (our copy, which curl reads until the transfer ends). */
static int xfer_set_method(struct curl_xfer *x, const struct http_client_request *req)
{
	CURL *e = x->easy;
	CURLcode rc;

	if (req->method == HTTP_METHOD_HEAD)
		return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK ? 0 : -EIO;
	if (request_has_body(req)) {
		x->body_out = xmalloc(req->body_len + 1);
		if (req->body_len > 0)
			memcpy(x->body_out, req->body, req->body_len);
		(void)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		(void)curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body_out);
	} else {
		(void)curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	}
	/* POSTFIELDS means POST and HTTPGET means GET; anything else is named explicitly. */
	if (req->method == HTTP_METHOD_POST || (req->method == HTTP_METHOD_GET && !req->body_len))
		return 0;
	rc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, http_method_to_string(req->method));
	return rc == CURLE_OK ? 0 : -ENOMEM;
}

/* Options every transfer shares. */
static int xfer_set_common(struct curl_xfer *x, const struct http_client_request *req)
{
	struct http_client *c = x->client;
	CURL *e = x->easy;
	long timeout = req->timeout_ms > 0 ? req->timeout_ms : c->timeout_ms;

	(void)curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	(void)curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	(void)curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	(void)curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
	(void)curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(e, CURLOPT_BUFFERSIZE, HTTP_CLIENT_RECV_BUFFER);
	(void)curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	(void)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, xfer_on_body);
	(void)curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	(void)curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, xfer_on_header);
	(void)curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	if (curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_URL, req->url) != CURLE_OK)
		return -ENOMEM;
	return 0;
}

/* The curl transport's send: validate, build one easy handle, add it to the multi handle.
 * Nothing completes here; curl's zero timeout fires on the next loop iteration. */
static int client_curl_send(void *impl, const struct http_client_request *req,
                            http_client_done_fn done, void *userdata)
{
	struct http_client *c = impl;
	struct curl_xfer *x;
	int r;

	r = request_check(req);
	if (r < 0)
		return r;
	x = xcalloc(1, sizeof(*x));
	x->client = c;
	x->done = done;
	x->userdata = userdata;
	x->easy = client_easy_get(c);
	if (!x->easy) {
		xfer_free(x);
		return -ENOMEM;
	}
	r = xfer_set_common(x, req);
	if (r >= 0)
		r = xfer_set_method(x, req);
	if (r >= 0)
		r = xfer_set_headers(x, req);
	if (r >= 0 && curl_multi_add_handle(c->multi, x->easy) != CURLM_OK)
		r = -ENOMEM;
	if (r < 0) {
		xfer_free(x);
		return r;
	}
	LIST_INSERT_HEAD(&c->xfers, x, link);
	return 0;
}

/* A client with options applied (defaults for zeros) and no transport yet. */
static struct http_client *client_alloc(const struct http_client_options *o)
{
	static const struct http_client_options defaults;
	struct http_client *c = xcalloc(1, sizeof(*c));

	if (!o)
		o = &defaults;
	c->user_agent = xstrdup(o->user_agent ? o->user_agent : "hookrun/" HOOKRUN_VERSION);
	c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	c->max_host_connections = o->max_host_connections > 0 ? o->max_host_connections : 8;
	c->max_in_flight = o->max_in_flight > 0 ? o->max_in_flight : 64;
	c->idle = xcalloc((size_t)c->max_in_flight, sizeof(*c->idle));
	c->max_body =
	    o->max_response_body > 0 ? o->max_response_body : HTTP_CLIENT_DEFAULT_MAX_BODY;
	LIST_INIT(&c->pending);
	LIST_INIT(&c->xfers);
	LIST_INIT(&c->socks);
	return c;
}

/* Hook the multi handle to the loop and apply the connection limits. The cache of idle
 * connections is sized to the in-flight limit: libcurl's default (four per easy handle added
 * at the moment) shrinks whenever the load dips, closing connections that the next burst
 * then opens again (one connect per few calls at full load). */
static int client_multi_setup(struct http_client *c)
{
	CURLM *m = c->multi;

	if (curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, client_on_socket) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, client_on_curl_timer) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_TIMERDATA, c) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, c->max_host_connections) !=
	        CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, c->max_in_flight) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, c->max_in_flight) != CURLM_OK)
		return -EIO;
	return 0;
}

/* A client on base using libcurl multi. */
struct http_client *http_client_new(struct event_base *base, const struct http_client_options *o,
                                    const char **ret_error)
{
	struct http_client *c;
	const char *error = NULL;

	assert(base);
	if (pthread_once(&client_global_once, client_global_init_once) != 0 ||
	    client_global_result != CURLE_OK) {
		if (ret_error)
			*ret_error = "curl_global_init failed";
		return NULL;
	}
	c = client_alloc(o);
	c->base = base;
	c->transport = (struct http_transport){.send = client_curl_send, .impl = c};
	c->multi = curl_multi_init();
	c->timer = evtimer_new(base, client_on_timer, c);
	if (!c->multi || !c->timer)
		error = "out of memory creating the curl multi handle";
	else if (client_multi_setup(c) < 0)
		error = "curl refused the multi handle options";
	if (!error)
		return c;
	/* Nothing was queued yet: undo the construction only. */
	if (c->multi)
		(void)curl_multi_cleanup(c->multi);
	if (c->timer)
		event_free(c->timer);
	client_free_struct(c);
	if (ret_error)
		*ret_error = error;
	return NULL;
}

/* A client over a caller-provided transport. */
struct http_client *http_client_new_with_transport(const struct http_transport *t,
                                                   const struct http_client_options *o)
{
	struct http_client *c;

	assert(t && t->send);
	c = client_alloc(o);
	c->transport = *t;
	return c;
}

/* The wrapped done: keep the books, then call the caller (unless already cancelled). */
static void client_on_done(const struct http_client_response *resp, void *userdata)
{
	struct http_pending *p = userdata;

	if (p->client) {
		LIST_REMOVE(p, link);
		p->client->in_flight--;
		p->done(resp, p->userdata);
	}
	free(p);
}

/* End every curl transfer with -ECANCELED. */
static void client_cancel_xfers(struct http_client *c)
{
	static const struct http_client_response cancelled = {
	    .transport_error = -ECANCELED,
	    .body = "",
	    .error_text = "request cancelled: the HTTP client was freed",
	};
	struct curl_xfer *x, *next;

	/* While freeing, a done callback cannot end another transfer (sends and nested frees
	 * return at once), so the saved next stays valid. */
	for (x = LIST_FIRST(&c->xfers); x; x = next) {
		next = LIST_NEXT(x, link);
		xfer_deliver(x, &cancelled);
	}
}

/* Cancel what another transport still holds: the caller hears -ECANCELED now, and the
 * bookkeeping is freed when the transport answers (client_on_done sees client == NULL). */
static void client_cancel_pending(struct http_client *c)
{
	static const struct http_client_response cancelled = {
	    .transport_error = -ECANCELED,
	    .body = "",
	    .error_text = "request cancelled: the HTTP client was freed",
	};
	struct http_pending *p;

	while ((p = LIST_FIRST(&c->pending))) {
		LIST_REMOVE(p, link);
		p->client = NULL;
		c->in_flight--;
		p->done(&cancelled, p->userdata);
	}
}

/* Free the struct itself, once nothing on the stack uses it any more. */
static void client_free_struct(struct http_client *c)
{
	free(c->idle);
	free(c->user_agent);
	free(c);
}

/* Cancel what is in flight and free the client; takes NULL and is idempotent while running. */
void http_client_free(struct http_client *c)
{
	struct http_sock *hs, *next;

	if (!c || c->freeing)
		return;
	c->freeing = true;
	client_cancel_xfers(c);
	client_cancel_pending(c);
	/* Cleanup closes cached connections, which may still call client_on_socket/timer. */
	if (c->multi)
		(void)curl_multi_cleanup(c->multi);
	c->multi = NULL;
	for (hs = LIST_FIRST(&c->socks); hs; hs = next) {
		next = LIST_NEXT(hs, link);
		client_sock_free(hs);
	}
	if (c->timer)
		event_free(c->timer);
	c->timer = NULL;
	while (c->n_idle > 0)
		curl_easy_cleanup(c->idle[--c->n_idle]);
	if (c->dispatching == 0)
		client_free_struct(c);
}

/* Wrap done and hand the request to the transport. */
int http_client_send(struct http_client *c, const struct http_client_request *req,
                     http_client_done_fn done, void *userdata)
{
	struct http_pending *p;
	int r;

	assert(c && req && done);
	if (c->freeing)
		return -ECANCELED;
	p = xcalloc(1, sizeof(*p));
	*p = (struct http_pending){.client = c, .done = done, .userdata = userdata};
	LIST_INSERT_HEAD(&c->pending, p, link);
	c->in_flight++;
	r = c->transport.send(c->transport.impl, req, client_on_done, p);
	if (r < 0) {
		LIST_REMOVE(p, link);
		c->in_flight--;
		free(p);
	}
	return r;
}

/* Requests in flight. */
size_t http_client_in_flight(const struct http_client *c)
{
	return c->in_flight;
}

/* Connections opened so far by completed requests. */
long http_client_connections_opened(const struct http_client *c)
{
	return c->connections_opened;
}

/* First header named name, case-insensitively. */
const char *http_client_response_header(const struct http_client_response *resp, const char *name)
{
	for (size_t i = 0; i < resp->n_headers; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}
