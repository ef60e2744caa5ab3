/* The HTTP server: the only module that touches evhttp. It turns each evhttp request into a
 * plain struct http_req, hands it to one handler, and sends the handler's answer, now or
 * later (after a commit). Used by the ingress and versori-sim on their event loops; never
 * blocks. */
#pragma once

#include <stddef.h>

#include "http_req.h"
#include "xalloc.h"

struct event_base;
struct http_server;
/* One request being answered; owned by http_glue, freed by http_exchange_respond(). */
struct http_exchange;

typedef void (*http_handler_fn)(struct http_exchange *ex, const struct http_req *req,
				void *userdata);

struct http_server_options {
	const char *addr;
	int port;                /* 0: any free port */
	size_t max_body;         /* larger bodies are refused by evhttp with 413 */
	int read_timeout_s;
};

struct http_server *http_server_new(struct event_base *base, const struct http_server_options *o,
				    http_handler_fn handler, void *userdata, char **ret_error);
/* The port actually bound. */
int http_server_port(const struct http_server *s);
/* Close the listening socket; requests already read are still answered. */
void http_server_stop_accepting(struct http_server *s);
void http_server_free(struct http_server *s);

/* Answer and free the exchange. extra is an optional header (name, value) pair list. */
void http_exchange_respond(struct http_exchange *ex, int status, const char *content_type,
			   const char *body, size_t len, const struct http_header *extra,
			   size_t n_extra);
/* The request of an exchange, valid until it is answered. */
const struct http_req *http_exchange_req(const struct http_exchange *ex);
