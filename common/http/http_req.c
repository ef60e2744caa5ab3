/* Helpers to read a plain inbound HTTP request. */
#include "http_req.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

static const char *const http_method_names[_HTTP_METHOD_MAX] = {
    [HTTP_METHOD_GET] = "GET",         [HTTP_METHOD_HEAD] = "HEAD",
    [HTTP_METHOD_POST] = "POST",       [HTTP_METHOD_PUT] = "PUT",
    [HTTP_METHOD_PATCH] = "PATCH",     [HTTP_METHOD_DELETE] = "DELETE",
    [HTTP_METHOD_OPTIONS] = "OPTIONS", [HTTP_METHOD_OTHER] = "OTHER",
};

/* Name of an HTTP method. */
const char *http_method_to_string(enum http_method m)
{
	return m < _HTTP_METHOD_MAX ? http_method_names[m] : "OTHER";
}

/* First header with this name (case-insensitive), or NULL. */
const char *http_req_header(const struct http_req *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

/* Value of one hex digit, or -1. */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent- and plus-decode n bytes of a query component into a new string of *ret_len bytes. */
char *http_query_decode(const char *s, size_t n, size_t *ret_len)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		           hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	*ret_len = o;
	return out;
}

/* The query parameter at *cursor; advances past it. */
bool http_query_next(const char **cursor, struct http_query_param *ret)
{
	const char *p = *cursor, *amp, *eq;

	if (!p)
		return false;
	amp = strchr(p, '&');
	ret->len = amp ? (size_t)(amp - p) : strlen(p);
	eq = memchr(p, '=', ret->len);
	ret->name = p;
	ret->name_len = eq ? (size_t)(eq - p) : ret->len;
	ret->value = eq ? eq + 1 : NULL;
	ret->value_len = eq ? ret->len - ret->name_len - 1 : 0;
	*cursor = amp ? amp + 1 : NULL;
	return true;
}

/* Decoded value of a query parameter as a new string of *ret_len bytes; NULL when absent. */
char *http_req_query_param(const struct http_req *req, const char *name, size_t *ret_len)
{
	const char *cursor = req->query;
	struct http_query_param qp;
	size_t nl = strlen(name);

	while (http_query_next(&cursor, &qp)) {
		if (qp.name_len != nl || memcmp(qp.name, name, nl) != 0)
			continue;
		if (qp.value)
			return http_query_decode(qp.value, qp.value_len, ret_len);
		*ret_len = 0;
		return xstrdup("");
	}
	return NULL;
}

/* Percent-encode a query component. */
char *http_query_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(3 * strlen(s) + 1), *o = out;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') ||
		    strchr("-._~", *p)) {
			*o++ = (char)*p;
			continue;
		}
		*o++ = '%';
		*o++ = hex[*p >> 4];
		*o++ = hex[*p & 15];
	}
	*o = '\0';
	return out;
}

/* Whether Content-Type is media_type, a charset parameter UTF-8 or ASCII when given. */
bool http_content_type_is(const char *ct, const char *media_type)
{
	const char *p;
	size_t n;

	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	n = strcspn(ct, "; \t");
	if (n != strlen(media_type) || strncasecmp(ct, media_type, n) != 0)
		return false;
	for (p = ct + n; (p = strchr(p, ';')) != NULL;) {
		size_t v;

		p += 1 + strspn(p + 1, " \t");
		if (strncasecmp(p, "charset=", 8) != 0)
			continue;
		p += 8;
		if (*p == '"')
			p++;
		v = strcspn(p, "\"; \t");
		if (!((v == 5 && strncasecmp(p, "utf-8", 5) == 0) ||
		      (v == 8 && strncasecmp(p, "us-ascii", 8) == 0)))
			return false;
	}
	return true;
}

/* Whether Content-Type is JSON: application/json or application/<x>+json, any parameters. */
bool http_content_type_is_json(const char *ct)
{
	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	size_t n = strcspn(ct, "; \t");
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return true;
	return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
	       strncasecmp(ct + n - 5, "+json", 5) == 0;
}
