/* The client credentials grant's token endpoint. */
#include "oauth_token.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "answer.h"
#include "config.h"
#include "crypto.h"
#include "http_glue.h"
#include "log.h"
#include "metrics.h"
#include "oauth2_token.h"
#include "xalloc.h"

#define ROUTE "oauth"

/* Refuse with an RFC 6749 error code, a status and an explanation. */
static int refuse(const char *error, int status, const char *description, const char **ret_error,
                  const char **ret_description, int *ret_status)
{
	*ret_error = error;
	*ret_description = description;
	*ret_status = status;
	return -EINVAL;
}

/* Whether the parameter is named name. */
static bool param_is(const struct http_query_param *p, const char *name)
{
	return p->name_len == strlen(name) && memcmp(p->name, name, p->name_len) == 0;
}

/* Store one decoded form field; a field sent twice is refused (RFC 6749 §3.2). */
static int field_set(char **field, size_t *ret_len, const struct http_query_param *p)
{
	size_t len = 0;

	if (*field)
		return -EEXIST;
	*field = http_query_decode(p->value ? p->value : "", p->value ? p->value_len : 0, &len);
	if (ret_len)
		*ret_len = len;
	return 0;
}

/* Read the form's fields into r. */
static int form_parse(const char *form, struct oauth_token_request *r)
{
	const char *cursor = form;
	struct http_query_param p;
	size_t grant_len = 0;
	int e = 0;

	while (e == 0 && http_query_next(&cursor, &p)) {
		if (param_is(&p, "grant_type"))
			e = field_set(&r->grant_type, &grant_len, &p);
		else if (param_is(&p, "client_id"))
			e = field_set(&r->client_id, &r->client_id_len, &p);
		else if (param_is(&p, "client_secret"))
			e = field_set(&r->client_secret, &r->client_secret_len, &p);
	}
	if (e == 0 && r->grant_type && strlen(r->grant_type) != grant_len)
		e = -EBADMSG;
	return e;
}

/* The client's credentials from "Authorization: Basic", each part form-decoded (§2.3.1).
 * -ENOENT without Basic, -EBADMSG when it is not base64 of "id:secret". */
static int basic_parse(const struct http_req *req, struct oauth_token_request *r)
{
	const char *v = http_req_header(req, "Authorization");
	_cleanup_free_ unsigned char *pair = NULL;
	size_t pair_len = 0;
	const char *colon;

	if (!v || strncasecmp(v, "basic ", 6) != 0)
		return v ? -EPROTO : -ENOENT;
	v += 6;
	while (*v == ' ')
		v++;
	if (crypto_base64_decode(v, strcspn(v, " \t"), &pair, &pair_len) < 0)
		return -EBADMSG;
	colon = memchr(pair, ':', pair_len);
	/* A NUL would cut the raw parts short: "id:secret\0junk" must not be "id:secret". */
	if (!colon || memchr(pair, '\0', pair_len))
		return -EBADMSG;
	r->client_id_raw = xstrndup((const char *)pair, (size_t)(colon - (char *)pair));
	r->client_secret_raw = xstrndup(colon + 1, pair_len - (size_t)(colon + 1 - (char *)pair));
	r->client_id = http_query_decode((const char *)pair, (size_t)(colon - (char *)pair),
	                                 &r->client_id_len);
	r->client_secret = http_query_decode(
	    colon + 1, pair_len - (size_t)(colon + 1 - (char *)pair), &r->client_secret_len);
	explicit_bzero(pair, pair_len);
	r->basic = true;
	return 0;
}

/* Parse a token request. */
int oauth_token_request_parse(const struct http_req *req, struct oauth_token_request *ret,
                              const char **ret_error, const char **ret_description, int *ret_status)
{
	struct oauth_token_request r = {0};
	_cleanup_free_ char *form = NULL;
	int e;

	*ret = r;
	if (req->method != HTTP_METHOD_POST)
		return refuse("invalid_request", 405, "use POST", ret_error, ret_description,
		              ret_status);
	if (req->body_len > OAUTH_TOKEN_BODY_MAX)
		return refuse("invalid_request", 413, "the request body is over 8 KiB", ret_error,
		              ret_description, ret_status);
	if (!http_content_type_is(http_req_header(req, "Content-Type"),
	                          "application/x-www-form-urlencoded"))
		return refuse("invalid_request", 400,
		              "the body must be application/x-www-form-urlencoded (RFC 6749 4.4.2)",
		              ret_error, ret_description, ret_status);
	form = xstrndup((const char *)req->body, req->body_len);
	if (strlen(form) != req->body_len || form_parse(form, &r) < 0) {
		oauth_token_request_fini(&r);
		return refuse("invalid_request", 400,
		              "a field is sent twice, or grant_type holds a NUL (RFC 6749 3.2)",
		              ret_error, ret_description, ret_status);
	}
	if (!r.grant_type) {
		oauth_token_request_fini(&r);
		return refuse("invalid_request", 400, "grant_type is missing", ret_error,
		              ret_description, ret_status);
	}
	if (strcmp(r.grant_type, "client_credentials") != 0) {
		oauth_token_request_fini(&r);
		return refuse("unsupported_grant_type", 400, "only client_credentials is served",
		              ret_error, ret_description, ret_status);
	}
	if (http_req_header(req, "Authorization") && (r.client_id || r.client_secret)) {
		oauth_token_request_fini(&r);
		return refuse("invalid_request", 400,
		              "the client authenticates one way: Basic or the body, not both "
		              "(RFC 6749 2.3)",
		              ret_error, ret_description, ret_status);
	}
	e = basic_parse(req, &r);
	if (e == -EBADMSG || e == -EPROTO) {
		oauth_token_request_fini(&r);
		return refuse("invalid_client", 401,
		              "Authorization is not Basic base64(client_id:client_secret)",
		              ret_error, ret_description, ret_status);
	}
	if (!r.client_id || !r.client_secret) {
		oauth_token_request_fini(&r);
		return refuse("invalid_client", 401,
		              "no client credentials: Basic, or client_id and client_secret",
		              ret_error, ret_description, ret_status);
	}
	*ret = r;
	return 0;
}

