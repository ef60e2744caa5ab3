/* hookrun configuration: one key table per section type drives INI parsing (libinih),
 * HOOKRUN_* environment overrides, validation, printing and tests/check-config-docs.sh. */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <ini.h>
#include <jansson.h>

#include "crypto.h"
#include "db.h"
#include "log.h"
#include "secret_value.h"
#include "versori_request.h"
#include "webhook_auth.h"
#include "xalloc.h"

#define SECRET_MASK            "********"
#define VALUE_FILE_MAX         ((size_t)64 * 1024)
#define SOURCE_NAME_MAX        63
#define ENV_PREFIX             "HOOKRUN_"
#define ENV_SOURCE_PREFIX      "HOOKRUN_SOURCE_"
#define ENV_VERSORI_PREFIX     "HOOKRUN_VERSORI_"
#define SECTION_SOURCE_PREFIX  "source."
#define SECTION_VERSORI_PREFIX "versori."
#define KIB                    1024LL
#define MIB                    (1024LL * 1024)
#define GIB                    (1024LL * 1024 * 1024)
#define MINUTE                 60LL
#define HOUR                   (60LL * 60)
#define DAY                    (24LL * 60 * 60)

static_assert(sizeof(enum auth_scheme) == sizeof(int), "enums are stored as int");
static_assert(sizeof(enum hmac_algorithm) == sizeof(int), "enums are stored as int");
static_assert(sizeof(enum sig_encoding) == sizeof(int), "enums are stored as int");
static_assert(sizeof(enum route) == sizeof(int), "enums are stored as int");
static_assert(sizeof(enum log_level) == sizeof(int), "enums are stored as int");
static_assert(sizeof(enum log_format) == sizeof(int), "enums are stored as int");

/* How the key table reads and names the values of one enum type. */
struct enum_desc {
	const char *(*to_string)(int v);
	int (*from_string)(const char *s);
	int n;
};

/* auth_scheme_to_string() with an int argument, for the key table. */
static const char *auth_scheme_name(int v)
{
	return auth_scheme_to_string((enum auth_scheme)v);
}

/* hmac_algorithm_to_string() with an int argument, for the key table. */
static const char *hmac_algorithm_name(int v)
{
	return hmac_algorithm_to_string((enum hmac_algorithm)v);
}

/* sig_encoding_to_string() with an int argument, for the key table. */
static const char *sig_encoding_name(int v)
{
	return sig_encoding_to_string((enum sig_encoding)v);
}

/* jwt_algorithm_to_string() with an int argument, for the key table. */
static const char *jwt_algorithm_name(int v)
{
	return jwt_algorithm_to_string((enum jwt_algorithm)v);
}

/* jwt_secret_encoding_to_string() with an int argument, for the key table. */
static const char *jwt_secret_encoding_name(int v)
{
	return jwt_secret_encoding_to_string((enum jwt_secret_encoding)v);
}

/* route_to_string() with an int argument, for the key table. */
static const char *route_name(int v)
{
	return route_to_string((enum route)v);
}

/* log_level_to_string() with an int argument, for the key table. */
static const char *log_level_name(int v)
{
	return log_level_to_string((enum log_level)v);
}

/* log_format_to_string() with an int argument, for the key table. */
static const char *log_format_name(int v)
{
	return log_format_to_string((enum log_format)v);
}

static const struct enum_desc auth_scheme_enum = {auth_scheme_name, auth_scheme_from_string,
                                                  _AUTH_SCHEME_MAX};
static const struct enum_desc hmac_algorithm_enum = {
    hmac_algorithm_name, hmac_algorithm_from_string, _HMAC_ALGORITHM_MAX};
static const struct enum_desc sig_encoding_enum = {sig_encoding_name, sig_encoding_from_string,
                                                   _SIG_ENCODING_MAX};
static const struct enum_desc jwt_algorithm_enum = {jwt_algorithm_name, jwt_algorithm_from_string,
                                                    _JWT_ALGORITHM_MAX};
static const struct enum_desc jwt_secret_encoding_enum = {
    jwt_secret_encoding_name, jwt_secret_encoding_from_string, _JWT_SECRET_ENCODING_MAX};
static const struct enum_desc route_enum = {route_name, route_from_string, _ROUTE_MAX};
static const struct enum_desc log_level_enum = {log_level_name, log_level_from_string,
                                                _LOG_LEVEL_MAX};
static const struct enum_desc log_format_enum = {log_format_name, log_format_from_string,
                                                 _LOG_FORMAT_MAX};

/* The documented value types; the names appear in docs/configuration.md. */
enum key_type {
	KEY_STRING,
	KEY_INT,
	KEY_SIZE,     /* bytes, with optional suffix k/K/KiB, M/MiB, G/GiB */
	KEY_DURATION, /* seconds, with optional suffix s, m, h, d */
	KEY_ENUM,
	KEY_BOOL,
	KEY_PATH, /* a file whose content becomes the value of another key */
	KEY_LIST, /* comma-separated */
};

/* How a value is laid out in its struct; chosen from the field's C type. */
enum key_store {
	STORE_NONE, /* the key has its own setter and printer */
	STORE_STR,
	STORE_INT,
	STORE_LLONG,
	STORE_SIZE,
	STORE_BOOL,
	STORE_ENUM,
};

#define KEY_SECRET     (1u << 0) /* never printed nor quoted in errors */
#define KEY_OPTIONAL   (1u << 1) /* an empty value unsets the key */
#define KEY_REPEATABLE (1u << 2) /* each line adds a value */
#define KEY_TOKEN      (1u << 3) /* must be an HTTP header name */
#define KEY_NOPRINT    (1u << 4) /* *_file keys: printed as the key they fill */
#define KEY_CONNINFO   (1u << 5) /* a libpq URI or key=value string: db_url_mask() */

#define SCHEME(s)      (1u << (s))
#define SCHEMES_ALL    ((1u << _AUTH_SCHEME_MAX) - 1)
#define SCHEMES_SECRET (SCHEMES_ALL & ~SCHEME(AUTH_SCHEME_NONE) & ~SCHEME(AUTH_SCHEME_CERTIFICATE))

#define STORE_OF(type, field)                                                                      \
	_Generic(((type *)0)->field,                                                               \
		char *: STORE_STR,                                                                 \
		int: STORE_INT,                                                                    \
		long long: STORE_LLONG,                                                            \
		size_t: STORE_SIZE,                                                                \
		bool: STORE_BOOL,                                                                  \
		char **: STORE_NONE,                                                               \
		enum sig_input *: STORE_NONE,                                                      \
		struct route_choice *: STORE_NONE,                                                 \
		default: STORE_ENUM)

struct config_key;

/* The key being set, on which object, and whether it was already set in this layer. */
struct key_apply {
	void *base; /* struct config or struct source_config */
	const struct config_key *k;
	bool append;
};

/* Parse value into a->base; on failure return a negative errno and a new problem text. */
typedef int (*key_set_fn)(const struct key_apply *a, const char *value, char **ret_problem);
/* Print the key as INI lines, or nothing when unset. */
typedef void (*key_print_fn)(FILE *f, const struct config_key *k, const void *base);

/* One row of a key table. */
struct config_key {
	const char *name;
	const char *env; /* global: the variable; source: suffix of HOOKRUN_SOURCE_<NAME>_ */
	const char *def; /* default in file syntax; NULL: unset or derived (see help) */
	const struct enum_desc *enums;
	const char *conflicts; /* a key that may not be set in the same layer */
	key_set_fn set;        /* NULL: chosen by type */
	key_print_fn print;    /* NULL: chosen by type */
	const char *help;
	size_t offset;
	long long min, max; /* range in base units: count, bytes or seconds */
	enum key_type type;
	enum key_store store;
	unsigned flags;
	unsigned schemes; /* source keys: the auth schemes the key applies to */
};

/* The first line of every row names the key and its variable (tests/check-config-docs.sh). */
#define GLOBAL_KEY(n, e, field, t)                                                                 \
	.name = (n), .env = (e), .type = (t), .offset = offsetof(struct config, field),            \
	.store = STORE_OF(struct config, field)
#define SOURCE_KEY(n, e, field, t)                                                                 \
	.name = (n), .env = (e), .type = (t), .offset = offsetof(struct source_config, field),     \
	.store = STORE_OF(struct source_config, field)
#define VERSORI_KEY(n, e, field, t)                                                                \
	.name = (n), .env = (e), .type = (t),                                                      \
	.offset = offsetof(struct versori_org_config, field),                                      \
	.store = STORE_OF(struct versori_org_config, field)

static int set_value_file(const struct key_apply *a, const char *value, char **ret_problem);
static int set_secret(const struct key_apply *a, const char *value, char **ret_problem);
static int set_secret_file(const struct key_apply *a, const char *value, char **ret_problem);
static int set_public_key_file(const struct key_apply *a, const char *value, char **ret_problem);
static int set_sig_inputs(const struct key_apply *a, const char *value, char **ret_problem);
static int set_idempotency(const struct key_apply *a, const char *value, char **ret_problem);
static void print_secrets(FILE *f, const struct config_key *k, const void *base);
static void print_sig_inputs(FILE *f, const struct config_key *k, const void *base);
static void print_idempotency(FILE *f, const struct config_key *k, const void *base);
static int set_kinds(const struct key_apply *a, const char *value, char **ret_problem);
static void print_kinds(FILE *f, const struct config_key *k, const void *base);

