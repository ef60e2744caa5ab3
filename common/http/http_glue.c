/* The HTTP server over evhttp: plain requests in, answers out. */
#include "http_glue.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "err.h"
#include "http_tls.h"

/* The limits the glue enforces itself, with a JSON answer (see glue_refusal_find()). */
#define GLUE_MAX_TARGET         8192                /* bytes of request-target: 414 beyond */
#define GLUE_MAX_HEADERS        ((size_t)64 * 1024) /* request line and header lines: 431 beyond */
/* evhttp's own limit on the request line and headers, set well above GLUE_MAX_HEADERS so the
 * glue answers oversized headers itself; beyond it evhttp answers 400 with an HTML page and
 * closes the connection (libevent 2.1 has no hook for its own error pages). */
#define GLUE_EVHTTP_MAX_HEADERS ((ev_ssize_t)256 * 1024)
#define GLUE_BODY_SLICE         ((size_t)64 * 1024) /* a large body moved out of evhttp per step */

struct http_exchange;
LIST_HEAD(http_exchange_list, http_exchange);

struct http_server {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	int port;
	http_handler_fn handler;
	void *userdata;
	struct http_exchange_list live;   /* handed to the handler, not answered yet */
	struct http_exchange *in_handler; /* the exchange being handled, until answered */
	bool detect_client_close;
	http_refuse_fn refuse;
	void *refuse_userdata;
};

/* While the client is connected, req borrows header strings and the body from evreq. When the
 * connection goes away first, evhttp either frees evreq with it (the exchange then keeps deep
 * copies in owned and evreq becomes NULL) or detaches evreq and leaves it to us (evcon becomes
 * NULL and we free evreq when the exchange is answered). */
struct http_exchange {
	struct http_server *server; /* NULL once the server is freed */
	struct evhttp_request *evreq;
	struct evhttp_connection *evcon;
	LIST_ENTRY(http_exchange) link;
	struct http_req req;
	struct http_header *headers;
	char *path;
	char *query;
	char *owned;         /* copies of uri, header strings and body once evreq is gone */
	char *body;          /* the body, when it came in pieces and was moved here */
	struct event *watch; /* readable socket while held: did the client close? */
	bool close;          /* answer with "Connection: close" and close after it */
	char peer[64];
};

/* Map evhttp's method to ours. */
static enum http_method glue_method(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET:
		return HTTP_METHOD_GET;
	case EVHTTP_REQ_HEAD:
		return HTTP_METHOD_HEAD;
	case EVHTTP_REQ_POST:
		return HTTP_METHOD_POST;
	case EVHTTP_REQ_PUT:
		return HTTP_METHOD_PUT;
	case EVHTTP_REQ_PATCH:
		return HTTP_METHOD_PATCH;
	case EVHTTP_REQ_DELETE:
		return HTTP_METHOD_DELETE;
	case EVHTTP_REQ_OPTIONS:
		return HTTP_METHOD_OPTIONS;
	default:
		return HTTP_METHOD_OTHER;
	}
}

/* Copy the header list into a plain array borrowing evhttp's strings. */
static void glue_headers(struct http_exchange *ex)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(ex->evreq);
	struct evkeyval *kv;
	size_t n = 0;

	TAILQ_FOREACH (kv, h, next)
		n++;
	ex->headers = xcalloc(n ? n : 1, sizeof(*ex->headers));
	n = 0;
	TAILQ_FOREACH (kv, h, next)
		ex->headers[n++] = (struct http_header){kv->key, kv->value};
	ex->req.headers = ex->headers;
	ex->req.n_headers = n;
}

/* Split the URI into a decoded path and the raw query. */
static void glue_uri(struct http_exchange *ex)
{
	const char *uri = evhttp_request_get_uri(ex->evreq);
	const char *q = strchr(uri, '?');
	size_t plen = q ? (size_t)(q - uri) : strlen(uri);
	_cleanup_free_ char *raw = xstrndup(uri, plen);
	size_t len = 0;

	ex->path = evhttp_uridecode(raw, 0, &len);
	if (!ex->path) {
		ex->path = xstrdup(raw);
		len = plen;
	}
	ex->req.path_len = len;
	ex->query = q ? xstrdup(q + 1) : NULL;
	ex->req.uri = uri;
	ex->req.path = ex->path;
	ex->req.query = ex->query;
}