/* Free and wipe the fields of a parsed request. */
void oauth_token_request_fini(struct oauth_token_request *r)
{
	if (r->client_secret)
		explicit_bzero(r->client_secret, r->client_secret_len);
	if (r->client_secret_raw)
		explicit_bzero(r->client_secret_raw, strlen(r->client_secret_raw));
	free(r->client_id_raw);
	free(r->client_secret_raw);
	free(r->grant_type);
	free(r->client_id);
	free(r->client_secret);
	*r = (struct oauth_token_request){0};
}

/* Count one answer of the token endpoint. */
static void count(struct metrics *m, const char *source, const char *outcome)
{
	char labels[160];

	snprintf(labels, sizeof(labels), "source=\"%s\",outcome=\"%s\"", source, outcome);
	metric_counter_inc(metrics_counter(m, "hookrun_oauth_tokens_total",
	                                   "POST /oauth/token answers, by source and outcome",
	                                   labels));
}

/* Answer with an RFC 6749 §5.2 error. */
static void answer_oauth_error(struct http_exchange *ex, struct metrics *m, int status,
                               const char *error, const char *description, bool basic)
{
	struct http_header extra[3] = {{"Cache-Control", "no-store"}};
	size_t n = 1;

	/* §5.2: a 401 carries WWW-Authenticate for the scheme the client tried (Basic). */
	if (status == 405)
		extra[n++] = (struct http_header){"Allow", "POST"};
	else if (status == 401 && basic)
		extra[n++] = (struct http_header){"WWW-Authenticate", "Basic realm=\"hookrun\""};
	extra[n] = (struct http_header){NULL, NULL};
	count(m, "-", error);
	answer_json(ex, m, ROUTE, status,
	            json_pack("{s:s, s:s}", "error", error, "error_description", description),
	            extra);
}

/* Answer one token request. */
void oauth_token_handle(struct http_exchange *ex, const struct http_req *req,
                        const struct config *c, struct metrics *m, long long now_s)
{
	const struct http_header extra[] = {
	    {"Cache-Control", "no-store"}, {"Pragma", "no-cache"}, {NULL, NULL}};
	struct oauth_token_request r;
	const char *error = NULL, *description = NULL;
	const struct source_config *src;
	_cleanup_free_ char *token = NULL;
	size_t index = 0;
	int status = 0;

	if (oauth_token_request_parse(req, &r, &error, &description, &status) < 0) {
		log_event(LOG_LEVEL_INFO, "oauth.token_refused", "error=%s status=%d peer=%s",
		          error, status, req->peer);
		return answer_oauth_error(ex, m, status, error, description,
		                          http_req_header(req, "Authorization") != NULL);
	}
	src = oauth2_client_authenticate(c->sources, c->n_sources, r.client_id, r.client_id_len,
	                                 r.client_secret, r.client_secret_len, &index);
	if (!src && r.basic)
		src = oauth2_client_authenticate(c->sources, c->n_sources, r.client_id_raw,
		                                 strlen(r.client_id_raw), r.client_secret_raw,
		                                 strlen(r.client_secret_raw), &index);
	if (!src) {
		log_event(LOG_LEVEL_INFO, "oauth.token_refused", "error=invalid_client peer=%s",
		          req->peer);
		answer_oauth_error(ex, m, 401, "invalid_client", "unknown client or wrong secret",
		                   r.basic);
		return oauth_token_request_fini(&r);
	}
	token = oauth2_token_issue(src, index, now_s);
	if (!token) {
		answer_oauth_error(ex, m, 500, "server_error", "the token could not be made",
		                   false);
		return oauth_token_request_fini(&r);
	}
	log_event(LOG_LEVEL_INFO, "oauth.token_issued", "source=%s client=%.*s expires_in=%lld",
	          src->name, (int)strcspn(src->secrets[index], ":"), src->secrets[index],
	          src->oauth2_token_lifetime_s);
	count(m, src->name, "issued");
	answer_json(ex, m, ROUTE, 200,
	            json_pack("{s:s, s:s, s:I}", "access_token", token, "token_type", "Bearer",
	                      "expires_in", (json_int_t)src->oauth2_token_lifetime_s),
	            extra);
	oauth_token_request_fini(&r);
}
