/* POST /oauth/token: the token endpoint of OAuth 2.0's client credentials grant (RFC 6749
 * §4.4) for oauth2 sources (oauth2_token). A client authenticates with HTTP Basic or with
 * client_id and client_secret in the form body (§2.3.1), and gets an access token its source
 * accepts as a bearer token until it expires; answers and errors have RFC 6749's shapes
 * (§5.1, §5.2), not the ingress's usual error object. Runs on the event loop; no I/O but the
 * answer: issuing a token needs no database. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "http_req.h"

struct config;
struct http_exchange;
struct metrics;

#define OAUTH_TOKEN_PATH     "/oauth/token"
#define OAUTH_TOKEN_BODY_MAX 8192 /* a token request is a few short fields */

/* A token request as parsed: the decoded fields, each a new string (NULL when absent). */
struct oauth_token_request {
	char *grant_type;
	char *client_id;
	char *client_secret;
	size_t client_id_len, client_secret_len; /* may count decoded NULs */
	bool basic;                              /* the client authenticated with HTTP Basic */
	/* Basic: the parts as sent, before form-decoding. RFC 6749 §2.3.1 has clients
	 * form-encode them, but many do not (curl -u, Python's requests-oauthlib); both are
	 * tried. */
	char *client_id_raw, *client_secret_raw;
};

/* Parse req: form body (application/x-www-form-urlencoded, at most OAUTH_TOKEN_BODY_MAX
 * bytes), the grant type, and the client's credentials from Basic (each part form-decoded)
 * or from the body. Returns 0, or a negative errno with *ret_error an RFC 6749 error code
 * ("invalid_request", "unsupported_grant_type", "invalid_client") and *ret_description a
 * static explanation; *ret_status gets the HTTP status to answer with. */
int oauth_token_request_parse(const struct http_req *req, struct oauth_token_request *ret,
                              const char **ret_error, const char **ret_description,
                              int *ret_status);
void oauth_token_request_fini(struct oauth_token_request *r);

/* Answer one request to OAUTH_TOKEN_PATH for the sources of c at now_s; counted under route
 * "oauth" and in hookrun_oauth_tokens_total{source,outcome}. */
void oauth_token_handle(struct http_exchange *ex, const struct http_req *req,
                        const struct config *c, struct metrics *m, long long now_s);
