/* hookrun configuration: an INI file (a [hookrun] section, one [source.NAME] section per
 * webhook source and one [versori.NAME] section per Versori organisation, in the manner of
 * PgBouncer), HOOKRUN_* environment overrides and *_FILE secrets, validated once at start
 * into an immutable struct config.
 * Used by every hookrun process at start-up; reads files, never blocks after start. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"
#include "source.h"
#include "xalloc.h"

/* One [versori.NAME] section: a Versori organisation that jobs run against. Exactly one
 * credential is set. Strings are owned by the struct config. */
struct secret_keys;

struct versori_org_config {
	char *name; /* what jobs.organisation and sources name */
	char *base_url;
	char *organisation_id;
	char *api_key;          /* secret: "Authorization: Bearer" */
	char *jwt;              /* secret: a long-lived JWT, "Authorization: JWT" */
	char *signing_key;      /* secret: PEM private key; JWTs minted per end user */
	char *signing_key_id;   /* the signing key's id (the iss claim) */
	char *jwt_subject;      /* sub of minted JWTs for organisation-level calls, or NULL */
	int rate_limit;         /* requests per second over all workers; 0: no limit */
	int concurrency;        /* items in flight over all workers */
	char *callback_secret;  /* secret: whsec_<base64>, signs completion callbacks */
	char *secret_variables; /* comma-separated variable names stored encrypted, or NULL */
};

struct config {
	char *listen_addr;
	int listen_port;
	char *tls_cert_file; /* both set: the listener speaks TLS (certificate sources need it) */
	char *tls_key_file;
	char *db_url;               /* secret: printed through db_url_mask() (passwords hidden) */
	char *api_url;              /* the CLI's jobs API */
	char *api_token;            /* secret: the CLI's bearer token */
	char *secrets_key;          /* secret: base64 of 32 bytes (secret_value), or NULL */
	char *secrets_key_previous; /* secret: the key before it, or NULL */
	char *audit_head_secret;    /* secret: whsec_..., signs hookrun audit head --post */
	int db_connections;
	size_t max_backlog;
	size_t batch_max_rows;
	size_t batch_max_bytes;
	int commit_timeout_ms;
	int retry_after_s;
	size_t jobs_body_limit; /* POST /v1/jobs */
	char *callback_urls;    /* comma-separated URL prefixes callbacks may go to, or NULL */
	long long dedup_window_s;
	int db_reconnect_max_ms;
	enum log_level log_level;
	enum log_format log_format;
	/* the dispatcher (hookrun-ingress) */
	char *dispatch_listen; /* ZeroMQ endpoint to bind; NULL: no dispatcher */
	long long lease_s;
	int dispatch_poll_ms;
	long long audit_seal_interval_s;       /* 0: this ingress does not seal */
	long long audit_tally_interval_s;      /* the period of audit tallies (audit_log) */
	long long retention_delivery_bodies_s; /* 0: keep */
	long long retention_finished_items_s;  /* 0: keep */
	long long retention_interval_s;
	int claim_batch;
	int heartbeat_ms;
	int heartbeat_timeout_ms;
	/* hookrun-worker */
	char *dispatchers; /* comma-separated ZeroMQ endpoints */
	char *worker_name; /* NULL: worker-<host>-<pid> */
	int worker_slots;
	char *worker_listen_addr;
	int worker_listen_port;
	int api_timeout_ms;
	int max_attempts;
	long long max_item_age_s;
	int retry_base_ms;
	int retry_max_ms;
	int drain_timeout_ms;
	struct source_config *sources;
	size_t n_sources;
	struct versori_org_config *versori;
	size_t n_versori;
	size_t max_body_limit; /* derived: the largest body_limit over all sources */
};

/* Load path (may be NULL: defaults and environment only), then apply overrides from envp
 * (a NULL-terminated "KEY=value" array, usually environ). On failure returns a negative errno
 * and sets *ret_error to a new message naming the section and key. */
int config_load(const char *path, char *const *envp, struct config **ret,
                char **ret_error) _warn_unused_result_;
/* config_load() with flags: CONFIG_LOAD_SECRETS_OPTIONAL lets a source without its secrets
 * load (for tools that read sources' other settings, never verify a webhook: the CLI); a
 * secret that is given is still checked. */
#define CONFIG_LOAD_SECRETS_OPTIONAL (1u << 0)
int config_load_flags(const char *path, char *const *envp, unsigned flags, struct config **ret,
                      char **ret_error) _warn_unused_result_;
void config_free(struct config *c);
/* Borrowed from c; NULL when absent. */
const struct source_config *config_source_find(const struct config *c, const char *name);
/* Borrowed from c; NULL when absent. */
const struct versori_org_config *config_versori_find(const struct config *c, const char *name);
/* Whether a completion callback may go to url: http(s), no control characters or spaces, and
 * starting with one of callback_urls' prefixes (none when callback_urls is unset). */
bool config_callback_url_allowed(const struct config *c, const char *url);
/* Write the effective configuration as INI with every secret masked. */
void config_print(const struct config *c, FILE *f);
/* The keys of secrets_key (sealing and opening) and secrets_key_previous (opening): *ret a
 * new secret_keys, or NULL when secrets_key is unset. 0, or -EINVAL with *ret_error (a key
 * that config_load() would have refused). */
int config_secret_keys(const struct config *c, struct secret_keys **ret,
                       char **ret_error) _warn_unused_result_;
/* The SHA-256 (lowercase hex) of what config_print() writes: which configuration a process
 * runs with, for the audit trail. A secret's value is masked there, so changing one alone
 * does not change the digest (setting or unsetting one does). 0 or a negative errno. */
int config_digest(const struct config *c, char hex[static 65]) _warn_unused_result_;
