/* jwt-bearer sources: a JWT that the sender (a Versori connection of that scheme) mints and
 * sends as "Authorization: <prefix> <token>", checked against the source's pinned algorithm,
 * its keys (several at once, for rotation) and the claims it requires. Pure CPU work; the
 * signature is libjwt's, through the jws module. */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "source.h"
#include "xalloc.h"

/* Reason codes (static strings, stable: metrics labels and 401 bodies), set on failure:
 *   malformed_token         not three base64url parts of JSON objects, or a claim of the wrong
 *                           type (exp, nbf and iat numbers; iss and sub strings; aud a string
 *                           or an array of strings)
 *   alg_not_allowed         the header names another algorithm than the source's
 *   bad_signature           the signature holds under none of the source's keys
 *   token_missing_exp       no exp claim, and the source requires one
 *   token_expired           now is past exp (and the leeway)
 *   token_not_yet_valid     now is before nbf (less the leeway)
 *   token_issued_in_future  iat is after now (and the leeway)
 *   bad_issuer, bad_audience, bad_subject
 *                           iss, aud or sub is absent or not the value the source requires */
#define JWT_BEARER_REASONS                                                                         \
	"malformed_token", "alg_not_allowed", "token_missing_exp", "token_expired",                \
	    "token_not_yet_valid", "token_issued_in_future", "bad_issuer", "bad_audience",         \
	    "bad_subject"

/* Why src's jwt-bearer settings are unusable (a static explanation), or NULL: each HS* secret
 * must decode (jwt_secret_encoding) to at least as many bytes as the hash (RFC 7518 §3.2),
 * each RS* key must be an RSA public key PEM of 2048 bits or more, the prefix a single word. */
const char *jwt_bearer_source_problem(const struct source_config *src);

/* Verify token (len bytes, no NUL needed) for src at now_s (Unix seconds): signature under
 * each configured key in turn, then exp (required unless jwt_require_exp is false), nbf and
 * iat with jwt_leeway_s of skew, then iss, aud and sub when src names them. Returns 0, or
 * -EACCES with *ret_reason one of the codes above, -EINVAL when src is misconfigured. */
_warn_unused_result_ int jwt_bearer_verify(const struct source_config *src, const char *token,
                                           size_t len, long long now_s, const char **ret_reason);

/* A token of claims that src accepts, signed with secret: an HS* secret as configured
 * (jwt_secret_encoding), or an RSA private key PEM for RS*. For tests, the benchmark and
 * senders' examples. A new string, or NULL when the secret or claims are unusable. */
char *jwt_bearer_mint(const struct source_config *src, const char *secret, const json_t *claims);
