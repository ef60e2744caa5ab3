/* oauth2 sources: hookrun as the token endpoint of OAuth 2.0's client credentials grant
 * (RFC 6749 §4.4) for the Versori connections that authenticate to it with the oauth2 scheme.
 * A source's secrets are its clients, "client_id:client_secret"; POST /oauth/token gives a
 * client a short-lived access token, which the source then accepts as "Authorization: Bearer".
 *
 * An access token is a JWT (HS256: iss "hookrun", aud the source, sub the client id, iat,
 * exp, jti) signed under a key derived from the client's secret (HMAC-SHA256 of a fixed label
 * under the secret), so that every ingress with the same configuration verifies it without a
 * shared store, and replacing a client's secret ends the tokens it had. Pure CPU work. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "source.h"
#include "xalloc.h"

#define OAUTH2_CLIENT_SECRET_MIN 16 /* characters of a client secret, at the least */

/* Why src's oauth2 clients are unusable (a static explanation), or NULL: every secret is
 * "client_id:client_secret" with an id of visible ASCII without ':' and a secret of at least
 * OAUTH2_CLIENT_SECRET_MIN characters. */
const char *oauth2_source_problem(const struct source_config *src);

/* The client that id and secret (lengths given, no NUL needed) authenticate among the n
 * sources of sources (only oauth2 ones count): every configured client is compared, in
 * constant time. Returns the source and sets *ret_index to the secret that matched, or NULL. */
const struct source_config *oauth2_client_authenticate(const struct source_config *sources,
                                                       size_t n, const char *id, size_t id_len,
                                                       const char *secret, size_t secret_len,
                                                       size_t *ret_index);

/* A new access token for the client of src's secret number index, issued at now_s and good
 * for src->oauth2_token_lifetime_s. NULL when the secret is unusable or OpenSSL fails. */
char *oauth2_token_issue(const struct source_config *src, size_t index, long long now_s);

/* Verify a bearer token (len bytes) for src at now_s: a token of one of its clients, under
 * that client's current secret, not expired. Returns 0, or -EACCES with *ret_reason one of
 * "malformed_token", "alg_not_allowed", "bad_audience" (another source's token),
 * "bad_signature" (a client or secret src does not have now), "token_expired". */
_warn_unused_result_ int oauth2_token_verify(const struct source_config *src, const char *token,
                                             size_t len, long long now_s, const char **ret_reason);
