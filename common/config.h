/* hookrun configuration: an INI file (a [hookrun] section and one [source.NAME] section per
 * webhook source, in the manner of PgBouncer), HOOKRUN_* environment overrides and *_FILE
 * secrets, validated once at start into an immutable struct config.
 * Used by the ingress and the CLI at start-up; reads files, never blocks after start. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"
#include "xalloc.h"

enum auth_scheme {
	AUTH_SCHEME_NONE,
	AUTH_SCHEME_HMAC,
	AUTH_SCHEME_STANDARD_WEBHOOKS,
	AUTH_SCHEME_API_KEY,
	AUTH_SCHEME_BEARER,
	AUTH_SCHEME_BASIC,
	_AUTH_SCHEME_MAX,
};

enum hmac_algorithm {
	HMAC_ALGORITHM_SHA1,
	HMAC_ALGORITHM_SHA256,
	HMAC_ALGORITHM_SHA512,
	_HMAC_ALGORITHM_MAX,
};

enum sig_input {
	SIG_INPUT_BODY,
	SIG_INPUT_URL,
	_SIG_INPUT_MAX,
};

enum sig_encoding {
	SIG_ENCODING_HEX,
	SIG_ENCODING_BASE64,
	SIG_ENCODING_BASE64URL,
	_SIG_ENCODING_MAX,
};

enum idempotency_from {
	IDEMPOTENCY_FROM_NONE,
	IDEMPOTENCY_FROM_HEADER,
	IDEMPOTENCY_FROM_JSON_POINTER,
	_IDEMPOTENCY_FROM_MAX,
};

enum route {
	ROUTE_STORE,
	_ROUTE_MAX,
};

#define CONFIG_MAX_SECRETS    8
#define CONFIG_MAX_SIG_INPUTS 2

/* One [source.NAME] section. Strings are owned by the struct config. */
struct source_config {
	char *name;
	enum auth_scheme auth;
	/* Raw secrets as configured, oldest last; several accepted at once for rotation.
	 * standard-webhooks: "whsec_<base64>"; basic: "user:password"; others: the value. */
	char *secrets[CONFIG_MAX_SECRETS];
	size_t n_secrets;
	/* hmac */
	enum hmac_algorithm hmac_algorithm;
	enum sig_input hmac_inputs[CONFIG_MAX_SIG_INPUTS];
	size_t n_hmac_inputs;
	enum sig_encoding hmac_encoding;
	char *signature_header; /* header carrying the signature; NULL when query is used */
	char *signature_query;  /* query parameter carrying the signature, or NULL */
	char *signature_prefix; /* e.g. "sha256=", or NULL */
	/* api-key: exactly one of these is set */
	char *api_key_header;
	char *api_key_query;
	/* standard-webhooks: allowed clock skew, both directions */
	long long tolerance_s;
	size_t body_limit;
	enum idempotency_from idempotency_from;
	char *idempotency_name; /* header name or RFC 6901 JSON pointer */
	enum route route;
	bool allow_unauthenticated; /* auth=none is refused unless this is true (local dev) */
};

struct config {
	char *listen_addr;
	int listen_port;
	char *db_url; /* secret: its password is masked when printed */
	int db_connections;
	size_t max_backlog;
	size_t batch_max_rows;
	size_t batch_max_bytes;
	int commit_timeout_ms;
	int retry_after_s;
	long long dedup_window_s;
	int db_reconnect_max_ms;
	enum log_level log_level;
	enum log_format log_format;
	struct source_config *sources;
	size_t n_sources;
	size_t max_body_limit; /* derived: the largest body_limit over all sources */
};

const char *auth_scheme_to_string(enum auth_scheme s);
int auth_scheme_from_string(const char *s);
const char *hmac_algorithm_to_string(enum hmac_algorithm a);
int hmac_algorithm_from_string(const char *s);
const char *sig_encoding_to_string(enum sig_encoding e);
int sig_encoding_from_string(const char *s);
const char *sig_input_to_string(enum sig_input i);
int sig_input_from_string(const char *s);
/* "none", "header" or "json": the part before ':' in idempotency_key. */
const char *idempotency_from_to_string(enum idempotency_from f);
int idempotency_from_from_string(const char *s);
const char *route_to_string(enum route r);
int route_from_string(const char *s);

/* Load path (may be NULL: defaults and environment only), then apply overrides from envp
 * (a NULL-terminated "KEY=value" array, usually environ). On failure returns a negative errno
 * and sets *ret_error to a new message naming the section and key. */
int config_load(const char *path, char *const *envp, struct config **ret,
                char **ret_error) _warn_unused_result_;
void config_free(struct config *c);
/* Borrowed from c; NULL when absent. */
const struct source_config *config_source_find(const struct config *c, const char *name);
/* Write the effective configuration as INI with every secret masked. */
void config_print(const struct config *c, FILE *f);