/* Fill the peer address string. */
static void glue_peer(struct http_exchange *ex)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(ex->evreq);
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (conn)
		evhttp_connection_get_peer(conn, &addr, &port);
	snprintf(ex->peer, sizeof(ex->peer), "%s:%u", addr ? addr : "?", port);
	ex->req.peer = ex->peer;
}

/* Size of a string with its NUL, 0 for NULL. */
static size_t glue_strsize(const char *x)
{
	return x ? strlen(x) + 1 : 0;
}

/* Append a string to the copy area at *cursor and return the copy (NULL stays NULL). */
static const char *glue_strcopy(char **cursor, const char *x)
{
	char *dst = *cursor;
	size_t n = glue_strsize(x);

	if (!x)
		return NULL;
	memcpy(dst, x, n);
	*cursor += n;
	return dst;
}

/* Copy everything req borrows from evreq into one owned block, before evhttp frees evreq. */
static void glue_exchange_copy(struct http_exchange *ex)
{
	size_t body = ex->body ? 0 : ex->req.body_len + 1; /* a moved body is ours already */
	size_t total = glue_strsize(ex->req.uri) + body;
	char *cursor;

	ex->req.tls = NULL; /* the session goes with the connection */
	for (size_t i = 0; i < ex->req.n_headers; i++)
		total += glue_strsize(ex->headers[i].name) + glue_strsize(ex->headers[i].value);
	ex->owned = cursor = xmalloc(total);
	if (body) {
		memcpy(cursor, ex->req.body, ex->req.body_len);
		cursor[ex->req.body_len] = '\0';
		ex->req.body = (const unsigned char *)cursor;
		cursor += body;
	}
	ex->req.uri = glue_strcopy(&cursor, ex->req.uri);
	for (size_t i = 0; i < ex->req.n_headers; i++) {
		ex->headers[i].name = glue_strcopy(&cursor, ex->headers[i].name);
		ex->headers[i].value = glue_strcopy(&cursor, ex->headers[i].value);
	}
}

/* evhttp is about to free a connection: exchanges on it lose their client. */
static void glue_on_close(struct evhttp_connection *evcon, void *arg)
{
	struct http_server *s = arg;
	struct http_exchange *ex;

	LIST_FOREACH (ex, &s->live, link) {
		if (ex->evcon != evcon)
			continue;
		ex->evcon = NULL;
		if (ex->watch)
			event_free(ex->watch);
		ex->watch = NULL;
		/* Still queued on the connection: evhttp frees it next. Otherwise evhttp has
		 * detached it (client closed while we held it) and it is ours to free. */
		if (ex->evreq && evhttp_request_get_connection(ex->evreq) == evcon) {
			glue_exchange_copy(ex);
			ex->evreq = NULL;
		}
	}
}

/* The socket of a held exchange is readable: on EOF or an error the client is gone, and
 * freeing the connection now (glue_on_close() keeps the request) releases it at once. */
static void glue_on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct http_exchange *ex = arg;
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		event_add(ex->watch, NULL);
		return;
	}
	if (n > 0)
		return; /* a pipelined request: evhttp reads it after our answer */
	evhttp_connection_free(ex->evcon);
}

/* evhttp leaves a held request's socket unread (libevent 2.1 notices a closed client only
 * when it writes the answer), so watch it ourselves while the exchange is held. */
static void glue_watch(struct event_base *base, struct http_exchange *ex)
{
	struct bufferevent *bev = ex->evcon ? evhttp_connection_get_bufferevent(ex->evcon) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

	if (fd < 0)
		return;
	/* Without the event (out of memory) the close is noticed when the answer is written. */
	ex->watch = event_new(base, fd, EV_READ, glue_on_readable, ex);
	if (ex->watch && event_add(ex->watch, NULL) < 0) {
		event_free(ex->watch);
		ex->watch = NULL;
	}
}

/* A request the glue answers itself, before any handler sees it. */
struct glue_refusal {
	int status;
	const char *code;    /* static */
	const char *message; /* static */
};