/* The [hookrun] section; environment HOOKRUN_<KEY>. */
static const struct config_key global_keys[] = {
    {GLOBAL_KEY("listen_addr", "HOOKRUN_LISTEN_ADDR", listen_addr, KEY_STRING), .def = "127.0.0.1",
     .help = "address the ingress HTTP server binds to"},
    {GLOBAL_KEY("listen_port", "HOOKRUN_LISTEN_PORT", listen_port, KEY_INT), .def = "8080",
     .min = 0, .max = 65535, .help = "TCP port of the ingress HTTP server; 0 picks any free port"},
    {GLOBAL_KEY("tls_cert_file", "HOOKRUN_TLS_CERT_FILE", tls_cert_file, KEY_STRING),
     .flags = KEY_OPTIONAL,
     .help = "PEM certificate chain: with tls_key_file, the ingress listener speaks TLS only"},
    {GLOBAL_KEY("tls_key_file", "HOOKRUN_TLS_KEY_FILE", tls_key_file, KEY_STRING),
     .flags = KEY_OPTIONAL, .help = "PEM private key of tls_cert_file (not encrypted)"},
    {GLOBAL_KEY("db_url", "HOOKRUN_DB_URL", db_url, KEY_STRING),
     .flags = KEY_SECRET | KEY_OPTIONAL | KEY_CONNINFO, .conflicts = "db_url_file",
     .help = "PostgreSQL URI or key=value string; required by the services that use it"},
    {GLOBAL_KEY("db_url_file", "HOOKRUN_DB_URL_FILE", db_url, KEY_PATH), .flags = KEY_NOPRINT,
     .conflicts = "db_url", .set = set_value_file,
     .help = "file holding db_url, trailing newline stripped"},
    {GLOBAL_KEY("api_url", "HOOKRUN_API_URL", api_url, KEY_STRING), .def = "http://127.0.0.1:8080",
     .help = "the hookrun CLI: the jobs API it talks to (an ingress, or a proxy before them)"},
    {GLOBAL_KEY("api_token", "HOOKRUN_TOKEN", api_token, KEY_STRING),
     .flags = KEY_SECRET | KEY_OPTIONAL, .conflicts = "api_token_file",
     .help = "the hookrun CLI: its bearer token (from hookrun tokens create)"},
    {GLOBAL_KEY("api_token_file", "HOOKRUN_TOKEN_FILE", api_token, KEY_PATH), .flags = KEY_NOPRINT,
     .conflicts = "api_token", .set = set_value_file,
     .help = "file holding api_token, trailing newline stripped"},
    {GLOBAL_KEY("secrets_key", "HOOKRUN_SECRETS_KEY", secrets_key, KEY_STRING),
     .flags = KEY_SECRET | KEY_OPTIONAL, .conflicts = "secrets_key_file",
     .help = "base64 of 32 random bytes: encrypts secret values (connection credentials, "
             "secret variables) before they are stored; the ingress and the workers share it"},
    {GLOBAL_KEY("secrets_key_file", "HOOKRUN_SECRETS_KEY_FILE", secrets_key, KEY_PATH),
     .flags = KEY_NOPRINT, .conflicts = "secrets_key", .set = set_value_file,
     .help = "file holding secrets_key"},
    {GLOBAL_KEY("secrets_key_previous", "HOOKRUN_SECRETS_KEY_PREVIOUS", secrets_key_previous,
                KEY_STRING),
     .flags = KEY_SECRET | KEY_OPTIONAL, .conflicts = "secrets_key_previous_file",
     .help = "the key before secrets_key, still opening what it encrypted (rotation)"},
    {GLOBAL_KEY("secrets_key_previous_file", "HOOKRUN_SECRETS_KEY_PREVIOUS_FILE",
                secrets_key_previous, KEY_PATH),
     .flags = KEY_NOPRINT, .conflicts = "secrets_key_previous", .set = set_value_file,
     .help = "file holding secrets_key_previous"},
    {GLOBAL_KEY("audit_head_secret", "HOOKRUN_AUDIT_HEAD_SECRET", audit_head_secret, KEY_STRING),
     .flags = KEY_SECRET | KEY_OPTIONAL, .conflicts = "audit_head_secret_file",
     .help = "whsec_<base64>: hookrun audit head --post signs the head it sends with it "
             "(Standard Webhooks)"},
    {GLOBAL_KEY("audit_head_secret_file", "HOOKRUN_AUDIT_HEAD_SECRET_FILE", audit_head_secret,
                KEY_PATH),
     .flags = KEY_NOPRINT, .conflicts = "audit_head_secret", .set = set_value_file,
     .help = "file holding audit_head_secret"},
    {GLOBAL_KEY("db_connections", "HOOKRUN_DB_CONNECTIONS", db_connections, KEY_INT), .def = "2",
     .min = 1, .max = 64, .help = "database connections, each with one group commit in flight"},
    {GLOBAL_KEY("max_backlog", "HOOKRUN_MAX_BACKLOG", max_backlog, KEY_INT), .def = "10000",
     .min = 1, .max = 1000000,
     .help = "requests waiting for a commit before new ones are refused with 503"},
    {GLOBAL_KEY("batch_max_rows", "HOOKRUN_BATCH_MAX_ROWS", batch_max_rows, KEY_INT), .def = "512",
     .min = 1, .max = 5000, .help = "most deliveries written in one commit"},
    {GLOBAL_KEY("batch_max_bytes", "HOOKRUN_BATCH_MAX_BYTES", batch_max_bytes, KEY_SIZE),
     .def = "8MiB", .min = 1, .max = GIB, .help = "most body bytes written in one commit"},
    {GLOBAL_KEY("commit_timeout_ms", "HOOKRUN_COMMIT_TIMEOUT_MS", commit_timeout_ms, KEY_INT),
     .def = "1000", .min = 50, .max = 60000,
     .help = "how long a request waits for its commit before it gets 503"},
    {GLOBAL_KEY("jobs_body_limit", "HOOKRUN_JOBS_BODY_LIMIT", jobs_body_limit, KEY_SIZE),
     .def = "32MiB", .min = 1024, .max = GIB,
     .help = "largest body of a POST /v1/jobs request; larger ones get 413"},
    {GLOBAL_KEY("callback_urls", "HOOKRUN_CALLBACK_URLS", callback_urls, KEY_STRING),
     .flags = KEY_OPTIONAL,
     .help = "comma-separated URL prefixes a job's completion callback may go to; unset: "
             "no callbacks"},
    {GLOBAL_KEY("retry_after_s", "HOOKRUN_RETRY_AFTER_S", retry_after_s, KEY_INT), .def = "1",
     .min = 1, .max = 3600, .help = "Retry-After seconds sent with 503 responses"},
    {GLOBAL_KEY("dedup_window", "HOOKRUN_DEDUP_WINDOW", dedup_window_s, KEY_DURATION), .def = "7d",
     .min = 1, .max = 365 * DAY, .help = "how long an idempotency key suppresses redeliveries"},
    {GLOBAL_KEY("db_reconnect_max_ms", "HOOKRUN_DB_RECONNECT_MAX_MS", db_reconnect_max_ms, KEY_INT),
     .def = "5000", .min = 100, .max = 600000,
     .help = "longest pause between database reconnect attempts"},
    {GLOBAL_KEY("dispatch_listen", "HOOKRUN_DISPATCH_LISTEN", dispatch_listen, KEY_STRING),
     .flags = KEY_OPTIONAL,
     .help = "ZeroMQ endpoint the ingress binds for workers, e.g. tcp://127.0.0.1:7070; "
             "unset: this ingress dispatches no work"},
    {GLOBAL_KEY("lease", "HOOKRUN_LEASE", lease_s, KEY_DURATION), .def = "2m", .min = 1,
     .max = HOUR, .help = "how long a claimed item is a worker's before it is claimed again"},
    {GLOBAL_KEY("dispatch_poll_ms", "HOOKRUN_DISPATCH_POLL_MS", dispatch_poll_ms, KEY_INT),
     .def = "1000", .min = 50, .max = 60000,
     .help = "slow poll for work that no NOTIFY announced (expired leases, retries due)"},
    {GLOBAL_KEY("audit_seal_interval", "HOOKRUN_AUDIT_SEAL_INTERVAL", audit_seal_interval_s,
                KEY_DURATION),
     .def = "10s", .min = 0, .max = HOUR,
     .help = "how often an ingress seals the audit events committed since (0: never)"},
    {GLOBAL_KEY("audit_tally_interval", "HOOKRUN_AUDIT_TALLY_INTERVAL", audit_tally_interval_s,
                KEY_DURATION),
     .def = "1m", .min = 1, .max = HOUR,
     .help = "the period of the audit trail's tallies: refused webhooks and token uses are "
             "written as one row per source and reason (per token) and period"},
    {GLOBAL_KEY("retention_delivery_bodies", "HOOKRUN_RETENTION_DELIVERY_BODIES",
                retention_delivery_bodies_s, KEY_DURATION),
     .def = "0", .min = 0, .max = 3650 * DAY,
     .help = "an ingress empties the bodies of deliveries older than this (at least 1h; 0: "
             "keep them)"},
    {GLOBAL_KEY("retention_finished_items", "HOOKRUN_RETENTION_FINISHED_ITEMS",
                retention_finished_items_s, KEY_DURATION),
     .def = "0", .min = 0, .max = 3650 * DAY,
     .help = "an ingress deletes the items of jobs finished longer ago than this (at least 1h; "
             "0: keep them); the jobs and their counts stay"},
    {GLOBAL_KEY("retention_interval", "HOOKRUN_RETENTION_INTERVAL", retention_interval_s,
                KEY_DURATION),
     .def = "1m", .min = 1, .max = DAY,
     .help = "how often an ingress prunes, 1,000 rows a statement until nothing is left"},
    {GLOBAL_KEY("claim_batch", "HOOKRUN_CLAIM_BATCH", claim_batch, KEY_INT), .def = "256", .min = 1,
     .max = 4096, .help = "most items one claim statement leases"},
    {GLOBAL_KEY("heartbeat_ms", "HOOKRUN_HEARTBEAT_MS", heartbeat_ms, KEY_INT), .def = "1000",
     .min = 50, .max = 60000, .help = "dispatchers and workers send a heartbeat this often"},
    {GLOBAL_KEY("heartbeat_timeout_ms", "HOOKRUN_HEARTBEAT_TIMEOUT_MS", heartbeat_timeout_ms,
                KEY_INT),
     .def = "5000", .min = 150, .max = 600000,
     .help = "a peer silent this long is gone: a worker loses its credits, a dispatcher its "
             "worker's promised slots"},
    {GLOBAL_KEY("dispatchers", "HOOKRUN_DISPATCHERS", dispatchers, KEY_STRING),
     .flags = KEY_OPTIONAL,
     .help = "comma-separated ZeroMQ endpoints of the dispatchers a worker serves; "
             "required by hookrun-worker"},
    {GLOBAL_KEY("worker_name", "HOOKRUN_WORKER_NAME", worker_name, KEY_STRING),
     .flags = KEY_OPTIONAL,
     .help = "the worker's name in leases and audit rows; "
             "default worker-<host>-<pid>"},
    {GLOBAL_KEY("worker_slots", "HOOKRUN_WORKER_SLOTS", worker_slots, KEY_INT), .def = "128",
     .min = 1, .max = 4096, .help = "items one worker runs at once"},
    {GLOBAL_KEY("worker_listen_addr", "HOOKRUN_WORKER_LISTEN_ADDR", worker_listen_addr, KEY_STRING),
     .def = "127.0.0.1", .help = "address of the worker's /healthz, /readyz and /metrics"},
    {GLOBAL_KEY("worker_listen_port", "HOOKRUN_WORKER_LISTEN_PORT", worker_listen_port, KEY_INT),
     .def = "8081", .min = 0, .max = 65535,
     .help = "port of the worker's /healthz, /readyz and /metrics; 0 picks any free port"},
    {GLOBAL_KEY("api_timeout_ms", "HOOKRUN_API_TIMEOUT_MS", api_timeout_ms, KEY_INT),
     .def = "30000", .min = 100, .max = 600000, .help = "longest Versori API call, per attempt"},
    {GLOBAL_KEY("max_attempts", "HOOKRUN_MAX_ATTEMPTS", max_attempts, KEY_INT), .def = "10",
     .min = 1, .max = 1000, .help = "runs of one item before it fails with its last error"},
    {GLOBAL_KEY("max_item_age", "HOOKRUN_MAX_ITEM_AGE", max_item_age_s, KEY_DURATION), .def = "1d",
     .min = 1, .max = 30 * DAY,
     .help = "an item whose job is older than this fails instead of being retried"},
    {GLOBAL_KEY("retry_base_ms", "HOOKRUN_RETRY_BASE_MS", retry_base_ms, KEY_INT), .def = "500",
     .min = 1, .max = 600000, .help = "first retry delay; doubles per attempt, full jitter"},
    {GLOBAL_KEY("retry_max_ms", "HOOKRUN_RETRY_MAX_MS", retry_max_ms, KEY_INT), .def = "300000",
     .min = 1, .max = 86400000, .help = "longest retry delay (a Retry-After may be longer)"},
    {GLOBAL_KEY("drain_timeout_ms", "HOOKRUN_DRAIN_TIMEOUT_MS", drain_timeout_ms, KEY_INT),
     .def = "10000", .min = 0, .max = 600000,
     .help = "after SIGTERM, how long a worker lets its running items finish"},
    {GLOBAL_KEY("log_level", "HOOKRUN_LOG_LEVEL", log_level, KEY_ENUM), .def = "info",
     .enums = &log_level_enum, .help = "least severe level logged: debug, info, warn or error"},
    {GLOBAL_KEY("log_format", "HOOKRUN_LOG_FORMAT", log_format, KEY_ENUM), .def = "logfmt",
     .enums = &log_format_enum, .help = "log line format: logfmt or json"},
};

