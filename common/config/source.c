/* A webhook source's settings and the names of their values. */
#include "source.h"

#include <errno.h>
#include <string.h>

static const char *const auth_scheme_names[_AUTH_SCHEME_MAX] = {
    [AUTH_SCHEME_NONE] = "none",
    [AUTH_SCHEME_HMAC] = "hmac",
    [AUTH_SCHEME_STANDARD_WEBHOOKS] = "standard-webhooks",
    [AUTH_SCHEME_API_KEY] = "api-key",
    [AUTH_SCHEME_BEARER] = "bearer",
    [AUTH_SCHEME_BASIC] = "basic",
    [AUTH_SCHEME_JWT_BEARER] = "jwt-bearer",
    [AUTH_SCHEME_OAUTH2] = "oauth2",
    [AUTH_SCHEME_CERTIFICATE] = "certificate",
};

static const char *const jwt_algorithm_names[_JWT_ALGORITHM_MAX] = {
    [JWT_ALGORITHM_HS256] = "HS256", [JWT_ALGORITHM_HS384] = "HS384",
    [JWT_ALGORITHM_HS512] = "HS512", [JWT_ALGORITHM_RS256] = "RS256",
    [JWT_ALGORITHM_RS384] = "RS384", [JWT_ALGORITHM_RS512] = "RS512",
};

static const char *const jwt_secret_encoding_names[_JWT_SECRET_ENCODING_MAX] = {
    [JWT_SECRET_ENCODING_BASE64] = "base64",
    [JWT_SECRET_ENCODING_RAW] = "raw",
};

static const char *const hmac_algorithm_names[_HMAC_ALGORITHM_MAX] = {
    [HMAC_ALGORITHM_SHA1] = "sha1",
    [HMAC_ALGORITHM_SHA256] = "sha256",
    [HMAC_ALGORITHM_SHA512] = "sha512",
};

static const char *const sig_input_names[_SIG_INPUT_MAX] = {
    [SIG_INPUT_BODY] = "body",
    [SIG_INPUT_URL] = "url",
};

static const char *const sig_encoding_names[_SIG_ENCODING_MAX] = {
    [SIG_ENCODING_HEX] = "hex",
    [SIG_ENCODING_BASE64] = "base64",
    [SIG_ENCODING_BASE64URL] = "base64url",
};

static const char *const idempotency_from_names[_IDEMPOTENCY_FROM_MAX] = {
    [IDEMPOTENCY_FROM_NONE] = "none",
    [IDEMPOTENCY_FROM_HEADER] = "header",
    [IDEMPOTENCY_FROM_JSON_POINTER] = "json",
};

static const char *const route_names[_ROUTE_MAX] = {
    [ROUTE_STORE] = "store",   [ROUTE_PROVISION] = "provision", [ROUTE_VARIABLES] = "variables",
    [ROUTE_REMOVE] = "remove", [ROUTE_BY_FIELD] = "by-field",
};

static const char *const route_kinds[_ROUTE_MAX] = {
    [ROUTE_PROVISION] = "activation.provision",
    [ROUTE_VARIABLES] = "activation.variables",
    [ROUTE_REMOVE] = "activation.remove",
};

/* Index of s in names, or -EINVAL when it is not there. */
static int names_lookup(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -EINVAL;
}

/* Name number v of names, or NULL when out of range. */
static const char *names_get(const char *const *names, int n, int v)
{
	return v >= 0 && v < n ? names[v] : NULL;
}

/* Name of an auth scheme, as written in the config file. */
const char *auth_scheme_to_string(enum auth_scheme s)
{
	return names_get(auth_scheme_names, _AUTH_SCHEME_MAX, (int)s);
}

/* Parse an auth scheme name; -EINVAL when unknown. */
int auth_scheme_from_string(const char *s)
{
	return names_lookup(auth_scheme_names, _AUTH_SCHEME_MAX, s);
}

/* Name of an HMAC algorithm. */
const char *hmac_algorithm_to_string(enum hmac_algorithm a)
{
	return names_get(hmac_algorithm_names, _HMAC_ALGORITHM_MAX, (int)a);
}

/* Parse an HMAC algorithm name; -EINVAL when unknown. */
int hmac_algorithm_from_string(const char *s)
{
	return names_lookup(hmac_algorithm_names, _HMAC_ALGORITHM_MAX, s);
}

/* Name of a JWT algorithm. */
const char *jwt_algorithm_to_string(enum jwt_algorithm a)
{
	return names_get(jwt_algorithm_names, _JWT_ALGORITHM_MAX, (int)a);
}

/* Parse a JWT algorithm name ("HS256"); -EINVAL when unknown. */
int jwt_algorithm_from_string(const char *s)
{
	return names_lookup(jwt_algorithm_names, _JWT_ALGORITHM_MAX, s);
}

/* Whether a is one of the HMAC algorithms (a shared secret, not a key pair). */
bool jwt_algorithm_is_hmac(enum jwt_algorithm a)
{
	return a == JWT_ALGORITHM_HS256 || a == JWT_ALGORITHM_HS384 || a == JWT_ALGORITHM_HS512;
}

/* Name of a JWT secret encoding. */
const char *jwt_secret_encoding_to_string(enum jwt_secret_encoding e)
{
	return names_get(jwt_secret_encoding_names, _JWT_SECRET_ENCODING_MAX, (int)e);
}

/* Parse a JWT secret encoding name; -EINVAL when unknown. */
int jwt_secret_encoding_from_string(const char *s)
{
	return names_lookup(jwt_secret_encoding_names, _JWT_SECRET_ENCODING_MAX, s);
}

/* Name of a signature input. */
const char *sig_input_to_string(enum sig_input i)
{
	return names_get(sig_input_names, _SIG_INPUT_MAX, (int)i);
}

/* Parse a signature input name; -EINVAL when unknown. */
int sig_input_from_string(const char *s)
{
	return names_lookup(sig_input_names, _SIG_INPUT_MAX, s);
}

/* Name of a signature encoding. */
const char *sig_encoding_to_string(enum sig_encoding e)
{
	return names_get(sig_encoding_names, _SIG_ENCODING_MAX, (int)e);
}

/* Parse a signature encoding name; -EINVAL when unknown. */
int sig_encoding_from_string(const char *s)
{
	return names_lookup(sig_encoding_names, _SIG_ENCODING_MAX, s);
}

/* Name of an idempotency key origin (the part before ':' in idempotency_key). */
const char *idempotency_from_to_string(enum idempotency_from f)
{
	return names_get(idempotency_from_names, _IDEMPOTENCY_FROM_MAX, (int)f);
}

/* Parse an idempotency key origin name; -EINVAL when unknown. */
int idempotency_from_from_string(const char *s)
{
	return names_lookup(idempotency_from_names, _IDEMPOTENCY_FROM_MAX, s);
}

/* Name of a route. */
const char *route_to_string(enum route r)
{
	return names_get(route_names, _ROUTE_MAX, (int)r);
}

/* The job kind of a route, or NULL. */
const char *route_job_kind(enum route r)
{
	return names_get(route_kinds, _ROUTE_MAX, (int)r);
}

/* Parse a route name; -EINVAL when unknown. */
int route_from_string(const char *s)
{
	return names_lookup(route_names, _ROUTE_MAX, s);
}