/* Whether a Content-Length value is 1*DIGIT, as RFC 9110 §8.6 writes it (evhttp itself also
 * takes a sign or leading blanks, which another parser in front of us may read otherwise). */
static bool glue_content_length_valid(const char *v)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if (*v < '0' || *v > '9')
			return false;
	return true;
}

/* Whether name is an RFC 9110 token (§5.1): a header name without spaces, colons or controls.
 * A name like "Content-Length " that one parser trims and another does not is refused. */
static bool glue_name_valid(const char *name)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (!*name)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (!((*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') ||
		      (*p && strchr(extra, *p))))
			return false;
	return true;
}

/* Whether a header value holds only visible characters, blanks and bytes >= 0x80 (RFC 9110
 * §5.5: no control characters but HTAB). */
static bool glue_value_valid(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

/* What glue_refusal_find() counts over the headers in one pass. */
struct glue_census {
	size_t size; /* request line and header lines, about as evhttp counts them */
	size_t n_cl, n_te, n_host;
	bool malformed; /* a header name that is not a token, or a control in a value */
};

/* Count the request's Content-Length, Transfer-Encoding and Host headers and its size, and
 * check every header's name and value. */
static void glue_census(const struct http_req *req, struct glue_census *c)
{
	*c = (struct glue_census){.size = strlen(http_method_to_string(req->method)) +
	                                  strlen(req->uri) + 10};
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];

		c->size += strlen(h->name) + strlen(h->value) + 2;
		c->n_cl += strcasecmp(h->name, "Content-Length") == 0;
		c->n_te += strcasecmp(h->name, "Transfer-Encoding") == 0;
		c->n_host += strcasecmp(h->name, "Host") == 0;
		c->malformed |= !glue_name_valid(h->name) || !glue_value_valid(h->value);
	}
}

/* Why the request must be refused before its handler, or false. Framing that two HTTP parsers
 * could read differently is refused (RFC 9112 §6.3, §6.1; the request-smuggling surface): a
 * repeated Content-Length, one that is not plain digits, Transfer-Encoding next to
 * Content-Length, a repeated or non-chunked Transfer-Encoding, a header name that is not a
 * token (RFC 9112 §5.1: "Content-Length :" is one parser's Content-Length and another's
 * unknown header), Transfer-Encoding on HTTP/1.0 (RFC 9112 §6.1), a body on HEAD (evhttp never
 * reads one, so its bytes would be parsed as the next request); and so is a repeated Host (RFC 9112
 * §3.2) and a control character in a header value (RFC 9110 §5.5). evhttp has read the body its own
 * way by then, so the connection is closed after the answer: nothing after this request on it is
 * trusted. */
static bool glue_refusal_find(const struct http_req *req, struct glue_refusal *ret)
{
	struct glue_census c;
	const char *cl = http_req_header(req, "Content-Length");
	const char *te = http_req_header(req, "Transfer-Encoding");

	glue_census(req, &c);
	if (strlen(req->uri) > GLUE_MAX_TARGET)
		*ret = (struct glue_refusal){414, "uri_too_long",
		                             "the request target is longer than 8192 bytes"};
	else if (c.size > GLUE_MAX_HEADERS)
		*ret = (struct glue_refusal){431, "headers_too_large",
		                             "the request line and headers exceed 65536 bytes"};
	else if (c.malformed)
		*ret =
		    (struct glue_refusal){400, "malformed_header",
		                          "a header name is not a token, or a header value holds "
		                          "a control character"};
	else if (c.n_cl > 1)
		*ret = (struct glue_refusal){400, "conflicting_framing",
		                             "the request has more than one Content-Length header"};
	else if (cl && !glue_content_length_valid(cl))
		*ret = (struct glue_refusal){400, "malformed_framing",
		                             "Content-Length must be decimal digits only"};
	else if (te && cl)
		*ret = (struct glue_refusal){400, "conflicting_framing",
		                             "the request has both Transfer-Encoding and "
		                             "Content-Length"};
	else if (c.n_te > 1)
		*ret =
		    (struct glue_refusal){400, "conflicting_framing",
		                          "the request has more than one Transfer-Encoding header"};
	else if (te && req->version_major == 1 && req->version_minor == 0)
		*ret = (struct glue_refusal){400, "malformed_framing",
		                             "HTTP/1.0 has no Transfer-Encoding"};
	else if (req->method == HTTP_METHOD_HEAD && (te || (cl && strcmp(cl, "0") != 0)))
		*ret =
		    (struct glue_refusal){400, "conflicting_framing", "a HEAD request has no body"};
	else if (te && strcasecmp(te, "chunked") != 0)
		*ret = (struct glue_refusal){501, "unsupported_transfer_coding",
		                             "the only Transfer-Encoding accepted is chunked"};
	else if (c.n_host > 1)
		*ret = (struct glue_refusal){400, "conflicting_headers",
		                             "the request has more than one Host header"};
	else
		return false;
	return true;
}

