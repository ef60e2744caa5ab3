/* Outbound HTTP: the transport seam and (to come) libcurl multi on libevent. */
#include "http_client.h"

#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include "xalloc.h"

struct http_client {
	struct http_transport transport;
	size_t in_flight;
};

/* A client over libcurl multi on base: not built yet. */
struct http_client *http_client_new(struct event_base *base, const struct http_client_options *o,
				    const char **ret_error)
{
	*ret_error = "the curl transport is not built yet";
	return NULL;
}

/* A client over a caller-provided transport. */
struct http_client *http_client_new_with_transport(const struct http_transport *t,
						   const struct http_client_options *o)
{
	struct http_client *c = xcalloc(1, sizeof(*c));

	c->transport = *t;
	return c;
}

/* Free the client; takes NULL. */
void http_client_free(struct http_client *c)
{
	free(c);
}

/* Hand the request to the transport. */
int http_client_send(struct http_client *c, const struct http_client_request *req,
		     http_client_done_fn done, void *userdata)
{
	return c->transport.send(c->transport.impl, req, done, userdata);
}

/* Requests in flight. */
size_t http_client_in_flight(const struct http_client *c)
{
	return c->in_flight;
}

/* Connections opened so far. */
long http_client_connections_opened(const struct http_client *c)
{
	return 0;
}

/* First header named name, case-insensitively. */
const char *http_client_response_header(const struct http_client_response *resp,
					const char *name)
{
	for (size_t i = 0; i < resp->n_headers; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}
