/* Outbound HTTP on an event loop: the only module that includes curl. Requests run through a
 * one-function transport vtable (curl multi on libevent in production, canned answers in unit
 * tests). Used by workers and the CLI; never blocks and starts no thread of its own (libcurl
 * may resolve names on a short-lived thread of its own). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "http_req.h"
#include "xalloc.h"

struct event_base;
struct http_client;

/* One outbound request. Everything is borrowed for the duration of http_client_send() only:
 * the client copies what it keeps. */
struct http_client_request {
	enum http_method method;
	const char *url;
	const struct http_header *headers; /* extra headers; may be NULL */
	size_t n_headers;
	const void *body; /* may be NULL: no body */
	size_t body_len;
	long timeout_ms; /* total; 0 means the client's default */
};

/* How a request ended. transport_error is 0 when a complete HTTP response arrived (any status),
 * otherwise a negative errno: -ETIMEDOUT (connect or total timeout), -ECONNREFUSED,
 * -ECONNRESET (connection closed before or during the response), -EHOSTUNREACH (resolve
 * failure), -EPROTO (garbled HTTP, too many headers), -EFBIG (body over max_response_body),
 * -ECANCELED (client freed first), -ENOMEM, -EIO (anything else, TLS failures included).
 * When transport_error != 0, headers and body are empty. Only the final response's headers
 * are kept (an interim 1xx response's are dropped). */
struct http_client_response {
	int transport_error;
	long status;                       /* 0 when transport_error != 0 */
	const struct http_header *headers; /* response headers, names as received */
	size_t n_headers;
	const char *body; /* NUL-terminated for convenience; body_len excludes the NUL */
	size_t body_len;
	double total_ms;
	const char *error_text; /* human-readable detail when transport_error != 0, else "" */
};

/* Called exactly once per request, on the loop, never from inside http_client_send().
 * Everything in resp is borrowed and only valid during the call. It may send new requests,
 * free its userdata and free the client (the other requests then end with -ECANCELED). */
typedef void (*http_client_done_fn)(const struct http_client_response *resp, void *userdata);

/* The seam: send one request and call done later. Returns 0 when queued (done will be
 * called), negative errno when it could not be queued (done will not be called). A transport
 * must call done for every queued request, even after the client is freed (the client then
 * ignores the answer and frees its own bookkeeping), and never from inside send. */
struct http_transport {
	int (*send)(void *impl, const struct http_client_request *req, http_client_done_fn done,
	            void *userdata);
	void *impl;
};

struct http_client_options {
	const char *user_agent;    /* default "hookrun/<version>" */
	long connect_timeout_ms;   /* default 5000 */
	long timeout_ms;           /* default total per request, 30000 */
	long max_host_connections; /* keep-alive pool per host, default 8 */
	long max_in_flight;        /* queued beyond this wait in curl's queue; default 64 */
	size_t max_response_body;  /* larger bodies end with -EFBIG; default 16 MiB */
};

/* A client on base using libcurl multi; NULL on failure with *ret_error set (static string).
 * o may be NULL (all defaults); its strings are copied. */
struct http_client *http_client_new(struct event_base *base, const struct http_client_options *o,
                                    const char **ret_error);
/* A client over another transport (unit tests); the transport must outlive the client. */
struct http_client *http_client_new_with_transport(const struct http_transport *t,
                                                   const struct http_client_options *o);
/* Cancel what is in flight (each done is called with -ECANCELED, before this returns) and
 * free; takes NULL. Allowed from inside a done callback; sends made meanwhile fail. */
void http_client_free(struct http_client *c);
/* Queue one request; see struct http_transport for the return value. The curl transport
 * refuses (-EINVAL) a URL that is not http(s), HTTP_METHOD_OTHER, a body on HEAD and header
 * names or values that are empty or hold CR/LF; -ECANCELED while the client is being freed. */
_warn_unused_result_ int http_client_send(struct http_client *c,
                                          const struct http_client_request *req,
                                          http_client_done_fn done, void *userdata);
/* Requests queued and not yet completed. */
size_t http_client_in_flight(const struct http_client *c);
/* Connections curl had to open so far (keep-alive reuse keeps this low). */
long http_client_connections_opened(const struct http_client *c);
/* First response header with this name (case-insensitive), or NULL. */
const char *http_client_response_header(const struct http_client_response *resp, const char *name);
