/* A webhook source as configured ([source.NAME] sections): how it authenticates, where its
 * idempotency key is, and what it routes to, with the names of each setting's values. Shared
 * by the configuration loader, the webhook verifier and the ingress; plain data, no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum auth_scheme {
	AUTH_SCHEME_NONE,
	AUTH_SCHEME_HMAC,
	AUTH_SCHEME_STANDARD_WEBHOOKS,
	AUTH_SCHEME_API_KEY,
	AUTH_SCHEME_BEARER,
	AUTH_SCHEME_BASIC,
	AUTH_SCHEME_JWT_BEARER,
	AUTH_SCHEME_OAUTH2,
	AUTH_SCHEME_CERTIFICATE,
	_AUTH_SCHEME_MAX,
};

/* jwt-bearer: the one algorithm a source accepts (never the token's choice). */
enum jwt_algorithm {
	JWT_ALGORITHM_HS256,
	JWT_ALGORITHM_HS384,
	JWT_ALGORITHM_HS512,
	JWT_ALGORITHM_RS256,
	JWT_ALGORITHM_RS384,
	JWT_ALGORITHM_RS512,
	_JWT_ALGORITHM_MAX,
};

/* jwt-bearer: how an HS* secret is written in the configuration. */
enum jwt_secret_encoding {
	JWT_SECRET_ENCODING_BASE64, /* as a Versori connection holds it */
	JWT_SECRET_ENCODING_RAW,    /* the key's bytes as written */
	_JWT_SECRET_ENCODING_MAX,
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

/* What happens to an accepted delivery besides being stored. */
enum route {
	ROUTE_STORE,     /* stored only */
	ROUTE_PROVISION, /* an activation.provision job of one item */
	ROUTE_VARIABLES, /* an activation.variables job of one item */
	ROUTE_REMOVE,    /* an activation.remove job of one item */
	ROUTE_BY_FIELD,  /* a field of the body chooses one of the above (kinds) */
	_ROUTE_MAX,
};

#define SOURCE_MAX_KINDS 16

/* by-field: a value of the kind field and the route it chooses. */
struct route_choice {
	char *value;
	enum route route;
};

#define SOURCE_MAX_SECRETS    8
#define SOURCE_MAX_SIG_INPUTS 2

/* One [source.NAME] section. Strings are owned by the struct config. */
struct source_config {
	char *name;
	enum auth_scheme auth;
	/* Raw secrets as configured, oldest last; several accepted at once for rotation.
	 * standard-webhooks: "whsec_<base64>"; basic: "user:password"; jwt-bearer: the HS*
	 * secret (jwt_secret_encoding), or for RS* one "BEGIN PUBLIC KEY" PEM each (from
	 * jwt_public_key_file); oauth2: "client_id:client_secret" (hookrun serves the token);
	 * others: the value. */
	char *secrets[SOURCE_MAX_SECRETS];
	size_t n_secrets;
	/* hmac */
	enum hmac_algorithm hmac_algorithm;
	enum sig_input hmac_inputs[SOURCE_MAX_SIG_INPUTS];
	size_t n_hmac_inputs;
	enum sig_encoding hmac_encoding;
	char *signature_header; /* header carrying the signature; NULL when query is used */
	char *signature_query;  /* query parameter carrying the signature, or NULL */
	char *signature_prefix; /* e.g. "sha256=", or NULL */
	/* api-key: exactly one of these is set */
	char *api_key_header;
	char *api_key_query;
	char *api_key_cookie; /* the key in this cookie instead (Versori's apiKey.in = cookie) */
	/* standard-webhooks: allowed clock skew, both directions */
	long long tolerance_s;
	/* jwt-bearer */
	enum jwt_algorithm jwt_algorithm;
	enum jwt_secret_encoding jwt_secret_encoding;
	char *jwt_header_prefix; /* "Bearer", "JWT", ...: the Authorization scheme */
	long long jwt_leeway_s;  /* clock skew allowed on exp, nbf and iat */
	bool jwt_require_exp;
	char *jwt_issuer; /* required values of iss, aud (one of them) and sub, or NULL */
	char *jwt_audience;
	char *jwt_subject;
	/* oauth2: how long an access token from POST /oauth/token lasts */
	long long oauth2_token_lifetime_s;
	/* certificate (mTLS): the CA bundle the client's certificate must chain to, and a DNS
	 * name it must carry (or NULL) */
	char *certificate_ca_file;
	char *certificate_subject;
	size_t body_limit;
	enum idempotency_from idempotency_from;
	char *idempotency_name; /* header name or RFC 6901 JSON pointer */
	enum route route;
	/* Routing (any route but store): the job's organisation ([versori.NAME]) and
	 * environment, extra job parameters (a JSON object text: projectId, connections,
	 * dynamicConnections, removeUser), and RFC 6901 pointers into the body. */
	char *organisation;
	char *environment_id;
	char *job_parameters;
	char *external_id_pointer;
	char *display_name_pointer;
	char *variables_pointer;
	char *environment_pointer;
	char *kind_pointer; /* by-field */
	struct route_choice kinds[SOURCE_MAX_KINDS];
	size_t n_kinds;
	bool allow_unauthenticated; /* auth=none is refused unless this is true (local dev) */
};

const char *auth_scheme_to_string(enum auth_scheme s);
int auth_scheme_from_string(const char *s);
const char *hmac_algorithm_to_string(enum hmac_algorithm a);
int hmac_algorithm_from_string(const char *s);
/* "HS256" ... "RS512", as JOSE names them. */
const char *jwt_algorithm_to_string(enum jwt_algorithm a);
int jwt_algorithm_from_string(const char *s);
bool jwt_algorithm_is_hmac(enum jwt_algorithm a);
const char *jwt_secret_encoding_to_string(enum jwt_secret_encoding e);
int jwt_secret_encoding_from_string(const char *s);
const char *sig_encoding_to_string(enum sig_encoding e);
int sig_encoding_from_string(const char *s);
const char *sig_input_to_string(enum sig_input i);
int sig_input_from_string(const char *s);
/* "none", "header" or "json": the part before ':' in idempotency_key. */
const char *idempotency_from_to_string(enum idempotency_from f);
int idempotency_from_from_string(const char *s);
const char *route_to_string(enum route r);
/* The job kind a route creates ("activation.provision"), NULL for store and by-field. */
const char *route_job_kind(enum route r);
int route_from_string(const char *s);
