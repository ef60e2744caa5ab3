/* What every hookrun service process does before its loop: read the options they all take
 * (--config, --print-config, --check-config, --version, --help) and load the configuration.
 * Used by the main.c of hookrun-ingress and hookrun-worker; prints to stdout or stderr, which
 * is a program's job (the services call it from main only). */
#pragma once

#include <stdbool.h>

struct config;

/* What the command line asked for. */
struct service_args {
	const char *config_path; /* --config, else the default given (may be NULL) */
	bool print_config;
	bool check_config;
};

/* Parse argv for the service called name ("hookrun-worker"); default_config is the path used
 * without --config (main passes $HOOKRUN_CONFIG). --version and --help print and ask to exit.
 * 0 to run, 1 to exit with success, -1 to exit with failure (usage was printed to stderr). */
int service_args_parse(int argc, char **argv, const char *name, const char *default_config,
                       struct service_args *ret);
/* Load the configuration at path (may be NULL) with envp's overrides; on failure print
 * "<name>: <problem>" to stderr and return NULL. */
struct config *service_config_load(const char *name, const char *path, char *const *envp);