/* A [source.NAME] section; environment HOOKRUN_SOURCE_<NAME>_<KEY>. */
static const struct config_key source_keys[] = {
    {SOURCE_KEY("auth", "AUTH", auth, KEY_ENUM), .schemes = SCHEMES_ALL, .enums = &auth_scheme_enum,
     .help = "required: none, hmac, standard-webhooks, api-key, bearer, basic, jwt-bearer, "
             "oauth2 or certificate"},
    {SOURCE_KEY("secret", "SECRET", secrets, KEY_STRING), .flags = KEY_SECRET | KEY_REPEATABLE,
     .schemes = SCHEMES_SECRET, .conflicts = "secret_file", .set = set_secret,
     .print = print_secrets, .help = "repeatable; every value is accepted, list the newest first"},
    {SOURCE_KEY("secret_file", "SECRET_FILE", secrets, KEY_PATH), .flags = KEY_NOPRINT,
     .schemes = SCHEMES_SECRET, .conflicts = "secret", .set = set_secret_file,
     .help = "file with one secret per line; blank and # lines ignored; replaces secret"},
    {SOURCE_KEY("hmac_algorithm", "HMAC_ALGORITHM", hmac_algorithm, KEY_ENUM), .def = "sha256",
     .schemes = SCHEME(AUTH_SCHEME_HMAC), .enums = &hmac_algorithm_enum,
     .help = "sha1, sha256 or sha512"},
    {SOURCE_KEY("hmac_inputs", "HMAC_INPUTS", hmac_inputs, KEY_LIST), .def = "body",
     .schemes = SCHEME(AUTH_SCHEME_HMAC), .set = set_sig_inputs, .print = print_sig_inputs,
     .help = "what is signed, in order: body, url or both, e.g. url,body"},
    {SOURCE_KEY("hmac_encoding", "HMAC_ENCODING", hmac_encoding, KEY_ENUM), .def = "hex",
     .schemes = SCHEME(AUTH_SCHEME_HMAC), .enums = &sig_encoding_enum,
     .help = "hex, base64 or base64url"},
    {SOURCE_KEY("signature_header", "SIGNATURE_HEADER", signature_header, KEY_STRING),
     .flags = KEY_OPTIONAL | KEY_TOKEN, .schemes = SCHEME(AUTH_SCHEME_HMAC),
     .help = "header carrying the signature; X-Signature unless signature_query is set"},
    {SOURCE_KEY("signature_query", "SIGNATURE_QUERY", signature_query, KEY_STRING),
     .flags = KEY_OPTIONAL, .schemes = SCHEME(AUTH_SCHEME_HMAC),
     .help = "query parameter carrying the signature instead of a header"},
    {SOURCE_KEY("signature_prefix", "SIGNATURE_PREFIX", signature_prefix, KEY_STRING),
     .flags = KEY_OPTIONAL, .schemes = SCHEME(AUTH_SCHEME_HMAC),
     .help = "text before the signature, e.g. sha256="},
    {SOURCE_KEY("api_key_header", "API_KEY_HEADER", api_key_header, KEY_STRING),
     .flags = KEY_OPTIONAL | KEY_TOKEN, .schemes = SCHEME(AUTH_SCHEME_API_KEY),
     .help = "header carrying the key; X-API-Key unless api_key_query is set"},
    {SOURCE_KEY("api_key_query", "API_KEY_QUERY", api_key_query, KEY_STRING), .flags = KEY_OPTIONAL,
     .schemes = SCHEME(AUTH_SCHEME_API_KEY),
     .help = "query parameter carrying the key instead of a header"},
    {SOURCE_KEY("api_key_cookie", "API_KEY_COOKIE", api_key_cookie, KEY_STRING),
     .flags = KEY_OPTIONAL | KEY_TOKEN, .schemes = SCHEME(AUTH_SCHEME_API_KEY),
     .help = "cookie carrying the key instead of a header (a connection's apiKey.in = cookie)"},
    {SOURCE_KEY("jwt_algorithm", "JWT_ALGORITHM", jwt_algorithm, KEY_ENUM), .def = "HS256",
     .schemes = SCHEME(AUTH_SCHEME_JWT_BEARER), .enums = &jwt_algorithm_enum,
     .help = "the one algorithm accepted, whatever a token's header says: HS256, HS384, "
             "HS512 (secret), RS256, RS384 or RS512 (jwt_public_key_file)"},
    {SOURCE_KEY("jwt_secret_encoding", "JWT_SECRET_ENCODING", jwt_secret_encoding, KEY_ENUM),
     .def = "base64", .schemes = SCHEME(AUTH_SCHEME_JWT_BEARER), .enums = &jwt_secret_encoding_enum,
     .help = "how an HS* secret is written: base64 (as the Versori connection holds it) or raw"},
    {SOURCE_KEY("jwt_public_key_file", "JWT_PUBLIC_KEY_FILE", secrets, KEY_PATH),
     .flags = KEY_NOPRINT, .schemes = SCHEME(AUTH_SCHEME_JWT_BEARER), .set = set_public_key_file,
     .help = "RS*: a PEM file of the senders' RSA public keys (BEGIN PUBLIC KEY), several for "
             "rotation; replaces secret"},
    {SOURCE_KEY("jwt_header_prefix", "JWT_HEADER_PREFIX", jwt_header_prefix, KEY_STRING),
     .def = "Bearer", .schemes = SCHEME(AUTH_SCHEME_JWT_BEARER),
     .help = "the word before the token in Authorization (a connection's "
             "authorizationHeaderPrefix: Bearer, JWT, ...)"},
    {SOURCE_KEY("jwt_leeway", "JWT_LEEWAY", jwt_leeway_s, KEY_DURATION), .def = "30s", .min = 0,
     .max = 3600, .schemes = SCHEME(AUTH_SCHEME_JWT_BEARER),
     .help = "clock skew allowed on exp, nbf and iat"},
    {SOURCE_KEY("jwt_require_exp", "JWT_REQUIRE_EXP", jwt_require_exp, KEY_BOOL), .def = "true",
     .schemes = SCHEME(AUTH_SCHEME_JWT_BEARER),
     .help = "refuse tokens without exp (a connection without expiresIn sends none)"},
    {SOURCE_KEY("jwt_issuer", "JWT_ISSUER", jwt_issuer, KEY_STRING), .flags = KEY_OPTIONAL,
     .schemes = SCHEME(AUTH_SCHEME_JWT_BEARER), .help = "required value of the iss claim"},
    {SOURCE_KEY("jwt_audience", "JWT_AUDIENCE", jwt_audience, KEY_STRING), .flags = KEY_OPTIONAL,
     .schemes = SCHEME(AUTH_SCHEME_JWT_BEARER),
     .help = "a value the aud claim must hold (a string, or one of an array)"},
    {SOURCE_KEY("jwt_subject", "JWT_SUBJECT", jwt_subject, KEY_STRING), .flags = KEY_OPTIONAL,
     .schemes = SCHEME(AUTH_SCHEME_JWT_BEARER), .help = "required value of the sub claim"},
    {SOURCE_KEY("oauth2_token_lifetime", "OAUTH2_TOKEN_LIFETIME", oauth2_token_lifetime_s,
                KEY_DURATION),
     .def = "15m", .min = 1, .max = DAY, .schemes = SCHEME(AUTH_SCHEME_OAUTH2),
     .help = "how long an access token from POST /oauth/token is accepted"},
    {SOURCE_KEY("certificate_ca_file", "CERTIFICATE_CA_FILE", certificate_ca_file, KEY_STRING),
     .flags = KEY_OPTIONAL, .schemes = SCHEME(AUTH_SCHEME_CERTIFICATE),
     .help = "required: PEM file of the CAs a client certificate must chain to"},
    {SOURCE_KEY("certificate_subject", "CERTIFICATE_SUBJECT", certificate_subject, KEY_STRING),
     .flags = KEY_OPTIONAL, .schemes = SCHEME(AUTH_SCHEME_CERTIFICATE),
     .help = "a DNS name the client certificate must carry (subjectAltName, or its CN)"},
    {SOURCE_KEY("tolerance", "TOLERANCE", tolerance_s, KEY_DURATION), .def = "5m", .min = 1,
     .max = DAY, .schemes = SCHEME(AUTH_SCHEME_STANDARD_WEBHOOKS),
     .help = "accepted clock skew of webhook-timestamp, both directions"},
    {SOURCE_KEY("body_limit", "BODY_LIMIT", body_limit, KEY_SIZE), .def = "1MiB", .min = 1,
     .max = 64 * MIB, .schemes = SCHEMES_ALL,
     .help = "largest accepted request body; larger ones get 413"},
    {SOURCE_KEY("idempotency_key", "IDEMPOTENCY_KEY", idempotency_from, KEY_STRING),
     .schemes = SCHEMES_ALL, .set = set_idempotency, .print = print_idempotency,
     .help = "header:<Name>, json:</pointer> or none; default header:webhook-id for "
             "standard-webhooks, header:Idempotency-Key otherwise"},
    {SOURCE_KEY("route", "ROUTE", route, KEY_ENUM), .def = "store", .schemes = SCHEMES_ALL,
     .enums = &route_enum,
     .help = "what an accepted delivery becomes besides a stored row: store, provision, "
             "variables, remove or by-field (a job of one item, in the same commit)"},
    {SOURCE_KEY("organisation", "ORGANISATION", organisation, KEY_STRING), .flags = KEY_OPTIONAL,
     .schemes = SCHEMES_ALL, .help = "routed jobs run against this [versori.NAME]"},
    {SOURCE_KEY("environment_id", "ENVIRONMENT_ID", environment_id, KEY_STRING),
     .flags = KEY_OPTIONAL, .schemes = SCHEMES_ALL,
     .help = "the environment (a ULID) routed jobs act in, unless the body names one"},
    {SOURCE_KEY("job_parameters", "JOB_PARAMETERS", job_parameters, KEY_STRING),
     .flags = KEY_OPTIONAL, .schemes = SCHEMES_ALL, .conflicts = "job_parameters_file",
     .help = "a JSON object added to routed jobs' parameters (projectId, connections, ...)"},
    {SOURCE_KEY("job_parameters_file", "JOB_PARAMETERS_FILE", job_parameters, KEY_PATH),
     .flags = KEY_NOPRINT, .schemes = SCHEMES_ALL, .conflicts = "job_parameters",
     .set = set_value_file, .help = "file holding job_parameters"},
    {SOURCE_KEY("external_id_pointer", "EXTERNAL_ID_POINTER", external_id_pointer, KEY_STRING),
     .def = "/externalId", .schemes = SCHEMES_ALL,
     .help = "JSON pointer to the end user's externalId in the body"},
    {SOURCE_KEY("display_name_pointer", "DISPLAY_NAME_POINTER", display_name_pointer, KEY_STRING),
     .def = "/displayName", .schemes = SCHEMES_ALL,
     .help = "JSON pointer to the end user's display name (optional in the body)"},
    {SOURCE_KEY("variables_pointer", "VARIABLES_POINTER", variables_pointer, KEY_STRING),
     .def = "/variables", .schemes = SCHEMES_ALL,
     .help = "JSON pointer to the variables object (optional in the body)"},
    {SOURCE_KEY("environment_pointer", "ENVIRONMENT_POINTER", environment_pointer, KEY_STRING),
     .def = "/environmentId", .schemes = SCHEMES_ALL,
     .help = "JSON pointer to an environment id overriding environment_id"},
    {SOURCE_KEY("kind_pointer", "KIND_POINTER", kind_pointer, KEY_STRING), .flags = KEY_OPTIONAL,
     .schemes = SCHEMES_ALL, .help = "by-field: JSON pointer to the field that picks the route"},
    {SOURCE_KEY("kinds", "KINDS", kinds, KEY_LIST), .schemes = SCHEMES_ALL, .set = set_kinds,
     .print = print_kinds,
     .help = "by-field: value=route pairs, e.g. customer.created=provision,"
             "customer.deleted=remove"},
    {SOURCE_KEY("allow_unauthenticated", "ALLOW_UNAUTHENTICATED", allow_unauthenticated, KEY_BOOL),
     .def = "false", .schemes = SCHEMES_ALL,
     .help = "must be true for auth=none; local development only"},
};

/* A [versori.NAME] section; environment HOOKRUN_VERSORI_<NAME>_<KEY>. */
static const struct config_key versori_keys[] = {
    {VERSORI_KEY("base_url", "BASE_URL", base_url, KEY_STRING),
     .def = "https://platform.versori.com",
     .help = "scheme://host[:port] of the Versori API (versori-sim locally)"},
    {VERSORI_KEY("organisation_id", "ORGANISATION_ID", organisation_id, KEY_STRING),
     .flags = KEY_OPTIONAL, .help = "required: the organisation's id (a ULID)"},
    {VERSORI_KEY("api_key", "API_KEY", api_key, KEY_STRING), .flags = KEY_SECRET | KEY_OPTIONAL,
     .conflicts = "api_key_file", .help = "an API key, sent as Authorization: Bearer"},
    {VERSORI_KEY("api_key_file", "API_KEY_FILE", api_key, KEY_PATH), .flags = KEY_NOPRINT,
     .conflicts = "api_key", .set = set_value_file, .help = "file holding api_key"},
    {VERSORI_KEY("jwt", "JWT", jwt, KEY_STRING), .flags = KEY_SECRET | KEY_OPTIONAL,
     .conflicts = "jwt_file", .help = "a long-lived JWT, sent as Authorization: JWT"},
    {VERSORI_KEY("jwt_file", "JWT_FILE", jwt, KEY_PATH), .flags = KEY_NOPRINT, .conflicts = "jwt",
     .set = set_value_file, .help = "file holding jwt"},
    {VERSORI_KEY("signing_key", "SIGNING_KEY", signing_key, KEY_STRING),
     .flags = KEY_SECRET | KEY_OPTIONAL, .conflicts = "signing_key_file",
     .help = "PEM RSA private key minting an RS256 JWT per end user (use the _file form)"},
    {VERSORI_KEY("signing_key_file", "SIGNING_KEY_FILE", signing_key, KEY_PATH),
     .flags = KEY_NOPRINT, .conflicts = "signing_key", .set = set_value_file,
     .help = "file holding signing_key"},
    {VERSORI_KEY("signing_key_id", "SIGNING_KEY_ID", signing_key_id, KEY_STRING),
     .flags = KEY_OPTIONAL, .help = "the signing key's id; required with signing_key"},
    {VERSORI_KEY("jwt_subject", "JWT_SUBJECT", jwt_subject, KEY_STRING), .flags = KEY_OPTIONAL,
     .help = "sub of minted JWTs for calls that act for no end user"},
    {VERSORI_KEY("rate_limit", "RATE_LIMIT", rate_limit, KEY_INT), .def = "0", .min = 0,
     .max = 100000, .help = "requests per second to this organisation over all workers; 0: none"},
    {VERSORI_KEY("concurrency", "CONCURRENCY", concurrency, KEY_INT), .def = "16", .min = 1,
     .max = 4096, .help = "items of this organisation in flight over all workers"},
    {VERSORI_KEY("secret_variables", "SECRET_VARIABLES", secret_variables, KEY_STRING),
     .flags = KEY_OPTIONAL,
     .help = "comma-separated variable names whose values are stored encrypted (secrets_key), "
             "as well as those the project's variable schema marks writeOnly or format "
             "password"},
    {VERSORI_KEY("callback_secret", "CALLBACK_SECRET", callback_secret, KEY_STRING),
     .flags = KEY_SECRET | KEY_OPTIONAL, .conflicts = "callback_secret_file",
     .help = "whsec_<base64> secret signing this organisation's completion callbacks "
             "(Standard Webhooks)"},
    {VERSORI_KEY("callback_secret_file", "CALLBACK_SECRET_FILE", callback_secret, KEY_PATH),
     .flags = KEY_NOPRINT, .conflicts = "callback_secret", .set = set_value_file,
     .help = "file holding callback_secret"},
};

#define N_GLOBAL_KEYS    ELEMENTSOF(global_keys)
#define N_SOURCE_KEYS    ELEMENTSOF(source_keys)
#define N_VERSORI_KEYS   ELEMENTSOF(versori_keys)
#define SECTION_KEYS_MAX (N_SOURCE_KEYS > N_VERSORI_KEYS ? N_SOURCE_KEYS : N_VERSORI_KEYS)

