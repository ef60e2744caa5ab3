/* hookrun jobs submit|list|items|cancel|retry: the jobs over the ingress's HTTP API (cli_api),
 * so that they work against a remote deployment with a token. Used by the hookrun CLI;
 * blocking. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

struct cli_api;

/* Run "jobs SUBCOMMAND ..." (argv[0] is "jobs") against api: prints to out, problems to err.
 * The exit status: 0 done (a watched job that succeeded), 1 refused by the API or a watched
 * job that ended failed or cancelled, 2 usage, 3 the API could not be reached. */
int cli_jobs_api_handle(struct cli_api *api, int argc, char **argv, FILE *out, FILE *err);
/* Whether "jobs SUBCOMMAND" is one of these. */
bool cli_jobs_api_owns(const char *subcommand);
/* Their usage lines. */
void cli_jobs_api_usage(FILE *f);
