/* Verification of inbound webhook requests against their source's auth configuration (hmac,
 * Standard Webhooks, api-key, bearer, basic, jwt-bearer, oauth2, certificate, none), plus signing
 * helpers for tests, the benchmark and the CLI. Used by the ingress on every request; pure CPU
 * work, never blocks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "http_req.h"
#include "source.h"
#include "xalloc.h"

/*
 * Reason codes: static strings, stable (metrics labels and 401 bodies), set on failure.
 *   missing_signature           hmac/standard-webhooks: no (or an empty) signature
 *   malformed_signature         signature without the configured prefix, not in the configured
 *                               encoding or of the wrong length; standard-webhooks: no
 *                               decodable "v1,<base64>" entry in the list
 *   bad_signature               well-formed signature that matches no configured secret
 *   missing_message_id          standard-webhooks: no webhook-id (or svix-id)
 *   missing_timestamp           standard-webhooks: no webhook-timestamp (or svix-timestamp)
 *   malformed_timestamp         timestamp is not 1 to 18 decimal digits
 *   timestamp_too_old           timestamp more than tolerance_s before now
 *   timestamp_too_new           timestamp more than tolerance_s after now
 *   missing_credentials         api-key/bearer/basic: no (or an empty) key, no Authorization,
 *                               or an Authorization of another scheme
 *   malformed_credentials       bearer without a token; basic not base64 of "user:password"
 *   bad_credentials             credentials that match no configured secret
 *   unauthenticated_not_allowed auth=none without allow_unauthenticated
 *   malformed_token ... bad_subject
 *                               jwt-bearer: the token's own codes, listed in jwt_bearer.h;
 *                               oauth2: the codes of oauth2_token_verify()
 *   missing_client_certificate, bad_client_certificate, client_certificate_subject_mismatch
 *                               certificate: see http_tls_client_verify()
 *   source_misconfigured        (with -EINVAL) the source's auth settings are unusable
 *   internal_error              (with -ENOMEM) OpenSSL failed; not the sender's fault
 * On success the reason names the scheme that verified the request: "hmac",
 * "standard-webhooks", "api-key", "bearer", "basic", "jwt-bearer", "oauth2", "certificate" or
 * "none".
 */

/* The failure reason codes above, NULL-terminated, so metrics can pre-register them all.
 * Static storage. */
const char *const *webhook_auth_reasons(void);

/* Check that src's auth settings are usable (scheme, secrets present and, for
 * standard-webhooks, decodable, hmac algorithm/inputs/encoding and where the signature or
 * key is carried). Call once at start-up. Returns 0 or -EINVAL with *ret_problem set to a
 * static human-readable explanation (ret_problem may be NULL). */
int webhook_auth_source_check(const struct source_config *src,
                              const char **ret_problem) _warn_unused_result_;

/* Verify req against src at time now_s (Unix seconds). Every configured secret is tried
 * (rotation) and every comparison is constant-time. Returns 0 when verified, -EACCES when
 * not, -EINVAL when src is misconfigured, -ENOMEM when OpenSSL fails ("internal_error");
 * always sets *ret_reason to a static string (the scheme on success, a reason code above on
 * failure). Header values are read with surrounding blanks trimmed.
 *   hmac: HMAC of src->hmac_inputs concatenated in order (body: the raw bytes; url: req->uri
 *     as received, minus every signature_query parameter and a '?' left empty), under each
 *     secret's bytes; the value must start with signature_prefix (case-insensitive), then
 *     hex (either case), base64 (padded) or base64url (padding optional). In a query, an
 *     unescaped '+' of base64 is accepted. signature_header wins if both are set.
 *   standard-webhooks: webhook-id/-timestamp/-signature, or svix-* when no webhook-* header
 *     is present; HMAC-SHA256 of "<id>.<timestamp>.<body>" with each whsec_ key; any
 *     "v1,<base64>" entry of the space-separated list may match; |now_s - ts| <= tolerance_s.
 *   api-key: api_key_header (wins) or api_key_query (percent-decoded) equals a secret.
 *   bearer: "Authorization: Bearer <token>" (scheme case-insensitive), token equals a secret.
 *   basic: "Authorization: Basic <base64>", decoded "user:password" equals a secret.
 *   jwt-bearer: "Authorization: <jwt_header_prefix> <JWT>" (prefix case-insensitive), the
 *     token verified by jwt_bearer_verify().
 *   oauth2: "Authorization: Bearer <token>", a token POST /oauth/token issued to one of the
 *     source's clients, verified by oauth2_token_verify().
 *   certificate: the request came over TLS with a client certificate that chains to
 *     certificate_ca_file (and carries certificate_subject), http_tls_client_verify().
 *   none: verified only when allow_unauthenticated. */
int webhook_auth_verify(const struct source_config *src, const struct http_req *req,
                        long long now_s, const char **ret_reason) _warn_unused_result_;

/* What replaces a secret value in a stored URI. */
#define WEBHOOK_AUTH_MASK "********"

/* uri (path and query as received) with the value of every query parameter that carries src's
 * api key (api_key_query) or signature (signature_query) replaced by WEBHOOK_AUTH_MASK; the
 * names are compared as written and percent-decoded. The rest is kept byte for byte. A new
 * string; aborts on OOM. */
char *webhook_auth_uri_redact(const struct source_config *src, const char *uri);

/* The Standard Webhooks message id the verifier reads, as webhook_auth_verify() picks it: the
 * webhook-id header, or svix-id when the request carries no webhook-* header. Blanks around it
 * are trimmed; *ret_len gets its length. Borrowed from req; NULL when absent or empty. */
const char *webhook_auth_message_id(const struct http_req *req, size_t *ret_len);

/* Whether a request header must never be stored or logged: authorization,
 * proxy-authorization, cookie, set-cookie, webhook-signature, svix-signature and src's
 * signature and api-key headers (case-insensitive). src may be NULL. */
bool webhook_auth_header_is_secret(const struct source_config *src, const char *name);

/* The header (or query parameter) value a sender would attach for the hmac scheme: the
 * configured prefix followed by the encoded HMAC of src's inputs under secret. uri is the
 * path plus query the request goes to; a signature query parameter already in it is
 * removed before signing, as the verifier does. Returns a new string, or NULL when src's
 * hmac settings are invalid. */
char *webhook_auth_sign_hmac(const struct source_config *src, const char *secret, const char *uri,
                             const void *body, size_t len);

/* The Standard Webhooks signature "v1,<base64>" of "<msg_id>.<ts>.<body>" under a
 * "whsec_<base64>" (or bare base64) secret. Returns a new string, or NULL on a bad secret. */
char *webhook_auth_sign_standard(const char *whsec_secret, const char *msg_id, long long ts,
                                 const void *body, size_t len);
