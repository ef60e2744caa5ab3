/* POST /hooks/{source}: the checks a webhook passes before it may be stored. */
#include "webhook_receipt.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "webhook_auth.h"

/* Record a problem with static code and message. */
static int receipt_fail(struct webhook_receipt_error *e, int r, const char *code, const char *msg)
{
	e->problem.code = code;
	e->problem.field = NULL;
	e->problem.message = msg;
	return r;
}

/* The request's headers as a JSON object with every secret header left out. */
char *webhook_receipt_headers_json(const struct source_config *src, const struct http_req *req)
{
	json_auto_t *obj = json_object();
	char name[128];

	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		size_t n = strlen(h->name);
		if (n >= sizeof(name) || webhook_auth_header_is_secret(src, h->name))
			continue;
		for (size_t j = 0; j <= n; j++)
			name[j] = (char)tolower((unsigned char)h->name[j]);
		json_t *prev = json_object_get(obj, name);
		json_t *v = prev ? json_sprintf("%s, %s", json_string_value(prev), h->value)
				 : json_string(h->value);
		/* A header that is not valid UTF-8 is kept as a marker rather than dropped silently. */
		json_object_set_new(obj, name, v ? v : json_string("(invalid utf-8)"));
	}
	char *s = json_dumps(obj, JSON_COMPACT);
	if (!s)
		abort();
	return s;
}

/* Extract the idempotency key the source is configured with; NULL key when absent. */
static int receipt_idempotency_key(const struct source_config *src, const struct http_req *req,
				   const json_t *body, char **ret, struct webhook_receipt_error *e)
{
	char *key = NULL;

	if (src->idempotency_from == IDEMPOTENCY_FROM_HEADER) {
		const char *v = http_req_header(req, src->idempotency_name);
		while (v && *v == ' ')
			v++;
		key = v && *v ? xstrdup(v) : NULL;
	} else if (src->idempotency_from == IDEMPOTENCY_FROM_JSON_POINTER) {
		key = json_scalar_to_string(json_pointer_get(body, src->idempotency_name));
	}
	if (key && strlen(key) > WEBHOOK_RECEIPT_KEY_MAX) {
		free(key);
		return receipt_fail(e, -EBADMSG, "idempotency_key_too_long",
				    "the idempotency key is longer than 512 bytes");
	}
	*ret = key;
	return 0;
}

/* The checks that need nothing but the request line, size and headers. */
static int receipt_check_envelope(const struct source_config *src, const struct http_req *req,
				  struct webhook_receipt_error *e)
{
	if (req->method != HTTP_METHOD_POST)
		return receipt_fail(e, -EOPNOTSUPP, "method_not_allowed",
				    "webhooks are received with POST only");
	if (req->body_len > src->body_limit) {
		snprintf(e->message, sizeof(e->message),
			 "body of %zu bytes exceeds this source's limit of %zu bytes", req->body_len,
			 src->body_limit);
		return receipt_fail(e, -EFBIG, "body_too_large", e->message);
	}
	return 0;
}

/* Check the request and fill the delivery it becomes. */
int webhook_receipt_prepare(const struct source_config *src, const struct http_req *req,
			    long long now_us, const char *id, struct delivery *d,
			    struct webhook_receipt_error *e)
{
	json_auto_t *body = NULL;
	const char *how = NULL;
	char *key = NULL;
	int r;

	r = receipt_check_envelope(src, req, e);
	if (r < 0)
		return r;
	r = webhook_auth_verify(src, req, now_us / 1000000, &how);
	if (r == -EACCES)
		return receipt_fail(e, -EACCES, how ? how : "unauthorized",
				    "the request's credentials or signature were not accepted");
	if (r < 0) /* a source the verifier cannot use, or no memory: our fault, not theirs */
		return receipt_fail(e, -EIO, how ? how : "internal_error",
				    "the request could not be verified");
	if (!http_content_type_is_json(http_req_header(req, "Content-Type")))
		return receipt_fail(e, -EPROTONOSUPPORT, "unsupported_media_type",
				    "Content-Type must be application/json");
	r = json_body_parse(req->body, req->body_len, &body, &e->json);
	if (r == -EBADMSG)
		return receipt_fail(e, -EBADMSG, "malformed_json", e->json.text);
	if (r < 0)
		return r;
	r = receipt_idempotency_key(src, req, body, &key, e);
	if (r < 0)
		return r;

	*d = (struct delivery){
		.source = src->name,
		.idempotency_key = key,
		.received_us = now_us,
		.method = http_method_to_string(req->method),
		.uri = xstrdup(req->uri),
		.headers_json = webhook_receipt_headers_json(src, req),
		.content_type = xstrdup(http_req_header(req, "Content-Type")),
		.body = req->body,
		.body_len = req->body_len,
		.verified_by = auth_scheme_to_string(src->auth),
		.peer = req->peer ? xstrdup(req->peer) : NULL,
	};
	snprintf(d->id, sizeof(d->id), "%s", id);
	return 0;
}
