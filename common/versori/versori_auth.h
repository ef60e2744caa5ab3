/* One organisation's Versori credential: an API key ("Bearer"), a static JWT, or a signing key
 * that mints an RS256 JWT per subject ("JWT"), cached until near expiry. Used by the worker and
 * the CLI through versori_call(); CPU only (RSA signing), never blocks. Secrets are wiped on
 * free and never logged. Not thread-safe: one per event loop. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xalloc.h"

#define VERSORI_AUTH_TOKEN_LIFETIME_S 3600 /* exp = iat + one hour, as in Versori's examples */
#define VERSORI_AUTH_REFRESH_MARGIN_S                                                              \
	300 /* re-mint five minutes before exp (half the                                           \
	     * lifetime for tokens shorter than ten minutes) */
#define VERSORI_AUTH_LIFETIME_MAX_S ((int64_t)366 * 86400) /* longer ones are refused */
#define VERSORI_AUTH_CACHE_MAX      1024 /* minted tokens kept, least recently used evicted */

enum versori_auth_kind {
	VERSORI_AUTH_API_KEY,
	VERSORI_AUTH_STATIC_JWT,
	VERSORI_AUTH_SIGNING_KEY,
	_VERSORI_AUTH_KIND_MAX,
};

enum versori_auth_subject_mode {
	VERSORI_AUTH_SUBJECT_PER_END_USER, /* sub = the request's end user (externalId) */
	VERSORI_AUTH_SUBJECT_FIXED,        /* sub = the configured subject, always */
	_VERSORI_AUTH_SUBJECT_MODE_MAX,
};

/* Borrowed for the duration of versori_auth_new_signing_key() only. */
struct versori_auth_signing_key_options {
	const char *key_id;      /* the signing key's id: iss = "https://versori.com/sk/<key_id>" */
	const char *private_pem; /* PKCS#8 (or PKCS#1) RSA private key */
	size_t private_pem_len;
	enum versori_auth_subject_mode subject_mode;
	/* FIXED: the subject of every token. PER_END_USER: the subject of calls that act for no
	 * end user (organisation-level calls); NULL makes such calls fail with -EINVAL. */
	const char *subject;
	int64_t lifetime_s; /* 0: VERSORI_AUTH_TOKEN_LIFETIME_S; max VERSORI_AUTH_LIFETIME_MAX_S */
};

struct versori_auth;

const char *versori_auth_kind_to_string(enum versori_auth_kind k);
/* "Authorization: Bearer <key>"; -EINVAL for an empty key or one with whitespace or control
 * characters. */
_warn_unused_result_ int versori_auth_new_api_key(const char *key, struct versori_auth **ret);
/* "Authorization: JWT <token>" with a long-lived token minted elsewhere; same checks. */
_warn_unused_result_ int versori_auth_new_static_jwt(const char *token, struct versori_auth **ret);
/* Minted RS256 tokens; -EINVAL for a bad key (see signing_key_new()), an empty key id, a
 * FIXED mode without subject or a lifetime out of range. */
_warn_unused_result_ int
versori_auth_new_signing_key(const struct versori_auth_signing_key_options *o,
                             struct versori_auth **ret);
/* Wipe every secret and free; takes NULL. */
void versori_auth_free(struct versori_auth *a);
enum versori_auth_kind versori_auth_kind(const struct versori_auth *a);

/* The Authorization header value for a call acting for subject (an end user's externalId, or
 * NULL for an organisation-level call) at now_s: "Bearer <key>" or "JWT <token>" (new string;
 * it is a secret: wipe or at least never log it). Minted tokens are reused while now_s is more
 * than the refresh margin (VERSORI_AUTH_REFRESH_MARGIN_S, or half a shorter lifetime) before
 * their exp. -EINVAL when a per-end-user key has no subject to use; -ENOMEM or -EINVAL when
 * signing fails. */
_warn_unused_result_ int versori_auth_header(struct versori_auth *a, const char *subject,
                                             int64_t now_s, char **ret);
/* Forget the cached token for subject (after a 401), so the next header is minted afresh.
 * Returns whether a fresh token can differ, i.e. the credential mints tokens. */
bool versori_auth_invalidate(struct versori_auth *a, const char *subject);
/* Minted tokens currently cached (tests, metrics). */
size_t versori_auth_cache_size(const struct versori_auth *a);
