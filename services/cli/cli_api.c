/* hookrun's client of the HTTP API (cli_api.h). */
#include "cli_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "http_client.h"
#include "loop.h"
#include "xalloc.h"

struct cli_api {
	struct event_base *base;
	struct http_client *http;
	char *url, *auth;
	const char *init_error;
};

/* One request's answer, filled by its callback. */
struct pending {
	struct cli_api_answer *ret;
	bool done;
};

struct cli_api *cli_api_new(const char *url, const char *token)
{
	struct cli_api *a = xcalloc(1, sizeof(*a));
	size_t n = strlen(url);

	while (n > 0 && url[n - 1] == '/')
		n--;
	a->url = xstrndup(url, n);
	a->auth = token ? xasprintf("Bearer %s", token) : NULL;
	a->base = loop_new();
	a->http = a->base ? http_client_new(a->base, NULL, &a->init_error) : NULL;
	return a;
}

void cli_api_free(struct cli_api *a)
{
	if (!a)
		return;
	http_client_free(a->http);
	if (a->base)
		event_base_free(a->base);
	free(a->url);
	if (a->auth)
		explicit_bzero(a->auth, strlen(a->auth));
	free(a->auth);
	free(a);
}

/* The answer arrived (or the request failed): keep it and stop the loop. */
static void on_done(const struct http_client_response *resp, void *userdata)
{
	struct pending *p = userdata;

	p->done = true;
	if (resp->transport_error) {
		p->ret->error =
		    xstrdup(resp->error_text && *resp->error_text ? resp->error_text : "no answer");
		return;
	}
	p->ret->status = resp->status;
	p->ret->json = json_loadb(resp->body, resp->body_len, 0, NULL);
}

void cli_api_call(struct cli_api *a, const struct cli_api_request *q, struct cli_api_answer *ret)
{
	_cleanup_free_ char *url = xasprintf("%s%s", a->url, q->path);
	struct http_header headers[3 + CLI_API_MAX_HEADERS];
	struct http_client_request req = {.method = q->method,
	                                  .url = url,
	                                  .headers = headers,
	                                  .body = q->body,
	                                  .body_len = q->len};
	struct pending p = {.ret = ret};

	if (a->auth)
		headers[req.n_headers++] = (struct http_header){"Authorization", a->auth};
	for (size_t i = 0; i < q->n_headers && i < CLI_API_MAX_HEADERS; i++)
		headers[req.n_headers++] = q->headers[i];
	if (q->content_type)
		headers[req.n_headers++] = (struct http_header){"Content-Type", q->content_type};
	if (q->idempotency_key)
		headers[req.n_headers++] =
		    (struct http_header){"Idempotency-Key", q->idempotency_key};
	*ret = (struct cli_api_answer){0};
	if (!a->http) {
		ret->error = xstrdup(a->init_error ? a->init_error : "no HTTP client");
		return;
	}
	if (http_client_send(a->http, &req, on_done, &p) < 0) {
		ret->error = xasprintf("cannot send a request to %s", url);
		return;
	}
	while (!p.done && event_base_loop(a->base, EVLOOP_ONCE) >= 0)
		;
}

const char *cli_api_answer_message(const struct cli_api_answer *r)
{
	static char buf[512];
	const json_t *e = json_object_get(r->json, "error");

	if (r->error)
		return r->error;
	if (e)
		snprintf(buf, sizeof(buf), "%s (%s)",
		         json_string_value(json_object_get(e, "message")),
		         json_string_value(json_object_get(e, "code")));
	else
		snprintf(buf, sizeof(buf), "HTTP %ld", r->status);
	return buf;
}

void cli_api_answer_fini(struct cli_api_answer *r)
{
	json_decref(r->json);
	free(r->error);
	*r = (struct cli_api_answer){0};
}
