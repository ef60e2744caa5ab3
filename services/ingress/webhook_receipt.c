/* POST /hooks/{source}: the checks a webhook passes before it may be stored. */
#include "webhook_receipt.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "delivery_route.h"
#include "json_scan.h"
#include "webhook_auth.h"
#include "xalloc.h"

/* Record a problem with static code and message. */
static int receipt_fail(struct webhook_receipt_error *e, int r, const char *code, const char *msg)
{
	e->problem.code = code;
	e->problem.field = NULL;
	e->problem.message = msg;
	return r;
}

/* Header names this long or longer are left out of the stored headers. */
#define RECEIPT_HEADER_NAME_MAX 128

/* A header that goes into the headers object, in request order. */
struct receipt_header {
	const char *name, *value;
	size_t pos;  /* index in request order among the kept headers */
	size_t next; /* pos of the next header of the same name, SIZE_MAX for none */
	bool first;  /* the first of its name: its member is written here */
};

/* Text being built; grows as needed, aborting on out-of-memory as x*alloc do. */
struct receipt_text {
	char *s;
	size_t len, cap;
};

/* Append n bytes to t. */
static void receipt_text_put(struct receipt_text *t, const char *p, size_t n)
{
	if (t->cap - t->len <= n) {
		t->cap = (t->len + n + 1) * 2;
		t->s = xrealloc(t->s, t->cap);
	}
	memcpy(t->s + t->len, p, n);
	t->len += n;
	t->s[t->len] = '\0';
}

/* How byte c is written inside a JSON string, into buf: its length, or 0 when c is as-is.
 * Escapes use lower-case letters only, so lower-casing a written name leaves them intact. */
static size_t receipt_json_escape(unsigned char c, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	static const char from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";
	const char *q;

	if (c >= 0x20 && c != '"' && c != '\\')
		return 0;
	buf[0] = '\\';
	q = c ? strchr(from, c) : NULL;
	if (q) {
		buf[1] = to[q - from];
		return 2;
	}
	buf[1] = 'u';
	buf[2] = '0';
	buf[3] = '0';
	buf[4] = hex[c >> 4];
	buf[5] = hex[c & 15];
	return 6;
}

/* Append s, valid UTF-8, as the inside of a JSON string. */
static void receipt_text_put_json(struct receipt_text *t, const char *s)
{
	const char *run = s;
	char buf[6];

	for (; *s; s++) {
		size_t n = receipt_json_escape((unsigned char)*s, buf);

		if (!n)
			continue;
		receipt_text_put(t, run, (size_t)(s - run));
		receipt_text_put(t, buf, n);
		run = s + 1;
	}
	receipt_text_put(t, run, (size_t)(s - run));
}

/* Order headers by case-insensitive name, then by request order. */
static int receipt_header_cmp(const void *a, const void *b)
{
	const struct receipt_header *x = a, *y = b;
	int c = strcasecmp(x->name, y->name);

	return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* Chain the headers of one name together and mark the first of each. Sorting a copy keeps it
 * O(n log n): a request with thousands of headers costs no more than sorting them. */
static void receipt_headers_link(struct receipt_header *hs, size_t n)
{
	_cleanup_free_ struct receipt_header *sorted = NULL;

	if (n == 0)
		return;
	sorted = xmemdup(hs, n * sizeof(*hs));
	qsort(sorted, n, sizeof(*sorted), receipt_header_cmp);
	for (size_t i = 0; i < n; i++) {
		bool same = i > 0 && strcasecmp(sorted[i - 1].name, sorted[i].name) == 0;

		hs[sorted[i].pos].first = !same;
		hs[sorted[i].pos].next = SIZE_MAX;
		if (same)
			hs[sorted[i - 1].pos].next = sorted[i].pos;
	}
}

/* Collect the headers to keep into hs (room for all of them): every header but the secret
 * ones and those whose name is too long or not UTF-8 (never kept). Returns how many. */
static size_t receipt_headers_collect(const struct source_config *src, const struct http_req *req,
                                      struct receipt_header *hs)
{
	size_t n = 0;

	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		size_t len = strlen(h->name);

		if (len >= RECEIPT_HEADER_NAME_MAX || !json_scan_utf8_valid(h->name, len) ||
		    webhook_auth_header_is_secret(src, h->name))
			continue;
		hs[n] = (struct receipt_header){
		    .name = h->name, .value = h->value ? h->value : "", .pos = n};
		n++;
	}
	return n;
}