/* The kinds of named sections ([source.NAME], [versori.NAME]): their keys and spelling. */
enum section_kind {
	SECTION_SOURCE,
	SECTION_VERSORI,
	_SECTION_KIND_MAX,
};

struct section_type {
	const char *prefix;     /* "source." */
	const char *env_prefix; /* "HOOKRUN_SOURCE_" */
	const char *what;       /* "source": what a section names, for messages */
	const struct config_key *table;
	size_t n;
};

static const struct section_type section_types[_SECTION_KIND_MAX] = {
    [SECTION_SOURCE] = {SECTION_SOURCE_PREFIX, ENV_SOURCE_PREFIX, "source", source_keys,
                        N_SOURCE_KEYS},
    [SECTION_VERSORI] = {SECTION_VERSORI_PREFIX, ENV_VERSORI_PREFIX, "organisation", versori_keys,
                         N_VERSORI_KEYS},
};

/* Variables with the HOOKRUN_ prefix that other tools use; never configuration keys.
 * Listed in docs/configuration.md; HOOKRUN_PG_* belong to deploy/dev/pg. */
static const char *const env_allow_exact[] = {
    "HOOKRUN_CONFIG",     "HOOKRUN_MIGRATIONS_DIR", "HOOKRUN_SOURCE_ROOT",
    "HOOKRUN_BUILD_ROOT", "HOOKRUN_PG_USER",        "HOOKRUN_PG_BINDIR",
};
static const char *const env_allow_prefix[] = {
    "HOOKRUN_TEST_",
    "HOOKRUN_BENCH_",
    "HOOKRUN_DEV_",
};

struct unit {
	const char *suffix;
	long long factor;
};

/* Accepted suffixes; the first of each factor that divides a value is used to print it. */
static const struct unit size_units[] = {
    {"GiB", GIB}, {"G", GIB}, {"MiB", MIB}, {"M", MIB},
    {"KiB", KIB}, {"K", KIB}, {"k", KIB},   {"", 1},
};
static const struct unit duration_units[] = {
    {"d", DAY}, {"h", HOUR}, {"m", MINUTE}, {"s", 1}, {"", 1},
};

/* Whether c is an ASCII letter or digit, whatever the locale. */
static bool ascii_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Whether s is a non-empty RFC 9110 token, as header names are. */
static bool http_token_valid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!ascii_alnum(*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

/* Whether s matches [a-z0-9][a-z0-9_-]{0,62}. */
static bool source_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > SOURCE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		          (i > 0 && (s[i] == '_' || s[i] == '-'));
		if (!ok)
			return false;
	}
	return true;
}

/* Whether s is an RFC 6901 JSON pointer to something below the root. */
static bool json_pointer_valid(const char *s)
{
	if (*s != '/')
		return false;
	for (; *s; s++)
		if (*s == '~' && s[1] != '0' && s[1] != '1')
			return false;
	return true;
}

/* Whether s is base64 (standard alphabet), padded or not, and not empty. */
static bool base64_valid(const char *s)
{
	size_t n = strlen(s), pad = 0;

	while (pad < n && s[n - 1 - pad] == '=')
		pad++;
	if (n == pad || pad > 2)
		return false;
	for (size_t i = 0; i < n - pad; i++)
		if (!ascii_alnum(s[i]) && s[i] != '+' && s[i] != '/')
			return false;
	return pad ? n % 4 == 0 : n % 4 != 1;
}

/* Whether s is a Standard Webhooks secret: "whsec_" and base64. */
static bool whsec_valid(const char *s)
{
	return strncmp(s, "whsec_", 6) == 0 && base64_valid(s + 6);
}

/* Free a string that may hold a secret, wiping it first. */
static void secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* Close a FILE held by a _cleanup_ variable. */
static void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

/* Where the key's value lives in its struct. */
static void *field_ptr(void *base, const struct config_key *k)
{
	return (char *)base + k->offset;
}

/* Read-only variant of field_ptr(). */
static const void *field_cptr(const void *base, const struct config_key *k)
{
	return (const char *)base + k->offset;
}

/* Store an integer into a field of the given layout. */
static void store_integer(void *p, enum key_store st, long long v)
{
	int i = (int)v;

	switch (st) {
	case STORE_INT:
	case STORE_ENUM:
		memcpy(p, &i, sizeof(i));
		break;
	case STORE_LLONG:
		memcpy(p, &v, sizeof(v));
		break;
	case STORE_SIZE:
		*(size_t *)p = (size_t)v;
		break;
	case STORE_BOOL:
		*(bool *)p = v != 0;
		break;
	default:
		assert(!"not an integer field");
	}
}

/* Load an integer from a field of the given layout. */
static long long load_integer(const void *p, enum key_store st)
{
	int i;
	long long v;

	switch (st) {
	case STORE_INT:
	case STORE_ENUM:
		memcpy(&i, p, sizeof(i));
		return i;
	case STORE_LLONG:
		memcpy(&v, p, sizeof(v));
		return v;
	case STORE_SIZE:
		return (long long)*(const size_t *)p;
	case STORE_BOOL:
		return *(const bool *)p;
	default:
		assert(!"not an integer field");
		return 0;
	}
}

/* Parse digits and an optional unit suffix from units; -EINVAL bad syntax, -ERANGE overflow. */
static int number_parse_units(const char *s, const struct unit *units, size_t n_units,
                              long long *ret)
{
	long long v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (LLONG_MAX - (*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (*p - '0');
	}
	for (size_t i = 0; i < n_units; i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (v > LLONG_MAX / units[i].factor)
			return -ERANGE;
		*ret = v * units[i].factor;
		return 0;
	}
	return -EINVAL;
}

/* Parse a value of an integer-like key type. */
static int number_parse(enum key_type type, const char *s, long long *ret)
{
	static const struct unit none[] = {{"", 1}};

	if (type == KEY_SIZE)
		return number_parse_units(s, size_units, ELEMENTSOF(size_units), ret);
	if (type == KEY_DURATION)
		return number_parse_units(s, duration_units, ELEMENTSOF(duration_units), ret);
	return number_parse_units(s, none, ELEMENTSOF(none), ret);
}

/* Format v in the largest unit of its type that divides it exactly. */
static void number_format(enum key_type type, long long v, char *buf, size_t size)
{
	const struct unit *units = type == KEY_SIZE ? size_units : duration_units;
	size_t n = type == KEY_SIZE ? ELEMENTSOF(size_units) : ELEMENTSOF(duration_units);

	if (type == KEY_SIZE || type == KEY_DURATION)
		for (size_t i = 0; i < n && v != 0; i++)
			if (v % units[i].factor == 0) {
				snprintf(buf, size, "%lld%s", v / units[i].factor, units[i].suffix);
				return;
			}
	snprintf(buf, size, "%lld", v);
}

/* What a value of an integer-like key type must look like, for error messages. */
static const char *number_syntax(enum key_type type)
{
	switch (type) {
	case KEY_SIZE:
		return "a size: bytes, or a number with suffix k, K, KiB, M, MiB, G or GiB";
	case KEY_DURATION:
		return "a duration: seconds, or a number with suffix s, m, h or d";
	default:
		return "a non-negative integer";
	}
}

/* Write "a|b|c" for an enum's names into buf. */
static void enum_choices(const struct enum_desc *e, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < e->n && len < size; i++) {
		int w = snprintf(buf + len, size - len, "%s%s", i ? "|" : "", e->to_string(i));
		if (w < 0)
			break;
		len += (size_t)w;
	}
}

/* Setter for int, size and duration keys, with a range check. */
static int set_number(const struct key_apply *a, const char *value, char **ret_problem)
{
	const struct config_key *k = a->k;
	const char *shown = k->flags & KEY_SECRET ? "the value" : value;
	char lo[32], hi[32];
	long long v;
	int r;

	r = number_parse(k->type, value, &v);
	if (r == -EINVAL) {
		*ret_problem = xasprintf("'%s' is not %s", shown, number_syntax(k->type));
		return -EINVAL;
	}
	if (r < 0 || v < k->min || v > k->max) {
		number_format(k->type, k->min, lo, sizeof(lo));
		number_format(k->type, k->max, hi, sizeof(hi));
		*ret_problem = xasprintf("'%s' is out of range %s..%s", shown, lo, hi);
		return -EINVAL;
	}
	store_integer(field_ptr(a->base, k), k->store, v);
	return 0;
}

/* Setter for enum keys. */
static int set_enum(const struct key_apply *a, const char *value, char **ret_problem)
{
	char choices[128];
	int v;

	v = a->k->enums->from_string(value);
	if (v < 0) {
		enum_choices(a->k->enums, choices, sizeof(choices));
		*ret_problem = xasprintf("'%s' is not one of %s", value, choices);
		return -EINVAL;
	}
	store_integer(field_ptr(a->base, a->k), STORE_ENUM, v);
	return 0;
}

/* Setter for bool keys: true/false, yes/no, on/off, 1/0 in any case. */
static int set_bool(const struct key_apply *a, const char *value, char **ret_problem)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			store_integer(field_ptr(a->base, a->k), STORE_BOOL, 1);
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			store_integer(field_ptr(a->base, a->k), STORE_BOOL, 0);
			return 0;
		}
	}
	*ret_problem = xasprintf("'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", value);
	return -EINVAL;
}

/* Setter for string keys; an empty value unsets optional ones. */
static int set_string(const struct key_apply *a, const char *value, char **ret_problem)
{
	const struct config_key *k = a->k;
	char **p = field_ptr(a->base, k);

	if (!*value && !(k->flags & KEY_OPTIONAL)) {
		*ret_problem = xstrdup("must not be empty");
		return -EINVAL;
	}
	if (*value && (k->flags & KEY_TOKEN) && !http_token_valid(value)) {
		*ret_problem = xasprintf("'%s' is not a valid HTTP header name", value);
		return -EINVAL;
	}
	secret_free(*p);
	*p = *value ? xstrdup(value) : NULL;
	return 0;
}

/* The setter of a key: its own, or the one for its type. */
static key_set_fn key_setter(const struct config_key *k)
{
	if (k->set)
		return k->set;
	switch (k->type) {
	case KEY_INT:
	case KEY_SIZE:
	case KEY_DURATION:
		return set_number;
	case KEY_ENUM:
		return set_enum;
	case KEY_BOOL:
		return set_bool;
	default:
		return set_string;
	}
}

/* Read a whole small file into a new NUL-terminated string. */
static int file_read_small(const char *path, char **ret, char **ret_problem)
{
	_cleanup_(fclosep) FILE *f = NULL;
	char *buf;
	size_t n;

	f = fopen(path, "re");
	if (!f) {
		int e = errno, r = e > 0 ? -e : -EIO;
		*ret_problem = xasprintf("cannot open '%s': %s", path, strerror(-r));
		return r;
	}
	buf = xmalloc(VALUE_FILE_MAX + 1);
	n = fread(buf, 1, VALUE_FILE_MAX + 1, f);
	if (ferror(f) || n > VALUE_FILE_MAX || memchr(buf, '\0', n)) {
		int r = ferror(f) ? -EIO : -EINVAL;
		*ret_problem = xasprintf("cannot use '%s': %s", path,
		                         r == -EIO            ? "read error"
		                         : n > VALUE_FILE_MAX ? "larger than 64KiB"
		                                              : "contains a NUL byte");
		explicit_bzero(buf, VALUE_FILE_MAX + 1);
		free(buf);
		return r;
	}
	buf[n] = '\0';
	*ret = buf;
	return 0;
}

/* Setter for *_file keys holding one value: the file's content without trailing newlines. */
static int set_value_file(const struct key_apply *a, const char *value, char **ret_problem)
{
	char **p = field_ptr(a->base, a->k);
	char *text = NULL;
	size_t n;
	int r;

	r = file_read_small(value, &text, ret_problem);
	if (r < 0)
		return r;
	assert(text);
	n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		text[--n] = '\0';
	if (n == 0) {
		secret_free(text);
		*ret_problem = xasprintf("'%s' is empty", value);
		return -EINVAL;
	}
	secret_free(*p);
	*p = text;
	return 0;
}

/* Drop every secret of a source. */
static void secrets_clear(struct source_config *s)
{
	for (size_t i = 0; i < s->n_secrets; i++) {
		secret_free(s->secrets[i]);
		s->secrets[i] = NULL;
	}
	s->n_secrets = 0;
}

/* Append one secret, refusing empty ones and more than SOURCE_MAX_SECRETS. */
static int secrets_add(struct source_config *s, const char *value, char **ret_problem)
{
	if (!*value) {
		*ret_problem = xstrdup("must not be empty");
		return -EINVAL;
	}
	if (s->n_secrets >= SOURCE_MAX_SECRETS) {
		*ret_problem = xasprintf("at most %d secrets are accepted", SOURCE_MAX_SECRETS);
		return -EINVAL;
	}
	s->secrets[s->n_secrets++] = xstrdup(value);
	return 0;
}

/* Setter for secret: the first line of a layer replaces earlier layers, the next ones add. */
static int set_secret(const struct key_apply *a, const char *value, char **ret_problem)
{
	struct source_config *s = a->base;

	if (!a->append)
		secrets_clear(s);
	return secrets_add(s, value, ret_problem);
}

