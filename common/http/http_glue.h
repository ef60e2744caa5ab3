/* The HTTP server: the only module that touches evhttp. It turns each evhttp request into a
 * plain struct http_req, hands it to one handler, and sends the handler's answer, now or
 * later (after a commit). Used by the ingress and versori-sim on their event loops; never
 * blocks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "http_req.h"
#include "xalloc.h"

struct event_base;
struct http_server;
/* One request being answered; owned by http_glue, freed by http_exchange_respond(). */
struct http_exchange;

/* Called once per complete request, on the loop. The handler answers ex now or later with
 * http_exchange_respond() (or http_exchange_reset()); req lives until then. */
typedef void (*http_handler_fn)(struct http_exchange *ex, const struct http_req *req,
                                void *userdata);

/* Called instead of the handler for a request the server refuses itself (bad framing, a
 * request target or headers over the limits; see http_server_new()), with the status, a
 * stable code and a message (static strings). It must answer ex with http_exchange_respond(),
 * whose answer then carries "Connection: close". */
typedef void (*http_refuse_fn)(struct http_exchange *ex, int status, const char *code,
                               const char *message, void *userdata);

struct http_tls;

struct http_server_options {
	const char *addr;
	int port;        /* 0: any free port */
	size_t max_body; /* larger bodies are refused by evhttp with 413 */
	int read_timeout_s;
	/* Watch the socket of every exchange held past its handler and drop the connection as
	 * soon as the client closes it (http_exchange_client_gone() turns true); otherwise a
	 * closed client is noticed only when the answer is written. Costs an event per held
	 * exchange; a client that half-closes after its request counts as gone. */
	bool detect_client_close;
	/* How refusals are answered (userdata is the handler's); NULL: a plain JSON error
	 * {"error":{"code","message"}}. */
	http_refuse_fn refuse;
	/* Speak TLS on the listener with this context (borrowed; it must outlive the server);
	 * NULL: plain HTTP. */
	struct http_tls *tls;
};

/* Listen on o->addr:o->port (SO_REUSEPORT) and hand every request to handler. Before that, the
 * server refuses, through o->refuse, and closes the connection after the answer:
 *   414 uri_too_long                 a request target over 8192 bytes
 *   431 headers_too_large            request line and headers over 65536 bytes
 *   400 conflicting_framing          a repeated Content-Length or Transfer-Encoding, or both,
 *                                    or a body on HEAD
 *   400 malformed_framing            a Content-Length that is not decimal digits only, or a
 *                                    Transfer-Encoding on HTTP/1.0
 *   501 unsupported_transfer_coding  a Transfer-Encoding other than chunked
 *   400 conflicting_headers          a repeated Host
 *   400 malformed_header             a header name that is not a token, or a control
 *                                    character (other than HTAB) in a header value
 * evhttp itself answers (400, or 413 for a body over o->max_body or a corrupt chunk, with an
 * HTML page, closing the connection) what it cannot parse: a malformed request line or header
 * line, a Content-Length that is negative or not a number, request line and headers over
 * 262144 bytes, an Expect other than 100-continue (417). NULL on failure with *ret_error a new
 * string saying why (the caller frees it). */
struct http_server *http_server_new(struct event_base *base, const struct http_server_options *o,
                                    http_handler_fn handler, void *userdata, char **ret_error);
/* The port actually bound. */
int http_server_port(const struct http_server *s);
/* Close the listening socket; requests already read are still answered. */
void http_server_stop_accepting(struct http_server *s);
/* Free the server and its connections; takes NULL. Exchanges still held stay valid (their
 * clients count as gone) until they are answered. */
void http_server_free(struct http_server *s);

/* Answer and free the exchange. extra is an optional header (name, value) pair list. An
 * exchange may be held across loop iterations (timers, database round trips): when its client
 * disconnects first, or the server is freed, the request stays readable and the answer is
 * dropped. */
void http_exchange_respond(struct http_exchange *ex, int status, const char *content_type,
                           const char *body, size_t len, const struct http_header *extra,
                           size_t n_extra);
/* The request of an exchange, valid until it is answered. */
const struct http_req *http_exchange_req(const struct http_exchange *ex);
/* Whether the client has gone away (an answer would be dropped). */
bool http_exchange_client_gone(const struct http_exchange *ex);
/* Fault injection: write len bytes of partial raw on the connection (e.g. the start of an HTTP
 * response), then abort the connection with a TCP RST (SO_LINGER 0) and free the exchange.
 * partial may be NULL when len is 0. */
void http_exchange_reset(struct http_exchange *ex, const char *partial, size_t len);
