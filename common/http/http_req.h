/* Plain, library-free view of one inbound HTTP request and helpers to read it.
 * Filled by common/http/http_glue.c from evhttp; handlers and verifiers only see this.
 * Borrowed: every pointer is owned by whoever built the struct and lives as long as it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum http_method {
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_POST,
	HTTP_METHOD_PUT,
	HTTP_METHOD_PATCH,
	HTTP_METHOD_DELETE,
	HTTP_METHOD_OPTIONS,
	HTTP_METHOD_OTHER,
	_HTTP_METHOD_MAX,
};

struct http_header {
	const char *name;
	const char *value;
};

struct http_req {
	enum http_method method;
	unsigned char version_major, version_minor; /* HTTP/1.1: 1, 1 */
	const char *uri;                            /* as received: path plus optional ?query */
	const char *path;  /* decoded path, no query; may hold a decoded NUL ("%00") */
	size_t path_len;   /* bytes in path: strlen(path) < path_len when it holds a NUL */
	const char *query; /* raw query string after '?', or NULL */
	const struct http_header *headers;
	size_t n_headers;
	void *tls; /* the connection's TLS session (http_tls), or NULL when it is plain HTTP */
	const unsigned char *body;
	size_t body_len;
	const char *peer; /* "127.0.0.1:54321" */
};

const char *http_method_to_string(enum http_method m);
/* First header with this name (case-insensitive), or NULL. */
const char *http_req_header(const struct http_req *req, const char *name);
/* One parameter of a query string, borrowed from it, as written (undecoded). */
struct http_query_param {
	const char *name;
	size_t name_len;
	const char *value; /* after the '=', or NULL when the parameter has none */
	size_t value_len;
	size_t len; /* the whole parameter: name, '=' and value */
};

/* The parameter at *cursor (a query string without its '?'); moves *cursor past it and the
 * '&' after it, to NULL after the last one. Empty parameters ("a&&b", a trailing '&') are
 * returned too, so that a caller copying the query keeps it byte for byte. false when
 * *cursor is NULL (nothing left). */
bool http_query_next(const char **cursor, struct http_query_param *ret);
/* Percent- and plus-decode n bytes of a query component into a new NUL-terminated string of
 * *ret_len bytes; a decoded NUL stays inside the length. Malformed escapes stay as written. */
char *http_query_decode(const char *s, size_t n, size_t *ret_len);
/* Percent-encode s as a query component (RFC 3986: everything but unreserved characters) into
 * a new string. */
char *http_query_encode(const char *s);

/* Decoded value of the first query parameter named name (compared as written, undecoded), as
 * a new NUL-terminated string; NULL when absent. *ret_len gets its length in bytes, which is
 * larger than strlen() when the value holds a decoded NUL ("%00"): callers comparing it with
 * a secret must use the length, so that "<secret>%00junk" never matches. */
char *http_req_query_param(const struct http_req *req, const char *name, size_t *ret_len);
/* Whether Content-Type is JSON: application/json or application/<x>+json, any parameters. */
bool http_content_type_is_json(const char *content_type);
/* Whether content_type is the media type (such as "text/csv", compared without case) with any
 * parameters; a charset parameter, when given, must be utf-8 or us-ascii. */
bool http_content_type_is(const char *content_type, const char *media_type);