/* Answer a refused request: the server's refuse callback, or a plain JSON error. */
static void glue_refuse(struct http_server *s, struct http_exchange *ex,
                        const struct glue_refusal *f)
{
	char body[256];
	int n;

	ex->close = true;
	if (s->refuse) {
		s->refuse(ex, f->status, f->code, f->message, s->refuse_userdata);
		return;
	}
	n = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
	             f->code, f->message);
	http_exchange_respond(ex, f->status, "application/json", body, (size_t)n, NULL, 0);
}

/* The body as one block of bytes. When evhttp holds it in one piece, that piece; else (a large
 * body arrives in many) it is moved into a block of its size a slice at a time, each slice's
 * pieces freed as it goes: evbuffer_pullup() would copy all of it before freeing any, holding
 * the body twice for a moment. */
static void glue_body(struct http_exchange *ex, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in);

	ex->req.body_len = len;
	if (len == 0) {
		ex->req.body = (const unsigned char *)"";
		return;
	}
	if (evbuffer_get_contiguous_space(in) >= len) {
		ex->req.body = evbuffer_pullup(in, -1); /* one piece: no copy */
		return;
	}
	ex->body = xmalloc(len + 1);
	for (size_t at = 0; at < len;) {
		size_t n = len - at < GLUE_BODY_SLICE ? len - at : GLUE_BODY_SLICE;
		if (evbuffer_remove(in, ex->body + at, n) != (int)n)
			abort(); /* the bytes are there: only on a broken buffer */
		at += n;
	}
	ex->body[len] = '\0';
	ex->req.body = (const unsigned char *)ex->body;
}

/* evhttp calls this for every complete request. */
static void glue_on_request(struct evhttp_request *evreq, void *arg)
{
	struct http_server *s = arg;
	struct http_exchange *ex = xcalloc(1, sizeof(*ex));
	struct evbuffer *in = evhttp_request_get_input_buffer(evreq);
	struct glue_refusal refusal;

	ex->server = s;
	ex->evreq = evreq;
	ex->evcon = evhttp_request_get_connection(evreq);
	LIST_INSERT_HEAD(&s->live, ex, link);
	if (ex->evcon)
		evhttp_connection_set_closecb(ex->evcon, glue_on_close, s);
	ex->req.method = glue_method(evhttp_request_get_command(evreq));
	/* libevent 2.1 has no getter for the version; http_struct.h is its public layout. */
	ex->req.version_major = (unsigned char)evreq->major;
	ex->req.version_minor = (unsigned char)evreq->minor;
	glue_uri(ex);
	glue_headers(ex);
	glue_peer(ex);
	if (ex->evcon)
		ex->req.tls = http_tls_session(evhttp_connection_get_bufferevent(ex->evcon));
	glue_body(ex, in);
	if (glue_refusal_find(&ex->req, &refusal)) {
		glue_refuse(s, ex, &refusal); /* answered and freed */
		return;
	}
	s->in_handler = ex;
	s->handler(ex, &ex->req, s->userdata);
	if (s->in_handler == ex && s->detect_client_close)
		glue_watch(s->base, ex);
	s->in_handler = NULL;
}

/* The request of an exchange. */
const struct http_req *http_exchange_req(const struct http_exchange *ex)
{
	return &ex->req;
}

/* Whether the client went away before the answer. */
bool http_exchange_client_gone(const struct http_exchange *ex)
{
	return !ex->evcon;
}

