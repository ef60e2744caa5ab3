/* Plain, library-free view of one inbound HTTP request and helpers to read it.
 * Filled by common/http_glue.c from evhttp; handlers and verifiers only see this.
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
	const char *uri;   /* as received: path plus optional ?query */
	const char *path;  /* decoded path, no query */
	const char *query; /* raw query string after '?', or NULL */
	const struct http_header *headers;
	size_t n_headers;
	const unsigned char *body;
	size_t body_len;
	const char *peer; /* "127.0.0.1:54321" */
};

const char *http_method_to_string(enum http_method m);
/* First header with this name (case-insensitive), or NULL. */
const char *http_req_header(const struct http_req *req, const char *name);
/* Decoded value of a query parameter as a new string; NULL when absent. */
char *http_req_query_param(const struct http_req *req, const char *name);
/* Whether Content-Type is JSON: application/json or application/<x>+json, any parameters. */
bool http_content_type_is_json(const char *content_type);
