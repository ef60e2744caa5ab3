/* The HTTP server over evhttp: plain requests in, answers out. */
#include "http_glue.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"

struct http_server {
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	int port;
	http_handler_fn handler;
	void *userdata;
};

struct http_exchange {
	struct evhttp_request *evreq;
	struct http_req req;
	struct http_header *headers;
	char *path;
	char *query;
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
		ex->headers[n++] = (struct http_header){ kv->key, kv->value };
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

	ex->path = evhttp_uridecode(raw, 0, NULL);
	if (!ex->path)
		ex->path = xstrdup(raw);
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

/* evhttp calls this for every complete request. */
static void glue_on_request(struct evhttp_request *evreq, void *arg)
{
	struct http_server *s = arg;
	struct http_exchange *ex = xcalloc(1, sizeof(*ex));
	struct evbuffer *in = evhttp_request_get_input_buffer(evreq);

	ex->evreq = evreq;
	ex->req.method = glue_method(evhttp_request_get_command(evreq));
	glue_uri(ex);
	glue_headers(ex);
	glue_peer(ex);
	ex->req.body_len = evbuffer_get_length(in);
	/* The body stays in evhttp's buffer, made contiguous once, until we answer. */
	ex->req.body = ex->req.body_len ? evbuffer_pullup(in, -1) : (const unsigned char *)"";
	s->handler(ex, &ex->req, s->userdata);
}

/* The request of an exchange. */
const struct http_req *http_exchange_req(const struct http_exchange *ex)
{
	return &ex->req;
}

/* Answer and free the exchange. */
void http_exchange_respond(struct http_exchange *ex, int status, const char *content_type,
			   const char *body, size_t len, const struct http_header *extra,
			   size_t n_extra)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(ex->evreq);
	struct evbuffer *buf = evbuffer_new();

	if (content_type)
		evhttp_add_header(out, "Content-Type", content_type);
	evhttp_add_header(out, "Cache-Control", "no-store");
	for (size_t i = 0; i < n_extra; i++)
		evhttp_add_header(out, extra[i].name, extra[i].value);
	if (body && len)
		evbuffer_add(buf, body, len);
	evhttp_send_reply(ex->evreq, status, err_http_reason(status), buf);
	evbuffer_free(buf);
	free(ex->headers);
	free(ex->path);
	free(ex->query);
	free(ex);
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
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Create the server and start listening. */
struct http_server *http_server_new(struct event_base *base, const struct http_server_options *o,
				    http_handler_fn handler, void *userdata, char **ret_error)
{
	struct http_server *s = xcalloc(1, sizeof(*s));
	struct evconnlistener *l;

	s->http = evhttp_new(base);
	s->handler = handler;
	s->userdata = userdata;
	evhttp_set_max_body_size(s->http, (ev_ssize_t)o->max_body);
	evhttp_set_max_headers_size(s->http, 64 * 1024);
	evhttp_set_timeout(s->http, o->read_timeout_s ? o->read_timeout_s : 30);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(s->http, "application/json");
	evhttp_set_gencb(s->http, glue_on_request, s);
	l = glue_listen(base, o->addr, o->port, ret_error);
	if (!l) {
		evhttp_free(s->http);
		free(s);
		return NULL;
	}
	s->bound = evhttp_bind_listener(s->http, l);
	s->port = glue_bound_port(evconnlistener_get_fd(l));
	return s;
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

/* Free the server and every connection it still has. */
void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	evhttp_free(s->http);
	free(s);
}