/* Append the member for the header hs[i] and the later ones of its name: "name":"v1, v2". */
static void receipt_text_put_member(struct receipt_text *t, const struct receipt_header *hs,
                                    size_t i)
{
	size_t from = t->len + 1;

	receipt_text_put(t, "\"", 1);
	receipt_text_put_json(t, hs[i].name);
	for (size_t j = from; j < t->len; j++)
		t->s[j] = (char)tolower((unsigned char)t->s[j]);
	receipt_text_put(t, "\":\"", 3);
	for (size_t j = i; j != SIZE_MAX; j = hs[j].next) {
		/* A value that is not valid UTF-8 is kept as a marker rather than dropped. */
		bool utf8 = json_scan_utf8_valid(hs[j].value, strlen(hs[j].value));

		if (j != i)
			receipt_text_put(t, ", ", 2);
		receipt_text_put_json(t, utf8 ? hs[j].value : "(invalid utf-8)");
	}
	receipt_text_put(t, "\"", 1);
}

/* The request's headers as a JSON object with every secret header left out. */
char *webhook_receipt_headers_json(const struct source_config *src, const struct http_req *req)
{
	_cleanup_free_ struct receipt_header *hs =
	    xreallocarray(NULL, req->n_headers ? req->n_headers : 1, sizeof(*hs));
	struct receipt_text t = {NULL, 0, 3};
	size_t n = receipt_headers_collect(src, req, hs);

	receipt_headers_link(hs, n);
	/* Room for the common case (nothing to escape) up front: one allocation. */
	for (size_t i = 0; i < n; i++)
		t.cap += strlen(hs[i].name) + strlen(hs[i].value) + 8;
	t.s = xmalloc(t.cap);
	receipt_text_put(&t, "{", 1);
	for (size_t i = 0; i < n; i++) {
		if (!hs[i].first)
			continue;
		if (t.len > 1)
			receipt_text_put(&t, ",", 1);
		receipt_text_put_member(&t, hs, i);
	}
	receipt_text_put(&t, "}", 1);
	return t.s;
}

/* The idempotency key from the configured header, blanks before it skipped: new string, or
 * NULL when absent or empty. The Standard Webhooks message id (the default) is read as the
 * verifier reads it: webhook-id, or svix-id when the sender uses the svix-* headers. */
static char *receipt_header_key(const struct source_config *src, const struct http_req *req)
{
	const char *v;
	size_t len;

	if (strcasecmp(src->idempotency_name, "webhook-id") == 0) {
		v = webhook_auth_message_id(req, &len);
		return v ? xstrndup(v, len) : NULL;
	}
	v = http_req_header(req, src->idempotency_name);
	while (v && *v == ' ')
		v++;
	return v && *v ? xstrdup(v) : NULL;
}

/* Check the body is one JSON object or array and take the idempotency key the source is
 * configured with (NULL when absent), in one pass over the body. */
static int receipt_body_key(const struct source_config *src, const struct http_req *req, char **ret,
                            struct webhook_receipt_error *e)
{
	char *key = NULL;
	int r;

	if (src->idempotency_from == IDEMPOTENCY_FROM_JSON_POINTER) {
		r = json_scan_pointer(req->body, req->body_len, src->idempotency_name, &key);
		/* The lookup checks the whole body by the same rules but keeps no message. */
		if (r == -EBADMSG) {
			r = json_scan_check(req->body, req->body_len, &e->json);
			assert(r == -EBADMSG);
		}
	} else {
		r = json_scan_check(req->body, req->body_len, &e->json);
	}
	if (r == -EBADMSG)
		return receipt_fail(e, -EBADMSG, "malformed_json", e->json.text);
	if (r < 0)
		return r;
	if (src->idempotency_from == IDEMPOTENCY_FROM_HEADER)
		key = receipt_header_key(src, req);
	if (key && strlen(key) > WEBHOOK_RECEIPT_KEY_MAX) {
		free(key);
		return receipt_fail(e, -EBADMSG, "idempotency_key_too_long",
		                    "the idempotency key is longer than 512 bytes");
	}
	/* It goes into a text column: bytes that are not UTF-8 would fail the whole batch. */
	if (key && !json_scan_utf8_valid(key, strlen(key))) {
		free(key);
		return receipt_fail(e, -EBADMSG, "malformed_idempotency_key",
		                    "the idempotency key is not valid UTF-8");
	}
	*ret = key;
	return 0;
}

