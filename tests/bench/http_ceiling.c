/* http_ceiling: the cheapest evhttp server that reads a POST body and answers 202 (bench code).
 * One event loop on 127.0.0.1, no database: the HTTP ceiling the ingress is measured against.
 * Runs until SIGTERM or SIGINT. */

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "loop.h"

static const char ceiling_reply[] = "{\"delivery_id\":\"x\"}";

/* Answer GET /readyz with 200 and everything else with 202, after consuming the body. */
static void ceiling_request_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	const char *uri = evhttp_request_get_uri(req);

	evbuffer_drain(in, evbuffer_get_length(in));
	if (evhttp_request_get_command(req) == EVHTTP_REQ_GET && strcmp(uri, "/readyz") == 0) {
		evbuffer_add(out, "ok\n", 3);
		evhttp_send_reply(req, HTTP_OK, "OK", NULL);
		return;
	}
	evhttp_add_header(headers, "Content-Type", "application/json");
	evbuffer_add(out, ceiling_reply, sizeof(ceiling_reply) - 1);
	evhttp_send_reply(req, 202, "Accepted", NULL);
}

/* Leave the loop on SIGTERM or SIGINT. */
static void ceiling_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Parse --port; 0 means any free port. */
static int ceiling_options_parse(int argc, char **argv, int *ret_port)
{
	static const struct option longopts[] = {
	    {"port", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	long port = 0;
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'p')
			return -EINVAL;
		port = strtol(optarg, &end, 10);
		if (*optarg == '\0' || *end != '\0' || port < 0 || port > 65535)
			return -EINVAL;
	}
	if (optind != argc)
		return -EINVAL;
	*ret_port = (int)port;
	return 0;
}

/* Bind 127.0.0.1:port and print the port actually bound as port=N. */
static int ceiling_listen(struct evhttp *http, int port)
{
	struct evhttp_bound_socket *bound =
	    evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port);
	struct sockaddr_in sin = {0};
	socklen_t len = sizeof(sin);

	if (!bound)
		return -EADDRINUSE;
	if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len) < 0)
		return -errno;
	printf("port=%u\n", ntohs(sin.sin_port));
	fflush(stdout);
	return 0;
}

/* Serve until a signal arrives. */
static int ceiling_serve(int port)
{
	struct event_base *base = loop_new();
	struct evhttp *http = base ? evhttp_new(base) : NULL;
	struct event *sigterm = base ? evsignal_new(base, SIGTERM, ceiling_signal_cb, base) : NULL;
	struct event *sigint = base ? evsignal_new(base, SIGINT, ceiling_signal_cb, base) : NULL;
	int r = -ENOMEM;

	if (!http || !sigterm || !sigint)
		goto out;
	evhttp_set_gencb(http, ceiling_request_cb, NULL);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	r = ceiling_listen(http, port);
	if (r < 0)
		goto out;
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	r = event_base_dispatch(base) < 0 ? -EIO : 0;
out:
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	if (http)
		evhttp_free(http);
	if (base)
		event_base_free(base);
	return r;
}

/* Parse the port and serve. */
int main(int argc, char **argv)
{
	int port = 0, r;

	if (ceiling_options_parse(argc, argv, &port) < 0) {
		fprintf(stderr, "usage: http_ceiling [--port N]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	r = ceiling_serve(port);
	if (r < 0) {
		fprintf(stderr, "http_ceiling: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
