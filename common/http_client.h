/* Outbound HTTP on an event loop: the only module that includes curl. Requests run through a
 * one-function transport vtable (curl multi on libevent in production, canned answers in unit
 * tests). Used by workers and the CLI; never blocks, never spawns a thread. */
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
 * failure), -EPROTO (garbled HTTP), -ECANCELED (client freed first), -EIO (anything else). */
struct http_client_response {
	int transport_error;
	long status; /* 0 when transport_error != 0 */
	const struct http_header *headers; /* response headers, names as received */
	size_t n_headers;
	const char *body; /* NUL-terminated for convenience; body_len excludes the NUL */
	size_t body_len;
	double total_ms;
	const char *error_text; /* human-readable detail when transport_error != 0, else "" */
};

/* Called exactly once per request, on the loop, never from inside http_client_send().
 * Everything in resp is borrowed and only valid during the call. */
typedef void (*http_client_done_fn)(const struct http_client_response *resp, void *userdata);

/* The seam: send one request and call done later. Returns 0 when queued (done will be
 * called), negative errno when it could not be queued (done will not be called). */
struct http_transport {
	int (*send)(void *impl, const struct http_client_request *req, http_client_done_fn done,
		    void *userdata);
	void *impl;
};

struct http_client_options {
	const char *user_agent;     /* default "hookrun/<version>" */
	long connect_timeout_ms;    /* default 5000 */
	long timeout_ms;            /* default total per request, 30000 */
	long max_host_connections;  /* keep-alive pool per host, default 8 */
	long max_in_flight;         /* queued beyond this wait in curl's queue; default 64 */
};

/* A client on base using libcurl multi; NULL on failure with *ret_error set (static string). */
struct http_client *http_client_new(struct event_base *base, const struct http_client_options *o,
				    const char **ret_error);
/* A client over another transport (unit tests); the transport must outlive the client. */
struct http_client *http_client_new_with_transport(const struct http_transport *t,
						   const struct http_client_options *o);
/* Cancel what is in flight (each done is called with -ECANCELED) and free; takes NULL. */
void http_client_free(struct http_client *c);
/* Queue one request; see struct http_transport for the return value. */
_warn_unused_result_ int http_client_send(struct http_client *c,
					  const struct http_client_request *req,
					  http_client_done_fn done, void *userdata);
/* Requests queued and not yet completed. */
size_t http_client_in_flight(const struct http_client *c);
/* Connections curl had to open so far (keep-alive reuse keeps this low). */
long http_client_connections_opened(const struct http_client *c);
/* First response header with this name (case-insensitive), or NULL. */
const char *http_client_response_header(const struct http_client_response *resp,
					const char *name);