/* Trim ASCII whitespace at both ends of s, in place. */
static char *strip(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Parse a secret file's lines into tmp; blank lines and # comments are skipped. */
static int secret_file_parse(char *text, const char *path, struct source_config *tmp,
                             char **ret_problem)
{
	char *rest = text, *line;
	int r;

	while ((line = strsep(&rest, "\n"))) {
		line = strip(line);
		if (!*line || *line == '#')
			continue;
		r = secrets_add(tmp, line, ret_problem);
		if (r < 0) {
			free(*ret_problem);
			*ret_problem =
			    xasprintf("'%s' holds more than %d secrets", path, SOURCE_MAX_SECRETS);
			return r;
		}
	}
	if (tmp->n_secrets == 0) {
		*ret_problem = xasprintf("'%s' holds no secret", path);
		return -EINVAL;
	}
	return 0;
}

/* Setter for secret_file: the file's secrets replace any others. */
static int set_secret_file(const struct key_apply *a, const char *value, char **ret_problem)
{
	struct source_config *s = a->base;
	struct source_config tmp = {0};
	char *text = NULL;
	int r;

	r = file_read_small(value, &text, ret_problem);
	if (r < 0)
		return r;
	assert(text);
	r = secret_file_parse(text, value, &tmp, ret_problem);
	explicit_bzero(text, VALUE_FILE_MAX + 1);
	free(text);
	if (r < 0) {
		secrets_clear(&tmp);
		return r;
	}
	secrets_clear(s);
	memcpy(s->secrets, tmp.secrets, sizeof(s->secrets));
	s->n_secrets = tmp.n_secrets;
	return 0;
}

/* Add every "BEGIN PUBLIC KEY" block of text to tmp as a secret, in file order. */
static int public_keys_parse(const char *text, const char *path, struct source_config *tmp,
                             char **ret_problem)
{
	static const char begin[] = "-----BEGIN PUBLIC KEY-----";
	static const char end[] = "-----END PUBLIC KEY-----";
	const char *p = text, *b, *e;
	_cleanup_free_ char *block = NULL;
	int r;

	while ((b = strstr(p, begin))) {
		e = strstr(b, end);
		if (!e) {
			*ret_problem =
			    xasprintf("'%s' has a public key without its END line", path);
			return -EINVAL;
		}
		e += strlen(end);
		free(block);
		block = xasprintf("%.*s\n", (int)(e - b), b);
		r = secrets_add(tmp, block, ret_problem);
		if (r < 0) {
			free(*ret_problem);
			*ret_problem =
			    xasprintf("'%s' holds more than %d keys", path, SOURCE_MAX_SECRETS);
			return r;
		}
		p = e;
	}
	if (tmp->n_secrets == 0) {
		*ret_problem =
		    xasprintf("'%s' holds no public key (-----BEGIN PUBLIC KEY-----)", path);
		return -EINVAL;
	}
	return 0;
}

/* Setter for jwt_public_key_file: the file's keys replace any secret. */
static int set_public_key_file(const struct key_apply *a, const char *value, char **ret_problem)
{
	struct source_config *s = a->base;
	struct source_config tmp = {0};
	char *text = NULL;
	int r;

	r = file_read_small(value, &text, ret_problem);
	if (r < 0)
		return r;
	assert(text);
	r = public_keys_parse(text, value, &tmp, ret_problem);
	free(text);
	if (r < 0) {
		secrets_clear(&tmp);
		return r;
	}
	secrets_clear(s);
	memcpy(s->secrets, tmp.secrets, sizeof(s->secrets));
	s->n_secrets = tmp.n_secrets;
	return 0;
}

/* Setter for hmac_inputs: a comma-separated ordered list without repeats. */
static int set_sig_inputs(const struct key_apply *a, const char *value, char **ret_problem)
{
	struct source_config *s = a->base;
	enum sig_input list[_SIG_INPUT_MAX];
	_cleanup_free_ char *copy = xstrdup(value);
	char *rest = copy, *item;
	size_t n = 0;

	while ((item = strsep(&rest, ","))) {
		int v = sig_input_from_string(strip(item));
		if (v < 0) {
			*ret_problem = xasprintf("'%s' is not one of body|url", strip(item));
			return -EINVAL;
		}
		for (size_t i = 0; i < n; i++)
			if (list[i] == (enum sig_input)v) {
				*ret_problem = xasprintf("'%s' is listed twice", strip(item));
				return -EINVAL;
			}
		list[n++] = (enum sig_input)v;
	}
	static_assert(_SIG_INPUT_MAX <= SOURCE_MAX_SIG_INPUTS, "every input fits");
	memcpy(s->hmac_inputs, list, n * sizeof(list[0]));
	s->n_hmac_inputs = n;
	return 0;
}

/* Setter for idempotency_key: header:<Name>, json:</pointer> or none. */
static int set_idempotency(const struct key_apply *a, const char *value, char **ret_problem)
{
	struct source_config *s = a->base;
	enum idempotency_from from;
	const char *name = NULL;

	if (strcmp(value, "none") == 0) {
		from = IDEMPOTENCY_FROM_NONE;
	} else if (strncmp(value, "header:", 7) == 0 && http_token_valid(value + 7)) {
		from = IDEMPOTENCY_FROM_HEADER;
		name = value + 7;
	} else if (strncmp(value, "json:", 5) == 0 && json_pointer_valid(value + 5)) {
		from = IDEMPOTENCY_FROM_JSON_POINTER;
		name = value + 5;
	} else {
		*ret_problem = xasprintf("'%s' is not header:<Name>, json:</pointer> (RFC 6901) "
		                         "or none",
		                         value);
		return -EINVAL;
	}
	free(s->idempotency_name);
	s->idempotency_from = from;
	s->idempotency_name = name ? xstrdup(name) : NULL;
	return 0;
}

/* Apply every key's default to a fresh struct; defaults are valid by construction. */
static void defaults_apply(const struct config_key *table, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *problem = NULL;
		struct key_apply a = {.base = base, .k = &table[i]};
		int r;

		if (!table[i].def)
			continue;
		r = key_setter(&table[i])(&a, table[i].def, &problem);
		assert(r >= 0);
		(void)r;
	}
}

/* Free the strings a key table points into. */
static void strings_free(const struct config_key *table, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		char **p;

		if (table[i].store != STORE_STR || table[i].type == KEY_PATH)
			continue;
		p = field_ptr(base, &table[i]);
		secret_free(*p);
		*p = NULL;
	}
}

/* Forget the by-field choices. */
static void kinds_clear(struct source_config *s)
{
	for (size_t i = 0; i < s->n_kinds; i++)
		free(s->kinds[i].value);
	s->n_kinds = 0;
}

/* Setter for kinds: "value=route,value=route"; routes are provision, variables, remove. */
static int set_kinds(const struct key_apply *a, const char *value, char **ret_problem)
{
	struct source_config *s = a->base;
	_cleanup_free_ char *copy = xstrdup(value);
	char *save = NULL;

	kinds_clear(s);
	for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(p, '=');
		int r;

		while (*p == ' ')
			p++;
		if (!eq || eq == p) {
			*ret_problem = xasprintf("'%s' is not value=route", p);
			goto fail;
		}
		*eq = '\0';
		r = route_from_string(eq + 1 + strspn(eq + 1, " "));
		if (r < 0 || !route_job_kind((enum route)r)) {
			*ret_problem =
			    xasprintf("'%s' is not provision, variables or remove", eq + 1);
			goto fail;
		}
		if (s->n_kinds == SOURCE_MAX_KINDS) {
			*ret_problem = xasprintf("at most %d values", SOURCE_MAX_KINDS);
			goto fail;
		}
		s->kinds[s->n_kinds++] = (struct route_choice){xstrdup(p), (enum route)r};
	}
	return 0;
fail:
	kinds_clear(s);
	return -EINVAL;
}

/* Print kinds as value=route pairs, or nothing when there are none. */
static void print_kinds(FILE *f, const struct config_key *k, const void *base)
{
	const struct source_config *s = base;

	if (s->n_kinds == 0)
		return;
	fprintf(f, "%s = ", k->name);
	for (size_t i = 0; i < s->n_kinds; i++)
		fprintf(f, "%s%s=%s", i ? "," : "", s->kinds[i].value,
		        route_to_string(s->kinds[i].route));
	fputc('\n', f);
}

/* Free everything one source owns. */
static void source_fini(struct source_config *s)
{
	strings_free(source_keys, N_SOURCE_KEYS, s);
	secrets_clear(s);
	kinds_clear(s);
	free(s->idempotency_name);
	free(s->name);
}

/* Free a configuration; NULL is fine. */
void config_free(struct config *c)
{
	if (!c)
		return;
	strings_free(global_keys, N_GLOBAL_KEYS, c);
	for (size_t i = 0; i < c->n_sources; i++)
		source_fini(&c->sources[i]);
	free(c->sources);
	for (size_t i = 0; i < c->n_versori; i++) {
		strings_free(versori_keys, N_VERSORI_KEYS, &c->versori[i]);
		free(c->versori[i].name);
	}
	free(c->versori);
	free(c);
}

/* Look a source up by name. */
const struct source_config *config_source_find(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_sources; i++)
		if (strcmp(c->sources[i].name, name) == 0)
			return &c->sources[i];
	return NULL;
}

/* Look a Versori organisation up by name. */
const struct versori_org_config *config_versori_find(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_versori; i++)
		if (strcmp(c->versori[i].name, name) == 0)
			return &c->versori[i];
	return NULL;
}

/* Print a string key unless unset, masking it when secret. */
static void print_string(FILE *f, const struct config_key *k, const char *s)
{
	_cleanup_free_ char *masked = NULL;

	if (!s)
		return;
	if (k->flags & KEY_SECRET)
		masked = k->flags & KEY_CONNINFO ? db_url_mask(s) : xstrdup(SECRET_MASK);
	fprintf(f, "%s = %s\n", k->name, masked ? masked : s);
}

/* Print a key with the printer of its type. */
static void print_value(FILE *f, const struct config_key *k, const void *base)
{
	const void *p = field_cptr(base, k);
	char buf[32];

	switch (k->type) {
	case KEY_STRING:
		print_string(f, k, *(char *const *)p);
		break;
	case KEY_INT:
		fprintf(f, "%s = %lld\n", k->name, load_integer(p, k->store));
		break;
	case KEY_SIZE:
	case KEY_DURATION:
		number_format(k->type, load_integer(p, k->store), buf, sizeof(buf));
		fprintf(f, "%s = %s\n", k->name, buf);
		break;
	case KEY_ENUM:
		fprintf(f, "%s = %s\n", k->name,
		        k->enums->to_string((int)load_integer(p, STORE_ENUM)));
		break;
	case KEY_BOOL:
		fprintf(f, "%s = %s\n", k->name, load_integer(p, STORE_BOOL) ? "true" : "false");
		break;
	default:
		break;
	}
}

/* Print one masked secret line per configured secret. */
static void print_secrets(FILE *f, const struct config_key *k, const void *base)
{
	const struct source_config *s = base;

	for (size_t i = 0; i < s->n_secrets; i++)
		fprintf(f, "%s = " SECRET_MASK "\n", k->name);
}

/* Print hmac_inputs as its comma-separated list. */
static void print_sig_inputs(FILE *f, const struct config_key *k, const void *base)
{
	const struct source_config *s = base;

	fprintf(f, "%s = ", k->name);
	for (size_t i = 0; i < s->n_hmac_inputs; i++)
		fprintf(f, "%s%s", i ? "," : "", sig_input_to_string(s->hmac_inputs[i]));
	fputc('\n', f);
}

/* Print idempotency_key in the syntax it is written in. */
static void print_idempotency(FILE *f, const struct config_key *k, const void *base)
{
	const struct source_config *s = base;

	if (s->idempotency_from == IDEMPOTENCY_FROM_NONE)
		fprintf(f, "%s = none\n", k->name);
	else
		fprintf(f, "%s = %s:%s\n", k->name, idempotency_from_to_string(s->idempotency_from),
		        s->idempotency_name);
}

/* Print the keys of one section; source keys only when they apply to the scheme. */
static void keys_print(FILE *f, const struct config_key *table, size_t n, const void *base,
                       unsigned scheme)
{
	for (size_t i = 0; i < n; i++) {
		const struct config_key *k = &table[i];

		if ((k->flags & KEY_NOPRINT) || (k->schemes && !(k->schemes & scheme)))
			continue;
		if (k->print)
			k->print(f, k, base);
		else
			print_value(f, k, base);
	}
}

/* Write the effective configuration as INI with every secret masked. */
void config_print(const struct config *c, FILE *f)
{
	fputs("[hookrun]\n", f);
	keys_print(f, global_keys, N_GLOBAL_KEYS, c, 0);
	for (size_t i = 0; i < c->n_sources; i++) {
		const struct source_config *s = &c->sources[i];

		fprintf(f, "\n[source.%s]\n", s->name);
		keys_print(f, source_keys, N_SOURCE_KEYS, s, SCHEME(s->auth));
	}
	for (size_t i = 0; i < c->n_versori; i++) {
		fprintf(f, "\n[versori.%s]\n", c->versori[i].name);
		keys_print(f, versori_keys, N_VERSORI_KEYS, &c->versori[i], 0);
	}
}

