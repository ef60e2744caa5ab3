/* hookrun configuration: an INI file (a [hookrun] section and one [source.NAME] section per
 * webhook source, in the manner of PgBouncer), HOOKRUN_* environment overrides and *_FILE
 * secrets, validated once at start into an immutable struct config.
 * Used by the ingress and the CLI at start-up; reads files, never blocks after start. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"
#include "source.h"
#include "xalloc.h"

struct config {
	char *listen_addr;
	int listen_port;
	char *db_url; /* secret: printed through db_url_mask() (passwords hidden) */
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
