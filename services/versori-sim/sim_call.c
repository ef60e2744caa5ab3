/* One simulated API call: replies, Error bodies, query parameters and cursor pages. */
#include "sim_call.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "json.h"

/* Answer with a JSON body. */
int sim_call_reply(struct sim_call *c, int status, json_t *owned_body)
{
	static const char oom[] = "{\"code\":\"500000\",\"message\":\"out of memory\"}";
	struct sim_response *r = c->resp;

	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	r->status = status;
	if (!owned_body)
		return 0;
	r->body = json_dumps(owned_body, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(owned_body);
	if (!r->body) {
		r->status = 500;
		r->body = xstrdup(oom);
	}
	r->body_len = strlen(r->body);
	return 0;
}

/* The errno a status stands for. */
static int status_errno(int status)
{
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return -EPERM;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	case 501:
		return -ENOSYS;
	default:
		return -EIO;
	}
}

/* Answer with an Error object. */
int sim_call_fail(struct sim_call *c, int status, const char *field, const char *fmt, ...)
{
	_cleanup_free_ char *message = NULL;
	char code[16];
	json_t *err;
	va_list ap;

	va_start(ap, fmt);
	message = xvasprintf(fmt, ap);
	va_end(ap);
	(void)snprintf(code, sizeof(code), "%d000", status);
	err = json_pack("{s:s,s:s}", "code", code, "message", message);
	if (err && field)
		json_object_set_new(err, "fields",
		                    json_pack("[{s:s,s:s}]", "field", field, "message", message));
	(void)sim_call_reply(c, status, err);
	return status_errno(status);
}

/* Documented upstream but outside what the simulator models. */
int sim_call_not_simulated(struct sim_call *c)
{
	return sim_call_fail(c, 501, NULL, "%s is not simulated by versori-sim", c->resp->route);
}

/* The errno of what was answered. */
int sim_call_answered(const struct sim_call *c)
{
	return c->resp->status < 400 ? 0 : status_errno(c->resp->status);
}

/* The body as a JSON object. */
json_t *sim_call_body_or_respond(struct sim_call *c)
{
	struct json_error e;
	json_t *v = NULL;
	int r = json_body_parse(c->req->body, c->req->body_len, &v, &e);

	if (r == -ENOMEM) {
		(void)sim_call_fail(c, 500, NULL, "out of memory");
		return NULL;
	}
	if (r < 0) {
		(void)sim_call_fail(c, 400, NULL, "%s", e.text);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		(void)sim_call_fail(c, 400, NULL, "the body must be a JSON object");
		return NULL;
	}
	return v;
}

/* A query parameter (a decoded NUL ends it: the simulator's values are identifiers). */
char *sim_call_query(const struct sim_call *c, const char *name)
{
	size_t len;

	return http_req_query_param(c->req, name, &len);
}

/* A boolean query parameter. */
int sim_call_query_bool_or_respond(struct sim_call *c, const char *name, int *ret)
{
	_cleanup_free_ char *v = sim_call_query(c, name);

	if (!v)
		*ret = -1;
	else if (strcmp(v, "true") == 0)
		*ret = 1;
	else if (strcmp(v, "false") == 0)
		*ret = 0;
	else
		return sim_call_fail(c, 400, name, "%s must be true or false", name);
	return 0;
}

/* Position of the item a cursor names, or -1; cursors are base64url item keys. */
static long cursor_find(const json_t *items, const char *key, const char *cursor)
{
	_cleanup_free_ unsigned char *id = NULL;
	size_t len;
	const json_t *v;
	size_t i;

	if (crypto_base64url_decode(cursor, strlen(cursor), &id, &len) < 0)
		return -1;
	json_array_foreach (items, i, v) {
		const char *vid = json_string_value(json_object_get(v, key));

		if (vid && strlen(vid) == len && memcmp(vid, id, len) == 0)
			return (long)i;
	}
	return -1;
}

/* The cursor for an item: its key, base64url-encoded ("" when there is none). */
static json_t *cursor_of(const json_t *item, const char *key)
{
	const char *id = json_string_value(json_object_get(item, key));
	_cleanup_free_ char *enc = NULL;

	if (!id)
		return json_string("");
	enc = crypto_base64url_encode(id, strlen(id));
	return json_string(enc);
}

/* Parse "first": a positive integer, default SIM_PAGE_DEFAULT, at most SIM_PAGE_MAX. */
static int page_first_or_respond(struct sim_call *c, size_t *ret)
{
	_cleanup_free_ char *v = sim_call_query(c, "first");
	char *end;
	long n;

	*ret = SIM_PAGE_DEFAULT;
	if (!v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 1)
		return sim_call_fail(c, 400, "first", "first must be a positive integer");
	*ret = n > SIM_PAGE_MAX ? SIM_PAGE_MAX : (size_t)n;
	return 0;
}

/* Page a list by first/after/before. */
int sim_call_page_or_respond(struct sim_call *c, json_t *owned_items, const char *field,
                             const char *cursor_key, json_t **ret)
{
	json_auto_t *items = owned_items;
	_cleanup_free_ char *after = sim_call_query(c, "after");
	_cleanup_free_ char *before = sim_call_query(c, "before");
	size_t n = json_array_size(items), first, start = 0, end;
	json_t *page = json_array();
	long at = 0;

	if (page_first_or_respond(c, &first) < 0)
		goto fail;
	if (after || before) {
		at = cursor_find(items, cursor_key, after ? after : before);
		if (at < 0) {
			(void)sim_call_fail(c, 400, after ? "after" : "before", "unknown cursor");
			goto fail;
		}
		start = after ? (size_t)at + 1 : ((size_t)at > first ? (size_t)at - first : 0);
	}
	end = before && !after ? (size_t)at : (start + first < n ? start + first : n);
	for (size_t i = start; i < end; i++)
		json_array_append(page, json_array_get(items, i));
	*ret =
	    json_pack("{s:I,s:o,s:o,s:o}", "totalCount", (json_int_t)n, field, page, "next",
	              end < n && end > start ? cursor_of(json_array_get(items, end - 1), cursor_key)
	                                     : json_string(""),
	              "prev",
	              start > 0 && start < n ? cursor_of(json_array_get(items, start), cursor_key)
	                                     : json_string(""));
	return 0;
fail:
	json_decref(page);
	return -EINVAL;
}