int config_digest(const struct config *c, char hex[static 65])
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int r;

	if (!f)
		return -errno;
	config_print(c, f);
	if (fclose(f) != 0) {
		free(text);
		return -EIO;
	}
	r = crypto_sha256_hex(text, len, hex);
	free(text);
	return r;
}

/* Loading state. */

enum {
	LAYER_DEFAULT,
	LAYER_FILE,
	LAYER_ENV,
};

/* Where a value came from: a line of the file, an environment entry, or neither (default). */
struct origin {
	int line;
	const char *env; /* the "NAME=value" entry of envp */
};

struct key_state {
	int layer;
	struct origin origin;
};

/* A named section being loaded: [source.NAME] or [versori.NAME]. */
struct source_state {
	char *section; /* "source.NAME" */
	struct origin origin;
	struct key_state keys[SECTION_KEYS_MAX];
};

#define TARGET_GLOBAL (-1)
#define TARGET_NONE   (-2)

struct load_ctx {
	const char *path;
	unsigned flags; /* CONFIG_LOAD_* */
	struct config *c;
	struct source_state *ss; /* parallel to c->sources */
	size_t n_ss;
	struct source_state *vs; /* parallel to c->versori */
	size_t n_vs;
	struct key_state global[N_GLOBAL_KEYS];
	struct origin global_origin;
	int layer;
	struct origin cur;
	char *section;  /* the section inih is in, as it names it */
	ssize_t target; /* TARGET_GLOBAL, TARGET_NONE or an index of target_kind's sections */
	enum section_kind target_kind;
	FILE *f;
	char *line;
	size_t line_cap;
	int r;
	char *error;
	int error_line;
};

/* The keys of one section being loaded. */
struct key_target {
	const struct config_key *table;
	size_t n;
	struct key_state *states;
	void *base;
	const char *section;
};

/* Free the loader's own state (not the config). */
static void ctx_fini(struct load_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_ss; i++)
		free(ctx->ss[i].section);
	free(ctx->ss);
	for (size_t i = 0; i < ctx->n_vs; i++)
		free(ctx->vs[i].section);
	free(ctx->vs);
	free(ctx->section);
	free(ctx->line);
	free(ctx->error);
}

/* "path:line: ", "VARIABLE: " or "" for a value's origin. */
static char *origin_format(const struct load_ctx *ctx, const struct origin *o)
{
	if (o && o->env)
		return xasprintf("%.*s: ", (int)strcspn(o->env, "="), o->env);
	if (o && o->line > 0)
		return xasprintf("%s:%d: ", ctx->path, o->line);
	return xstrdup("");
}

/* Record the first error as "<origin>: [section] <message>" and return r. */
static _printf_(5, 6) int ctx_fail(struct load_ctx *ctx, int r, const struct origin *o,
                                   const char *section, const char *fmt, ...)
{
	_cleanup_free_ char *where = NULL, *msg = NULL;
	va_list ap;

	if (ctx->error)
		return ctx->r;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	where = origin_format(ctx, o);
	if (section)
		ctx->error = xasprintf("%s[%s] %s", where, section, msg);
	else
		ctx->error = xasprintf("%s%s", where, msg);
	ctx->r = r;
	ctx->error_line = o && !o->env ? o->line : 0;
	return r;
}