/* Forget the exchange: unlink it, free a detached evreq, free our copies. */
static void glue_exchange_free(struct http_exchange *ex)
{
	if (ex->watch)
		event_free(ex->watch);
	if (ex->server && ex->server->in_handler == ex)
		ex->server->in_handler = NULL;
	if (ex->server)
		LIST_REMOVE(ex, link);
	if (ex->evreq && !ex->evcon)
		evhttp_request_free(ex->evreq);
	free(ex->headers);
	free(ex->path);
	free(ex->query);
	free(ex->owned);
	free(ex->body);
	free(ex);
}

/* Answer and free the exchange; a client that went away gets nothing. */
void http_exchange_respond(struct http_exchange *ex, int status, const char *content_type,
                           const char *body, size_t len, const struct http_header *extra,
                           size_t n_extra)
{
	struct evkeyvalq *out;

	if (!ex->evcon) {
		glue_exchange_free(ex);
		return;
	}
	out = evhttp_request_get_output_headers(ex->evreq);
	if (content_type)
		evhttp_add_header(out, "Content-Type", content_type);
	evhttp_add_header(out, "Cache-Control", "no-store");
	if (ex->close) {
		/* evhttp would add "Connection: keep-alive" for an HTTP/1.0 client that asked for
		 * it (and keep the connection); the request's own Connection goes first. Nothing
		 * reads the request's headers after this answer. */
		evhttp_remove_header(evhttp_request_get_input_headers(ex->evreq), "Connection");
		evhttp_add_header(out, "Connection", "close");
	}
	for (size_t i = 0; i < n_extra; i++)
		evhttp_add_header(out, extra[i].name, extra[i].value);
	if (evhttp_request_get_command(ex->evreq) == EVHTTP_REQ_HEAD) {
		/* The headers of the GET answer and no body: evhttp would write one after them,
		 * which a client reads as the start of its next answer. */
		char n[24];

		snprintf(n, sizeof(n), "%zu", body ? len : 0);
		evhttp_add_header(out, "Content-Length", n);
	} else if (body && len &&
	           evbuffer_add(evhttp_request_get_output_buffer(ex->evreq), body, len) < 0) {
		status = 500; /* the request's own output buffer: nothing to allocate, so rare */
	}
	evhttp_send_reply(ex->evreq, status, err_http_reason(status), NULL);
	ex->evreq = NULL; /* evhttp owns it again */
	glue_exchange_free(ex);
}

/* Send partial raw on the connection's socket, then close it with an RST. */
static void glue_socket_reset(evutil_socket_t fd, const char *partial, size_t len)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int placeholder;

	if (len)
		(void)!send(fd, partial, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	/* evhttp_connection_free() shuts the socket down for writing (a FIN) before closing it.
	 * To make the peer see a bare RST, put a fresh unconnected socket on the same descriptor
	 * number: dup2() closes the connection itself, which with a zero linger aborts it, and
	 * evhttp later shuts down and closes only the placeholder. */
	placeholder = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (placeholder < 0 || dup2(placeholder, fd) < 0)
		(void)shutdown(fd, SHUT_RDWR);
	if (placeholder >= 0)
		close(placeholder);
}

/* Write partial raw bytes, reset the connection and free the exchange. */
void http_exchange_reset(struct http_exchange *ex, const char *partial, size_t len)
{
	struct evhttp_connection *evcon = ex->evcon;

	if (evcon) {
		struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
		evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

		/* Unlinked first so glue_on_close() ignores it; evhttp frees evreq with evcon. */
		if (ex->server && ex->server->in_handler == ex)
			ex->server->in_handler = NULL;
		LIST_REMOVE(ex, link);
		ex->server = NULL;
		if (ex->watch)
			event_free(ex->watch);
		ex->watch = NULL;
		ex->evreq = NULL;
		if (fd >= 0)
			glue_socket_reset(fd, partial, len);
		evhttp_connection_free(evcon);
	}
	glue_exchange_free(ex);
}