/* Whether the request repeats header name with a value different from its first one. */
static bool receipt_header_conflicts(const struct http_req *req, const char *name)
{
	const char *first = NULL;

	for (size_t i = 0; i < req->n_headers; i++) {
		if (strcasecmp(req->headers[i].name, name) != 0)
			continue;
		if (!first)
			first = req->headers[i].value;
		else if (strcmp(first, req->headers[i].value) != 0)
			return true;
	}
	return false;
}

/* Refuse a request that repeats, with different values, a header the ingress reads (the
 * content type, the idempotency key, credentials, signatures): which one is meant would be a
 * guess, and a proxy in front may have guessed otherwise. One pass per such name. */
static int receipt_check_conflicts(const struct source_config *src, const struct http_req *req,
                                   struct webhook_receipt_error *e)
{
	const char *names[] = {
	    "Content-Type",
	    "Authorization",
	    "webhook-id",
	    "webhook-timestamp",
	    "webhook-signature",
	    "svix-id",
	    "svix-timestamp",
	    "svix-signature",
	    src->signature_header,
	    src->api_key_header,
	    src->idempotency_from == IDEMPOTENCY_FROM_HEADER ? src->idempotency_name : NULL,
	};

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		if (!names[i] || !receipt_header_conflicts(req, names[i]))
			continue;
		snprintf(e->message, sizeof(e->message),
		         "the request has more than one %.64s header, with different values",
		         names[i]);
		return receipt_fail(e, -EBADMSG, "conflicting_headers", e->message);
	}
	return 0;
}

/* The checks that need nothing but the request line, size and headers. */
static int receipt_check_envelope(const struct source_config *src, const struct http_req *req,
                                  struct webhook_receipt_error *e)
{
	const char *ct;

	if (req->method != HTTP_METHOD_POST)
		return receipt_fail(e, -EOPNOTSUPP, "method_not_allowed",
		                    "webhooks are received with POST only");
	if (req->body_len > src->body_limit) {
		snprintf(e->message, sizeof(e->message),
		         "body of %zu bytes exceeds this source's limit of %zu bytes",
		         req->body_len, src->body_limit);
		return receipt_fail(e, -EFBIG, "body_too_large", e->message);
	}
	/* The request target and the content type are stored in text columns. */
	if (!json_scan_utf8_valid(req->uri, strlen(req->uri)))
		return receipt_fail(e, -EBADMSG, "malformed_request_target",
		                    "the request target is not valid UTF-8");
	ct = http_req_header(req, "Content-Type");
	if (ct && !json_scan_utf8_valid(ct, strlen(ct)))
		return receipt_fail(e, -EBADMSG, "malformed_content_type",
		                    "the Content-Type header is not valid UTF-8");
	return receipt_check_conflicts(src, req, e);
}

/* Check the request and fill the delivery it becomes. */
int webhook_receipt_prepare(const struct source_config *src, const struct http_req *req,
                            long long now_us, const char *id, struct delivery *d,
                            struct webhook_receipt_error *e)
{
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
	r = receipt_body_key(src, req, &key, e);
	if (r < 0)
		return r;

	*d = (struct delivery){
	    .source = src->name,
	    .idempotency_key = key,
	    .received_us = now_us,
	    .method = http_method_to_string(req->method),
	    .uri = webhook_auth_uri_redact(src, req->uri),
	    .headers_json = webhook_receipt_headers_json(src, req),
	    .content_type = xstrdup(http_req_header(req, "Content-Type")),
	    .body = req->body,
	    .body_len = req->body_len,
	    .verified_by = auth_scheme_to_string(src->auth),
	    .peer = req->peer ? xstrdup(req->peer) : NULL,
	    .route = delivery_route_build(src, req->body, req->body_len),
	};
	snprintf(d->id, sizeof(d->id), "%s", id);
	return 0;
}