/* Index of the key called name in table, or -1. */
static ssize_t key_find(const struct config_key *table, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n; i++)
		if (strcmp(table[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* Index of the key whose env column is name, or -1. */
static ssize_t key_find_env(const struct config_key *table, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(table[i].env, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* The [hookrun] keys as a target. */
static struct key_target target_global(struct load_ctx *ctx)
{
	return (struct key_target){global_keys, N_GLOBAL_KEYS, ctx->global, ctx->c, "hookrun"};
}

/* The loading states of the sections of one kind, and their number. */
static struct source_state *named_states(struct load_ctx *ctx, enum section_kind kind,
                                         size_t *ret_n)
{
	*ret_n = kind == SECTION_SOURCE ? ctx->c->n_sources : ctx->c->n_versori;
	return kind == SECTION_SOURCE ? ctx->ss : ctx->vs;
}

/* The name of section i of a kind. */
static const char *named_name(const struct load_ctx *ctx, enum section_kind kind, size_t i)
{
	return kind == SECTION_SOURCE ? ctx->c->sources[i].name : ctx->c->versori[i].name;
}

/* The keys of section i of a kind as a target. */
static struct key_target target_named(struct load_ctx *ctx, enum section_kind kind, size_t i)
{
	const struct section_type *t = &section_types[kind];
	size_t n;
	struct source_state *st = named_states(ctx, kind, &n);
	void *base =
	    kind == SECTION_SOURCE ? (void *)&ctx->c->sources[i] : (void *)&ctx->c->versori[i];

	assert(st && i < n);
	return (struct key_target){t->table, t->n, st[i].keys, base, st[i].section};
}

/* Set key i of t from value at the current origin, enforcing repeat and conflict rules. */
static int ctx_apply(struct load_ctx *ctx, const struct key_target *t, size_t i, const char *value)
{
	const struct config_key *k = &t->table[i];
	struct key_state *ks = &t->states[i];
	ssize_t other = key_find(t->table, t->n, k->conflicts);
	struct key_apply a = {.base = t->base, .k = k, .append = ks->layer == ctx->layer};
	_cleanup_free_ char *problem = NULL;
	int r;

	if (a.append && !(k->flags & KEY_REPEATABLE))
		return ctx_fail(ctx, -EINVAL, &ctx->cur, t->section, "%s: set more than once",
		                k->name);
	if (other >= 0 && t->states[other].layer == ctx->layer)
		return ctx_fail(ctx, -EINVAL, &ctx->cur, t->section,
		                "%s: cannot be combined with %s; set one of them", k->name,
		                k->conflicts);
	r = key_setter(k)(&a, value, &problem);
	if (r < 0)
		return ctx_fail(ctx, r, &ctx->cur, t->section, "%s: %s", k->name, problem);
	*ks = (struct key_state){.layer = ctx->layer, .origin = ctx->cur};
	if (other >= 0)
		t->states[other] = (struct key_state){0};
	return 0;
}

/* Append a section of a kind called name to the config and to the loading state. */
static size_t ctx_named_append(struct load_ctx *ctx, enum section_kind kind, const char *name)
{
	struct config *c = ctx->c;
	struct source_state st = {
	    .section = xasprintf("%s%s", section_types[kind].prefix, name),
	    .origin = ctx->cur,
	};

	if (kind == SECTION_SOURCE) {
		c->sources = xreallocarray(c->sources, c->n_sources + 1, sizeof(*c->sources));
		ctx->ss = xreallocarray(ctx->ss, c->n_sources + 1, sizeof(*ctx->ss));
		c->sources[c->n_sources] = (struct source_config){.name = xstrdup(name)};
		ctx->ss[c->n_sources] = st;
		ctx->n_ss = c->n_sources + 1;
		defaults_apply(source_keys, N_SOURCE_KEYS, &c->sources[c->n_sources]);
		return c->n_sources++;
	}
	c->versori = xreallocarray(c->versori, c->n_versori + 1, sizeof(*c->versori));
	ctx->vs = xreallocarray(ctx->vs, c->n_versori + 1, sizeof(*ctx->vs));
	c->versori[c->n_versori] = (struct versori_org_config){.name = xstrdup(name)};
	ctx->vs[c->n_versori] = st;
	ctx->n_vs = c->n_versori + 1;
	defaults_apply(versori_keys, N_VERSORI_KEYS, &c->versori[c->n_versori]);
	return c->n_versori++;
}

/* Start a named section: check the name, refuse repeats, fill defaults. */
static int ctx_named_add(struct load_ctx *ctx, enum section_kind kind, const char *name)
{
	const char *prefix = section_types[kind].prefix;
	size_t n;
	struct source_state *st = named_states(ctx, kind, &n);

	if (!source_name_valid(name))
		return ctx_fail(ctx, -EINVAL, &ctx->cur, NULL,
		                "[%s%s] invalid %s name: it must match [a-z0-9][a-z0-9_-]{0,62}",
		                prefix, name, section_types[kind].what);
	for (size_t i = 0; i < n; i++)
		if (strcmp(named_name(ctx, kind, i), name) == 0)
			return ctx_fail(ctx, -EINVAL, &ctx->cur, NULL,
			                "duplicate section [%s%s] (first at line %d)", prefix, name,
			                st[i].origin.line);
	return (int)ctx_named_append(ctx, kind, name);
}

/* Enter a section of the file at the current line. */
static void ctx_section_enter(struct load_ctx *ctx, const char *section)
{
	free(ctx->section);
	ctx->section = xstrdup(section);
	ctx->target = TARGET_NONE;
	if (strcmp(section, "hookrun") == 0) {
		if (ctx->global_origin.line > 0) {
			(void)ctx_fail(ctx, -EINVAL, &ctx->cur, NULL,
			               "duplicate section [hookrun] (first at line %d)",
			               ctx->global_origin.line);
			return;
		}
		ctx->global_origin = ctx->cur;
		ctx->target = TARGET_GLOBAL;
		return;
	}
	for (int kind = 0; kind < _SECTION_KIND_MAX; kind++) {
		const char *prefix = section_types[kind].prefix;

		if (strncmp(section, prefix, strlen(prefix)) == 0) {
			int i =
			    ctx_named_add(ctx, (enum section_kind)kind, section + strlen(prefix));
			ctx->target_kind = (enum section_kind)kind;
			if (i >= 0)
				ctx->target = i;
			return;
		}
	}
	(void)ctx_fail(ctx, -EINVAL, &ctx->cur, NULL,
	               "unknown section [%s] (expected [hookrun], [source.NAME] or "
	               "[versori.NAME])",
	               section);
}

/* ini_reader: hand inih one line at a time, counting lines and tracking sections itself:
 * inih reports neither empty nor repeated sections and truncates long section names. */
static char *ctx_read_line(char *buf, int size, void *userdata)
{
	struct load_ctx *ctx = userdata;
	ssize_t n;
	char *end;

	n = getline(&ctx->line, &ctx->line_cap, ctx->f);
	if (n < 0 || size < 2)
		return NULL;
	ctx->cur = (struct origin){.line = ctx->cur.line + 1};
	if (n >= size) {
		(void)ctx_fail(
		    ctx, -EINVAL, &ctx->cur, NULL,
		    "line is longer than %d characters (use a *_file key for long values)",
		    size - 2);
		n = size - 1;
	}
	memcpy(buf, ctx->line, (size_t)n);
	buf[n] = '\0';
	if (buf[strspn(buf, " \t")] == '[' && buf[0] != '[')
		(void)ctx_fail(ctx, -EINVAL, &ctx->cur, NULL,
		               "indented section header: it would continue the previous value");
	end = strchr(buf, ']');
	if (!ctx->error && buf[0] == '[' && end) {
		_cleanup_free_ char *section = xstrndup(buf + 1, (size_t)(end - buf - 1));
		ctx_section_enter(ctx, section);
	}
	return buf;
}

/* ini_handler: one "key = value" line of the section ctx_read_line() last entered. */
static int ctx_ini_handler(void *user, const char *section _unused_, const char *name,
                           const char *value)
{
	struct load_ctx *ctx = user;
	struct key_target t;
	ssize_t i;

	if (ctx->error)
		return 0;
	if (!ctx->section)
		return ctx_fail(ctx, -EINVAL, &ctx->cur, NULL,
		                "key '%s' is outside any section (global keys go under [hookrun])",
		                name) >= 0;
	if (ctx->target == TARGET_NONE)
		return 0;
	t = ctx->target == TARGET_GLOBAL ? target_global(ctx)
	                                 : target_named(ctx, ctx->target_kind, (size_t)ctx->target);
	i = key_find(t.table, t.n, name);
	if (i < 0)
		return ctx_fail(ctx, -EINVAL, &ctx->cur, t.section, "unknown key '%s'", name) >= 0;
	return ctx_apply(ctx, &t, (size_t)i, value) >= 0;
}

/* Parse the INI file; its first problem becomes the error. */
static int ctx_parse_file(struct load_ctx *ctx)
{
	int r;

	ctx->f = fopen(ctx->path, "re");
	if (!ctx->f) {
		int e = errno;

		r = e > 0 ? -e : -EIO;
		return ctx_fail(ctx, r, NULL, NULL, "%s: cannot open: %s", ctx->path, strerror(-r));
	}
	ctx->layer = LAYER_FILE;
	r = ini_parse_stream(ctx_read_line, ctx, ctx_ini_handler, ctx);
	if (ferror(ctx->f) && !ctx->error)
		(void)ctx_fail(ctx, -EIO, NULL, NULL, "%s: read error", ctx->path);
	fclose(ctx->f);
	ctx->f = NULL;
	if (r > 0 && (!ctx->error || (ctx->error_line > 0 && r < ctx->error_line))) {
		free(ctx->error);
		ctx->error = NULL;
		return ctx_fail(ctx, -EINVAL, &(struct origin){.line = r}, NULL,
		                "syntax error: expected 'key = value' or '[section]'");
	}
	if (r < 0 && !ctx->error)
		return ctx_fail(ctx, -ENOMEM, NULL, NULL, "%s: out of memory", ctx->path);
	return ctx->error ? ctx->r : 0;
}

/* Write the environment spelling of a source name: upper case, '-' and '.' as '_'. */
static void source_env_name(const char *name, char *buf, size_t size)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < size; i++) {
		char ch = name[i];

		if (ch == '-' || ch == '.')
			ch = '_';
		else if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		buf[i] = ch;
	}
	buf[i] = '\0';
}

/* Refuse sections of one kind whose variables would be indistinguishable (foo-bar and
 * foo_bar). */
static int ctx_check_env_names_of(struct load_ctx *ctx, enum section_kind kind)
{
	char a[SOURCE_NAME_MAX + 1], b[SOURCE_NAME_MAX + 1];
	size_t n;
	struct source_state *st = named_states(ctx, kind, &n);

	assert(st || n == 0);
	for (size_t i = 0; i < n; i++) {
		source_env_name(named_name(ctx, kind, i), a, sizeof(a));
		for (size_t j = i + 1; j < n; j++) {
			source_env_name(named_name(ctx, kind, j), b, sizeof(b));
			if (strcmp(a, b) == 0)
				return ctx_fail(
				    ctx, -EINVAL, &st[j].origin, st[j].section,
				    "has the same variable prefix %s%s_ as [%s]; rename one",
				    section_types[kind].env_prefix, b, st[i].section);
		}
	}
	return 0;
}

/* The same for every kind of named section. */
static int ctx_check_env_names(struct load_ctx *ctx)
{
	for (int kind = 0; kind < _SECTION_KIND_MAX; kind++) {
		int r = ctx_check_env_names_of(ctx, (enum section_kind)kind);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The key part of rest ("<NAME>_<KEY>") when it starts with this source's name, else NULL. */
static const char *source_env_suffix(const char *name, const char *rest)
{
	char up[SOURCE_NAME_MAX + 1];
	size_t n;

	source_env_name(name, up, sizeof(up));
	n = strlen(up);
	if (strncmp(rest, up, n) != 0 || rest[n] != '_')
		return NULL;
	return rest + n + 1;
}

/* Apply HOOKRUN_SOURCE_<NAME>_<KEY> or HOOKRUN_VERSORI_<NAME>_<KEY>, rest being
 * "<NAME>_<KEY>". */
static int ctx_env_apply_named(struct load_ctx *ctx, enum section_kind kind, const char *rest,
                               const char *value)
{
	const struct section_type *type = &section_types[kind];
	ssize_t near = -1, hit = -1, key = -1;
	size_t n;
	struct source_state *st = named_states(ctx, kind, &n);

	assert(st || n == 0);
	for (size_t i = 0; i < n; i++) {
		const char *suffix = source_env_suffix(named_name(ctx, kind, i), rest);
		ssize_t k;

		if (!suffix)
			continue;
		near = (ssize_t)i;
		k = key_find_env(type->table, type->n, suffix);
		if (k < 0)
			continue;
		if (hit >= 0)
			return ctx_fail(ctx, -EINVAL, &ctx->cur, NULL,
			                "ambiguous: matches both [%s] and [%s]", st[hit].section,
			                st[i].section);
		hit = (ssize_t)i;
		key = k;
	}
	if (hit >= 0) {
		struct key_target t = target_named(ctx, kind, (size_t)hit);
		return ctx_apply(ctx, &t, (size_t)key, value);
	}
	if (near >= 0)
		return ctx_fail(ctx, -EINVAL, &ctx->cur, st[near].section, "unknown key '%s'",
		                source_env_suffix(named_name(ctx, kind, (size_t)near), rest));
	return ctx_fail(ctx, -EINVAL, &ctx->cur, NULL,
	                "no [%sNAME] section matches (such sections are defined in the config "
	                "file)",
	                type->prefix);
}

/* Whether a HOOKRUN_ variable belongs to another tool rather than to the configuration. */
static bool env_allowed(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(env_allow_exact); i++)
		if (strcmp(name, env_allow_exact[i]) == 0)
			return true;
	for (size_t i = 0; i < ELEMENTSOF(env_allow_prefix); i++)
		if (strncmp(name, env_allow_prefix[i], strlen(env_allow_prefix[i])) == 0)
			return true;
	return false;
}

/* Apply one HOOKRUN_ variable. */
static int ctx_env_apply_one(struct load_ctx *ctx, const char *name, const char *value)
{
	ssize_t i = key_find_env(global_keys, N_GLOBAL_KEYS, name);

	if (i >= 0) {
		struct key_target t = target_global(ctx);
		return ctx_apply(ctx, &t, (size_t)i, value);
	}
	for (int kind = 0; kind < _SECTION_KIND_MAX; kind++) {
		const char *prefix = section_types[kind].env_prefix;

		if (strncmp(name, prefix, strlen(prefix)) == 0)
			return ctx_env_apply_named(ctx, (enum section_kind)kind,
			                           name + strlen(prefix), value);
	}
	return ctx_fail(ctx, -EINVAL, &ctx->cur, NULL,
	                "unknown configuration variable (variables of other tools must start "
	                "with HOOKRUN_TEST_, HOOKRUN_BENCH_ or HOOKRUN_DEV_)");
}

/* Apply every HOOKRUN_ variable of envp over the file. */
static int ctx_apply_env(struct load_ctx *ctx, char *const *envp)
{
	ctx->layer = LAYER_ENV;
	for (size_t i = 0; envp[i]; i++) {
		const char *eq = strchr(envp[i], '=');
		_cleanup_free_ char *name = NULL;
		int r;

		if (!eq || strncmp(envp[i], ENV_PREFIX, strlen(ENV_PREFIX)) != 0)
			continue;
		name = xstrndup(envp[i], (size_t)(eq - envp[i]));
		if (env_allowed(name))
			continue;
		ctx->cur = (struct origin){.env = envp[i]};
		r = ctx_env_apply_one(ctx, name, eq + 1);
		if (r < 0)
			return r;
	}
	return 0;
}

/* State of the source key called name. */
static struct key_state *source_key_state(struct source_state *st, const char *name)
{
	ssize_t i = key_find(source_keys, N_SOURCE_KEYS, name);

	assert(i >= 0);
	return &st->keys[i];
}

/* Where the source key called name was set, or the section when it was not. */
static const struct origin *source_key_origin(struct source_state *st, const char *name)
{
	struct key_state *ks = source_key_state(st, name);

	return ks->layer != LAYER_DEFAULT ? &ks->origin : &st->origin;
}

/* Write the names of the schemes in mask as "a|b" into buf. */
static void schemes_format(unsigned mask, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < _AUTH_SCHEME_MAX && len < size; i++) {
		int w;

		if (!(mask & SCHEME(i)))
			continue;
		w = snprintf(buf + len, size - len, "%s%s", len ? "|" : "",
		             auth_scheme_to_string((enum auth_scheme)i));
		if (w < 0)
			break;
		len += (size_t)w;
	}
}

/* auth must be set, auth=none needs the latch, and every key set must apply to auth. */
static int source_check_auth(struct load_ctx *ctx, size_t i)
{
	struct source_config *s = &ctx->c->sources[i];
	struct source_state *st = &ctx->ss[i];
	char buf[128];

	if (source_key_state(st, "auth")->layer == LAYER_DEFAULT) {
		schemes_format(SCHEMES_ALL, buf, sizeof(buf));
		return ctx_fail(ctx, -EINVAL, &st->origin, st->section, "auth: required, one of %s",
		                buf);
	}
	if (s->auth == AUTH_SCHEME_NONE && !s->allow_unauthenticated)
		return ctx_fail(ctx, -EINVAL, source_key_origin(st, "auth"), st->section,
		                "auth: none accepts anyone and is for local development only; "
		                "it also needs allow_unauthenticated = true");
	for (size_t k = 0; k < N_SOURCE_KEYS; k++) {
		if (st->keys[k].layer == LAYER_DEFAULT ||
		    (source_keys[k].schemes & SCHEME(s->auth)))
			continue;
		schemes_format(source_keys[k].schemes, buf, sizeof(buf));
		return ctx_fail(ctx, -EINVAL, &st->keys[k].origin, st->section,
		                "%s: does not apply to auth=%s (only to %s)", source_keys[k].name,
		                auth_scheme_to_string(s->auth), buf);
	}
	return 0;
}

/* Every scheme but none needs secrets, of the shape the scheme expects. */
static int source_check_secrets(struct load_ctx *ctx, size_t i)
{
	struct source_config *s = &ctx->c->sources[i];
	struct source_state *st = &ctx->ss[i];
	const struct origin *o = source_key_origin(st, "secret");

	if (o == &st->origin)
		o = source_key_origin(st, "secret_file");
	if (s->auth == AUTH_SCHEME_NONE || s->auth == AUTH_SCHEME_CERTIFICATE)
		return 0;
	if (s->n_secrets == 0 && (ctx->flags & CONFIG_LOAD_SECRETS_OPTIONAL))
		return 0;
	if (s->n_secrets == 0)
		return ctx_fail(ctx, -EINVAL, o, st->section,
		                "secret: auth=%s needs at least one secret (secret or secret_file)",
		                auth_scheme_to_string(s->auth));
	for (size_t j = 0; j < s->n_secrets; j++) {
		if (s->auth == AUTH_SCHEME_STANDARD_WEBHOOKS && !whsec_valid(s->secrets[j]))
			return ctx_fail(ctx, -EINVAL, o, st->section,
			                "secret: secret #%zu is not a valid whsec_ value "
			                "(whsec_ followed by base64)",
			                j + 1);
		if ((s->auth == AUTH_SCHEME_BASIC || s->auth == AUTH_SCHEME_OAUTH2) &&
		    !strchr(s->secrets[j], ':'))
			return ctx_fail(ctx, -EINVAL, o, st->section,
			                "secret: secret #%zu is not of the form %s", j + 1,
			                s->auth == AUTH_SCHEME_BASIC ? "user:password"
			                                             : "client_id:client_secret");
	}
	return 0;
}

/* The verifier's own view of the finished source: one rule for what a usable secret is. */
static int source_check_verifier(struct load_ctx *ctx, size_t i)
{
	struct source_state *st = &ctx->ss[i];
	const char *problem = NULL;

	if (webhook_auth_source_check(&ctx->c->sources[i], &problem) < 0)
		return ctx_fail(ctx, -EINVAL, &st->origin, st->section, "%s", problem);
	return 0;
}

/* Exactly one of a header or a query key: refuse both, default the header when neither. */
static int source_header_or_query(struct load_ctx *ctx, size_t i, const char *header_key,
                                  const char *query_key, const char *fallback)
{
	struct source_config *s = &ctx->c->sources[i];
	struct source_state *st = &ctx->ss[i];
	ssize_t h = key_find(source_keys, N_SOURCE_KEYS, header_key);
	ssize_t q = key_find(source_keys, N_SOURCE_KEYS, query_key);
	char **header, **query;

	assert(h >= 0 && q >= 0);
	header = field_ptr(s, &source_keys[h]);
	query = field_ptr(s, &source_keys[q]);
	if (*header && *query)
		return ctx_fail(ctx, -EINVAL, source_key_origin(st, query_key), st->section,
		                "%s: cannot be combined with %s; set one of them", query_key,
		                header_key);
	if (!*header && !*query)
		*header = xstrdup(fallback);
	return 0;
}

/* Fill the defaults that depend on auth and refuse contradictory settings. */
static int source_derive(struct load_ctx *ctx, size_t i)
{
	struct source_config *s = &ctx->c->sources[i];
	int r = 0;

	if (s->auth == AUTH_SCHEME_HMAC)
		r = source_header_or_query(ctx, i, "signature_header", "signature_query",
		                           "X-Signature");
	else if (s->auth == AUTH_SCHEME_API_KEY && s->api_key_cookie &&
	         (s->api_key_header || s->api_key_query))
		r = ctx_fail(
		    ctx, -EINVAL, source_key_origin(&ctx->ss[i], "api_key_cookie"),
		    ctx->ss[i].section,
		    "api_key_cookie: cannot be combined with api_key_header or api_key_query; "
		    "set one of them");
	else if (s->auth == AUTH_SCHEME_API_KEY && !s->api_key_cookie)
		r = source_header_or_query(ctx, i, "api_key_header", "api_key_query", "X-API-Key");
	if (r < 0)
		return r;
	if (source_key_state(&ctx->ss[i], "idempotency_key")->layer == LAYER_DEFAULT) {
		s->idempotency_from = IDEMPOTENCY_FROM_HEADER;
		s->idempotency_name = xstrdup(
		    s->auth == AUTH_SCHEME_STANDARD_WEBHOOKS ? "webhook-id" : "Idempotency-Key");
	}
	return 0;
}

/* The routing keys of a source that routes, or none for one that stores only. */
static int source_check_route(struct load_ctx *ctx, size_t i)
{
	static const char *const routing[] = {"organisation",   "environment_id",
	                                      "job_parameters", "job_parameters_file",
	                                      "kind_pointer",   "kinds"};
	static const char *const pointers[] = {"external_id_pointer", "display_name_pointer",
	                                       "variables_pointer", "environment_pointer"};
	const struct source_config *s = &ctx->c->sources[i];
	struct source_state *st = &ctx->ss[i];
	json_error_t jerr;
	json_t *params;

	if (s->route == ROUTE_STORE) {
		for (size_t k = 0; k < ELEMENTSOF(routing); k++)
			if (source_key_state(st, routing[k])->layer != LAYER_DEFAULT)
				return ctx_fail(ctx, -EINVAL, source_key_origin(st, routing[k]),
				                st->section, "%s: does not apply to route = store",
				                routing[k]);
		return 0;
	}
	if (!s->organisation)
		return ctx_fail(ctx, -EINVAL, source_key_origin(st, "route"), st->section,
		                "organisation: required with route = %s",
		                route_to_string(s->route));
	if (ctx->c->n_versori > 0 && !config_versori_find(ctx->c, s->organisation))
		return ctx_fail(ctx, -EINVAL, source_key_origin(st, "organisation"), st->section,
		                "organisation: no [versori.%s] section", s->organisation);
	if (s->environment_id && !versori_ulid_is_valid(s->environment_id))
		return ctx_fail(ctx, -EINVAL, source_key_origin(st, "environment_id"), st->section,
		                "environment_id: not a ULID");
	for (size_t k = 0; k < ELEMENTSOF(pointers); k++) {
		const char *const *p =
		    field_cptr(s, &source_keys[key_find(source_keys, N_SOURCE_KEYS, pointers[k])]);
		if (!json_pointer_valid(*p))
			return ctx_fail(ctx, -EINVAL, source_key_origin(st, pointers[k]),
			                st->section, "%s: not an RFC 6901 JSON pointer",
			                pointers[k]);
	}
	if (s->job_parameters) {
		params = json_loads(s->job_parameters, JSON_REJECT_DUPLICATES, &jerr);
		bool ok = json_is_object(params);
		json_decref(params);
		if (!ok)
			return ctx_fail(ctx, -EINVAL, source_key_origin(st, "job_parameters"),
			                st->section, "job_parameters: not a JSON object");
	}
	if ((s->route == ROUTE_BY_FIELD) != (s->kind_pointer != NULL) ||
	    (s->route == ROUTE_BY_FIELD) != (s->n_kinds > 0))
		return ctx_fail(ctx, -EINVAL, source_key_origin(st, "route"), st->section,
		                "kind_pointer and kinds: both required with route = by-field, and "
		                "only with it");
	if (s->kind_pointer && !json_pointer_valid(s->kind_pointer))
		return ctx_fail(ctx, -EINVAL, source_key_origin(st, "kind_pointer"), st->section,
		                "kind_pointer: not an RFC 6901 JSON pointer");
	return 0;
}

/* A [versori.NAME] section names its organisation and exactly one credential. */
static int versori_check(struct load_ctx *ctx, size_t i)
{
	const struct versori_org_config *v = &ctx->c->versori[i];
	const struct source_state *st;
	int creds = !!v->api_key + !!v->jwt + !!v->signing_key;

	assert(ctx->vs && i < ctx->n_vs);
	st = &ctx->vs[i];
	if (!v->organisation_id || !versori_ulid_is_valid(v->organisation_id))
		return ctx_fail(ctx, -EINVAL, &st->origin, st->section,
		                "organisation_id: required, the organisation's ULID");
	if (strncmp(v->base_url, "http://", 7) != 0 && strncmp(v->base_url, "https://", 8) != 0)
		return ctx_fail(ctx, -EINVAL, &st->origin, st->section,
		                "base_url: must start with http:// or https://");
	/* None is fine for an ingress, which only needs the name and the limits; a worker
	 * refuses to start without one (worker.c). */
	if (creds > 1)
		return ctx_fail(ctx, -EINVAL, &st->origin, st->section,
		                "one credential at most: api_key, jwt or signing_key (or their "
		                "_file forms); %d set",
		                creds);
	if (v->signing_key && !v->signing_key_id)
		return ctx_fail(ctx, -EINVAL, &st->origin, st->section,
		                "signing_key_id: required with signing_key");
	if (v->callback_secret) {
		_cleanup_free_ char *probe =
		    webhook_auth_sign_standard(v->callback_secret, "probe", 0, "", 0);
		if (!probe)
			return ctx_fail(ctx, -EINVAL, &st->origin, st->section,
			                "callback_secret: must be whsec_ followed by base64");
	}
	return 0;
}

/* A worker renews a lease before any change that might outlast it: the lease must be
 * longer than an API call can take, or every change would wait for a renewal. */
static int ctx_check_lease(struct load_ctx *ctx)
{
	const struct config *c = ctx->c;

	if (c->lease_s * 1000 < (long long)c->api_timeout_ms + 1000)
		return ctx_fail(
		    ctx, -EINVAL, NULL, "hookrun",
		    "lease (%llds) must be at least 1 s longer than api_timeout_ms (%d)",
		    c->lease_s, c->api_timeout_ms);
	return 0;
}

int config_secret_keys(const struct config *c, struct secret_keys **ret, char **ret_error)
{
	const char *keys[2] = {c->secrets_key, c->secrets_key_previous};

	*ret = NULL;
	if (!keys[0])
		return 0;
	return secret_keys_new(keys, keys[1] ? 2 : 1, ret, ret_error);
}

/* secrets_key and secrets_key_previous must each be the base64 of 32 bytes, and the previous
 * key needs a current one. */
static int ctx_check_secrets_key(struct load_ctx *ctx)
{
	struct secret_keys *k = NULL;
	_cleanup_free_ char *problem = NULL;

	if (!ctx->c->secrets_key && ctx->c->secrets_key_previous)
		return ctx_fail(ctx, -EINVAL, NULL, "hookrun",
		                "secrets_key_previous is set without secrets_key");
	if (config_secret_keys(ctx->c, &k, &problem) < 0)
		return ctx_fail(ctx, -EINVAL, NULL, "hookrun",
		                "%s: not the base64 of 32 bytes (make one with: head -c 32 "
		                "/dev/urandom | base64)",
		                strstr(problem, "key 2") ? "secrets_key_previous" : "secrets_key");
	secret_keys_free(k);
	return 0;
}

/* TLS takes a certificate and its key. */
static int ctx_check_tls(struct load_ctx *ctx)
{
	const struct config *c = ctx->c;

	if (!c->tls_cert_file != !c->tls_key_file)
		return ctx_fail(ctx, -EINVAL, NULL, "hookrun",
		                "tls_cert_file and tls_key_file: set both (TLS) or neither");
	return 0;
}

/* A certificate source takes a CA file and the TLS listener. */
static int source_check_certificate(struct load_ctx *ctx, size_t i)
{
	const struct source_config *s = &ctx->c->sources[i];

	if (s->auth != AUTH_SCHEME_CERTIFICATE)
		return 0;
	if (!s->certificate_ca_file)
		return ctx_fail(ctx, -EINVAL, NULL, ctx->ss[i].section,
		                "certificate_ca_file: auth=certificate needs the CAs its clients' "
		                "certificates chain to");
	if (!ctx->c->tls_cert_file)
		return ctx_fail(ctx, -EINVAL, NULL, ctx->ss[i].section,
		                "auth=certificate needs the TLS listener: set tls_cert_file and "
		                "tls_key_file in [hookrun]");
	return 0;
}

/* An oauth2 client id belongs to one source: POST /oauth/token finds the source by it. */
static int oauth2_clients_unique(struct load_ctx *ctx)
{
	const struct config *c = ctx->c;

	for (size_t i = 0; i < c->n_sources; i++)
		for (size_t j = i + 1; j < c->n_sources; j++) {
			if (c->sources[i].auth != AUTH_SCHEME_OAUTH2 ||
			    c->sources[j].auth != AUTH_SCHEME_OAUTH2)
				continue;
			for (size_t a = 0; a < c->sources[i].n_secrets; a++)
				for (size_t b = 0; b < c->sources[j].n_secrets; b++) {
					const char *x = c->sources[i].secrets[a];
					const char *y = c->sources[j].secrets[b];
					size_t n = strcspn(x, ":");

					if (n == strcspn(y, ":") && strncmp(x, y, n) == 0)
						return ctx_fail(
						    ctx, -EINVAL,
						    source_key_origin(&ctx->ss[j], "secret"),
						    ctx->ss[j].section,
						    "secret: the oauth2 client id '%.*s' is also a "
						    "client of "
						    "[%s]; a client id names one source",
						    (int)n, x, ctx->ss[i].section);
				}
		}
	return 0;
}

/* Validate every source and derive what depends on all of them. */
static int ctx_finalize(struct load_ctx *ctx)
{
	struct config *c = ctx->c;
	int r;

	for (size_t i = 0; i < c->n_sources; i++) {
		r = source_check_auth(ctx, i);
		if (r >= 0)
			r = source_check_secrets(ctx, i);
		if (r >= 0)
			r = source_check_certificate(ctx, i);
		if (r >= 0)
			r = source_derive(ctx, i);
		if (r >= 0 &&
		    (c->sources[i].n_secrets > 0 || c->sources[i].auth == AUTH_SCHEME_NONE ||
		     !(ctx->flags & CONFIG_LOAD_SECRETS_OPTIONAL)))
			r = source_check_verifier(ctx, i);
		if (r >= 0)
			r = source_check_route(ctx, i);
		if (r < 0)
			return r;
		if (c->sources[i].body_limit > c->max_body_limit)
			c->max_body_limit = c->sources[i].body_limit;
	}
	r = oauth2_clients_unique(ctx);
	if (r >= 0)
		r = ctx_check_tls(ctx);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->n_versori; i++) {
		r = versori_check(ctx, i);
		if (r < 0)
			return r;
	}
	r = ctx_check_secrets_key(ctx);
	if (r < 0)
		return r;
	if (c->audit_head_secret) {
		_cleanup_free_ char *probe =
		    webhook_auth_sign_standard(c->audit_head_secret, "probe", 0, "", 0);
		if (!probe)
			return ctx_fail(ctx, -EINVAL, NULL, "hookrun",
			                "audit_head_secret: must be whsec_ followed by base64");
	}
	if ((c->retention_delivery_bodies_s > 0 && c->retention_delivery_bodies_s < HOUR) ||
	    (c->retention_finished_items_s > 0 && c->retention_finished_items_s < HOUR))
		return ctx_fail(
		    ctx, -EINVAL, NULL, "hookrun",
		    "retention_delivery_bodies and retention_finished_items are 0 (keep) "
		    "or at least 1h");
	return ctx_check_lease(ctx);
}

/* config_load_flags() with no flags. */
int config_load(const char *path, char *const *envp, struct config **ret, char **ret_error)
{
	return config_load_flags(path, envp, 0, ret, ret_error);
}

/* Load defaults, then the file, then the environment, and validate the result as flags say. */
int config_load_flags(const char *path, char *const *envp, unsigned flags, struct config **ret,
                      char **ret_error)
{
	struct load_ctx ctx = {.path = path, .flags = flags, .target = TARGET_NONE};
	int r = 0;

	assert(ret);
	ctx.c = xcalloc(1, sizeof(*ctx.c));
	defaults_apply(global_keys, N_GLOBAL_KEYS, ctx.c);
	if (path)
		r = ctx_parse_file(&ctx);
	if (r >= 0)
		r = ctx_check_env_names(&ctx);
	if (r >= 0 && envp)
		r = ctx_apply_env(&ctx, envp);
	if (r >= 0)
		r = ctx_finalize(&ctx);
	if (r < 0)
		goto out;
	log_event(LOG_LEVEL_DEBUG, "config.loaded", "path=%s sources=%zu", path ? path : "",
	          ctx.c->n_sources);
	*ret = TAKE_PTR(ctx.c);
out:
	if (r < 0 && ret_error)
		*ret_error = TAKE_PTR(ctx.error);
	ctx_fini(&ctx);
	config_free(ctx.c);
	return r;
}

/* Whether url starts with prefix and the match ends on a boundary of the URL: after the
 * host's end ('/', or ':' before a port), inside the port or the path, never inside a host
 * name ("https://a.example" does not admit "https://a.example.evil.net/"). */
static bool url_prefix_matches(const char *url, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *host = strstr(prefix, "://");
	bool in_host = host && !strpbrk(host + 3, "/:");

	if (n == 0 || strncmp(url, prefix, n) != 0)
		return false;
	return !in_host || url[n] == '\0' || url[n] == '/' || url[n] == ':';
}

bool config_callback_url_allowed(const struct config *c, const char *url)
{
	_cleanup_free_ char *list = NULL;
	const char *auth;
	char *save = NULL;

	if (!c->callback_urls || !url ||
	    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return false;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || *p == '\\')
			return false;
	auth = strstr(url, "://") + 3;
	if (memchr(auth, '@', strcspn(auth, "/?#")))
		return false; /* user information: "https://allowed.example@evil.net/" */
	list = xstrdup(c->callback_urls);
	for (char *e = strtok_r(list, ", ", &save); e; e = strtok_r(NULL, ", ", &save))
		if (url_prefix_matches(url, e))
			return true;
	return false;
}