/* Bind addr:port with SO_REUSEPORT so several ingresses can share one port on a host. */
static struct evconnlistener *glue_listen(struct event_base *base, const char *addr, int port,
                                          char **ret_error)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	/* libevent's parser refuses ":0", so port 0 (any free port) is written without a port. */
	_cleanup_free_ char *spec =
	    port ? xasprintf(strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, port)
	         : xasprintf(strchr(addr, ':') ? "[%s]" : "%s", addr);
	struct evconnlistener *l;

	if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) < 0) {
		*ret_error = xasprintf("listen_addr '%s' is not an IP address", addr);
		return NULL;
	}
	l = evconnlistener_new_bind(base, NULL, NULL,
	                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	                                LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC,
	                            1024, (struct sockaddr *)&ss, sslen);
	if (!l)
		*ret_error = xasprintf("cannot listen on %s: %s", spec, strerror(errno));
	return l;
}

/* The port a bound socket actually got. */
static int glue_bound_port(evutil_socket_t fd)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} u;
	socklen_t len = sizeof(u);

	memset(&u, 0, sizeof(u));
	if (getsockname(fd, &u.sa, &len) < 0)
		return -1;
	switch (u.sa.sa_family) {
	case AF_INET:
		return ntohs(u.in.sin_port);
	case AF_INET6:
		return ntohs(u.in6.sin6_port);
	default:
		return -1;
	}
}

/* evhttp's bufferevent for an accepted connection: a TLS one (arg is the http_tls). */
static struct bufferevent *glue_tls_bevcb(struct event_base *base, void *arg)
{
	return http_tls_bufferevent_new(arg, base);
}

/* An evhttp with our limits, methods and request callback; NULL on out-of-memory. */
static struct evhttp *glue_evhttp_new(struct http_server *s, const struct http_server_options *o)
{
	struct evhttp *http = evhttp_new(s->base);

	if (!http)
		return NULL;
	evhttp_set_max_body_size(http, (ev_ssize_t)o->max_body);
	evhttp_set_max_headers_size(http, GLUE_EVHTTP_MAX_HEADERS);
	evhttp_set_timeout(http, o->read_timeout_s ? o->read_timeout_s : 30);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                     EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(http, "application/json");
	evhttp_set_gencb(http, glue_on_request, s);
	if (o->tls)
		evhttp_set_bevcb(http, glue_tls_bevcb, o->tls);
	return http;
}

/* Create the server and start listening. */
struct http_server *http_server_new(struct event_base *base, const struct http_server_options *o,
                                    http_handler_fn handler, void *userdata, char **ret_error)
{
	struct http_server *s = xcalloc(1, sizeof(*s));
	struct evconnlistener *l = NULL;

	LIST_INIT(&s->live);
	s->base = base;
	s->detect_client_close = o->detect_client_close;
	s->refuse = o->refuse;
	s->refuse_userdata = userdata;
	s->handler = handler;
	s->userdata = userdata;
	s->http = glue_evhttp_new(s, o);
	if (!s->http) {
		*ret_error = xstrdup("cannot create the HTTP server: out of memory");
		goto out;
	}
	l = glue_listen(base, o->addr, o->port, ret_error);
	if (!l)
		goto out;
	s->bound = evhttp_bind_listener(s->http, l);
	if (!s->bound) {
		*ret_error = xstrdup("cannot bind the HTTP server: out of memory");
		evconnlistener_free(l);
		goto out;
	}
	s->port = glue_bound_port(evconnlistener_get_fd(l));
	return s;
out:
	if (s->http)
		evhttp_free(s->http);
	free(s);
	return NULL;
}

/* The port actually bound. */
int http_server_port(const struct http_server *s)
{
	return s->port;
}

/* Close the listening socket. */
void http_server_stop_accepting(struct http_server *s)
{
	if (s->bound)
		evhttp_del_accept_socket(s->http, s->bound);
	s->bound = NULL;
}

/* Free the server and every connection it still has; exchanges still held stay valid (their
 * clients are gone) until their owners answer them. */
void http_server_free(struct http_server *s)
{
	struct http_exchange *ex;

	if (!s)
		return;
	while ((ex = LIST_FIRST(&s->live))) {
		if (ex->watch)
			event_free(ex->watch);
		ex->watch = NULL;
		if (ex->evcon) {
			glue_exchange_copy(ex); /* evhttp_free() frees the request */
			ex->evreq = NULL;
			ex->evcon = NULL;
		}
		LIST_REMOVE(ex, link);
		ex->server = NULL;
	}
	evhttp_free(s->http);
	free(s);
}
