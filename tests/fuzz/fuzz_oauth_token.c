/* Fuzz the token endpoint's request parsing and the oauth2 token check. Input: an
 * Authorization value up to the first newline (none when the input has no newline), then the
 * form body; the same bytes are also checked as a bearer token of an oauth2 source. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "oauth2_token.h"
#include "oauth_token.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: "<Authorization>\n<body>" or "<body>". */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = xstrndup((const char *)data, size);
	const char *nl = memchr(data, '\n', size);
	_cleanup_free_ char *auth =
	    nl ? xstrndup((const char *)data, (size_t)(nl - (const char *)data)) : NULL;
	const char *body = nl ? nl + 1 : (const char *)data;
	size_t body_len = nl ? size - (size_t)(body - (const char *)data) : size;
	struct http_header headers[2] = {
	    {"Content-Type", "application/x-www-form-urlencoded"},
	    {"Authorization", auth},
	};
	struct http_req req = {.method = HTTP_METHOD_POST,
	                       .uri = OAUTH_TOKEN_PATH,
	                       .path = OAUTH_TOKEN_PATH,
	                       .headers = headers,
	                       .n_headers = auth ? 2 : 1,
	                       .body = (const unsigned char *)body,
	                       .body_len = body_len,
	                       .peer = "127.0.0.1:1"};
	struct source_config src = {.name = (char *)"oa",
	                            .auth = AUTH_SCHEME_OAUTH2,
	                            .oauth2_token_lifetime_s = 60,
	                            .n_secrets = 1};
	struct oauth_token_request r;
	const char *error = NULL, *description = NULL, *reason = NULL;
	int status = 0;

	if (oauth_token_request_parse(&req, &r, &error, &description, &status) == 0)
		oauth_token_request_fini(&r);
	src.secrets[0] = (char *)"flows:0123456789abcdef";
	(void)oauth2_token_verify(&src, text, strlen(text), 1760000000, &reason);
	return 0;
}
