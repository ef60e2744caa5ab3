/* hookrun deliveries show|replay over the ingress's HTTP API (cli_api), for a token's
 * organisations, so that they work against a remote deployment. Used by the hookrun CLI;
 * blocking. */
#pragma once

#include <stdio.h>

struct cli_api;

/* Run "deliveries SUBCOMMAND ..." (argv[0] is "deliveries") against api: prints to out,
 * problems to err. The exit status: 0 done (a replay that made a job), 1 refused by the API
 * or a replay that could not route, 2 usage, 3 the API could not be reached. */
int cli_deliveries_api_handle(struct cli_api *api, int argc, char **argv, FILE *out, FILE *err);
/* Their usage lines. */
void cli_deliveries_api_usage(FILE *f);
